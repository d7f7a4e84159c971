"""Optional dependencies: every module imports with the core alone (torch, numpy, numba, matplotlib,
pandas); a function that needs an extra (``pyproject.toml``) imports it through :func:`require`.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise ``ModuleNotFoundError`` naming lessonlib's ``extra``, as in
    ``require("sklearn.cluster", "bench", "comparing with scikit-learn")``.
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
