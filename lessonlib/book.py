"""The first cell of every chapter: one call that makes a page reproducible.

:func:`setup` picks the CUDA target (real GPU or Numba's simulator) before
anything imports ``numba.cuda``, seeds every random generator the book uses,
and sets plotting defaults that keep figures small and readable. Two builds of
the same page then give the same outputs, apart from measured times.
"""

from __future__ import annotations

import random

from . import hardware

SEED = 42


def seed_everything(seed: int = SEED) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too


def setup(seed: int = SEED) -> dict[str, str]:
    """Prepare a chapter's kernel: CUDA target, seeds, plot defaults.

    Returns
    -------
    dict of str to str
        :func:`lessonlib.hardware.report` for this machine, for pages that show it.
    """
    hardware.use_cuda_simulator()
    seed_everything(seed)
    import matplotlib as mpl

    mpl.rcParams.update(
        {
            "figure.figsize": (6, 3.5),
            "figure.dpi": 80,
            "savefig.dpi": 80,
            "figure.facecolor": "white",  # readable in the theme's dark mode too
            "savefig.facecolor": "white",
            "axes.grid": True,
            "grid.alpha": 0.3,
        }
    )
    return hardware.report()
