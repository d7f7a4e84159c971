"""What several benchmarks share: progress bars, the GPU guard, the MNIST-shaped data, JSON values."""

from __future__ import annotations

import math

import numpy as np

from .. import _checks, hardware
from .._deps import require


def progress(items, *, desc: str, unit: str, show: bool):
    """``items``, wrapped in a tqdm progress bar when ``show`` (tqdm is in the ``bench`` extra)."""
    _checks.boolean("progress", show)
    if not show:
        return items
    return require("tqdm", "bench", "a benchmark's progress bar").tqdm(items, desc=desc, unit=unit)


def require_gpu() -> None:
    """Raise ``RuntimeError`` unless a real CUDA GPU (not the simulator) is present."""
    if not hardware.has_cuda() or hardware.cuda_simulator_active():
        raise RuntimeError("this measurement needs a CUDA GPU (not the simulator); none is available here")


def summary(t) -> dict:
    """A :class:`~lessonlib.timing.Timing` as a timing row of the reference file."""
    return {"median_s": t.median, "min_s": t.min, "iqr_s": t.iqr, "samples": t.repeat, "calls_per_sample": t.number}


def jsonable(value):
    """Plain JSON values: NaN becomes null, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def mnist_data(rows: int):
    """``(x, w, source)``: the first ``rows`` MNIST training images (or synthetic ones of its shape) and the weights."""
    from ..data import lecture_weights, load_mnist, mnist_like

    try:
        (x, _), _ = load_mnist()
        source = "MNIST"
    except FileNotFoundError:
        (x, _), _ = mnist_like(n_train=rows, n_valid=1)
        source = "synthetic data with MNIST's shapes"
    return x[:rows], lecture_weights(), source
