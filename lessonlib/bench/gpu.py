"""GPU timings (the MNIST-shaped product, the square product, mean shift), the report that gathers
them in the reference file's format, and the roofline table. Every measurement needs a real CUDA GPU
and raises ``RuntimeError`` without one.
"""

from __future__ import annotations

import functools
import time

import numpy as np
import torch

from .. import _checks, hardware, kernels
from ..kernels import KERNELS, TPB
from ..meanshift import meanshift_batched
from ..timing import Timing, bench, format_seconds, provenance, timed
from ._common import jsonable, mnist_data, require_gpu, summary
from ._common import progress as progress_bar
from .claims import (AS_LECTURED_KERNEL, AS_LECTURED_TORCH, GPU_MATMUL_ROWS, GPU_MEANSHIFT_BATCHES,
                     HOST_MEMORY, MEANSHIFT_ALL, medians)
from .cluster import cluster_comparison
from .matmul import ladder_rows, matmul_ladder
from .meanshift import cpu_meanshift_timings, lecture_points
from .reference import FORMAT, VERSION


def device_bandwidth(nbytes: int = 1 << 30) -> float:
    """GB/s of a device-to-device copy of ``nbytes`` (bytes read plus bytes written, over the time)."""
    nbytes = _checks.integer("nbytes", nbytes, low=4, high=2**33)  # 8 GiB, twice
    require_gpu()
    src = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)
    return 2 * src.numel() * 4 / bench(dst.copy_, src, repeat=10, max_time=10).median / 1e9


def _launcher(name: str, m: int, n: int, tpb: int, dtype):
    grid, block = kernels.launch_config(name, m, n, tpb)
    return kernels.get_kernel(name, tpb, dtype)[grid, block]


def _numba_matmul_calls(x: torch.Tensor, w: torch.Tensor, tpb: int) -> dict:
    """The Numba rows of :func:`gpu_matmul_timings`, as calls on buffers all made here."""
    cuda = kernels.cuda
    # cuda.to_device needs a C-contiguous host array: a CUDA tensor, or a transposed view, is not one
    xn, wn = (np.ascontiguousarray(t.detach().cpu().numpy()) for t in (x, w))
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

    return {
        AS_LECTURED_KERNEL: as_lectured,
        **{row: functools.partial(_launcher(name, m, n, tpb, xn.dtype.type), d_x, d_w, d_c)
           for name, row in KERNELS.items()},
        "copy x, w to the GPU (pageable)": lambda: (d_x.copy_to_device(xn), d_w.copy_to_device(wn)),
        "copy x, w to the GPU (pinned)": lambda: (d_x.copy_to_device(px), d_w.copy_to_device(pw)),
        "copy the result back (pageable)": lambda: d_c.copy_to_host(host_c),
        "copy the result back (pinned)": lambda: d_c.copy_to_host(pinned_c),
    }


def gpu_matmul_timings(x: torch.Tensor, w: torch.Tensor, *, repeat: int = 7) -> dict[str, Timing]:
    """Time every GPU row of the float32 MNIST-shaped product ``x @ w`` (``x`` (m, k), ``w`` (k, n)),
    blocks of ``TPB`` × ``TPB``: a dict of Timing keyed by ``GPU_MATMUL_ROWS``, in its order.
    """
    x, w = _checks.matmul_operands(x, w, ("x", "w"))
    if x.dtype != torch.float32 or w.dtype != torch.float32:
        raise ValueError(f"x and w must be float32, as in the lecture; got {x.dtype} and {w.dtype}")
    require_gpu()
    xg, wg = x.detach().cuda(), w.detach().cuda()  # m1c, m2c: on the GPU before timing, as in the lecture
    calls = {**_numba_matmul_calls(x, w, TPB), AS_LECTURED_TORCH: lambda: (xg @ wg).cpu(),
             "torch @ on the GPU": functools.partial(torch.matmul, xg, wg),
             "torch .cuda() @ .cpu()": functools.partial(kernels.torch_cuda_matmul, x, w)}
    return {name: bench(calls[name], name=name, repeat=repeat) for name in GPU_MATMUL_ROWS}


