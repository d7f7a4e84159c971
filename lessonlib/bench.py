"""Benchmarks: the timing ladders the chapters show, runnable from the command line.

Benchmarks are not tests: tests check that results are right, these measure
how fast they come. The chapters call the same functions, so a table in the
book and a run of ``python -m lessonlib.bench matmul`` measure the same thing.

Usage::

    python -m lessonlib.bench matmul [--rows N] [--square N]
    python -m lessonlib.bench meanshift [--sizes N ...]
    python -m lessonlib.bench cluster [--dbscan N] [--kmeans N] [--knn N] [--lsh-sizes N ...]
    python -m lessonlib.bench gpu --out FILE     # needs a CUDA GPU
    python -m lessonlib.bench claims [FILE]      # the lecture's GPU claims, judged on FILE

``gpu`` runs every GPU measurement the book shows and writes them, with the
device, driver, library versions, date and command, to one JSON file (its
format is :mod:`lessonlib.reference`'s), then prints one line per lecture GPU
claim: held or not, with the measured ratio. The chapters show such a file
(``book/_data/reference_gpu.json``) as a labelled reference on machines that
have no GPU; ``claims`` prints the same lines from a file.
"""

from __future__ import annotations

import argparse
import functools
import math
import re
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import _checks, hardware, matmul
from .timing import Ladder, Timing, bench, ladder

# The lecture's own timings (2022, its author's machine), quoted beside each rung.
LECTURE_MATMUL = {
    "matmul_loops": "415 ms (5 rows)",
    "matmul_broadcast": "663 ms (all rows)",
    "matmul_einsum": "15 ms (all rows)",
    "matmul": "15 ms (all rows)",
}


def matmul_ladder(
    x: torch.Tensor,
    w: torch.Tensor,
    *,
    slow_rows: int = 5,
    repeat: int = 5,
    max_time: float = 8.0,
    caption: str = "",
) -> Ladder:
    """Time every rung of the matrix-product ladder on ``x @ w``.

    The rungs with Python loops over rows and columns run on the first
    ``slow_rows`` rows of ``x``; the others on all of ``x``. The table compares
    time per output row, with the lecture's figures in a last column.

    Parameters
    ----------
    x : torch.Tensor of shape (n, k)
    w : torch.Tensor of shape (k, m)
    slow_rows : int, default 5
        Rows for the slow rungs (loops, Numba, elementwise).
    repeat, max_time
        Passed to :func:`lessonlib.timing.bench` for every rung.
    caption : str
        What was multiplied; the hardware is added.

    Returns
    -------
    Ladder
    """
    x, w = matmul._check_matmul(x, w, ("x", "w"))
    _checks.integer("slow_rows", slow_rows, low=1, high=x.shape[0])
    part = x[:slow_rows]
    rungs = [
        (matmul.matmul_loops, part),
        (matmul.matmul_njit, part),
        (matmul.matmul_elementwise, part),
        (matmul.matmul_broadcast, x),
        (matmul.matmul_einsum, x),
        (torch.matmul, x),
    ]
    timings = [
        bench(f, a, w, name=f"{f.__name__} ({a.shape[0]:,} rows)", repeat=repeat, max_time=max_time)
        for f, a in rungs
    ]
    rows = [a.shape[0] for _, a in rungs]
    return ladder(
        timings,
        work=rows,
        flops=[2 * r * w.shape[0] * w.shape[1] for r in rows],
        notes={"lecture (2022, its own hardware)": [LECTURE_MATMUL.get(f.__name__, "") for f, _ in rungs]},
        caption=caption,
    )


