"""GPU timings: the MNIST-shaped product's rows, the square product, mean shift by batch size, and the report.

- :func:`gpu_matmul_timings` -- every GPU row of the MNIST-shaped product
  (``claims.GPU_MATMUL_ROWS``), and :func:`gpu_rows_table`, those rows as the
  chapter's table;
- :func:`gpu_square_gflops`, :func:`device_bandwidth` -- the square product's
  rates and a device copy's bandwidth;
- :func:`roofline_table` -- the roofline model beside what was measured;
- :func:`gpu_meanshift_timings` -- mean shift on the GPU by batch size;
- :func:`gpu_report` -- all of it, in :mod:`lessonlib.bench.reference`'s format
  (``python -m lessonlib.bench gpu``).

All of them but the tables need a real CUDA GPU and raise ``RuntimeError``
without one.
"""

from __future__ import annotations

import functools
import time

import numpy as np
import torch

from .. import _checks, hardware
from ..kernels import KERNELS, TPB
from ..timing import Timing, bench, format_seconds
from ._common import jsonable, mnist_data, require_gpu, summary
from ._common import progress as progress_bar
from .claims import (
    AS_LECTURED_KERNEL,
    AS_LECTURED_TORCH,
    GPU_MATMUL_ROWS,
    GPU_MEANSHIFT_BATCHES,
    HOST_MEMORY,
    LECTURE_GPU,
    MEANSHIFT_ALL,
)
from .cluster import cluster_comparison
from .matmul import ladder_rows, matmul_ladder
from .meanshift import cpu_meanshift_timings, lecture_points


def device_bandwidth(nbytes: int = 1 << 30) -> float:
    """GB/s of a device-to-device copy (bytes read + bytes written, over time). GPU only.

    Parameters
    ----------
    nbytes : int, default 2**30
        Bytes copied per call.

    Returns
    -------
    float
    """
    require_gpu()
    nbytes = _checks.integer("nbytes", nbytes, low=4)
    src = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)
    t = bench(dst.copy_, src, repeat=10, max_time=10)
    return 2 * src.numel() * 4 / t.median / 1e9


def _launcher(name: str, m: int, n: int, tpb: int, dtype):
    from .. import kernels

    grid, block = kernels.launch_config(name, m, n, tpb)
    return kernels.get_kernel(name, tpb, dtype)[grid, block]


def _numba_matmul_calls(x: torch.Tensor, w: torch.Tensor, tpb: int) -> dict:
    """The Numba rows of :func:`gpu_matmul_timings` as argument-free calls; every buffer made here, once.

    Runs on the simulator too (at small sizes), which is how the tests check what each row does.
    """
    from .. import kernels

    cuda = kernels.cuda
    # cuda.to_device needs a C-contiguous host array: a CUDA tensor, or a transposed view, is not one
    xn = np.ascontiguousarray(x.detach().cpu().numpy())
    wn = np.ascontiguousarray(w.detach().cpu().numpy())
    m, n = x.shape[0], w.shape[1]
    d_x, d_w = cuda.to_device(xn), cuda.to_device(wn)
    d_c = cuda.device_array((m, n), dtype=xn.dtype)
    # the lecture's output: r = np.zeros(tr.shape), float64, copied to the device once, before timing
    d_r64 = cuda.device_array((m, n), dtype=np.float64)
    px, pw = cuda.pinned_array(xn.shape, xn.dtype), cuda.pinned_array(wn.shape, wn.dtype)
    px[...], pw[...] = xn, wn
    host_c, pinned_c = np.empty((m, n), xn.dtype), cuda.pinned_array((m, n), xn.dtype)
    lecture_launch = _launcher("naive", m, n, tpb, xn.dtype.type)  # grid (ceil(m/16), ceil(n/16)), as lectured

    def as_lectured():
        lecture_launch(d_x, d_w, d_r64)
        return d_r64.copy_to_host()  # a new pageable array each call, as `r = rg.copy_to_host()`

    calls = {AS_LECTURED_KERNEL: as_lectured}
    for name, row in KERNELS.items():
        launch = _launcher(name, m, n, tpb, xn.dtype.type)
        calls[row] = functools.partial(launch, d_x, d_w, d_c)
    calls.update({
        "copy x, w to the GPU (pageable)": lambda: (d_x.copy_to_device(xn), d_w.copy_to_device(wn)),
        "copy x, w to the GPU (pinned)": lambda: (d_x.copy_to_device(px), d_w.copy_to_device(pw)),
        "copy the result back (pageable)": lambda: d_c.copy_to_host(host_c),
        "copy the result back (pinned)": lambda: d_c.copy_to_host(pinned_c),
    })
    return calls


