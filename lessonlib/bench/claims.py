"""The GPU rows the book times, the lecture's GPU claims and their verdicts, and the tables of both. Each lecture
figure (:mod:`lessonlib.lecture`) is put beside the row that times the same operation; one judge serves a GPU build's
own times and a reference file's (:mod:`lessonlib.bench.reference`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import _checks
from ..kernels import KERNELS
from ..lecture import FIGURES, figure
from ..timing import Timing, format_ratio, format_seconds

AS_LECTURED_KERNEL = "as lectured: naive kernel, result copied back"
AS_LECTURED_TORCH = "as lectured: torch (m1c @ m2c).cpu()"
HOST_MEMORY = ("Host memory: x and w are ordinary pageable arrays, as in the lecture; the rows marked 'pinned' copy "
               "from or into page-locked host arrays (cuda.pinned_array). Every Numba device array is allocated "
               "before timing (Numba has no caching allocator); torch's rows use torch's caching allocator.")

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
    "CPU, batched, bs = 500": "meanshift_batched(data, bs=500) on the CPU"}
GPU_MEANSHIFT_BATCHES = (5, 64, 256, 500, 1024, 1250)
MEANSHIFT_ALL = "GPU, all at once"
GPU_MEANSHIFT_ROWS = {**{f"GPU, bs = {bs}": f"meanshift_batched(data, bs={bs}).cpu(), data already on the GPU"
                         for bs in GPU_MEANSHIFT_BATCHES},
                      MEANSHIFT_ALL: "meanshift_batched(data, bs=len(data)).cpu(): every point in one batch"}
SQUARE_ROWS = (*KERNELS.values(), "cuBLAS (TF32 off)")

# Each row that times what the lecture timed -> the lecture's figure (lessonlib.lecture.FIGURES).
LECTURE_ROWS = {AS_LECTURED_KERNEL: "kernel", AS_LECTURED_TORCH: "torch_gpu", MEANSHIFT_LOOP: "meanshift_loop",
                "GPU, bs = 5": "meanshift_gpu_bs5", "GPU, bs = 64": "meanshift_gpu_bs64",
                "GPU, bs = 1250": "meanshift_gpu_bs1250"}
# The whole (50,000 × 784) @ (784 × 10) product, rung by rung: rung -> (lecture figure, rows it timed).
LADDER = {"Python loops (extrapolated)": ("loops", 5), "broadcasting": ("broadcast", 50_000),
          "einsum": ("einsum", 50_000), "torch @ on the CPU": ("torch_cpu", 50_000),
          "Numba kernel, as lectured": ("kernel", 50_000), "torch on the GPU, as lectured": ("torch_gpu", 50_000)}
LADDER_CPU = dict(zip(list(LADDER)[:4], MATMUL_CPU_ROWS))  # rung -> matmul_ladder's key
LADDER_GPU = dict(zip(list(LADDER)[4:], (AS_LECTURED_KERNEL, AS_LECTURED_TORCH)))


def lecture_ladder() -> dict[str, float]:
    """The lecture's seconds for the whole product, rung by rung (the loops scaled from 5 rows, as it did)."""
    return {rung: FIGURES[key].value * 50_000 / rows for rung, (key, rows) in LADDER.items()}


@dataclass(frozen=True)
class Claim:
    """One of the lecture's claims about the GPU: what it said, the figures behind it, and the rule."""

    id: str  # its key in GPU_CLAIMS
    text: str
    said: str  # what the lecture said, with its source
    figures: str  # the lecture's figures behind it, and the book's arithmetic on them, labelled
    rule: str  # when it counts as held

    def __post_init__(self):
        _checks.fields(self)


@dataclass(frozen=True)
class Verdict:
    """Whether a :class:`Claim` held on one machine's measurements."""

    claim: Claim
    ratio: float  # the speed-up the claim is about (how many times faster)
    held: bool
    detail: str  # the times the ratio comes from

    def __post_init__(self):
        _checks.fields(self)

    @property
    def short(self) -> str:
        return f"{'held' if self.held else 'did not hold'}: {format_ratio(self.ratio)}"

    def __str__(self) -> str:
        return f"{self.short} ({self.detail})"


