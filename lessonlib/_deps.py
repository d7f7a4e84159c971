"""Optional dependencies: import one, or say which extra of lessonlib brings it.

lessonlib's core (``pip install lessonlib``) is what the chapters' ideas need:
torch, numpy, numba, matplotlib, pandas. Comparing with scikit-learn, progress
bars, notebooks' HTML display and the CUDA compiler wheels are extras:

- ``bench``: scikit-learn, scipy and tqdm, for ``python -m lessonlib.bench``;
- ``book``: Jupyter Book and IPython, to build the book and show animations;
- ``ptx``: NVVM, NVRTC and ptxas wheels, to compile the kernels for a real GPU;
- ``gpu``: numba-cuda's CUDA 13 target, for a machine with an NVIDIA GPU;
- ``test``: what the test suite imports.

Every module imports with the core alone; a function that needs an extra
imports it through :func:`require`, which names the extra when it is missing.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise ``ModuleNotFoundError`` naming lessonlib's ``extra``.

    Parameters
    ----------
    module : str
        What to import, e.g. ``"sklearn.cluster"``.
    extra : str
        The extra that installs it, e.g. ``"bench"``.
    purpose : str
        What needs it, for the message: ``"comparing with scikit-learn"``.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] != top:
            raise  # something the module itself imports is broken: not ours to rename
        raise ModuleNotFoundError(
            f"{purpose} needs {top}, which lessonlib's core does not install: "
            f"pip install 'lessonlib[{extra}]' (or pip install -e '.[{extra}]' in a checkout)",
            name=top,
        ) from exc
