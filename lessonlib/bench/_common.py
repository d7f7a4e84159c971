"""What several benchmarks share: progress bars, the GPU guard, the MNIST-shaped data, JSON values."""

from __future__ import annotations

import math

import numpy as np

from .. import _checks, hardware


def progress(items, *, desc: str, unit: str, show: bool):
    """``items``, wrapped in a tqdm progress bar when ``show`` (tqdm is in the ``bench`` extra)."""
    _checks.boolean("progress", show)
    if not show:
        return items
    from .._deps import require

    return require("tqdm", "bench", "a benchmark's progress bar").tqdm(items, desc=desc, unit=unit)


def require_gpu() -> None:
    """Raise ``RuntimeError`` unless a real CUDA GPU (not the simulator) is present."""
    if not hardware.has_cuda() or hardware.cuda_simulator_active():
        raise RuntimeError("this measurement needs a CUDA GPU (not the simulator); none is available here")


def summary(t, rows: int | None = None) -> dict:
    """A :class:`~lessonlib.timing.Timing` as a timing row of the reference file."""
    out = {"median_s": t.median, "min_s": t.min, "iqr_s": t.iqr, "samples": t.repeat, "calls_per_sample": t.number}
    if rows is not None:
        out["rows"] = rows
    return out


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


def matmul_operands(x, w):
    """``x`` and ``w`` checked for ``x @ w``: 2-D, non-empty, floating point, one dtype and device."""
    x = _checks.tensor("x", x, convert=False)
    w = _checks.tensor("w", w, convert=False)
    for name, t in (("x", x), ("w", w)):
        if t.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {tuple(t.shape)}")
        if t.numel() == 0:
            raise ValueError(f"{name} is empty: shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise ValueError(f"{name} must be floating point, got {t.dtype}")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"x.shape[1] ({x.shape[1]}) must equal w.shape[0] ({w.shape[0]}): "
                         f"cannot multiply {tuple(x.shape)} by {tuple(w.shape)}")
    if x.dtype != w.dtype or x.device != w.device:
        raise ValueError(f"x and w must have one dtype and device, got {x.dtype} on {x.device} "
                         f"and {w.dtype} on {w.device}")
    return x, w