def square_gflops(n: int = 2048, *, repeat: int = 5, max_time: float = 8.0) -> float:
    """This machine's float32 GFLOP/s on an n×n by n×n product with torch: a practical peak."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    a = torch.randn(n, n)
    t = bench(torch.matmul, a, a, repeat=repeat, max_time=max_time)
    return 2 * n**3 / t.median / 1e9


# ---------------------------------------------------------------- GPU: the lecture's figures, like for like
#
# Every GPU figure of the lecture gets a row that times exactly what the course notebook's cell
# timed (named "as lectured: ..."); rows that time one part (a kernel alone, one copy) sit beside
# them. The verdicts on the lecture's GPU claims are computed from these rows, by the same
# functions on a GPU build and on the reference file that a CPU build shows.


def _require_gpu() -> None:
    if not hardware.has_cuda() or hardware.cuda_simulator_active():
        raise RuntimeError("this measurement needs a CUDA GPU (not the simulator); none is available here")


def _summary(t: Timing, rows: int | None = None) -> dict:
    out = {"median_s": t.median, "min_s": t.min, "iqr_s": t.iqr, "samples": t.repeat, "calls_per_sample": t.number}
    if rows is not None:
        out["rows"] = rows
    return out


@dataclass(frozen=True)
class LectureFigure:
    """A figure the lecture reported, and where it comes from.

    Attributes
    ----------
    value : str
        As reported, e.g. ``"3.61 ms"``.
    source : str
        The course notebook's cell, or the transcript, that reports it.
    """

    value: str
    source: str


MATMUL_NOTEBOOK = "course notebook fastai/course22p2, nbs/01_matmul.ipynb"
MEANSHIFT_NOTEBOOK = "course notebook fastai/course22p2, nbs/02_meanshift.ipynb"

# The GPU kernel ladder: one row per kernel, in order; each changes one thing from the row above.
GPU_KERNEL_ROWS = {
    "naive": "naive kernel",
    "naive_fp32": "naive kernel, float32 sum",
    "coalesced": "coalesced kernel",
    "tiled": "tiled kernel",
    "blocked": "register-blocked kernel",
}

AS_LECTURED_KERNEL = "as lectured: naive kernel, result copied back"
AS_LECTURED_TORCH = "as lectured: torch (m1c @ m2c).cpu()"
HOST_MEMORY = (
    "Host memory: x and w are ordinary pageable arrays, as in the lecture; the rows marked 'pinned' copy "
    "from or into page-locked host arrays (cuda.pinned_array). Every Numba device array is allocated "
    "before timing (Numba has no caching allocator); torch's rows use torch's caching allocator."
)

# Every GPU row of the MNIST-shaped product, in table order: row name -> what it times.
GPU_MATMUL_ROWS = {
    AS_LECTURED_KERNEL: "the lecture's kernel (float64 sum) writing a float64 result, inputs already on the GPU, "
                        "then copy_to_host() into a new pageable array",
    AS_LECTURED_TORCH: "torch @ on tensors already on the GPU, then .cpu() into a new pageable tensor",
    **{row: "kernel only: inputs and float32 output already on the GPU" for row in GPU_KERNEL_ROWS.values()},
    "copy x, w to the GPU (pageable)": "copy_to_device into device arrays allocated before timing",
    "copy x, w to the GPU (pinned)": "the same, from page-locked host arrays",
    "copy the result back (pageable)": "copy_to_host into a pageable host array allocated before timing",
    "copy the result back (pinned)": "the same, into a page-locked host array",
    "torch @ on the GPU": "torch @ on tensors already on the GPU, no copy",
    "torch .cuda() @ .cpu()": "copy x and w to the GPU, @, copy the result back (torch_cuda_matmul)",
}
# The CPU rungs (names as in matmul_ladder) that the claims compare the GPU with.
MATMUL_CPU_ROWS = ("matmul_loops", "matmul_broadcast", "matmul_einsum", "matmul")

# Mean shift: the lecture's loop on the CPU, and meanshift_batched on the GPU by batch size.
MEANSHIFT_LOOP = "CPU, loop (as lectured)"
MEANSHIFT_CPU_ROWS = {
    MEANSHIFT_LOOP: "meanshift(data, bw=8, kernel=tri): the notebook's loop version, one point at a time",
    "CPU, batched, bs = 500": "meanshift_batched(data, bs=500) on the CPU",
}
GPU_MEANSHIFT_BATCHES = (5, 64, 256, 500, 1024, 1250)
MEANSHIFT_ALL = "GPU, all at once"
GPU_MEANSHIFT_ROWS = {
    **{f"GPU, bs = {bs}": f"meanshift_batched(data, bs={bs}).cpu(), data already on the GPU"
       for bs in GPU_MEANSHIFT_BATCHES},
    MEANSHIFT_ALL: "meanshift_batched(data, bs=len(data)).cpu(): every point in one batch",
}
SQUARE_ROWS = (*GPU_KERNEL_ROWS.values(), "cuBLAS (TF32 off)")

# The lecture's GPU figures, each beside the row that times the same operation.
LECTURE_GPU = {
    AS_LECTURED_KERNEL: LectureFigure(
        "3.61 ms", f"{MATMUL_NOTEBOOK}: %%timeit -n 10 over matmul[blockspergrid, (TPB,TPB)](m1g,m2g,rg) "
                   "and r = rg.copy_to_host()"),
    AS_LECTURED_TORCH: LectureFigure("458 µs", f"{MATMUL_NOTEBOOK}: %timeit -n 10 r=(m1c@m2c).cpu()"),
    MEANSHIFT_LOOP: LectureFigure(
        "452 ms (≈400 ms in the transcript)", f"{MEANSHIFT_NOTEBOOK}: %time X=meanshift(data), the loop "
                                              "version with tri(dist, 8)"),
    "GPU, bs = 5": LectureFigure("157 ms", "lecture transcript"),
    "GPU, bs = 64": LectureFigure("13 ms", "lecture transcript"),
    "GPU, bs = 500": LectureFigure("≈1 ms", "lecture transcript: meanshift(data) on the GPU, whose default "
                                           "in the notebook is bs=500"),
    "GPU, bs = 1250": LectureFigure("2 ms", f"{MEANSHIFT_NOTEBOOK}: %timeit -n 5 _=meanshift(data, 1250).cpu()"),
}


@dataclass(frozen=True)
class Claim:
    """One of the lecture's claims about the GPU, and the rule that judges it.

    Attributes
    ----------
    id : str
        Key in ``GPU_CLAIMS``.
    text : str
        The claim, in words.
    lecture : str
        The lecture's figures behind it, with their source.
    rule : str
        When it counts as held.
    """

    id: str
    text: str
    lecture: str
    rule: str


@dataclass(frozen=True)
class Verdict:
    """Whether a :class:`Claim` held on one machine's measurements.

    Attributes
    ----------
    claim : Claim
    ratio : float
        The measured speed-up the claim is about (how many times faster).
    held : bool
    detail : str
        The times the ratio comes from.
    """

    claim: Claim
    ratio: float
    held: bool
    detail: str

    def __str__(self) -> str:
        from .timing import format_ratio

        return f"{'held' if self.held else 'did not hold'}: {format_ratio(self.ratio)} ({self.detail})"


_ABOUT = math.sqrt(10)  # "about N times": N within half an order of magnitude, or more

GPU_CLAIMS = {
    "kernel_beats_cpu": Claim(
        "kernel_beats_cpu", "The Numba kernel beats the CPU's einsum and @",
        f"3.61 ms for the kernel against 15.1 ms (einsum) and 15.2 ms (@) on the CPU, 4.2× ({MATMUL_NOTEBOOK})",
        "held when the kernel, timed as lectured, is faster than the faster of einsum and @ on the same "
        "machine's CPU"),
    "cuda_vs_broadcast": Claim(
        "cuda_vs_broadcast", ".cuda() is about a thousand times faster than broadcasting",
        f"663 ms for broadcasting over all rows against 458 µs for (m1c @ m2c).cpu(), 1,448×; "
        f"'another thousand times' in the transcript ({MATMUL_NOTEBOOK})",
        f"held at {1000 / _ABOUT:,.0f}× or more (a thousand, within half an order of magnitude, or more)"),
    "five_million": Claim(
        "five_million", "About 5 million × overall, from the Python loops to the GPU",
        f"421 ms for 5 rows with three Python loops, so 4,210 s for 50,000 rows, against 458 µs: 9.2 million×; "
        f"'5 million X' in the transcript ({MATMUL_NOTEBOOK})",
        f"held at {5e6 / _ABOUT:,.0f}× or more (loops extrapolated from their rows to all rows)"),
    "meanshift_gpu": Claim(
        "meanshift_gpu", "Mean shift takes about 1 ms on the GPU against about 400 ms on the CPU",
        f"≈1 ms on the GPU and 400 ms before it in the transcript; in the {MEANSHIFT_NOTEBOOK}, 452 ms for "
        "the loop version on the CPU and 2 ms for bs=1250 on the GPU",
        f"held at {400 / _ABOUT:,.0f}× or more: the loop version on the CPU against bs=500 on the GPU"),
    "bigger_batches": Claim(
        "bigger_batches", "Bigger batches make mean shift faster on the GPU",
        "157 ms at bs=5, 13 ms at bs=64, faster still at 256 and 1024 (lecture transcript)",
        "held when bs=64 beats bs=5 and bs=1024 beats bs=64; the ratio is bs=5's time over bs=1024's"),
}


def _secs(x: float) -> str:
    from .timing import format_seconds

    return f"{x:,.0f} s" if x >= 1000 else format_seconds(x)


def _need(what: str, table, keys) -> None:
    if not isinstance(table, dict):
        raise TypeError(f"{what} must be a dict of row name to seconds, got {type(table).__name__}")
    missing = [k for k in keys if k not in table]
    if missing:
        raise ValueError(f"{what} is missing the rows {missing}")
    for k in keys:
        _checks.real(f"{what}[{k!r}]", table[k], low=0, strict=True)


def matmul_claims(cpu_per_row: dict, gpu: dict, rows: int) -> list[Verdict]:
    """Verdicts on the lecture's matrix-product GPU claims, from one machine's times.

    Parameters
    ----------
    cpu_per_row : dict of str to float
        Seconds per output row of the CPU rungs ``matmul_loops``,
        ``matmul_broadcast``, ``matmul_einsum`` and ``matmul`` (see
        :func:`ladder_per_row`).
    gpu : dict of str to float
        Median seconds of the GPU rows, at least the two "as lectured" ones.
    rows : int
        Rows of the full product (50,000 for MNIST): the CPU rungs are scaled to it.

    Returns
    -------
    list of Verdict
        For ``kernel_beats_cpu``, ``cuda_vs_broadcast`` and ``five_million``.
    """
    s = _secs
    _need("cpu_per_row", cpu_per_row, MATMUL_CPU_ROWS)
    _need("gpu", gpu, (AS_LECTURED_KERNEL, AS_LECTURED_TORCH))
    rows = _checks.integer("rows", rows, low=1)
    full = {k: cpu_per_row[k] * rows for k in MATMUL_CPU_ROWS}
    kernel, torch_gpu = gpu[AS_LECTURED_KERNEL], gpu[AS_LECTURED_TORCH]
    best_cpu = min(("einsum", full["matmul_einsum"]), ("@", full["matmul"]), key=lambda p: p[1])
    c = GPU_CLAIMS
    return [
        Verdict(c["kernel_beats_cpu"], best_cpu[1] / kernel, kernel < best_cpu[1],
                f"kernel as lectured {s(kernel)}; CPU {best_cpu[0]} {s(best_cpu[1])}, the faster of einsum and @"),
        Verdict(c["cuda_vs_broadcast"], full["matmul_broadcast"] / torch_gpu,
                full["matmul_broadcast"] / torch_gpu >= 1000 / _ABOUT,
                f"broadcasting {s(full['matmul_broadcast'])} on the CPU; (m1c @ m2c).cpu() {s(torch_gpu)}"),
        Verdict(c["five_million"], full["matmul_loops"] / torch_gpu,
                full["matmul_loops"] / torch_gpu >= 5e6 / _ABOUT,
                f"Python loops {s(full['matmul_loops'])} for {rows:,} rows (extrapolated); "
                f"(m1c @ m2c).cpu() {s(torch_gpu)}"),
    ]


def meanshift_claims(cpu: dict, gpu: dict) -> list[Verdict]:
    """Verdicts on the lecture's mean shift GPU claims, from one machine's times.

    Parameters
    ----------
    cpu : dict of str to float
        Median seconds of the CPU rows: ``"CPU, loop (as lectured)"``, and
        optionally ``"CPU, batched, bs = 500"`` (reported beside it).
    gpu : dict of str to float
        Median seconds of ``"GPU, bs = 5"``, ``"GPU, bs = 64"``,
        ``"GPU, bs = 500"`` and ``"GPU, bs = 1024"``.

    Returns
    -------
    list of Verdict
        For ``meanshift_gpu`` and ``bigger_batches``.
    """
    from .timing import format_ratio

    s = _secs
    _need("cpu", cpu, (MEANSHIFT_LOOP,))
    _need("gpu", gpu, [f"GPU, bs = {bs}" for bs in (5, 64, 500, 1024)])
    loop, g500 = cpu[MEANSHIFT_LOOP], gpu["GPU, bs = 500"]
    detail = f"GPU bs=500 {s(g500)}; CPU loop {s(loop)}"
    batched = cpu.get("CPU, batched, bs = 500")
    if batched is not None:
        _need("cpu", cpu, ("CPU, batched, bs = 500",))
        detail += f"; against the batched version on the CPU ({s(batched)}): {format_ratio(batched / g500)}"
    b5, b64, b1024 = gpu["GPU, bs = 5"], gpu["GPU, bs = 64"], gpu["GPU, bs = 1024"]
    return [
        Verdict(GPU_CLAIMS["meanshift_gpu"], loop / g500, loop / g500 >= 400 / _ABOUT, detail),
        Verdict(GPU_CLAIMS["bigger_batches"], b5 / b1024, b64 < b5 and b1024 < b64,
                f"bs=5 {s(b5)}, bs=64 {s(b64)}, bs=1024 {s(b1024)}"),
    ]


def gpu_claims(report: dict) -> list[Verdict]:
    """Every GPU claim's verdict from a report in the reference file's format.

    Parameters
    ----------
    report : dict
        As :func:`gpu_report` returns it, or :func:`lessonlib.reference.load_reference` reads it.

    Returns
    -------
    list of Verdict
        In the order of ``GPU_CLAIMS``.

    Raises
    ------
    lessonlib.reference.ReferenceFormatError
        A ``ValueError``, when ``report`` does not follow the reference file's schema.
    """
    from .reference import validate

    if not isinstance(report, dict):
        raise TypeError(f"report must be a dict in the reference file's format, got {type(report).__name__}")
    validate(report)  # a ValueError naming what is wrong
    mm, ms = report["matmul"], report["meanshift"]
    per_row = {k: v["median_s"] / v["rows"] for k, v in mm["cpu"].items()}
    med = lambda rows: {k: v["median_s"] for k, v in rows.items()}  # noqa: E731
    return matmul_claims(per_row, med(mm["gpu"]), mm["shape"][0][0]) + meanshift_claims(med(ms["cpu"]), med(ms["gpu"]))


_LADDER_ROW = re.compile(r"^(?P<fn>\w+) \((?P<rows>[\d,]+) rows\)$")


def _ladder_rows(table: Ladder) -> dict[str, tuple[int, dict]]:
    if not isinstance(table, Ladder):
        raise TypeError(f"table must be a Ladder from matmul_ladder, got {type(table).__name__}")
    out = {}
    for name, row in table.frame.iterrows():
        m = _LADDER_ROW.match(str(name))
        if m is None:
            raise ValueError(f"table row {name!r} is not a matmul_ladder row ('<function> (<n> rows)')")
        out[m["fn"]] = (int(m["rows"].replace(",", "")), row)
    return out


def ladder_per_row(table: Ladder) -> dict[str, float]:
    """Seconds per output row of each rung of a :func:`matmul_ladder` table, keyed by function name."""
    return {fn: float(row["median (s)"]) / rows for fn, (rows, row) in _ladder_rows(table).items()}


def medians(timings: dict) -> dict[str, float]:
    """``{name: median seconds}`` of a dict of :class:`~lessonlib.timing.Timing`."""
    if not isinstance(timings, dict) or not all(isinstance(t, Timing) for t in timings.values()):
        raise TypeError("timings must be a dict of name to Timing")
    return {k: t.median for k, t in timings.items()}


def device_bandwidth(nbytes: int = 1 << 30) -> float:
    """GB/s of a device-to-device copy (bytes read + bytes written, over time). GPU only."""
    _require_gpu()
    nbytes = _checks.integer("nbytes", nbytes, low=4)
    src = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)
    t = bench(dst.copy_, src, repeat=10, max_time=10)
    return 2 * src.numel() * 4 / t.median / 1e9


def _launcher(name: str, m: int, n: int, tpb: int, dtype):
    from . import kernels

    grid, block = kernels.launch_config(name, m, n, tpb)
    return kernels.get_kernel(name, tpb, dtype)[grid, block]


def _numba_matmul_calls(x: torch.Tensor, w: torch.Tensor, tpb: int) -> dict:
    """The Numba rows of :func:`gpu_matmul_timings` as argument-free calls; every buffer made here, once.

    Runs on the simulator too (at small sizes), which is how the tests check what each row does.
    """
    from . import kernels

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
    for name, row in GPU_KERNEL_ROWS.items():
        launch = _launcher(name, m, n, tpb, xn.dtype.type)
        calls[row] = functools.partial(launch, d_x, d_w, d_c)
    calls.update({
        "copy x, w to the GPU (pageable)": lambda: (d_x.copy_to_device(xn), d_w.copy_to_device(wn)),
        "copy x, w to the GPU (pinned)": lambda: (d_x.copy_to_device(px), d_w.copy_to_device(pw)),
        "copy the result back (pageable)": lambda: d_c.copy_to_host(host_c),
        "copy the result back (pinned)": lambda: d_c.copy_to_host(pinned_c),
    })
    return calls


def gpu_matmul_timings(x: torch.Tensor, w: torch.Tensor, *, tpb: int = 16, repeat: int = 7) -> dict[str, Timing]:
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
    _require_gpu()
    from . import kernels

    matmul._check_matmul(x, w)
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


def gpu_square_gflops(n: int = 4096, *, tpb: int = 16) -> dict[str, float]:
    """GFLOP/s of each kernel of the ladder and of cuBLAS (TF32 off) on n×n float32. GPU only.

    Keys are ``SQUARE_ROWS``: the rows of ``GPU_KERNEL_ROWS`` and ``"cuBLAS (TF32 off)"``.
    torch's TF32 setting is restored afterwards.
    """
    _require_gpu()
    from . import kernels

    n = _checks.integer("n", n, low=1)
    cuda = kernels.cuda
    a = torch.randn(n, n, device="cuda")
    b = torch.randn(n, n, device="cuda")
    d_a, d_b = cuda.as_cuda_array(a), cuda.as_cuda_array(b)
    d_c = cuda.device_array((n, n), dtype=np.float32)
    flop = 2 * n**3
    out = {
        row: flop / bench(_launcher(name, n, n, tpb, np.float32), d_a, d_b, d_c, repeat=5, max_time=20).median / 1e9
        for name, row in GPU_KERNEL_ROWS.items()
    }
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # full float32, comparable with the kernels
    try:
        out["cuBLAS (TF32 off)"] = flop / bench(torch.matmul, a, b, repeat=5, max_time=20).median / 1e9
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return out


def _meanshift_data(data):
    from .meanshift import _check_points, make_clusters

    if data is None:
        return make_clusters(6, 250)[1]  # the lecture's 1,500 points
    _check_points(data)
    return data


def cpu_meanshift_timings(data: torch.Tensor | None = None, *, repeat: int = 3, max_time: float = 10.0) -> dict[str, Timing]:
    """The CPU rows the mean shift GPU claims compare with (runs on any machine).

    Parameters
    ----------
    data : torch.Tensor of shape (n, 2), optional
        By default the lecture's 1,500 points (``make_clusters(6, 250)``); moved to the CPU.
    repeat, max_time
        Passed to :func:`lessonlib.timing.bench`.

    Returns
    -------
    dict of str to Timing
        ``"CPU, loop (as lectured)"``: ``meanshift(data, bw=8, kernel=tri)``,
        the notebook's loop version (its ``one_update`` uses ``tri(dist, 8)``);
        ``"CPU, batched, bs = 500"``: ``meanshift_batched(data, bs=500)``.
    """
    from .meanshift import meanshift, meanshift_batched, tri

    data = _meanshift_data(data).cpu()
    return {
        MEANSHIFT_LOOP: bench(meanshift, data, bw=8, kernel=tri, name=MEANSHIFT_LOOP, repeat=repeat, max_time=max_time),
        "CPU, batched, bs = 500": bench(meanshift_batched, data, bs=500, name="CPU, batched, bs = 500",
                                        repeat=repeat, max_time=max_time),
    }


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
    _require_gpu()
    from .meanshift import meanshift_batched

    data = _meanshift_data(data)
    if isinstance(batch_sizes, (str, bytes)) or not hasattr(batch_sizes, "__iter__"):
        raise TypeError(f"batch_sizes must be a sequence of ints, got {type(batch_sizes).__name__}")
    sizes = [_checks.integer("batch_sizes entries", bs, low=1) for bs in batch_sizes]
    dg = data.cuda()
    rows = {f"GPU, bs = {bs}": bs for bs in sizes if bs < len(data)}
    rows[MEANSHIFT_ALL] = len(data)
    return {name: bench(lambda bs=bs: meanshift_batched(dg, bs=bs).cpu(), name=name, repeat=repeat,
                        max_time=max_time) for name, bs in rows.items()}


def _jsonable(value):
    """Plain JSON values: NaN becomes null, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def gpu_report(rows: int = 50_000, *, command: str = "python -m lessonlib.bench gpu", progress: bool = False) -> dict:
    """Every GPU figure the book shows, in the reference file's format. GPU only.

    Measures, on this machine: the CPU ladder of the MNIST-shaped product
    (:func:`matmul_ladder`), its GPU rows (:func:`gpu_matmul_timings`), the
    mean shift rows (:func:`cpu_meanshift_timings`, :func:`gpu_meanshift_timings`),
    the clustering table on the GPU (:func:`cluster_comparison`), the device's
    copy bandwidth and the square product's GFLOP/s. A few minutes on an
    H100/H200-class GPU.

    Parameters
    ----------
    rows : int, default 50,000
        Rows of x (MNIST's training set).
    command : str
        The command line that ran it, recorded in the provenance.
    progress : bool, default False
        Print each part's name and time to stderr as it finishes.

    Returns
    -------
    dict
        Follows ``lessonlib.reference.SCHEMA``.
    """
    _require_gpu()
    from .timing import provenance

    rows = _checks.integer("rows", rows, low=5)
    _checks.text("command", command)
    start = time.perf_counter()
    when = provenance().when

    def step(name, fn, *args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        if progress:
            print(f"  {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        return out

    x, w, source = _data(rows)
    cpu = step("CPU ladder", matmul_ladder, x, w)
    gpu = step("GPU matmul rows", gpu_matmul_timings, x, w)
    ms_cpu = step("mean shift, CPU", cpu_meanshift_timings)
    ms_gpu = step("mean shift, GPU", gpu_meanshift_timings)
    bandwidth = step("device bandwidth", device_bandwidth)
    square = step("4096² GFLOP/s", gpu_square_gflops, 4096)
    cluster_rows = step("clustering", cluster_comparison, devices=["cuda"])
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
            "tpb": 16,
            "host_memory": HOST_MEMORY,
            "cpu": {fn: {"median_s": float(r["median (s)"]), "min_s": float(r["min (s)"]),
                         "iqr_s": float(r["IQR (s)"]), "samples": int(r["samples"]), "rows": n}
                    for fn, (n, r) in _ladder_rows(cpu).items()},
            "gpu": {name: _summary(t) for name, t in gpu.items()},
        },
        "meanshift": {
            "points": 1500,
            "cpu": {name: _summary(t) for name, t in ms_cpu.items()},
            "gpu": {name: _summary(t) for name, t in ms_gpu.items()},
        },
        "cluster": _jsonable(cluster_rows.to_dict("records")),
        "device_copy_GBps": bandwidth,
        "square_matmul": {"n": 4096, "GFLOP/s": square},
    }
    report["provenance"]["seconds"] = time.perf_counter() - start
    return _jsonable(report)