def gpu_square_gflops(n: int = 4096) -> dict[str, float]:
    """GFLOP/s of each kernel and of cuBLAS (TF32 off, then restored) on n × n float32, keyed by ``SQUARE_ROWS``."""
    n = _checks.integer("n", n, low=1, high=2**15)  # 4 GiB a matrix
    require_gpu()
    cuda = kernels.cuda
    a, b = torch.randn(n, n, device="cuda"), torch.randn(n, n, device="cuda")
    abc = (cuda.as_cuda_array(a), cuda.as_cuda_array(b), cuda.device_array((n, n), np.float32))

    def gflops(f, *args) -> float:
        return 2 * n**3 / bench(f, *args, repeat=5, max_time=20).median / 1e9

    out = {row: gflops(_launcher(k, n, n, TPB, np.float32), *abc) for k, row in KERNELS.items()}
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # full float32, comparable with the kernels
    try:
        out["cuBLAS (TF32 off)"] = gflops(torch.matmul, a, b)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return out


def gpu_meanshift_timings(data: torch.Tensor | None = None, *, batch_sizes=GPU_MEANSHIFT_BATCHES,
                          repeat: int = 5, max_time: float = 10.0) -> dict[str, Timing]:
    """Mean shift on the GPU by batch size (those below n), and all at once, timed as the lecture
    timed it: a dict of Timing keyed by ``GPU_MEANSHIFT_ROWS``. ``data`` (n, 2) defaults to the lecture's
    1,500 points; ``repeat`` and ``max_time`` go to :func:`lessonlib.timing.bench`.
    """
    data = lecture_points(data)
    sizes = _checks.sequence("batch_sizes", batch_sizes, item=lambda n, v: _checks.integer(n, v, low=1))
    require_gpu()
    dg = data.cuda()
    rows = {**{f"GPU, bs = {bs}": bs for bs in sizes if bs < len(data)}, MEANSHIFT_ALL: len(data)}
    return {name: bench(lambda bs=bs: meanshift_batched(dg, bs=bs).cpu(), name=name, repeat=repeat,
                        max_time=max_time) for name, bs in rows.items()}


def gpu_report(rows: int = 50_000, *, command: str = "python3 -m lessonlib.bench.check",
               progress: bool = False, on_part=None) -> dict:
    """Every GPU figure of the book, and the CPU rows they are compared with, measured here, in the
    reference file's format (:mod:`lessonlib.bench.reference`).

    ``rows`` of x; ``command``, the command line that ran it (for the provenance); ``progress``, a tqdm
    bar over the parts; ``on_part(name, seconds)`` is called as each part ends.
    """
    rows = _checks.integer("rows", rows, low=5)
    _checks.text("command", command)
    on_part = _checks.callable_("on_part", on_part) if on_part is not None else lambda *_: None
    require_gpu()
    start, when = time.perf_counter(), provenance().when
    x, w, source = mnist_data(rows)
    parts = {"CPU ladder": lambda: matmul_ladder(x, w), "GPU matmul rows": lambda: gpu_matmul_timings(x, w),
             "mean shift, CPU": cpu_meanshift_timings, "mean shift, GPU": gpu_meanshift_timings,
             "device bandwidth": device_bandwidth, "4096² GFLOP/s": lambda: gpu_square_gflops(4096),
             "clustering": lambda: cluster_comparison(devices=["cuda"])}
    done = {}
    for name in progress_bar(list(parts), desc="GPU report", unit="part", show=progress):
        done[name], seconds = timed(parts[name])
        on_part(name, seconds)
    cpu, gpu, ms_cpu, ms_gpu, bandwidth, square, cluster_rows = done.values()
    versions = hardware.report()
    report = {
        "format": FORMAT, "version": VERSION,
        "provenance": {"gpu": hardware.gpu_name(), "driver": hardware.driver_version(),
                       "cuda": torch.version.cuda or "none", "torch": versions["torch"], "numba": versions["numba"],
                       "numba_cuda": versions["numba-cuda"], "python": versions["Python"],
                       "cpu": f"{versions['CPU']} ({versions['CPU cores']} cores)",
                       "date": when, "command": command, "seconds": time.perf_counter() - start},
        "matmul": {"shape": [list(x.shape), list(w.shape)], "data": source, "tpb": TPB, "host_memory": HOST_MEMORY,
                   "cpu": {fn: {"median_s": float(r["median (s)"]), "min_s": float(r["min (s)"]),
                                "iqr_s": float(r["IQR (s)"]), "samples": int(r["samples"]), "rows": n}
                           for fn, (n, r) in ladder_rows(cpu).items()},
                   "gpu": {name: summary(t) for name, t in gpu.items()}},
        "meanshift": {"points": 1500, "cpu": {k: summary(t) for k, t in ms_cpu.items()},
                      "gpu": {k: summary(t) for k, t in ms_gpu.items()}},
        "cluster": cluster_rows.to_dict("records"),
        "device_copy_GBps": bandwidth,
        "square_matmul": {"n": 4096, "GFLOP/s": square},
    }
    return jsonable(report)


