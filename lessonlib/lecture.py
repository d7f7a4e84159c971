"""The lecture's own figures, in one table: every time or ratio the lecture (or its notebook) reports, with what was
timed (operation, rows, dtype, the copy back or not), its value and its source (the transcript, or the course notebook
at ``REVISION``); where the two differ, which the book shows and why. Every chart, table, verdict and sentence of the
book quoting the lecture reads it; ``tests/test_lecture.py`` fails when a figure is typed anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import _checks

REVISION = "a63ecb0"  # 2022-11-02, "post lesson": the last revision of both notebooks
TRANSCRIPT = "transcript"
MATMUL_NB = "notebook 01_matmul"
MEANSHIFT_NB = "notebook 02_meanshift"
SOURCES = {TRANSCRIPT: "the lecture's transcript",
           MATMUL_NB: f"course notebook fastai/course22p2 nbs/01_matmul.ipynb at {REVISION} (2022-11-02)",
           MEANSHIFT_NB: f"course notebook fastai/course22p2 nbs/02_meanshift.ipynb at {REVISION} (2022-11-02)"}


@dataclass(frozen=True)
class Figure:
    """One figure of the lecture: ``value`` in ``unit`` ("s" or "×"), ``what`` it measured, its ``source`` (a
    key of ``SOURCES``), ``cite`` (the cell, or the words quoted) and ``other`` (the other source's
    figure where they differ, and why the book shows ``value``).
    """

    value: float
    unit: str
    what: str
    source: str
    cite: str = ""
    other: str = ""

    def __post_init__(self):
        _checks.fields(self, choices={"unit": ("s", "×"), "source": tuple(SOURCES)})

    @property
    def text(self) -> str:
        """How the lecture wrote the figure, as in ``"3.61 ms"``, ``"458 µs"`` or ``"5,000×"``."""
        if self.unit == "×":
            return f"{self.value / 1e6:g} million×" if self.value >= 1e6 else f"{self.value:,.0f}×"
        for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
            if self.value >= scale:
                return f"{round(self.value / scale, 6):g} {unit}"
        raise ValueError(f"no unit for {self.value!r} s")

    def __str__(self) -> str:
        return f"{self.text} ({self.source})"


FIGURES = {
    # The matrix product of lesson 11 and 12: 5 rows of x_train (m1) or all 50,000, by weights (784 × 10).
    "loops": Figure(0.421, "s", "three Python loops, 5 rows by weights, float32 tensors, one run",
                    MATMUL_NB, "%time _=matmul(m1, m2)", "the transcript gives no figure"),
    "njit": Figure(236e-6, "s", "Python loops over i and j with a Numba-compiled dot product, 5 rows, "
                   "float32 NumPy arrays", MATMUL_NB, "%timeit -n 50 matmul(m1a,m2a)"),
    "elementwise": Figure(598e-6, "s", "(a[i,:] * b[:,j]).sum() in two Python loops, 5 rows",
                          MATMUL_NB, "%timeit -n 50 _=matmul(m1, m2)"),
    "broadcast_5": Figure(70.1e-6, "s", "broadcasting, one Python loop over rows, 5 rows",
                          MATMUL_NB, "%timeit -n 50 _=matmul(m1, m2)"),
    "broadcast": Figure(0.663, "s", "broadcasting, one Python loop over rows, all 50,000 rows, one run",
                        MATMUL_NB, "%time _=matmul(x_train, weights)",
                        "the transcript says 600 ms when it compares einsum with it, and 663 ms when it "
                        "compares the GPU with it; the book shows the notebook's recorded run"),
    "einsum": Figure(15.1e-3, "s", "torch.einsum('ik,kj->ij'), all 50,000 rows, float32, CPU",
                     MATMUL_NB, "%timeit -n 5 _=matmul(x_train, weights)", "15 ms in the transcript, rounded"),
    "torch_cpu": Figure(15.2e-3, "s", "torch.matmul, all 50,000 rows, float32, CPU",
                        MATMUL_NB, "%timeit -n 5 _=torch.matmul(x_train, weights)",
                        "the transcript: 'that was 15 milliseconds', rounded"),
    "kernel": Figure(3.61e-3, "s", "the naive Numba CUDA kernel, 16 × 16 blocks, float64 sum into a float64 "
                     "result, inputs already on the GPU, then the result copied back (copy_to_host)",
                     MATMUL_NB, "%%timeit -n 10 matmul[blockspergrid, (TPB,TPB)](m1g,m2g,rg); r = rg.copy_to_host()",
                     "the transcript reads out the same 3.61 ms"),
    "torch_gpu": Figure(458e-6, "s", "(m1c @ m2c).cpu(): torch's @ on tensors already on the GPU, then the "
                        "result copied back", MATMUL_NB, "%timeit -n 10 r=(m1c@m2c).cpu()",
                        "the transcript reads out the same 458 µs"),
    # What the lecture said of those times (transcript); the book's own arithmetic is labelled as such.
    "broadcast_speedup": Figure(5000, "×", "broadcasting against the three loops, on the same 5 rows",
                                TRANSCRIPT, "5,000 times faster",
                                "the notebook: 'from ~500ms to <0.1ms, an over 5000x improvement'"),
    "gpu_over_broadcast": Figure(1000, "×", "(m1c @ m2c).cpu() against broadcasting over all rows",
                                 TRANSCRIPT, "another thousand times faster"),
    "overall": Figure(5e6, "×", "(m1c @ m2c).cpu() against the three loops: the two speed-ups above "
                      "multiplied", TRANSCRIPT, "5 million X"),
    # Mean shift on the lecture's 1,500 points (6 clusters of 250), 5 iterations.
    "meanshift_loop": Figure(0.452, "s", "mean shift, the loop version (one point at a time), 1,500 points, "
                             "5 steps, CPU, one run", MEANSHIFT_NB, "%time X=meanshift(data)",
                             "the transcript: 600 ms for its first run in class, and 400 ms when it is recalled "
                             "beside the GPU run; one run of %time varies from run to run, so the book shows "
                             "the notebook's recorded run"),
    "meanshift_loop_first": Figure(0.6, "s", "the loop version on the CPU, its first run in class", TRANSCRIPT,
                                   "if we run it, takes 600 milliseconds"),
    "meanshift_loop_said": Figure(0.4, "s", "the loop version on the CPU, as the lecture recalled it beside its "
                                  "first GPU run", TRANSCRIPT, "previously without GPU, it took 400 milliseconds"),
    "meanshift_gpu_first": Figure(1e-3, "s", "the first GPU run of the batched version, made while the batch "
                                  "size given was not yet passed on inside the function (a bug found minutes "
                                  "later), so it does not time any one batch size", TRANSCRIPT),
    "meanshift_gpu_bs5": Figure(157e-3, "s", "the batched version on the GPU at bs = 5, once the bug was fixed",
                                TRANSCRIPT),
    "meanshift_gpu_bs64": Figure(13e-3, "s", "the batched version on the GPU at bs = 64", TRANSCRIPT),
    "meanshift_gpu_bs1250": Figure(2e-3, "s", "the batched version on the GPU at bs = 1,250, result copied back "
                                   "(.cpu())", MEANSHIFT_NB, "%timeit -n 5 _=meanshift(data, 1250).cpu()"),
}


def figure(key: str) -> Figure:
    """The lecture's figure ``key`` (one of ``FIGURES``)."""
    return FIGURES[_checks.choice("key", key, tuple(FIGURES))]


def figures_frame():
    """``FIGURES`` as a DataFrame: each figure, what it measured, its source, and the other source's."""
    import pandas as pd

    return pd.DataFrame([{"figure": f.text, "what": f.what,
                          "source": f"{SOURCES[f.source]}: {f.cite}" if f.cite else SOURCES[f.source],
                          "where the sources differ": f.other} for f in FIGURES.values()],
                        index=pd.Index(list(FIGURES), name="key"))