def load_reference(path):
    """Kept for pages that still import it from here: see :func:`lessonlib.reference.load_reference`."""
    from .reference import load_reference as load

    return load(path)


# The lecture's mean shift timings (2022, its author's machine), by batch size, with their sources.
LECTURE_MEANSHIFT = {
    "loop": "600 ms, later 400 ms (CPU; transcript)",
    5: "157 ms (GPU; transcript)",
    64: "13 ms (GPU; transcript)",
    "all": "1 ms (GPU; transcript); 2 ms at bs 1,250 (notebook)",
}


def meanshift_batch_sweep(
    data: torch.Tensor, batch_sizes=(5, 64, 1024), *, loop: bool = False, repeat: int = 3
) -> Ladder:
    """Time ``meanshift_batched`` on ``data`` for each batch size, and for all points at once.

    Parameters
    ----------
    data : torch.Tensor of shape (n_samples, n_features)
    batch_sizes : sequence of int, default (5, 64, 1024)
        The batch sizes the lecture tried and timed; sizes of n or more are
        dropped, and a row with every point at once is always added.
    loop : bool, default False
        Add a first row for the loop version, :func:`~lessonlib.meanshift.meanshift`
        (CPU data only), so that the speed-ups compare each batch size with it.
    repeat : int, default 3
        Samples per row (fewer for a row whose single run is slow).

    Returns
    -------
    Ladder
        One row per version; the lecture's figures, with their source, in the last column.
    """
    from .meanshift import _check_points, meanshift, meanshift_batched

    _check_points(data)
    if not isinstance(loop, bool):
        raise TypeError(f"loop must be True or False, got {type(loop).__name__}")
    if loop and data.is_cuda:
        raise ValueError("loop=True times the point-by-point loop, which is for CPU data; data is on the GPU")
    for bs in batch_sizes:
        if isinstance(bs, bool) or not isinstance(bs, int) or bs < 1:
            raise ValueError(f"batch_sizes must hold positive ints, got {bs!r}")
    sizes = [bs for bs in batch_sizes if bs < len(data)] + [len(data)]
    timings, lecture = [], []
    if loop:
        timings.append(bench(meanshift, data, repeat=1, max_time=6, name="loop (meanshift)"))
        lecture.append(LECTURE_MEANSHIFT["loop"])
    for bs in sizes:
        timings.append(bench(meanshift_batched, data, bs=bs, repeat=repeat, max_time=3,
                             name=f"bs = {bs}" if bs < len(data) else f"bs = n = {bs}"))
        lecture.append(LECTURE_MEANSHIFT.get(bs if bs < len(data) else "all", ""))
    where = "GPU" if data.is_cuda else "CPU"
    return ladder(timings, notes={"lecture (2022)": lecture},
                  caption=f"Mean shift, 5 steps on {len(data):,} points, {where}, by batch size"
                          + ("" if data.is_cuda else f", torch on {torch.get_num_threads()} CPU thread(s)"))


