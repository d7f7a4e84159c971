"""Benchmarks: every timing table the book shows, each made by one named function, which a chapter and
``python -m lessonlib.bench`` (:mod:`lessonlib.bench.cli`) both call. ``BENCHMARKS`` lists each table
with its function, chapter and command. Benchmarks are not tests: tests check results, these
measure how fast they come. The GPU reference file's format is in :mod:`lessonlib.bench.reference`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .. import _checks


@dataclass(frozen=True)
class Benchmark:
    """One table (or measured figure) the book shows, and what produces it."""

    table: str  # what the table shows
    function: str  # "module.name" inside lessonlib.bench
    chapter: str  # the page that shows it: its file name in book/, without .md
    command: str = ""  # the python -m lessonlib.bench command that runs it too, if any

    def __post_init__(self):
        _checks.fields(self)

    def producer(self):
        """The producing function itself (imports its module)."""
        module, name = self.function.rsplit(".", 1)
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)


BENCHMARKS = (
    Benchmark("The matrix-product ladder, CPU", "matmul.matmul_ladder", "einsum", "matmul"),
    Benchmark("A square product's GFLOP/s, CPU", "matmul.square_gflops", "einsum", "matmul"),
    Benchmark("Reading x_train once (torch.sum)", "matmul.read_speed", "einsum"),
    Benchmark("Roofline model beside the measured GPU times", "gpu.roofline_table", "gpu_kernels"),
    Benchmark("The roofline's measured column", "gpu.roofline_measured", "gpu_kernels"),
    Benchmark("The matrix-product ladder, CPU rows of the GPU chapter", "matmul.matmul_ladder", "gpu_kernels"),
    Benchmark("GPU rows of the MNIST-shaped product", "claims.rows_frame", "gpu_kernels"),
    Benchmark("GPU rows of the MNIST-shaped product, timed", "gpu.gpu_matmul_timings", "gpu_kernels"),
    Benchmark("Kernels and cuBLAS on a 4096² product", "gpu.gpu_square_gflops", "gpu_kernels"),
    Benchmark("Device-to-device copy bandwidth", "gpu.device_bandwidth", "gpu_kernels"),
    Benchmark("The lecture's GPU claims about the matrix product", "claims.matmul_claims", "gpu_kernels", "claims"),
    Benchmark("Mean shift by batch size, CPU", "meanshift.meanshift_batch_sweep", "meanshift"),
    Benchmark("Mean shift CPU rows of the GPU claims", "meanshift.cpu_meanshift_timings", "meanshift"),
    Benchmark("Mean shift on the GPU by batch size", "gpu.gpu_meanshift_timings", "meanshift"),
    Benchmark("The lecture's mean shift GPU claims", "claims.meanshift_claims", "meanshift", "claims"),
    Benchmark("The cost of one torch call", "meanshift.per_call_overhead", "meanshift"),
    Benchmark("How much of the loop the per-call cost explains", "meanshift.meanshift_loop_overhead", "meanshift"),
    Benchmark("Mean shift against scikit-learn, by n", "meanshift.meanshift_comparison", "meanshift", "meanshift"),
    Benchmark("How mean shift's time grows with n (slopes)", "meanshift.scaling_slopes", "meanshift"),
    Benchmark("k-means, DBSCAN and neighbours against scikit-learn", "cluster.cluster_comparison", "clustering",
              "cluster"),
    Benchmark("The clustering chapter's performance goals", "cluster.cluster_goals", "benchmarks", "cluster"),
    Benchmark("LSH against brute force, by number of tables", "lsh.lsh_sweep", "clustering"),
    Benchmark("LSH's tensor query at the chosen setting", "lsh.lsh_query_time", "clustering"),
    Benchmark("LSH against brute force, by number of points", "lsh.lsh_crossover", "clustering", "cluster"),
    Benchmark("DBSCAN with exact and LSH neighbours", "lsh.dbscan_lsh", "clustering"),
    Benchmark("Every GPU figure, for the reference file (the GPU check writes it)", "gpu.gpu_report", "benchmarks"),
)


def benchmarks_frame():
    """``BENCHMARKS`` as a DataFrame: what each shows, its function, its chapter and its command."""
    import pandas as pd

    return pd.DataFrame([{"table": b.table, "function": f"lessonlib.bench.{b.function}", "chapter": b.chapter,
                          "command": f"python -m lessonlib.bench {b.command}" if b.command else ""}
                         for b in BENCHMARKS])
