"""The lecture's GPU figures and claims, the names of the rows that time them, and the verdicts:
one judge for a GPU build's own times and the reference file's (:mod:`lessonlib.bench.reference`).
"""

from __future__ import annotations

import math
from collections import namedtuple
from dataclasses import dataclass

from .. import _checks
from ..kernels import KERNELS
from ..timing import Timing, format_ratio, format_seconds


# A figure the lecture reported ("3.61 ms"), and the notebook cell or transcript that reports it.
LectureFigure = namedtuple("LectureFigure", ["value", "source"])
MATMUL_NOTEBOOK = "course notebook fastai/course22p2, nbs/01_matmul.ipynb"
MEANSHIFT_NOTEBOOK = "course notebook fastai/course22p2, nbs/02_meanshift.ipynb"

AS_LECTURED_KERNEL = "as lectured: naive kernel, result copied back"
AS_LECTURED_TORCH = "as lectured: torch (m1c @ m2c).cpu()"
HOST_MEMORY = ("Host memory: x and w are ordinary pageable arrays, as in the lecture; the rows "
               "marked 'pinned' copy from or into page-locked host arrays (cuda.pinned_array). "
               "Every Numba device array is allocated before timing (Numba has no caching "
               "allocator); torch's rows use torch's caching allocator.")