def torch_calls(fn, *args, **kwargs) -> tuple[int, list[str]]:
    """Count the torch operations ``fn(*args, **kwargs)`` calls, and name them in order.

    Every torch function or tensor method that goes through torch's
    ``__torch_function__`` protocol counts once (indexing, arithmetic,
    reductions); reading attributes such as ``.shape`` does not.

    Returns
    -------
    tuple of (int, list of str)
        The count and the operations' names.
    """
    from torch.overrides import TorchFunctionMode

    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    names: list[str] = []

    class _Count(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", str(func))
            if name != "__get__":  # attribute reads (.shape, .ndim) are not operations
                names.append(name)
            return func(*args, **(kwargs or {}))

    with _Count():
        fn(*args, **kwargs)
    return len(names), names


def per_call_overhead(*, repeat: int = 7) -> Timing:
    """Seconds per call of a tiny torch operation: two 2-element tensors multiplied.

    With so little arithmetic the time is nearly all fixed cost: Python's call,
    torch's dispatch and the allocation of the result. That cost is paid again
    by every operation in a Python loop, whatever the tensors' size.

    Parameters
    ----------
    repeat : int, default 7

    Returns
    -------
    Timing
    """
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"repeat must be a positive int, got {repeat!r}")
    a, b = torch.ones(2), torch.ones(2)
    return bench(torch.mul, a, b, name="torch.mul on 2 numbers", repeat=repeat, max_time=2)