def gpu_matmul_timings(x: torch.Tensor, w: torch.Tensor, *, tpb: int = TPB, repeat: int = 7) -> dict[str, Timing]:
    """Time every GPU row of the MNIST-shaped product ``x @ w``. GPU only.

    Parameters
    ----------
    x : torch.Tensor of shape (m, k), float32
    w : torch.Tensor of shape (k, n), float32
    tpb : int, default 16
        Threads per block along each dimension, as in the lecture.
    repeat : int, default 7
        Samples per row.

    Returns
    -------
    dict of str to Timing
        One entry per row of ``GPU_MATMUL_ROWS``, in its order: the two rows
        timed as the lecture timed them (``AS_LECTURED_KERNEL``, the 3.61 ms
        cell; ``AS_LECTURED_TORCH``, the 458 µs cell), each kernel alone, the
        copies (from pageable and from pinned host memory, into device arrays
        allocated before timing: see ``HOST_MEMORY``), and torch's ``@`` with
        and without its copies.
    """
    require_gpu()
    from .. import kernels

    x, w = _checks.matmul_operands(x, w, ("x", "w"))
    if x.dtype != torch.float32 or w.dtype != torch.float32:
        raise ValueError(f"x and w must be float32, as in the lecture; got {x.dtype} and {w.dtype}")
    calls = _numba_matmul_calls(x, w, tpb)
    xg, wg = x.detach().cuda(), w.detach().cuda()  # m1c, m2c: on the GPU before timing, as in the lecture
    calls.update({
        AS_LECTURED_TORCH: lambda: (xg @ wg).cpu(),
        "torch @ on the GPU": functools.partial(torch.matmul, xg, wg),
        "torch .cuda() @ .cpu()": functools.partial(kernels.torch_cuda_matmul, x, w),
    })
    return {name: bench(calls[name], name=name, repeat=repeat) for name in GPU_MATMUL_ROWS}


def gpu_square_gflops(n: int = 4096, *, tpb: int = TPB) -> dict[str, float]:
    """GFLOP/s of each kernel of the ladder and of cuBLAS (TF32 off) on n×n float32. GPU only.

    torch's TF32 setting is restored afterwards.

    Parameters
    ----------
    n : int, default 4096
    tpb : int, default 16
        Threads per block along each dimension.

    Returns
    -------
    dict of str to float
        Keyed by ``claims.SQUARE_ROWS``: the rows of ``kernels.KERNELS``
        and ``"cuBLAS (TF32 off)"``.
    """
    require_gpu()
    from .. import kernels

    n = _checks.integer("n", n, low=1)
    cuda = kernels.cuda
    a = torch.randn(n, n, device="cuda")
    b = torch.randn(n, n, device="cuda")
    d_a, d_b = cuda.as_cuda_array(a), cuda.as_cuda_array(b)
    d_c = cuda.device_array((n, n), dtype=np.float32)
    flop = 2 * n**3
    out = {
        row: flop / bench(_launcher(name, n, n, tpb, np.float32), d_a, d_b, d_c, repeat=5, max_time=20).median / 1e9
        for name, row in KERNELS.items()
    }
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # full float32, comparable with the kernels
    try:
        out["cuBLAS (TF32 off)"] = flop / bench(torch.matmul, a, b, repeat=5, max_time=20).median / 1e9
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return out