_ABOUT = math.sqrt(10)  # "about N times": N within half an order of magnitude, or more
_F = {k: f.text for k, f in FIGURES.items()}
_GPU_MS = FIGURES["meanshift_loop_said"].value / FIGURES["meanshift_gpu_first"].value  # what the lecture said
GPU_CLAIMS = {c.id: c for c in (
    Claim("kernel_beats_cpu", "The Numba kernel beats the CPU's einsum and @",
          f"the kernel's {_F['kernel']} against {_F['torch_cpu']} for @ on the CPU ({figure('kernel').source})",
          f"kernel {_F['kernel']}; einsum {_F['einsum']}, @ {_F['torch_cpu']}: "
          f"{format_ratio(FIGURES['einsum'].value / FIGURES['kernel'].value)} (the book's arithmetic)",
          "held when the kernel, timed as lectured, is faster than the faster of einsum and @ on the same "
          "machine's CPU"),
    Claim("cuda_vs_broadcast", f".cuda() is about {_F['gpu_over_broadcast']} faster than broadcasting",
          f"{_F['gpu_over_broadcast']} ({figure('gpu_over_broadcast').source})",
          f"broadcasting {_F['broadcast']}; (m1c @ m2c).cpu() {_F['torch_gpu']}: "
          f"{format_ratio(FIGURES['broadcast'].value / FIGURES['torch_gpu'].value)} (the book's arithmetic)",
          f"held at {FIGURES['gpu_over_broadcast'].value / _ABOUT:,.0f}× or more (within half an order of "
          "magnitude, or more)"),
    Claim("five_million", f"About {_F['overall']} overall, from the Python loops to the GPU",
          f"{_F['overall']} ({figure('overall').source}): {_F['broadcast_speedup']} from the loops to "
          f"broadcasting, then {_F['gpu_over_broadcast']}",
          f"loops {_F['loops']} for 5 rows, {format_seconds(lecture_ladder()['Python loops (extrapolated)'])} "
          f"scaled to 50,000; {_F['torch_gpu']}: "
          f"{format_ratio(lecture_ladder()['Python loops (extrapolated)'] / FIGURES['torch_gpu'].value)} "
          "(the book's arithmetic)",
          f"held at {FIGURES['overall'].value / _ABOUT:,.0f}× or more (loops extrapolated from their rows to all "
          "rows)"),
    Claim("meanshift_gpu", f"Mean shift runs about {format_ratio(_GPU_MS)} faster on the GPU than the loop on the CPU",
          f"{_F['meanshift_gpu_first']} on the GPU against {_F['meanshift_loop_said']} on the CPU "
          f"({figure('meanshift_gpu_first').source}); the GPU run was made before a bug was found (the batch "
          "size was not passed on)",
          f"the loop {_F['meanshift_loop']}; bs = 1,250 on the GPU {_F['meanshift_gpu_bs1250']}: "
          f"{format_ratio(FIGURES['meanshift_loop'].value / FIGURES['meanshift_gpu_bs1250'].value)} "
          "(the book's arithmetic on the notebook's figures)",
          f"held at {_GPU_MS / _ABOUT:,.0f}× or more: the loop on the CPU against bs = 1,250 on the GPU"),
    Claim("bigger_batches", "Bigger batches make mean shift faster on the GPU",
          f"'bigger is better' ({figure('meanshift_gpu_bs5').source})",
          f"{_F['meanshift_gpu_bs5']} at bs = 5, {_F['meanshift_gpu_bs64']} at bs = 64, faster still at 256 "
          f"and 1,024 (no figures given)",
          "held when bs = 64 beats bs = 5 and bs = 1,024 beats bs = 64; the ratio is bs = 5's time over "
          "bs = 1,024's"),
)}
MATMUL_CLAIMS = ("kernel_beats_cpu", "cuda_vs_broadcast", "five_million")
MEANSHIFT_CLAIMS = ("meanshift_gpu", "bigger_batches")


def matmul_times(cpu_per_row: dict, rows: int, gpu: dict | None = None) -> tuple[dict, int, dict | None]:
    """``(cpu_per_row, rows, gpu)`` checked: seconds per row of ``MATMUL_CPU_ROWS``, the product's rows,
    and, unless None, medians of at least the two "as lectured" GPU rows."""
    _checks.seconds("cpu_per_row", cpu_per_row, MATMUL_CPU_ROWS)
    rows = _checks.integer("rows", rows, low=1)
    if gpu is not None:
        _checks.seconds("gpu", gpu, (AS_LECTURED_KERNEL, AS_LECTURED_TORCH))
    return cpu_per_row, rows, gpu


def matmul_claims(cpu_per_row: dict, rows: int, gpu: dict) -> list[Verdict]:
    """Verdicts on the lecture's three matrix-product GPU claims, from one machine's times: seconds per
    output row of the CPU rungs (``cpu_per_row``, keys ``MATMUL_CPU_ROWS``), scaled to the product's
    ``rows``, and the medians of the GPU rows (``gpu``, at least the two "as lectured").
    """
    s = format_seconds
    if gpu is None:
        raise TypeError("gpu must be a dict of row name to seconds, got None")
    cpu_per_row, rows, gpu = matmul_times(cpu_per_row, rows, gpu)
    full = {k: cpu_per_row[k] * rows for k in MATMUL_CPU_ROWS}
    kernel, torch_gpu = gpu[AS_LECTURED_KERNEL], gpu[AS_LECTURED_TORCH]
    cpu, best = min(("einsum", full["matmul_einsum"]), ("@", full["matmul"]), key=lambda p: p[1])
    broadcast, loops = full["matmul_broadcast"] / torch_gpu, full["matmul_loops"] / torch_gpu
    c = GPU_CLAIMS
    return [
        Verdict(c["kernel_beats_cpu"], best / kernel, kernel < best,
                f"kernel as lectured {s(kernel)}; CPU {cpu} {s(best)}, the faster of einsum and @"),
        Verdict(c["cuda_vs_broadcast"], broadcast, broadcast >= FIGURES["gpu_over_broadcast"].value / _ABOUT,
                f"broadcasting {s(full['matmul_broadcast'])} on the CPU; (m1c @ m2c).cpu() {s(torch_gpu)}"),
        Verdict(c["five_million"], loops, loops >= FIGURES["overall"].value / _ABOUT,
                f"Python loops {s(full['matmul_loops'])} for {rows:,} rows (extrapolated); "
                f"(m1c @ m2c).cpu() {s(torch_gpu)}"),
    ]


