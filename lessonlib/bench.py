"""Benchmarks: the timing ladders the chapters show, runnable from the command line.

Benchmarks are not tests: tests check that results are right, these measure
how fast they come. The chapters call the same functions, so a table in the
book and a run of ``python -m lessonlib.bench matmul`` measure the same thing.

Usage::

    python -m lessonlib.bench matmul [--rows N] [--square N]
    python -m lessonlib.bench meanshift [--sizes N ...]
    python -m lessonlib.bench cluster [--dbscan N] [--kmeans N] [--knn N] [--lsh-sizes N ...]
    python -m lessonlib.bench gpu --out FILE     # needs a CUDA GPU

``gpu`` runs every GPU measurement the book shows and writes them, with the
device, driver, library versions, date and command, to one JSON file. The
chapters show such a file (``book/_data/reference_gpu.json``) as a labelled
reference on machines that have no GPU.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import hardware, matmul
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
    matmul._check_matmul(x, w)
    if isinstance(slow_rows, bool) or not isinstance(slow_rows, int) or not 1 <= slow_rows <= x.shape[0]:
        raise ValueError(f"slow_rows must be an int in [1, {x.shape[0]}], got {slow_rows!r}")
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


def _require_gpu() -> None:
    if not hardware.has_cuda() or hardware.cuda_simulator_active():
        raise RuntimeError("this measurement needs a CUDA GPU (not the simulator); none is available here")


def _summary(t: Timing) -> dict:
    return {"median_s": t.median, "min_s": t.min, "iqr_s": t.iqr, "samples": t.repeat, "calls_per_sample": t.number}


def device_bandwidth(nbytes: int = 1 << 30) -> float:
    """GB/s of a device-to-device copy (bytes read + bytes written, over time). GPU only."""
    _require_gpu()
    src = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)
    t = bench(dst.copy_, src, repeat=10, max_time=10)
    return 2 * src.numel() * 4 / t.median / 1e9


def gpu_matmul_timings(x: torch.Tensor, w: torch.Tensor, *, tpb: int = 16) -> dict[str, Timing]:
    """Time the MNIST-shaped product on the GPU, transfers and kernels separately. GPU only.

    Returns timings named: ``to_device`` (x and w to the GPU), ``naive kernel``,
    ``tiled kernel``, ``copy_to_host`` (the result back), ``torch .cuda() @``
    (the product of tensors already on the GPU) and ``torch round trip``
    (``.cuda()``, ``@``, ``.cpu()``).
    """
    _require_gpu()
    from . import kernels

    matmul._check_matmul(x, w)
    cuda = kernels.cuda
    xn, wn = x.numpy(), w.numpy()
    m, n = x.shape[0], w.shape[1]
    d_x, d_w = cuda.to_device(xn), cuda.to_device(wn)
    d_c = cuda.device_array((m, n), dtype=xn.dtype)
    naive = kernels.matmul_cuda_naive[kernels.blocks_per_grid(m, n, tpb), (tpb, tpb)]
    tiled = kernels.tiled_kernel(tpb, xn.dtype.type)[kernels.blocks_per_grid(n, m, tpb), (tpb, tpb)]
    xg, wg = x.cuda(), w.cuda()
    return {
        name: bench(fn, *args, name=name, repeat=7)
        for name, fn, args in [
            ("to_device", lambda: (cuda.to_device(xn), cuda.to_device(wn)), ()),
            ("naive kernel", naive, (d_x, d_w, d_c)),
            ("tiled kernel", tiled, (d_x, d_w, d_c)),
            ("copy_to_host", d_c.copy_to_host, ()),
            ("torch .cuda() @", torch.matmul, (xg, wg)),
            ("torch round trip", kernels.torch_cuda_matmul, (x, w)),
        ]
    }


def gpu_square_gflops(n: int = 4096, *, tpb: int = 16) -> dict[str, float]:
    """GFLOP/s of the naive and tiled kernels and cuBLAS (TF32 off) on n×n float32. GPU only."""
    _require_gpu()
    from . import kernels

    torch.backends.cuda.matmul.allow_tf32 = False  # full float32, comparable with the kernels
    cuda = kernels.cuda
    a = torch.randn(n, n, device="cuda")
    b = torch.randn(n, n, device="cuda")
    d_a, d_b = cuda.as_cuda_array(a), cuda.as_cuda_array(b)
    d_c = cuda.device_array((n, n), dtype=np.float32)
    naive = kernels.matmul_cuda_naive[kernels.blocks_per_grid(n, n, tpb), (tpb, tpb)]
    tiled = kernels.tiled_kernel(tpb, np.float32)[kernels.blocks_per_grid(n, n, tpb), (tpb, tpb)]
    flop = 2 * n**3
    return {
        "naive kernel": flop / bench(naive, d_a, d_b, d_c, repeat=5, max_time=20).median / 1e9,
        "tiled kernel": flop / bench(tiled, d_a, d_b, d_c, repeat=5, max_time=20).median / 1e9,
        "cuBLAS (TF32 off)": flop / bench(torch.matmul, a, b, repeat=5, max_time=20).median / 1e9,
    }


def _driver_version() -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30,
        )
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def gpu_report(rows: int = 50_000) -> dict:
    """Every GPU figure the book shows, with the facts needed to read them. GPU only."""
    _require_gpu()
    x, w, source = _data(rows)
    loops = bench(matmul.matmul_loops, x[:5], w, repeat=3, max_time=10)
    mnist = gpu_matmul_timings(x, w)
    nbytes = (x.numel() + w.numel() + x.shape[0] * w.shape[1]) * 4
    bandwidth = device_bandwidth()
    report = {
        "device": hardware.gpu_name(),
        "driver": _driver_version(),
        "date": datetime.date.today().isoformat(),
        "command": "python -m lessonlib.bench " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "",
        "versions": {k: v for k, v in hardware.report().items() if k not in ("CPU cores",)},
        "host": platform.node(),
        "data": source,
        "matmul_mnist": {
            "shape": [list(x.shape), list(w.shape)],
            "cpu matmul_loops (5 rows)": _summary(loops),
            **{name: _summary(t) for name, t in mnist.items()},
            "bytes_moved": nbytes,
            "bandwidth_floor_s": nbytes / (bandwidth * 1e9),
        },
        "device_copy_GBps": bandwidth,
        "square_4096_GFLOPs": gpu_square_gflops(4096),
        # the clustering chapter's table, lessonlib on the GPU beside scikit-learn on that machine's CPU
        "cluster": cluster_comparison(devices=["cuda"]).to_dict("records"),
    }
    return report


_REQUIRED = ("device", "driver", "date", "command", "versions", "matmul_mnist", "device_copy_GBps", "square_4096_GFLOPs")


def load_reference(path) -> dict | None:
    """Read a JSON file written by ``python -m lessonlib.bench gpu``; None if it is absent."""
    path = Path(path)
    if not path.is_file():
        return None
    report = json.loads(path.read_text())
    missing = [k for k in _REQUIRED if k not in report]
    if missing:
        raise ValueError(f"{path} is not a GPU reference report: missing {missing}")
    return report


def reference_table(report: dict):
    """A GPU reference report as a captioned table: device, date, versions and command in the caption."""
    from .timing import format_ratio, format_seconds

    missing = [k for k in _REQUIRED if k not in report]
    if missing:
        raise ValueError(f"not a GPU reference report: missing {missing}")
    mm = report["matmul_mnist"]
    med = {k: v["median_s"] for k, v in mm.items() if isinstance(v, dict)}
    sq = report["square_4096_GFLOPs"]
    cublas = sq["cuBLAS (TF32 off)"]
    per_row_loops = med["cpu matmul_loops (5 rows)"] / 5
    rows = mm["shape"][0][0]
    rows_ = [
        ("MNIST shape: naive Numba kernel", format_seconds(med["naive kernel"]), "kernel only"),
        ("MNIST shape: tiled Numba kernel", format_seconds(med["tiled kernel"]), "kernel only"),
        ("MNIST shape: torch @ on the GPU", format_seconds(med["torch .cuda() @"]), "tensors already on the GPU"),
        ("MNIST shape: torch .cuda() @ .cpu()", format_seconds(med["torch round trip"]), "with both copies"),
        ("copy x, w to the GPU", format_seconds(med["to_device"]), "cuda.to_device"),
        ("copy the result back", format_seconds(med["copy_to_host"]), "copy_to_host"),
        ("bandwidth floor, MNIST shape", format_seconds(mm["bandwidth_floor_s"]),
         f"torch @ takes {med['torch .cuda() @'] / mm['bandwidth_floor_s']:.1f}× the floor"),
        ("device-to-device copy", f"{report['device_copy_GBps']:,.0f} GB/s", "read + write"),
        ("4096² naive kernel", f"{sq['naive kernel']:,.0f} GFLOP/s", f"{100 * sq['naive kernel'] / cublas:.1f}% of cuBLAS"),
        ("4096² tiled kernel", f"{sq['tiled kernel']:,.0f} GFLOP/s", f"{100 * sq['tiled kernel'] / cublas:.1f}% of cuBLAS"),
        ("4096² cuBLAS, TF32 off", f"{cublas:,.0f} GFLOP/s", "100%"),
        ("Python loops (CPU) vs torch @ (GPU)", format_ratio(per_row_loops * rows / med["torch .cuda() @"]),
         f"loops extrapolated from 5 rows to {rows:,} on the same machine's CPU"),
    ]
    import pandas as pd

    v = report["versions"]
    caption = (
        f"Reference, not measured by this build: {report['device']}, driver {report['driver']}, "
        f"{report['date']}, torch {v.get('torch', '?')}, numba-cuda {v.get('numba-cuda', '?')}; "
        f"produced by `{report['command']}`."
    )
    from .book import table as show

    return show(pd.DataFrame(rows_, columns=["figure", "value", "note"]).set_index("figure"), caption=caption)


# The lecture's mean shift timings (2022, its author's machine), by batch size.
LECTURE_MEANSHIFT = {"loop (CPU)": "≈400–600 ms", 5: "157 ms (GPU)", 64: "13 ms (GPU)", "all": "≈1–2 ms (GPU)"}


def meanshift_batch_sweep(data: torch.Tensor, batch_sizes=(5, 8, 16, 64, 256, 1024), *, repeat: int = 3) -> Ladder:
    """Time ``meanshift_batched`` on ``data`` for each batch size, and for all points at once."""
    from .meanshift import _check_points, meanshift_batched

    _check_points(data)
    sizes = [bs for bs in batch_sizes if bs < len(data)] + [len(data)]
    timings = [
        bench(meanshift_batched, data, bs=bs, repeat=repeat, max_time=6,
              name=f"bs = {bs}" if bs < len(data) else f"bs = n = {bs}")
        for bs in sizes
    ]
    lecture = [LECTURE_MEANSHIFT.get(bs if bs < len(data) else "all", "") for bs in sizes]
    where = "GPU" if data.is_cuda else "CPU"
    return ladder(timings, notes={"lecture (2022, its own hardware)": lecture},
                  caption=f"meanshift_batched, 5 steps on {len(data):,} points, {where}, by batch size")


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
        "meanshift_batched (bs=1024)": (lambda X: cluster_labels(meanshift_batched(X, bw=bw, bs=1024))[0], batched_max),
        "meanshift_fast": (lambda X: cluster_labels(meanshift_fast(X, bw=bw))[0], None),
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
        labels = fn(X)
        t = bench(fn, X, name=name, repeat=repeat, max_time=20)
        rows.append({"n": len(X), "method": name, "median (s)": t.median,
                     "ARI": float(adjusted_rand_score(truth, labels)),
                     "clusters": int(len(set(labels.tolist()))), "note": f"{t.repeat} samples"})
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
    if what not in kinds:
        raise ValueError(f"what must be one of {sorted(kinds)}, got {what!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 10:
        raise ValueError(f"n must be an int >= 10, got {n!r}")
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


def main(argv: list[str] | None = None) -> int:
    """The command line: ``python -m lessonlib.bench {matmul,meanshift,cluster,gpu}``; returns the exit status."""
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
    args = parser.parse_args(argv)

    print(hardware.label())
    if args.what == "gpu":
        try:
            report = gpu_report()
        except RuntimeError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
        return 0
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