def gpu_meanshift_timings(
    data: torch.Tensor | None = None,
    *,
    batch_sizes=GPU_MEANSHIFT_BATCHES,
    repeat: int = 5,
    max_time: float = 10.0,
) -> dict[str, Timing]:
    """Mean shift on the GPU by batch size, and all at once, timed as the lecture timed it. GPU only.

    Each row is ``meanshift_batched(data, bs=bs).cpu()`` with ``data`` already
    on the GPU: the notebook's ``%timeit -n 5 _=meanshift(data, 1250).cpu()``
    at each batch size.

    Parameters
    ----------
    data : torch.Tensor of shape (n, 2), optional
        By default the lecture's 1,500 points; copied to the GPU before timing.
    batch_sizes : sequence of int, default (5, 64, 256, 500, 1024, 1250)
        Sizes at or above n are left out (they are "all at once").
    repeat, max_time
        Passed to :func:`lessonlib.timing.bench`.

    Returns
    -------
    dict of str to Timing
        ``"GPU, bs = <bs>"`` for each batch size below n, then ``"GPU, all at once"``.
    """
    require_gpu()
    from ..meanshift import meanshift_batched

    data = lecture_points(data)
    sizes = _checks.sequence("batch_sizes", batch_sizes, item=lambda n, v: _checks.integer(n, v, low=1))
    dg = data.cuda()
    rows = {f"GPU, bs = {bs}": bs for bs in sizes if bs < len(data)}
    rows[MEANSHIFT_ALL] = len(data)
    return {name: bench(lambda bs=bs: meanshift_batched(dg, bs=bs).cpu(), name=name, repeat=repeat,
                        max_time=max_time) for name, bs in rows.items()}