def meanshift_claims(cpu: dict, gpu: dict) -> list[Verdict]:
    """Verdicts on the lecture's two mean shift GPU claims, from one machine's medians: ``cpu`` (rows of
    ``MEANSHIFT_CPU_ROWS``, the loop's at least) and ``gpu`` (at least bs = 5, 64, 1024 and 1250).
    """
    s = format_seconds
    _checks.seconds("cpu", cpu, (MEANSHIFT_LOOP,), among=MEANSHIFT_CPU_ROWS)
    _checks.seconds("gpu", gpu, [f"GPU, bs = {bs}" for bs in (5, 64, 1024, 1250)])
    loop, g1250 = cpu[MEANSHIFT_LOOP], gpu["GPU, bs = 1250"]
    detail = f"GPU bs=1250 {s(g1250)}; CPU loop {s(loop)}"
    batched = cpu.get("CPU, batched, bs = 500")
    if batched is not None:
        detail += f"; against the batched version on the CPU ({s(batched)}): {format_ratio(batched / g1250)}"
    b5, b64, b1024 = gpu["GPU, bs = 5"], gpu["GPU, bs = 64"], gpu["GPU, bs = 1024"]
    return [
        Verdict(GPU_CLAIMS["meanshift_gpu"], loop / g1250, loop / g1250 >= _GPU_MS / _ABOUT, detail),
        Verdict(GPU_CLAIMS["bigger_batches"], b5 / b1024, b64 < b5 and b1024 < b64,
                f"bs=5 {s(b5)}, bs=64 {s(b64)}, bs=1024 {s(b1024)}"),
    ]


def medians(timings: dict) -> dict[str, float]:
    """``{name: median seconds}`` of a dict of :class:`~lessonlib.timing.Timing`."""
    timings = _checks.mapping("timings", timings, item=lambda n, t: _checks.instance(n, t, Timing), of="name to Timing")
    return {k: t.median for k, t in timings.items()}


def claims_frame(claims, *, measured: list | None = None, reference: list | None = None):
    """The lecture's GPU claims ``claims`` (keys of ``GPU_CLAIMS``) as a DataFrame indexed by the claim:
    what the lecture said, its figures (and the book's arithmetic on them), and the verdicts of this
    build (``measured``) and of a reference file (``reference``), each a list of Verdict, or None.
    """
    import pandas as pd

    ids = _checks.sequence("claims", claims, item=lambda n, c: _checks.choice(n, c, tuple(GPU_CLAIMS)))
    columns = {"the lecture said": [GPU_CLAIMS[c].said for c in ids],
               "the lecture's figures": [GPU_CLAIMS[c].figures for c in ids]}
    for name, arg, verdicts in (("this build", "measured", measured), ("reference GPU", "reference", reference)):
        if verdicts is not None:
            verdicts = _checks.sequence(arg, verdicts, item=lambda n, v: _checks.instance(n, v, Verdict))
            by_id = {v.claim.id: str(v) for v in verdicts}
            columns[name] = [by_id.get(c, "") for c in ids]
    return pd.DataFrame(columns, index=pd.Index([GPU_CLAIMS[c].text for c in ids], name="claim"))


def rows_frame(times: dict, what: dict, *, iqr: dict | None = None, lecture_column: str = "lecture"):
    """Timed rows in the order of ``what`` (row -> what it times; other rows follow), as a DataFrame:
    each row's median (``times``, seconds), its spread (``iqr``, if given), what it times, and the
    lecture's figure for it (``LECTURE_ROWS``).
    """
    import pandas as pd

    _checks.seconds("times", times, empty=False)
    _checks.mapping("what", what, item=_checks.text, of="row name to what it times")
    if iqr is not None:
        _checks.seconds("iqr", iqr, tuple(times), zero=True)
    _checks.text("lecture_column", lecture_column)
    index = [r for r in what if r in times] + [r for r in times if r not in what]
    lecture = {r: FIGURES[k] for r, k in LECTURE_ROWS.items()}
    out = {"median": [format_seconds(times[r]) for r in index]}
    if iqr is not None:
        out["IQR"] = [format_seconds(iqr[r]) for r in index]
    out["what is timed"] = [what.get(r, "") for r in index]
    out[lecture_column] = [str(lecture[r]) if r in lecture else "" for r in index]
    return pd.DataFrame(out, index=pd.Index(index, name="row"))