# Every GPU row of the MNIST-shaped product, in table order: row name -> what it times.
GPU_MATMUL_ROWS = {
    AS_LECTURED_KERNEL: "the lecture's kernel (float64 sum) writing a float64 result, inputs already on the GPU, "
                        "then copy_to_host() into a new pageable array",
    AS_LECTURED_TORCH: "torch @ on tensors already on the GPU, then .cpu() into a new pageable tensor",
    **{row: "kernel only: inputs and float32 output already on the GPU" for row in KERNELS.values()},
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
SQUARE_ROWS = (*KERNELS.values(), "cuBLAS (TF32 off)")

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
    """One of the lecture's claims about the GPU, and the rule that judges it."""

    id: str  # its key in GPU_CLAIMS
    text: str
    lecture: str  # the lecture's figures behind it, with their source
    rule: str  # when it counts as held


@dataclass(frozen=True)
class Verdict:
    """Whether a :class:`Claim` held on one machine's measurements."""

    claim: Claim
    ratio: float  # the speed-up the claim is about (how many times faster)
    held: bool
    detail: str  # the times the ratio comes from

    def __str__(self) -> str:
        return f"{'held' if self.held else 'did not hold'}: {format_ratio(self.ratio)} ({self.detail})"


_ABOUT = math.sqrt(10)  # "about N times": N within half an order of magnitude, or more
GPU_CLAIMS = {c.id: c for c in (
    Claim("kernel_beats_cpu", "The Numba kernel beats the CPU's einsum and @",
        f"3.61 ms for the kernel against 15.1 ms (einsum) and 15.2 ms (@) on the CPU, 4.2× ({MATMUL_NOTEBOOK})",
        "held when the kernel, timed as lectured, is faster than the faster of einsum and @ on the same "
        "machine's CPU"),
    Claim("cuda_vs_broadcast", ".cuda() is about a thousand times faster than broadcasting",
        f"663 ms for broadcasting over all rows against 458 µs for (m1c @ m2c).cpu(), 1,448×; "
        f"'another thousand times' in the transcript ({MATMUL_NOTEBOOK})",
        f"held at {1000 / _ABOUT:,.0f}× or more (a thousand, within half an order of magnitude, or more)"),
    Claim("five_million", "About 5 million × overall, from the Python loops to the GPU",
        f"421 ms for 5 rows with three Python loops, so 4,210 s for 50,000 rows, against 458 µs: 9.2 million×; "
        f"'5 million X' in the transcript ({MATMUL_NOTEBOOK})",
        f"held at {5e6 / _ABOUT:,.0f}× or more (loops extrapolated from their rows to all rows)"),
    Claim("meanshift_gpu", "Mean shift takes about 1 ms on the GPU against about 400 ms on the CPU",
        f"≈1 ms on the GPU and 400 ms before it in the transcript; in the {MEANSHIFT_NOTEBOOK}, 452 ms for "
        "the loop version on the CPU and 2 ms for bs=1250 on the GPU",
        f"held at {400 / _ABOUT:,.0f}× or more: the loop version on the CPU against bs=500 on the GPU"),
    Claim("bigger_batches", "Bigger batches make mean shift faster on the GPU",
        "157 ms at bs=5, 13 ms at bs=64, faster still at 256 and 1024 (lecture transcript)",
        "held when bs=64 beats bs=5 and bs=1024 beats bs=64; the ratio is bs=5's time over bs=1024's"),
)}


def matmul_claims(cpu_per_row: dict, gpu: dict, rows: int) -> list[Verdict]:
    """Verdicts on the lecture's three matrix-product GPU claims, from one machine's times.

    Parameters
    ----------
    cpu_per_row : dict of str to float
        Seconds per output row of each of ``MATMUL_CPU_ROWS``.
    gpu : dict of str to float
        Median seconds of the GPU rows, at least the two "as lectured" ones.
    rows : int
        Rows of the whole product, to which the CPU rungs are scaled.

    Returns
    -------
    list of Verdict
    """
    s = format_seconds
    _checks.seconds("cpu_per_row", cpu_per_row, MATMUL_CPU_ROWS)
    _checks.seconds("gpu", gpu, (AS_LECTURED_KERNEL, AS_LECTURED_TORCH))
    rows = _checks.integer("rows", rows, low=1)
    full = {k: cpu_per_row[k] * rows for k in MATMUL_CPU_ROWS}
    kernel, torch_gpu = gpu[AS_LECTURED_KERNEL], gpu[AS_LECTURED_TORCH]
    cpu, best = min(("einsum", full["matmul_einsum"]), ("@", full["matmul"]), key=lambda p: p[1])
    broadcast, loops = full["matmul_broadcast"] / torch_gpu, full["matmul_loops"] / torch_gpu
    c = GPU_CLAIMS
    return [
        Verdict(c["kernel_beats_cpu"], best / kernel, kernel < best,
                f"kernel as lectured {s(kernel)}; CPU {cpu} {s(best)}, the faster of einsum and @"),
        Verdict(c["cuda_vs_broadcast"], broadcast, broadcast >= 1000 / _ABOUT,
                f"broadcasting {s(full['matmul_broadcast'])} on the CPU; (m1c @ m2c).cpu() {s(torch_gpu)}"),
        Verdict(c["five_million"], loops, loops >= 5e6 / _ABOUT,
                f"Python loops {s(full['matmul_loops'])} for {rows:,} rows (extrapolated); "
                f"(m1c @ m2c).cpu() {s(torch_gpu)}"),
    ]


def meanshift_claims(cpu: dict, gpu: dict) -> list[Verdict]:
    """Verdicts on the lecture's two mean shift GPU claims, from one machine's times.

    Parameters
    ----------
    cpu, gpu : dict of str to float
        Medians of ``MEANSHIFT_CPU_ROWS`` (the loop's at least), and of the GPU rows at bs = 5,
        64, 500 and 1024.

    Returns
    -------
    list of Verdict
    """
    s = format_seconds
    _checks.seconds("cpu", cpu, (MEANSHIFT_LOOP,), among=MEANSHIFT_CPU_ROWS)
    _checks.seconds("gpu", gpu, [f"GPU, bs = {bs}" for bs in (5, 64, 500, 1024)])
    loop, g500 = cpu[MEANSHIFT_LOOP], gpu["GPU, bs = 500"]
    detail = f"GPU bs=500 {s(g500)}; CPU loop {s(loop)}"
    batched = cpu.get("CPU, batched, bs = 500")
    if batched is not None:
        detail += f"; against the batched version on the CPU ({s(batched)}): {format_ratio(batched / g500)}"
    b5, b64, b1024 = gpu["GPU, bs = 5"], gpu["GPU, bs = 64"], gpu["GPU, bs = 1024"]
    return [
        Verdict(GPU_CLAIMS["meanshift_gpu"], loop / g500, loop / g500 >= 400 / _ABOUT, detail),
        Verdict(GPU_CLAIMS["bigger_batches"], b5 / b1024, b64 < b5 and b1024 < b64,
                f"bs=5 {s(b5)}, bs=64 {s(b64)}, bs=1024 {s(b1024)}"),
    ]


def medians(timings: dict) -> dict[str, float]:
    """``{name: median seconds}`` of a dict of :class:`~lessonlib.timing.Timing`."""
    if not isinstance(timings, dict) or not all(isinstance(t, Timing) for t in timings.values()):
        raise TypeError("timings must be a dict of name to Timing")
    return {k: t.median for k, t in timings.items()}


# The lecture's ladder for the whole (50,000 × 784) @ (784 × 10) product: rung -> (seconds, source).
LECTURE_LADDER = {
    "Python loops (extrapolated)": (0.415 * 50_000 / 5, f"{MATMUL_NOTEBOOK}: 415 ms for 5 rows, scaled to 50,000"),
    "broadcasting": (0.663, "lecture transcript: 663 ms over all rows"),
    "einsum": (0.015, "lecture transcript: 15 ms"),
    "torch @ on the CPU": (0.015, "lecture transcript: about the same as einsum, 15 ms"),
    "Numba kernel, as lectured": (3.61e-3, "lecture transcript: 3.61 ms"),
    "torch on the GPU, as lectured": (458e-6, "lecture transcript: 458 µs for (m1c @ m2c).cpu()"),
}
LADDER_RUNGS = tuple(LECTURE_LADDER)
MATMUL_CLAIM_IDS = ("kernel_beats_cpu", "cuda_vs_broadcast", "five_million")