def roofline_table(model: dict, measured: dict | None = None, *, device: str):
    """A roofline model of each product (``model``: name to :func:`lessonlib.ptx.roofline`'s result)
    for the GPU ``device``, beside what this build measured of it (``measured``: name to words, from
    :func:`roofline_measured`; without it, no measured column). Returns a DataFrame.
    """
    import pandas as pd

    _checks.text("device", device)
    keys = ("bytes", "flops", "memory_s", "compute_s", "lower_bound_s")
    for name, r in _checks.mapping("model", model, empty=False, of="product name to roofline").items():
        _checks.mapping(f"model[{name!r}]", r, keys)
        for k in keys:
            _checks.positive(f"model[{name!r}][{k!r}]", r[k])
    if measured is not None:
        _checks.mapping("measured", measured, among=model, item=_checks.text, of="product name to text")
    return pd.DataFrame({
        "bytes moved (model)": {n: f"{r['bytes'] / 1e6:,.1f} MB" for n, r in model.items()},
        "FLOPs (model)": {n: f"{r['flops'] / 1e9:,.2f} G" for n, r in model.items()},
        "memory time (model)": {n: format_seconds(r["memory_s"]) for n, r in model.items()},
        "arithmetic time (model)": {n: format_seconds(r["compute_s"]) for n, r in model.items()},
        f"{device} lower bound (model)": {n: format_seconds(r["lower_bound_s"]) for n, r in model.items()},
        **({"measured by this build": {n: measured.get(n, "not measured: no GPU in this build") for n in model}}
           if measured else {}),
    })


def roofline_measured(timings: dict, square: dict, *, mnist: str, square_name: str, n: int = 4096) -> dict:
    """What this build measured of the roofline's two products, by their names ``mnist`` and
    ``square_name`` (n × n), from :func:`gpu_matmul_timings` and :func:`gpu_square_gflops`.
    """
    _checks.seconds("timings", medians(timings), ("register-blocked kernel", "torch @ on the GPU"))
    _checks.mapping("square", square, ("register-blocked kernel", "cuBLAS (TF32 off)"), item=_checks.positive)
    _checks.text("mnist", mnist)
    _checks.text("square_name", square_name)
    n = _checks.integer("n", n, low=1)
    return {
        mnist: "; ".join(f"{k}: {format_seconds(timings[k].median)}"
                         for k in ("register-blocked kernel", "torch @ on the GPU")),
        square_name: "; ".join(f"{k}: {format_seconds(2 * n**3 / (v * 1e9))}" for k, v in square.items()
                               if k in ("register-blocked kernel", "cuBLAS (TF32 off)")),
    }