def meanshift_loop_overhead(loop_s: float, overhead_s: float, data: torch.Tensor, *, iters: int = 5) -> dict:
    """How much of the loop version's time the per-call overhead explains.

    The loop makes ``iters · n`` point steps, each of a fixed number of small
    torch operations (counted with :func:`torch_calls` on one step). If each
    operation cost only ``overhead_s``, the loop would take
    ``operations · overhead_s`` seconds, whatever the arithmetic.

    Parameters
    ----------
    loop_s : float
        Measured seconds of the loop version on ``data``.
    overhead_s : float
        Measured seconds of one tiny operation (:func:`per_call_overhead`).
    data : torch.Tensor of shape (n_samples, n_features)
    iters : int, default 5

    Returns
    -------
    dict
        ``ops_per_step``, ``steps``, ``ops``, ``explained_s`` (ops · overhead_s)
        and ``fraction`` (explained_s / loop_s).
    """
    from functools import partial

    from .meanshift import _check_points, gaussian, one_update

    _check_points(data)
    for name, value in (("loop_s", loop_s), ("overhead_s", overhead_s)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters must be a positive int, got {iters!r}")
    one, _ = torch_calls(one_update, data[:1].clone(), partial(gaussian, bw=2.5))
    two, _ = torch_calls(one_update, data[:2].clone(), partial(gaussian, bw=2.5))
    per_step = two - one  # the operations of one point step, without the loop's own set-up
    steps = iters * len(data)
    explained = per_step * steps * overhead_s
    return {"ops_per_step": per_step, "steps": steps, "ops": per_step * steps,
            "explained_s": float(explained), "fraction": float(explained / loop_s)}


def meanshift_comparison(
    sizes=(1_500, 15_000, 100_000),
    *,
    bw: float = 2.5,
    batched_max: int = 15_000,
    sklearn_default_max: int = 15_000,
    repeat: int = 3,
    progress: bool = False,
):
    """Time the mean shift versions and scikit-learn's ``MeanShift`` on the same data.

    For each n, the lecture's six clusters with n/6 points each. Rows: our
    ``meanshift_batched`` (bs=1024) and ``meanshift_fast``, both five Gaussian
    steps followed by :func:`~lessonlib.meanshift.cluster_labels`; and
    scikit-learn's ``MeanShift`` with its flat kernel of radius 2·bw, with
    ``bin_seeding=True`` and with its defaults. A method is skipped above its
    size limit (quadratic ones get slow) and its row says so.

    Returns
    -------
    pandas.DataFrame
        One row per (n, method): median seconds, adjusted Rand index against
        the true clusters, number of clusters found, and a note.
    """
    import pandas as pd
    from sklearn.cluster import MeanShift
    from sklearn.metrics import adjusted_rand_score

    from .meanshift import cluster_labels, make_clusters, meanshift_batched, meanshift_fast, true_labels

    methods = {
        "meanshift_batched (bs=1024)": (lambda X: cluster_labels(meanshift_batched(X, bw=bw, bs=1024))[1], batched_max),
        "meanshift_fast": (lambda X: cluster_labels(meanshift_fast(X, bw=bw))[1], None),
        "sklearn MeanShift, bin_seeding": (
            lambda X: MeanShift(bandwidth=2 * bw, bin_seeding=True).fit(X.numpy()).labels_, None),
        "sklearn MeanShift, defaults": (
            lambda X: MeanShift(bandwidth=2 * bw).fit(X.numpy()).labels_, sklearn_default_max),
    }
    jobs = [(n, name) for n in sizes for name in methods]
    if progress:
        from tqdm import tqdm

        jobs = tqdm(jobs, desc="mean shift", unit="run")
    rows, data = [], {}
    for n, name in jobs:
        fn, limit = methods[name]
        if n not in data:
            per = max(1, round(n / 6))
            data[n] = (make_clusters(6, per)[1], true_labels(6, per))
        X, truth = data[n]
        if limit is not None and len(X) > limit:
            rows.append({"n": len(X), "method": name, "median (s)": float("nan"), "ARI": float("nan"),
                         "clusters": None, "note": f"not run: quadratic, over {limit:,} points"})
            continue
        out = []
        # bench's untimed warm-up call is the one whose labels are scored: no extra run
        t = bench(lambda X, fn=fn: out.append(fn(X)), X, name=name, repeat=repeat, max_time=20)
        labels = out[0]
        rows.append({"n": len(X), "method": name, "median (s)": t.median,
                     "ARI": float(adjusted_rand_score(truth, labels)),
                     "clusters": int(len(set(labels.tolist()))),
                     "note": f"{t.repeat} sample{'s' * (t.repeat != 1)}"})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- clustering homework

# The data behind each performance goal of the clustering chapter.
CLUSTER_SETUP = {
    "kmeans": "blobs: 8 centres in 2-D (k = 8), and 32 centres in 16-D (k = 32), n points in float64; "
              "one k-means++ start shared with scikit-learn; up to 100 Lloyd steps, tol 0",
    "dbscan": "two moons (noise 0.06) in 2-D, n points, float32; eps = 0.05, 0.1 and 0.3; "
              "and 8 blobs (std 2) in 2-D with eps = 0.3; min_samples = 10",
    "knn": "blobs: 50 centres in 16-D, n points, float32; 1,000 queries from the same distribution; k = 10",
    "knn32": "blobs: 100 centres in 32-D, n points, float32; 1,000 queries from the same distribution; k = 10",
}

# case name -> (algorithm, data set, size key, parameters)
CLUSTER_CASES = {
    "k-means, 2-D, k = 8": ("k-means", "kmeans", "kmeans", {"k": 8}),
    "k-means, 16-D, k = 32": ("k-means", "kmeans16", "kmeans", {"k": 32}),
    "DBSCAN, moons, eps 0.05": ("DBSCAN", "dbscan", "dbscan", {"eps": 0.05}),
    "DBSCAN, moons, eps 0.1": ("DBSCAN", "dbscan", "dbscan", {"eps": 0.1}),
    "DBSCAN, moons, eps 0.3": ("DBSCAN", "dbscan", "dbscan", {"eps": 0.3}),
    "DBSCAN, blobs, eps 0.3": ("DBSCAN", "dbscan_blobs", "dbscan_blobs", {"eps": 0.3}),
    "10 nearest neighbours, 16-D": ("10 nearest neighbours", "knn", "knn", {}),
}

# LSH settings for the 32-D crossover: found by a small sweep at n = 200,000 (recall@10 >= 0.9, fewest points scanned)
LSH_CROSSOVER_PARAMS = {"n_tables": 16, "n_hashes": 8, "width": 24.0}


def cluster_data(what: str, n: int, *, seed: int = 0):
    """The data set for one benchmark (see ``CLUSTER_SETUP``), as tensors.

    ``kmeans`` and ``kmeans16`` are float64 (both programs then compute in
    float64, so their labels can be compared one by one); the others float32.
    Returns ``X``, or ``(X, Q)`` with 1,000 queries for ``knn`` and ``knn32``.
    """
    from sklearn.datasets import make_blobs, make_moons

    kinds = ("kmeans", "kmeans16", "dbscan", "dbscan_blobs", "knn", "knn32")
    _checks.text("what", what)
    if what not in kinds:
        raise ValueError(f"what must be one of {sorted(kinds)}, got {what!r}")
    _checks.integer("n", n, low=10)
    seed = _checks.seed(seed)
    if what == "kmeans":
        return torch.from_numpy(make_blobs(n, centers=8, cluster_std=2.0, random_state=seed)[0])
    if what == "kmeans16":
        return torch.from_numpy(make_blobs(n, centers=32, n_features=16, cluster_std=2.0, random_state=seed)[0])
    if what == "dbscan":
        return torch.from_numpy(make_moons(n, noise=0.06, random_state=seed)[0]).float()
    if what == "dbscan_blobs":
        return torch.from_numpy(make_blobs(n, centers=8, cluster_std=2.0, random_state=seed)[0]).float()
    centers, d = (50, 16) if what == "knn" else (100, 32)
    X = torch.from_numpy(make_blobs(n + 1000, centers=centers, n_features=d, random_state=seed)[0]).float()
    return X[:n], X[n:]


def peak_rss_reset() -> float:
    """Reset this process's peak resident memory to its current value (Linux); return that value in MiB."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # elsewhere the peak cannot be reset: peak_rss() then reports the process's whole peak
    return peak_rss()


def peak_rss() -> float:
    """Peak resident memory of this process, in MiB (``resource.getrusage``), since the last reset."""
    import resource

    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / (1024 * 1024) if sys.platform == "darwin" else kib / 1024


def _timed(fn, repeat: int):
    """Warm up, then time ``fn``; with the peak RSS (MiB) of the whole run and how far it rose above the start."""
    start = peak_rss_reset()
    t = bench(fn, repeat=repeat, max_time=30)
    peak = peak_rss()
    return t, (peak, peak - start)


def cluster_comparison(
    sizes: dict | None = None,
    *,
    cases=None,
    devices=None,
    methods=("fused", "tensor"),
    lsh_params: dict | None = None,
    repeat: int = 3,
    progress: bool = False,
):
    """Time k-means, DBSCAN and LSH neighbours against scikit-learn on identical data, in one process.

    Parameters
    ----------
    sizes : dict, optional
        Points per data set, keys ``kmeans``, ``dbscan``, ``dbscan_blobs``,
        ``knn``; by default the performance goals' sizes: 100,000, 20,000,
        100,000 and 100,000.
    cases : list of str, optional
        Names from ``CLUSTER_CASES`` to run; by default all.
    devices : list of str, optional
        Where to run lessonlib's versions; by default ``cpu``, plus ``cuda``
        when a GPU is present.
    methods : sequence of str, default ("fused", "tensor")
        lessonlib's versions to time on the CPU ("fused" or "tensor"); other
        devices run "tensor".
    lsh_params : dict, optional
        Passed to :func:`lessonlib.lsh.build`; default 16 tables of 4 hashes, width 8.
    repeat : int, default 3
        Timed samples after one warm-up call.

    Returns
    -------
    pandas.DataFrame
        One row per (case, implementation, device): n, best, median and
        inter-quartile range of the time, the agreement measure and its
        value, whether the labels are identical to scikit-learn's, the peak
        resident memory of the process while it ran and its rise above the
        memory already held when it started (MiB), and a note. scikit-learn always
        runs on the CPU.
    """
    import pandas as pd
    from sklearn.cluster import DBSCAN, KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.neighbors import NearestNeighbors

    from . import cluster, lsh

    sizes = {"kmeans": 100_000, "dbscan": 20_000, "dbscan_blobs": 100_000, "knn": 100_000, **(sizes or {})}
    cases = list(CLUSTER_CASES) if cases is None else list(cases)
    unknown = [c for c in cases if c not in CLUSTER_CASES]
    if unknown:
        raise ValueError(f"cases must be names from CLUSTER_CASES, got {unknown}")
    devices = list(devices) if devices is not None else ["cpu"] + (["cuda"] if hardware.has_cuda() else [])
    if not set(methods) <= {"fused", "tensor"} or not methods:
        raise ValueError(f"methods must be a non-empty subset of ('fused', 'tensor'), got {methods!r}")
    params = {"n_tables": 16, "n_hashes": 4, "width": 8.0, **(lsh_params or {})}
    runs = [(dev, m) for dev in devices for m in (methods if dev == "cpu" else ["tensor"])]
    rows, data = [], {}

    def row(case, impl, device, n, timed, measure, value, same=None, note=""):
        t, (rss, grew) = timed
        rows.append({"algorithm": CLUSTER_CASES[case][0], "case": case, "implementation": impl, "device": device,
                     "n": n, "best (s)": t.min, "median (s)": t.median, "IQR (s)": t.iqr, "agreement": measure,
                     "value": value, "identical labels": same, "peak RSS (MiB)": rss, "RSS growth (MiB)": grew,
                     "note": note})

    steps = cases
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="clustering", unit="case")
    for case in steps:
        algo, what, size_key, p = CLUSTER_CASES[case]
        n = sizes[size_key]
        if what not in data:
            data[what] = cluster_data(what, n)
        if algo == "k-means":
            X, k = data[what], p["k"]
            init = cluster.kmeans_plusplus(X, k, seed=0)
            fit = lambda: KMeans(k, init=init.numpy(), n_init=1, max_iter=100, tol=0,  # noqa: E731
                                 algorithm="lloyd").fit(X.numpy())
            ref = fit()
            ref_inertia = cluster.inertia(X, torch.from_numpy(ref.cluster_centers_).to(X.dtype))
            row(case, "scikit-learn KMeans (lloyd)", "cpu", n, _timed(fit, repeat), "inertia ÷ scikit-learn's", 1.0,
                None, f"{ref.n_iter_} iterations")
            for dev, m in runs:
                Xd, initd = X.to(dev), init.to(dev)
                C, labels = cluster.kmeans(Xd, k, iters=100, init=initd, method=m)
                same = bool((labels.cpu().numpy() == ref.labels_).all())
                timed = _timed(lambda: cluster.kmeans(Xd, k, iters=100, init=initd, method=m), repeat)  # noqa: B023
                row(case, f"lessonlib kmeans ({m})", dev, n, timed, "inertia ÷ scikit-learn's",
                    cluster.inertia(X, C.cpu()) / ref_inertia, same,
                    "" if same else f"{int((labels.cpu().numpy() != ref.labels_).sum())} labels differ")
        elif algo == "DBSCAN":
            X, eps = data[what], p["eps"]
            fit = lambda: DBSCAN(eps=eps, min_samples=10).fit(X.numpy())  # noqa: E731
            ref = fit().labels_
            row(case, "scikit-learn DBSCAN", "cpu", n, _timed(fit, repeat), "identical labels", 1.0, None,
                f"{ref.max() + 1} clusters, {(ref == -1).sum()} noise points")
            for dev, m in runs:
                Xd = X.to(dev)
                labels = cluster.dbscan(Xd, eps=eps, min_samples=10, method=m).cpu().numpy()
                timed = _timed(lambda: cluster.dbscan(Xd, eps=eps, min_samples=10, method=m), repeat)  # noqa: B023
                same = bool((labels == ref).all())
                row(case, f"lessonlib dbscan ({m})", dev, n, timed, "identical labels", float(same), same,
                    "" if same else f"ARI {adjusted_rand_score(ref, labels):.4f}")
        else:
            X, Q = data[what]
            nn = lambda: NearestNeighbors(n_neighbors=10).fit(X.numpy()).kneighbors(Q.numpy())  # noqa: E731
            exact = torch.from_numpy(nn()[1])
            row(case, "scikit-learn NearestNeighbors", "cpu", n, _timed(nn, repeat), "recall@10", 1.0, None,
                "fit + 1,000 queries")
            for dev in devices:
                Xd, Qd = X.to(dev), Q.to(dev)
                row(case, "lessonlib exact_knn (brute force)", dev, n,
                    _timed(lambda: lsh.exact_knn(Xd, Qd, 10), repeat), "recall@10",  # noqa: B023
                    lsh.recall(lsh.exact_knn(Xd, Qd, 10)[0].cpu(), exact), None, "all n distances per query")
            for dev, m in runs:
                Xd, Qd = X.to(dev), Q.to(dev)
                run = lambda: lsh.query(lsh.build(Xd, **params), Qd, 10, method=m)  # noqa: E731, B023
                found, _, scanned = run()
                row(case, f"lessonlib LSH ({m})", dev, n, _timed(run, repeat), "recall@10",
                    lsh.recall(found.cpu(), exact), None,
                    f"build + 1,000 queries; scans {100 * float(scanned.float().mean()) / n:.2f}% of the points")
    return pd.DataFrame(rows)


def lsh_crossover(
    sizes=(10_000, 30_000, 100_000, 300_000, 1_000_000),
    *,
    params: dict | None = None,
    repeat: int = 3,
    progress: bool = False,
):
    """Query time of LSH and of brute force against the number of points, on the 32-D ``knn32`` data.

    The largest data set is drawn once and each size takes its first n rows
    (a random subset: the blobs come shuffled); the same 1,000 queries run
    against each. LSH's index is built outside the timed query, and its build
    time is reported beside it.

    Parameters
    ----------
    sizes : sequence of int
        Numbers of indexed points, each >= 10.
    params : dict, optional
        Passed to :func:`lessonlib.lsh.build`; default ``LSH_CROSSOVER_PARAMS``.
    repeat : int, default 3

    Returns
    -------
    pandas.DataFrame
        One row per n: brute force and LSH query times (best of ``repeat``),
        LSH build time, recall@10 of LSH, the share of points it measured, and
        the peak resident memory (MiB) of each method's run.
    """
    import pandas as pd

    from . import lsh

    sizes = sorted(sizes)
    if not sizes or any(isinstance(n, bool) or not isinstance(n, int) or n < 10 for n in sizes):
        raise ValueError(f"sizes must be ints >= 10, got {sizes!r}")
    params = {**LSH_CROSSOVER_PARAMS, **(params or {})}
    X_all, Q = cluster_data("knn32", sizes[-1])
    steps = sizes
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="LSH crossover", unit="size")
    rows = []
    for n in steps:
        X = X_all[:n]
        exact, _ = lsh.exact_knn(X, Q, 10)
        t_brute, (rss_brute, _) = _timed(lambda: lsh.exact_knn(X, Q, 10), repeat)  # noqa: B023
        start = time.perf_counter()
        index = lsh.build(X, **params)
        build = time.perf_counter() - start
        found, _, scanned = lsh.query(index, Q, 10)
        t_lsh, (rss_lsh, _) = _timed(lambda: lsh.query(index, Q, 10), repeat)  # noqa: B023
        rows.append({"n": n, "brute force (s)": t_brute.min, "LSH query (s)": t_lsh.min,
                     "LSH build (s)": build, "recall@10": lsh.recall(found, exact),
                     "points scanned (%)": 100 * float(scanned.float().mean()) / n,
                     "peak RSS brute force (MiB)": rss_brute, "peak RSS LSH (MiB)": rss_lsh})
        del index
    return pd.DataFrame(rows)


def _data(rows: int):
    from .data import lecture_weights, load_mnist, mnist_like

    try:
        (x, _), _ = load_mnist()
        source = "MNIST"
    except FileNotFoundError:
        (x, _), _ = mnist_like(n_train=rows, n_valid=1)
        source = "synthetic data with MNIST's shapes"
    return x[:rows], lecture_weights(), source


def cluster_goals(table, crossover=None) -> list[tuple[str, bool]]:
    """The clustering chapter's performance goals, each with whether the CPU rows of ``table`` meet it.

    k-means and DBSCAN compare best times (of the samples) of lessonlib's
    fused version and scikit-learn, per case; ``crossover`` (from
    :func:`lsh_crossover`) adds the LSH goal at its largest n, if that n is at
    least 1,000,000.
    """
    cpu = table[table.device == "cpu"]
    goals = []
    for case in dict.fromkeys(cpu.case):
        rows = cpu[cpu.case == case].set_index("implementation")
        algo = rows.algorithm.iloc[0]
        if algo == "k-means" and "lessonlib kmeans (fused)" in rows.index:
            ours, skl = rows.loc["lessonlib kmeans (fused)"], rows.loc["scikit-learn KMeans (lloyd)"]
            ratio = ours["best (s)"] / skl["best (s)"]
            goals.append((f"{case}: {ratio:.2f}× scikit-learn's time (goal <= 1.0×), inertia {ours.value:.6f}× "
                          f"(goal <= 1.001×), identical labels: {ours['identical labels']}",
                          bool(ratio <= 1.0 and ours.value <= 1.001 and ours["identical labels"])))
        elif algo == "DBSCAN" and "lessonlib dbscan (fused)" in rows.index:
            ours, skl = rows.loc["lessonlib dbscan (fused)"], rows.loc["scikit-learn DBSCAN"]
            ratio = ours["best (s)"] / skl["best (s)"]
            goals.append((f"{case}: {ratio:.2f}× scikit-learn's time (goal <= 1.25×), identical labels: "
                          f"{ours['identical labels']} at n = {ours.n:,}",
                          bool(ratio <= 1.25 and ours["identical labels"])))
        elif algo == "10 nearest neighbours":
            for impl in [i for i in rows.index if i.startswith("lessonlib LSH")]:
                knn = rows.loc[impl]
                scanned = float(knn.note.split("scans ")[1].split("%")[0])
                goals.append((f"{case}, {impl}: recall@10 {knn.value:.3f} (goal >= 0.9) scanning {scanned:.2f}% "
                              f"of {knn.n:,} points (goal <= 10%)", bool(knn.value >= 0.9 and scanned <= 10)))
    if crossover is not None and len(crossover) and int(crossover.n.max()) >= 1_000_000:
        big = crossover.set_index("n").loc[int(crossover.n.max())]
        goals.append((f"LSH, 32-D, n = {int(crossover.n.max()):,}, 1,000 queries: query {big['LSH query (s)']:.3f} s "
                      f"vs brute force {big['brute force (s)']:.3f} s (goal: faster), recall@10 "
                      f"{big['recall@10']:.3f} (goal >= 0.9)",
                      bool(big["LSH query (s)"] < big["brute force (s)"] and big["recall@10"] >= 0.9)))
    return goals


def _cluster_main(args) -> int:
    import pandas as pd

    sizes = {"kmeans": args.kmeans, "dbscan": args.dbscan, "dbscan_blobs": args.dbscan_blobs, "knn": args.knn}
    table = cluster_comparison(sizes, repeat=args.repeat, progress=True)
    crossover = lsh_crossover(args.lsh_sizes, repeat=args.repeat, progress=True) if args.lsh_sizes else None
    for what, setup in CLUSTER_SETUP.items():
        print(f"{what}: {setup}")
    cols = ["case", "implementation", "device", "n", "best (s)", "median (s)", "agreement", "value",
            "peak RSS (MiB)", "RSS growth (MiB)", "note"]
    with pd.option_context("display.width", 250, "display.max_columns", 14, "display.max_colwidth", 60,
                           "display.float_format", "{:.4g}".format):
        print(table[cols].to_string(index=False))
        if crossover is not None:
            print(f"LSH against brute force, 32-D, 1,000 queries, k = 10, index {LSH_CROSSOVER_PARAMS}:")
            print(crossover.to_string(index=False))
    goals = cluster_goals(table, crossover)
    for text, ok in goals:
        print(("met:     " if ok else "NOT MET: ") + text)
    return 0 if all(ok for _, ok in goals) else 1


def _gpu_main(args, argv: list[str]) -> int:
    """``gpu``: measure, check, write, then one line per claim. ``claims``: the lines, from a file."""
    from .reference import ReferenceFormatError, load_reference, write_reference

    if args.what == "gpu":
        try:
            report = gpu_report(command="python -m lessonlib.bench " + shlex.join(argv), progress=True)
        except RuntimeError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"wrote {write_reference(report, args.out)} in {report['provenance']['seconds']:.0f} s")
    else:
        try:
            report = load_reference(args.file)
        except ReferenceFormatError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        if report is None:
            print(f"error: no reference file at {args.file}", file=sys.stderr)
            return 2
        p = report["provenance"]
        print(f"reference: {p['gpu']}, driver {p['driver']}, {p['date']}")
    for v in gpu_claims(report):
        print(f"{v.claim.text}: {v}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line: ``python -m lessonlib.bench {matmul,meanshift,cluster,gpu,claims}``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m lessonlib.bench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    mm = sub.add_parser("matmul", help="the matrix-product ladder and this machine's square-matmul GFLOP/s")
    mm.add_argument("--rows", type=int, default=50_000, help="rows of x for the fast rungs (default 50000)")
    mm.add_argument("--square", type=int, default=2048, help="size of the square matmul for the peak (default 2048)")
    msp = sub.add_parser("meanshift", help="mean shift versions against scikit-learn, by data size")
    msp.add_argument("--sizes", type=int, nargs="+", default=[1_500, 15_000, 100_000, 1_000_000])
    cl = sub.add_parser("cluster", help="k-means, DBSCAN and LSH against scikit-learn, with the goals' verdicts")
    cl.add_argument("--dbscan", type=int, default=20_000, help="points for DBSCAN (default 20000)")
    cl.add_argument("--kmeans", type=int, default=100_000, help="points for k-means (default 100000)")
    cl.add_argument("--knn", type=int, default=100_000, help="points for the neighbour search (default 100000)")
    cl.add_argument("--dbscan-blobs", type=int, default=100_000, help="points for DBSCAN on blobs (default 100000)")
    cl.add_argument("--lsh-sizes", type=int, nargs="*", default=[10_000, 30_000, 100_000, 300_000, 1_000_000],
                    help="sizes of the 32-D LSH crossover (default up to 1000000; none to skip it)")
    cl.add_argument("--repeat", type=int, default=3, help="timed samples per measurement, best taken (default 3)")
    gp = sub.add_parser("gpu", help="every GPU measurement of the book, written to a JSON file")
    gp.add_argument("--out", type=Path, required=True, help="where to write the JSON")
    cm = sub.add_parser("claims", help="one line per lecture GPU claim, judged on a reference file")
    cm.add_argument("file", type=Path, nargs="?", default=Path("book/_data/reference_gpu.json"),
                    help="a file written by the gpu command (default book/_data/reference_gpu.json)")
    args = parser.parse_args(argv)

    print(hardware.label())
    if args.what in ("gpu", "claims"):
        return _gpu_main(args, sys.argv[1:] if argv is None else argv)
    if args.what == "cluster":
        return _cluster_main(args)
    if args.what == "meanshift":
        import pandas as pd

        table = meanshift_comparison(args.sizes, progress=True)
        with pd.option_context("display.width", 200, "display.max_columns", 10):
            print(table.to_string(index=False))
        fast = table[table.method == "meanshift_fast"].set_index("n")["median (s)"]
        skl = table[table.method == "sklearn MeanShift, bin_seeding"].set_index("n")["median (s)"]
        for n in fast.index:
            print(f"n = {n:,}: meanshift_fast is {skl[n] / fast[n]:.1f}× faster than MeanShift(bin_seeding=True)")
        return 0
    if args.what == "matmul":
        x, w, source = _data(args.rows)
        table = matmul_ladder(x, w, caption=f"({args.rows} × 784) @ (784 × 10) float32 on {source}")
        print(table)
        peak = square_gflops(args.square)
        best = float(table.frame["GFLOP/s"].iloc[-1])
        print(f"torch {args.square}² float32 matmul: {peak:.1f} GFLOP/s; "
              f"MNIST-shaped @: {best:.1f} GFLOP/s = {100 * best / peak:.0f}% of it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
