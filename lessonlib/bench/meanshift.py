"""Mean shift timings on the CPU for the chapter "Mean shift" (and ``python -m lessonlib.bench
meanshift``): loop against batches, the cost of a torch call, scikit-learn.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import torch

from .. import _checks
from .._deps import require
from ..meanshift import (cluster_labels, gaussian, make_clusters, meanshift, meanshift_batched,
                         meanshift_fast, one_update, tri, true_labels)
from ..lecture import FIGURES
from ..timing import Ladder, Timing, bench, ladder
from ._common import progress as progress_bar
from .claims import MEANSHIFT_CPU_ROWS, MEANSHIFT_LOOP


def lecture_points(data: torch.Tensor | None = None) -> torch.Tensor:
    """``data`` checked as (n, d) points; by default the lecture's 1,500 points."""
    return make_clusters(6, 250)[1] if data is None else _checks.points("data", data, convert=False)


def cpu_meanshift_timings(data: torch.Tensor | None = None, *, repeat: int = 3,
                          max_time: float = 10.0) -> dict[str, Timing]:
    """The CPU rows the mean shift GPU claims compare with (``MEANSHIFT_CPU_ROWS``): the notebook's
    loop, ``meanshift(data, bw=8, kernel=tri)``, and batches of 500, on ``data`` (by default
    :func:`lecture_points`) moved to the CPU; ``repeat`` and ``max_time`` go to :func:`lessonlib.timing.bench`.
    """
    data = lecture_points(data).cpu()
    _checks.integer("repeat", repeat, low=1)
    _checks.positive("max_time", max_time)
    batched = [k for k in MEANSHIFT_CPU_ROWS if k != MEANSHIFT_LOOP][0]
    kw = dict(repeat=repeat, max_time=max_time)
    return {MEANSHIFT_LOOP: bench(meanshift, data, bw=8, kernel=tri, name=MEANSHIFT_LOOP, **kw),
            batched: bench(meanshift_batched, data, bs=500, name=batched, **kw)}


# The lecture's figure beside each row of the sweep (lessonlib.lecture); its batch figures are a GPU's.
LECTURE_SWEEP = {"loop": "meanshift_loop", 5: "meanshift_gpu_bs5", 64: "meanshift_gpu_bs64"}


def meanshift_batch_sweep(data: torch.Tensor, batch_sizes=(5, 64, 1024), *, loop: bool = False,
                          repeat: int = 3) -> Ladder:
    """Time ``meanshift_batched`` on ``data`` (n, d) for each batch size below n, and all n at once.

    ``loop`` adds a first row for :func:`~lessonlib.meanshift.meanshift`, the loop (CPU data only);
    ``repeat`` samples per row (fewer for a slow row). Returns a Ladder whose last column is the
    lecture's figure for each row, with its source.
    """
    data = _checks.points("data", data, convert=False)
    loop = _checks.boolean("loop", loop)
    repeat = _checks.integer("repeat", repeat, low=1)
    batch_sizes = _checks.sequence("batch_sizes", batch_sizes, item=lambda n, v: _checks.integer(n, v, low=1))
    if loop and data.is_cuda:
        raise ValueError("loop=True times the point-by-point loop, which is for CPU data; data is on the GPU")
    sizes = [bs for bs in batch_sizes if bs < len(data)] + [len(data)]
    timings, lecture = [], []
    if loop:
        timings.append(bench(meanshift, data, repeat=1, max_time=6, name="loop (meanshift)"))
        lecture.append(str(FIGURES[LECTURE_SWEEP["loop"]]))
    for bs in sizes:
        timings.append(bench(meanshift_batched, data, bs=bs, repeat=repeat, max_time=3,
                             name=f"bs = {bs}" if bs < len(data) else f"bs = n = {bs}"))
        key = LECTURE_SWEEP.get(bs if bs < len(data) else "all")
        lecture.append(f"{FIGURES[key]}, on a GPU" if key else "")
    where = "GPU" if data.is_cuda else "CPU"
    return ladder(timings, notes={"lecture (2022)": lecture},
                  caption=f"Mean shift, 5 steps on {len(data):,} points, {where}, by batch size"
                          + ("" if data.is_cuda else f", torch on {torch.get_num_threads()} CPU thread(s)"))


def torch_calls(fn, *args, **kwargs) -> tuple[int, list[str]]:
    """Count, and name in order, the torch operations that ``fn(*args, **kwargs)`` calls.

    Each call through torch's ``__torch_function__`` counts once (indexing, arithmetic,
    reductions); attribute reads such as ``.shape`` do not.
    """
    from torch.overrides import TorchFunctionMode

    _checks.callable_("fn", fn)
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
    """Seconds per call of ``torch.mul`` on two 2-element tensors (a Timing): almost nothing but fixed cost."""
    _checks.integer("repeat", repeat, low=1)
    a, b = torch.ones(2), torch.ones(2)
    return bench(torch.mul, a, b, name="torch.mul on 2 numbers", repeat=repeat, max_time=2)