def gpu_report(rows: int = 50_000, *, command: str = "python -m lessonlib.bench gpu", progress: bool = False,
               on_part=None) -> dict:
    """Every GPU figure the book shows, in the reference file's format. GPU only.

    Measures, on this machine: the CPU ladder of the MNIST-shaped product
    (:func:`~lessonlib.bench.matmul.matmul_ladder`), its GPU rows (:func:`gpu_matmul_timings`), the
    mean shift rows (:func:`~lessonlib.bench.meanshift.cpu_meanshift_timings`, :func:`gpu_meanshift_timings`),
    the clustering table on the GPU (:func:`~lessonlib.bench.cluster.cluster_comparison`), the device's
    copy bandwidth and the square product's GFLOP/s. A few minutes on an
    H100/H200-class GPU.

    Parameters
    ----------
    rows : int, default 50,000
        Rows of x (MNIST's training set).
    command : str
        The command line that ran it, recorded in the provenance.
    progress : bool, default False
        Show a progress bar over the parts (tqdm, from the ``bench`` extra).
    on_part : callable, optional
        Called as ``on_part(name, seconds)`` as each part finishes (how
        :mod:`lessonlib.bench.check` logs where the time goes).

    Returns
    -------
    dict
        Follows ``lessonlib.bench.reference.SCHEMA``.
    """
    require_gpu()
    from ..timing import provenance

    rows = _checks.integer("rows", rows, low=5)
    _checks.text("command", command)
    if on_part is not None:
        _checks.callable_("on_part", on_part)
    start = time.perf_counter()
    when = provenance().when
    x, w, source = mnist_data(rows)
    parts = {
        "CPU ladder": lambda: matmul_ladder(x, w),
        "GPU matmul rows": lambda: gpu_matmul_timings(x, w),
        "mean shift, CPU": cpu_meanshift_timings,
        "mean shift, GPU": gpu_meanshift_timings,
        "device bandwidth": device_bandwidth,
        "4096² GFLOP/s": lambda: gpu_square_gflops(4096),
        "clustering": lambda: cluster_comparison(devices=["cuda"]),
    }
    done = {}
    for name in progress_bar(list(parts), desc="GPU report", unit="part", show=progress):
        began = time.perf_counter()
        done[name] = parts[name]()
        if on_part is not None:
            on_part(name, time.perf_counter() - began)
    cpu, gpu, ms_cpu, ms_gpu, bandwidth, square, cluster_rows = done.values()
    versions = hardware.report()
    report = {
        "format": "lessonlib-gpu-reference",
        "version": 1,
        "provenance": {
            "gpu": hardware.gpu_name(),
            "driver": hardware.driver_version(),
            "cuda": torch.version.cuda or "none",
            "torch": versions["torch"],
            "numba": versions["numba"],
            "numba_cuda": versions["numba-cuda"],
            "python": versions["Python"],
            "cpu": f"{versions['CPU']} ({versions['CPU cores']} cores)",
            "date": when,
            "command": command,
            "seconds": time.perf_counter() - start,
        },
        "matmul": {
            "shape": [list(x.shape), list(w.shape)],
            "data": source,
            "tpb": TPB,
            "host_memory": HOST_MEMORY,
            "cpu": {fn: {"median_s": float(r["median (s)"]), "min_s": float(r["min (s)"]),
                         "iqr_s": float(r["IQR (s)"]), "samples": int(r["samples"]), "rows": n}
                    for fn, (n, r) in ladder_rows(cpu).items()},
            "gpu": {name: summary(t) for name, t in gpu.items()},
        },
        "meanshift": {
            "points": 1500,
            "cpu": {name: summary(t) for name, t in ms_cpu.items()},
            "gpu": {name: summary(t) for name, t in ms_gpu.items()},
        },
        "cluster": jsonable(cluster_rows.to_dict("records")),
        "device_copy_GBps": bandwidth,
        "square_matmul": {"n": 4096, "GFLOP/s": square},
    }
    report["provenance"]["seconds"] = time.perf_counter() - start
    return jsonable(report)



def gpu_rows_table(timings: dict | None, *, reference: dict | None = None):
    """The GPU rows of the MNIST-shaped product as the chapter shows them, measured or not.

    Parameters
    ----------
    timings : dict of str to Timing, or None
        From :func:`gpu_matmul_timings`; None on a build without a GPU (every
        row then reads "not measured on this build", unless a reference is given).
    reference : dict, optional
        A reference file (:func:`lessonlib.bench.reference.load_reference`). Used only
        when ``timings`` is None: its medians fill a column headed "reference
        median" (the caption must carry :func:`lessonlib.bench.reference.caption`).

    Returns
    -------
    pandas.DataFrame
        Indexed by row name (``claims.GPU_MATMUL_ROWS``, in order): the
        median, what the row times, and the lecture's figure with its source.
    """
    import pandas as pd

    rows = list(GPU_MATMUL_ROWS)
    if timings is None and reference is not None:
        from .reference import validate

        if not isinstance(reference, dict):
            raise TypeError(f"reference must be a dict read by load_reference, or None, got {type(reference).__name__}")
        ref = validate(reference, source="reference")["matmul"]["gpu"]
        return pd.DataFrame({
            "reference median": [format_seconds(ref[r]["median_s"]) for r in rows],
            "what is timed": [GPU_MATMUL_ROWS[r] for r in rows],
            "lecture (2022, its own GPU)": [LECTURE_GPU[r].value if r in LECTURE_GPU else "" for r in rows],
        }, index=pd.Index(rows, name="GPU row"))
    if timings is not None:
        if not isinstance(timings, dict) or not all(isinstance(t, Timing) for t in timings.values()):
            raise TypeError("timings must be a dict of row name to Timing, or None")
        missing = [r for r in rows if r not in timings]
        if missing:
            raise ValueError(f"timings is missing the rows {missing}")
    return pd.DataFrame({
        "median": [format_seconds(timings[r].median) if timings else "not measured on this build" for r in rows],
        "what is timed": [GPU_MATMUL_ROWS[r] for r in rows],
        "lecture (2022, its own GPU)": [LECTURE_GPU[r].value if r in LECTURE_GPU else "" for r in rows],
        "lecture's source": [LECTURE_GPU[r].source if r in LECTURE_GPU else "" for r in rows],
    }, index=pd.Index(rows, name="GPU row"))


