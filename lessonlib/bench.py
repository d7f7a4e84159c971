"""Benchmarks: the timing ladders the chapters show, runnable from the command line.

Benchmarks are not tests: tests check that results are right, these measure
how fast they come. The chapters call the same functions, so a table in the
book and a run of ``python -m lessonlib.bench matmul`` measure the same thing.

Usage::

    python -m lessonlib.bench matmul [--rows N] [--square N]
    python -m lessonlib.bench meanshift [--sizes N ...]
    python -m lessonlib.bench cluster [--dbscan N] [--kmeans N] [--knn N]
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
    "kmeans": "blobs: 8 centres in 2-D, n points; k = 8 from one k-means++ start; up to 100 Lloyd steps",
    "dbscan": "two moons (noise 0.06) in 2-D, n points; eps = 0.05, min_samples = 10",
    "knn": "blobs: 50 centres in 16-D, n points; 1,000 queries from the same distribution; k = 10",
}


def cluster_data(what: str, n: int, *, seed: int = 0):
    """The data set for one row of :func:`cluster_comparison` (see ``CLUSTER_SETUP``), as float32 tensors.

    Returns ``X`` for ``kmeans`` and ``dbscan``; ``(X, Q)`` for ``knn``.
    """
    from sklearn.datasets import make_blobs, make_moons

    if what not in CLUSTER_SETUP:
        raise ValueError(f"what must be one of {sorted(CLUSTER_SETUP)}, got {what!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 10:
        raise ValueError(f"n must be an int >= 10, got {n!r}")
    if what == "kmeans":
        X = make_blobs(n, centers=8, cluster_std=2.0, random_state=seed)[0]
    elif what == "dbscan":
        X = make_moons(n, noise=0.06, random_state=seed)[0]
    else:
        X = make_blobs(n + 1000, centers=50, n_features=16, random_state=seed)[0]
        X = torch.from_numpy(X).float()
        return X[:n], X[n:]
    return torch.from_numpy(X).float()


def cluster_comparison(
    sizes: dict | None = None,
    *,
    devices=None,
    lsh_params: dict | None = None,
    repeat: int = 3,
    progress: bool = False,
):
    """Time k-means, DBSCAN and LSH neighbours against scikit-learn on identical data.

    Parameters
    ----------
    sizes : dict, optional
        Points per algorithm, keys ``kmeans``, ``dbscan``, ``knn``; by default
        the performance goals' sizes: 100,000, 20,000 and 100,000.
    devices : list of str, optional
        Where to run lessonlib's versions; by default ``cpu``, plus ``cuda``
        when a GPU is present.
    lsh_params : dict, optional
        Passed to :func:`lessonlib.lsh.build`; default 16 tables of 4 hashes, width 8.
    repeat : int, default 3

    Returns
    -------
    pandas.DataFrame
        One row per (algorithm, implementation, device): n, median and
        inter-quartile range of the time, the agreement measure, its value,
        and a note. scikit-learn always runs on the CPU.
    """
    import pandas as pd
    from sklearn.cluster import DBSCAN, KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.neighbors import NearestNeighbors

    from . import cluster, lsh

    sizes = {"kmeans": 100_000, "dbscan": 20_000, "knn": 100_000, **(sizes or {})}
    devices = list(devices) if devices is not None else ["cpu"] + (["cuda"] if hardware.has_cuda() else [])
    params = {"n_tables": 16, "n_hashes": 4, "width": 8.0, **(lsh_params or {})}
    rows = []

    def row(algo, impl, device, n, t, measure, value, note=""):
        rows.append({"algorithm": algo, "implementation": impl, "device": device, "n": n,
                     "median (s)": t.median, "IQR (s)": t.iqr, "agreement": measure, "value": value, "note": note})

    steps = ["kmeans", "dbscan", "knn"]
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="clustering", unit="algorithm")
    for what in steps:
        n = sizes[what]
        if what == "kmeans":
            X = cluster_data("kmeans", n)
            init = cluster.kmeans_plusplus(X, 8, seed=0)
            fit = lambda: KMeans(8, init=init.numpy(), n_init=1, max_iter=100, tol=0,  # noqa: E731
                                 algorithm="lloyd").fit(X.numpy())
            ref = fit()
            ref_inertia = cluster.inertia(X, torch.from_numpy(ref.cluster_centers_).float())
            row("k-means", "scikit-learn KMeans (lloyd)", "cpu", n, bench(fit, repeat=repeat, max_time=20),
                "inertia ÷ scikit-learn's", 1.0, f"{ref.n_iter_} iterations")
            for dev in devices:
                Xd, initd = X.to(dev), init.to(dev)
                C, _ = cluster.kmeans(Xd, 8, iters=100, init=initd)
                t = bench(cluster.kmeans, Xd, 8, iters=100, init=initd, repeat=repeat, max_time=20)
                row("k-means", "lessonlib kmeans", dev, n, t, "inertia ÷ scikit-learn's",
                    cluster.inertia(X, C.cpu()) / ref_inertia)
        elif what == "dbscan":
            X = cluster_data("dbscan", n)
            fit = lambda: DBSCAN(eps=0.05, min_samples=10).fit(X.numpy())  # noqa: E731
            ref = fit().labels_
            row("DBSCAN", "scikit-learn DBSCAN", "cpu", n, bench(fit, repeat=repeat, max_time=20),
                "identical labels", 1.0, f"{ref.max() + 1} clusters, {(ref == -1).sum()} noise points")
            for dev in devices:
                Xd = X.to(dev)
                labels = cluster.dbscan(Xd, eps=0.05, min_samples=10).cpu().numpy()
                t = bench(cluster.dbscan, Xd, eps=0.05, min_samples=10, repeat=repeat, max_time=20)
                same = bool((labels == ref).all())
                row("DBSCAN", "lessonlib dbscan", dev, n, t, "identical labels", float(same),
                    "" if same else f"ARI {adjusted_rand_score(ref, labels):.4f}")
        else:
            X, Q = cluster_data("knn", n)
            nn = lambda: NearestNeighbors(n_neighbors=10).fit(X.numpy()).kneighbors(Q.numpy())  # noqa: E731
            exact = torch.from_numpy(nn()[1])
            row("10 nearest neighbours", "scikit-learn NearestNeighbors", "cpu", n,
                bench(nn, repeat=repeat, max_time=20), "recall@10", 1.0, "fit + 1,000 queries")
            for dev in devices:
                Xd, Qd = X.to(dev), Q.to(dev)
                t = bench(lsh.exact_knn, Xd, Qd, 10, repeat=repeat, max_time=20)
                row("10 nearest neighbours", "lessonlib exact_knn (brute force)", dev, n, t, "recall@10",
                    lsh.recall(lsh.exact_knn(Xd, Qd, 10)[0].cpu(), exact), "all n distances per query")
                run = lambda: lsh.query(lsh.build(Xd, **params), Qd, 10)  # noqa: E731
                found, _, scanned = run()
                t = bench(run, repeat=repeat, max_time=20)
                row("10 nearest neighbours", "lessonlib LSH", dev, n, t, "recall@10", lsh.recall(found.cpu(), exact),
                    f"build + 1,000 queries; scans {100 * float(scanned.float().mean()) / n:.2f}% of the points")
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


def cluster_goals(table) -> list[tuple[str, bool]]:
    """The clustering chapter's performance goals, each with whether the CPU rows of ``table`` meet it."""
    cpu = table[table.device == "cpu"].set_index("implementation")
    ours, skl = cpu.loc["lessonlib dbscan"], cpu.loc["scikit-learn DBSCAN"]
    km = cpu.loc["lessonlib kmeans"]
    knn = cpu.loc["lessonlib LSH"]
    scanned = float(knn.note.split("scans ")[1].split("%")[0])
    return [
        (f"dbscan: labels identical to scikit-learn at n = {ours.n:,}", ours.value == 1.0),
        (f"dbscan: {ours['median (s)'] / skl['median (s)']:.2f}× scikit-learn's time (goal <= 2×)",
         ours["median (s)"] <= 2 * skl["median (s)"]),
        (f"kmeans: inertia {km.value:.6f}× scikit-learn's from the same start (goal <= 1.001×)", km.value <= 1.001),
        (f"LSH: recall@10 {knn.value:.3f} (goal >= 0.9) scanning {scanned:.2f}% of {knn.n:,} points (goal <= 10%)",
         knn.value >= 0.9 and scanned <= 10),
    ]


def _cluster_main(args) -> int:
    import pandas as pd

    table = cluster_comparison({"kmeans": args.kmeans, "dbscan": args.dbscan, "knn": args.knn}, progress=True)
    for what, setup in CLUSTER_SETUP.items():
        print(f"{what}: {setup}")
    with pd.option_context("display.width", 250, "display.max_columns", 12, "display.max_colwidth", 60):
        print(table.to_string(index=False))
    goals = cluster_goals(table)
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