def meanshift_loop_overhead(loop_s: float, overhead_s: float, data: torch.Tensor, *, iters: int = 5) -> dict:
    """How much of the loop's measured time ``loop_s`` the cost per call ``overhead_s`` explains.

    The loop makes ``iters · n`` point steps of a fixed number of torch operations (counted by
    :func:`torch_calls`). Returns a dict: ``ops_per_step``, ``steps``, ``ops``, ``explained_s`` (ops ·
    overhead_s) and ``fraction`` (explained_s / loop_s).
    """
    data = _checks.points("data", data, convert=False)
    loop_s = _checks.positive("loop_s", loop_s)
    overhead_s = _checks.positive("overhead_s", overhead_s)
    iters = _checks.integer("iters", iters, low=1)
    one, _ = torch_calls(one_update, data[:1].clone(), partial(gaussian, bw=2.5))
    two, _ = torch_calls(one_update, data[:2].clone(), partial(gaussian, bw=2.5))
    per_step = two - one  # the operations of one point step, without the loop's own set-up
    steps = iters * len(data)
    explained = per_step * steps * overhead_s
    return {"ops_per_step": per_step, "steps": steps, "ops": per_step * steps,
            "explained_s": float(explained), "fraction": float(explained / loop_s)}


def meanshift_comparison(sizes=(1_500, 15_000, 100_000), *, bw: float = 2.5,
                         batched_max: int = 15_000, sklearn_default_max: int = 15_000,
                         repeat: int = 3, progress: bool = False):
    """Time our mean shift versions and scikit-learn's ``MeanShift`` on the same data.

    For each n, the lecture's six clusters of n/6 points. Rows: ``meanshift_batched`` (bs=1024) and
    ``meanshift_fast``, five Gaussian steps then :func:`~lessonlib.meanshift.cluster_labels`; ``MeanShift``
    (flat kernel of radius 2·bw) with ``bin_seeding=True`` and with its defaults. A quadratic method is
    not run above its size limit, and its row says so. Returns a DataFrame: one row per (n, method),
    its median seconds, adjusted Rand index against the true clusters, clusters found and a note.
    """
    sizes = _checks.sequence("sizes", sizes, item=lambda n, v: _checks.integer(n, v, low=6))
    bw = _checks.positive("bw", bw)
    batched_max = _checks.integer("batched_max", batched_max, low=1)
    sklearn_default_max = _checks.integer("sklearn_default_max", sklearn_default_max, low=1)
    repeat = _checks.integer("repeat", repeat, low=1)
    MeanShift = require("sklearn.cluster", "bench", "comparing with scikit-learn").MeanShift
    adjusted_rand_score = require("sklearn.metrics", "bench", "comparing with scikit-learn").adjusted_rand_score
    methods = {  # name -> (the labels it gives X, the most points it runs on)
        "meanshift_batched (bs=1024)": (lambda X: cluster_labels(meanshift_batched(X, bw=bw, bs=1024))[1], batched_max),
        "meanshift_fast": (lambda X: cluster_labels(meanshift_fast(X, bw=bw))[1], None),
        "sklearn MeanShift, bin_seeding": (
            lambda X: MeanShift(bandwidth=2 * bw, bin_seeding=True).fit(X.numpy()).labels_, None),
        "sklearn MeanShift, defaults": (
            lambda X: MeanShift(bandwidth=2 * bw).fit(X.numpy()).labels_, sklearn_default_max),
    }
    jobs = [(n, name) for n in sizes for name in methods]
    rows, data = [], {}
    for n, name in progress_bar(jobs, desc="mean shift", unit="run", show=progress):
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
        rows.append({"n": len(X), "method": name, "median (s)": t.median,
                     "ARI": float(adjusted_rand_score(truth, out[0])),
                     "clusters": int(len(set(out[0].tolist()))),
                     "note": f"{t.repeat} sample{'s' * (t.repeat != 1)}"})
    return pd.DataFrame(rows)


def scaling_slopes(comparison) -> dict[str, float]:
    """Each method's slope of log time on log n (least squares), for the methods timed at two sizes or
    more in ``comparison`` (from :func:`meanshift_comparison`).
    """
    _checks.frame("comparison", comparison, ("n", "method", "median (s)"))
    slopes = {}
    for name, runs in comparison.dropna(subset=["median (s)"]).groupby("method", sort=False):
        if runs.n.nunique() >= 2:  # one size only: no slope
            n, t = runs.n.to_numpy(float), runs["median (s)"].to_numpy(float)
            slopes[name] = float(np.polyfit(np.log(n), np.log(t), 1)[0])
    return slopes