def roofline_table(model: dict, measured: dict | None = None):
    """A roofline model of each product beside what this build measured of it.

    Parameters
    ----------
    model : dict of str to dict
        Product name to :func:`lessonlib.ptx.roofline`'s result (``bytes``,
        ``flops``, ``memory_s``, ``compute_s``, ``lower_bound_s``).
    measured : dict of str to str, optional
        Product name to what was measured, in words (see
        :func:`roofline_measured`); a product left out reads "not measured:
        no GPU in this build". Without it (a build without a GPU) the table
        has no measured column.

    Returns
    -------
    pandas.DataFrame
        One row per product: the model's bytes, FLOPs, memory and arithmetic
        times and lower bound, and the measured column when ``measured`` is given.
    """
    import pandas as pd

    if not isinstance(model, dict):
        raise TypeError(f"model must be a dict of product name to roofline, got {type(model).__name__}")
    if measured is not None and not isinstance(measured, dict):
        raise TypeError(f"measured must be a dict of product name to text, or None, got {type(measured).__name__}")
    for name, r in model.items():
        if not isinstance(r, dict):
            raise TypeError(f"model[{name!r}] must be a dict, got {type(r).__name__}")
        missing = [k for k in ("bytes", "flops", "memory_s", "compute_s", "lower_bound_s") if k not in r]
        if missing:
            raise ValueError(f"model[{name!r}] is missing {missing}")
    return pd.DataFrame({
        "bytes moved (model)": {n: f"{r['bytes'] / 1e6:,.1f} MB" for n, r in model.items()},
        "FLOPs (model)": {n: f"{r['flops'] / 1e9:,.2f} G" for n, r in model.items()},
        "memory time (model)": {n: format_seconds(r["memory_s"]) for n, r in model.items()},
        "arithmetic time (model)": {n: format_seconds(r["compute_s"]) for n, r in model.items()},
        "H200 lower bound (model)": {n: format_seconds(r["lower_bound_s"]) for n, r in model.items()},
        **({"measured by this build": {n: measured.get(n, "not measured: no GPU in this build") for n in model}}
           if measured else {}),
    })


def roofline_measured(timings: dict, square: dict, *, mnist: str, square_name: str, n: int = 4096) -> dict:
    """What this build measured of the two products of the roofline model, in words.

    Parameters
    ----------
    timings : dict of str to Timing
        From :func:`gpu_matmul_timings`.
    square : dict of str to float
        From :func:`gpu_square_gflops` (GFLOP/s).
    mnist, square_name : str
        The two products' names in the model.
    n : int, default 4096
        The square product's size.

    Returns
    -------
    dict of str to str
        For :func:`roofline_table`'s ``measured``.
    """
    if not isinstance(timings, dict) or not isinstance(square, dict):
        raise TypeError("timings and square must be dicts, from gpu_matmul_timings and gpu_square_gflops")
    _checks.text("mnist", mnist)
    _checks.text("square_name", square_name)
    n = _checks.integer("n", n, low=1)
    return {
        mnist: "; ".join(f"{k}: {format_seconds(timings[k].median)}"
                         for k in ("register-blocked kernel", "torch @ on the GPU")),
        square_name: "; ".join(f"{k}: {format_seconds(2 * n**3 / (v * 1e9))}" for k, v in square.items()
                               if k in ("register-blocked kernel", "cuBLAS (TF32 off)")),
    }
