"""k-means, DBSCAN and nearest neighbours against scikit-learn; the clustering chapter's goals."""

from __future__ import annotations

import math

import torch

from .. import _checks, _deps, cluster, hardware, lsh
from ..data import cluster_data
from ._common import progress as progress_bar
from .memory import timed_with_memory

# The data behind each performance goal of the clustering chapter.
CLUSTER_SETUP = {
    "kmeans": "blobs: 8 centres in 2-D (k = 8), and 32 centres in 16-D (k = 32), n points in float64; "
              "one k-means++ start shared with scikit-learn; up to 100 Lloyd steps, tol 0",
    "dbscan": "two moons (noise 0.06) in 2-D, n points, float32; eps = 0.05, 0.1 and 0.3; "
              "and 8 blobs (std 2) in 2-D with eps = 0.3; min_samples = 10",
    "knn": "blobs: 50 centres in 16-D, n points, float32; 1,000 queries from the same distribution; k = 10",
    "knn32": "blobs: 100 centres in 32-D, n points, float32; 1,000 queries from the same distribution; k = 10",
}

# case -> (algorithm, the data set cluster_data makes, the key of `sizes` giving its points, the setting)
CLUSTER_CASES = {
    "k-means, 2-D, k = 8": ("k-means", "kmeans", "kmeans", 8),
    "k-means, 16-D, k = 32": ("k-means", "kmeans16", "kmeans", 32),
    "DBSCAN, moons, eps 0.05": ("DBSCAN", "dbscan", "dbscan", 0.05),
    "DBSCAN, moons, eps 0.1": ("DBSCAN", "dbscan", "dbscan", 0.1),
    "DBSCAN, moons, eps 0.3": ("DBSCAN", "dbscan", "dbscan", 0.3),
    "DBSCAN, blobs, eps 0.3": ("DBSCAN", "dbscan_blobs", "dbscan_blobs", 0.3),
    "10 nearest neighbours, 16-D": ("10 nearest neighbours", "knn", "knn", 10),
}
AGREEMENT = {"k-means": "inertia ÷ scikit-learn's", "DBSCAN": "identical labels", "10 nearest neighbours": "recall@10"}

DEFAULT_SIZES = {"kmeans": 100_000, "dbscan": 20_000, "dbscan_blobs": 100_000, "knn": 100_000}
DEFAULT_LSH = {"n_tables": 16, "n_hashes": 4, "width": 8.0}


def _sklearn(module: str):
    return _deps.require(module, "bench", "comparing with scikit-learn")


def _kmeans(X, k, runs):
    """scikit-learn's Lloyd k-means, then ours from the same k-means++ start: (implementation, call, agreement)."""
    init = cluster.kmeans_plusplus(X, k, seed=0)
    ref = _sklearn("sklearn.cluster").KMeans(k, init=init.numpy(), n_init=1, max_iter=100, tol=0, algorithm="lloyd")
    fit = lambda: ref.fit(X.numpy())  # noqa: E731
    fit()
    ref_inertia = cluster.inertia(X, torch.from_numpy(ref.cluster_centers_).to(X.dtype))
    yield "scikit-learn KMeans (lloyd)", "cpu", fit, {"value": 1.0, "note": f"{ref.n_iter_} iterations"}
    for device, method in runs:
        Xd, init_d = X.to(device), init.to(device)
        call = lambda: cluster.kmeans(Xd, k, iters=100, init=init_d, method=method)  # noqa: E731
        centroids, labels = call()
        differ = int((labels.cpu().numpy() != ref.labels_).sum())
        yield f"lessonlib kmeans ({method})", device, call, {
            "value": cluster.inertia(X, centroids.cpu()) / ref_inertia, "identical labels": differ == 0,
            "note": "" if differ == 0 else f"{differ} labels differ"}


def _dbscan(X, eps, runs):
    """scikit-learn's DBSCAN, then ours, labels compared one by one."""
    fit = lambda: _sklearn("sklearn.cluster").DBSCAN(eps=eps, min_samples=10).fit(X.numpy()).labels_  # noqa: E731
    ref = fit()
    yield "scikit-learn DBSCAN", "cpu", fit, {
        "value": 1.0, "note": f"{ref.max() + 1} clusters, {(ref == -1).sum()} noise points"}
    for device, method in runs:
        Xd = X.to(device)
        call = lambda: cluster.dbscan(Xd, eps=eps, min_samples=10, method=method)  # noqa: E731
        labels = call().cpu().numpy()
        same = bool((labels == ref).all())
        ari = _sklearn("sklearn.metrics").adjusted_rand_score
        yield f"lessonlib dbscan ({method})", device, call, {
            "value": float(same), "identical labels": same, "note": "" if same else f"ARI {ari(ref, labels):.4f}"}


def _knn(data, k, runs, lsh_params):
    """scikit-learn's NearestNeighbors, then brute force and LSH, each judged by recall@k."""
    X, Q = data
    fit = lambda: _sklearn("sklearn.neighbors").NearestNeighbors(n_neighbors=k).fit(X.numpy()).kneighbors(Q.numpy())  # noqa: E731
    truth = torch.from_numpy(fit()[1])
    yield "scikit-learn NearestNeighbors", "cpu", fit, {"value": 1.0, "note": "fit + 1,000 queries"}
    for device in dict.fromkeys(d for d, _ in runs):
        Xd, Qd = X.to(device), Q.to(device)
        call = lambda: lsh.exact_knn(Xd, Qd, k)  # noqa: E731
        yield "lessonlib exact_knn (brute force)", device, call, {
            "value": lsh.recall(call()[1].cpu(), truth), "note": "all n distances per query"}
    for device, method in runs:
        Xd, Qd = X.to(device), Q.to(device)
        call = lambda: lsh.query(lsh.build(Xd, **lsh_params), Qd, k, method=method)  # noqa: E731
        _, idx, scanned = call()  # (dist, idx, scanned), like kneighbors
        share = 100 * float(scanned.float().mean()) / len(X)
        yield f"lessonlib LSH ({method})", device, call, {
            "value": lsh.recall(idx.cpu(), truth), "scanned (%)": share,
            "note": f"build + 1,000 queries; scans {share:.2f}% of the points"}


def cluster_comparison(sizes: dict | None = None, *, cases=None, devices=None,
                       methods=("fused", "tensor"), lsh_params: dict | None = None,
                       repeat: int = 3, progress: bool = False):
    """Time k-means, DBSCAN and LSH neighbours against scikit-learn on identical data, in one process.

    scikit-learn's result (on the CPU) is each case's reference; every version runs once untimed, then
    ``repeat`` times timed. ``sizes``: points per data set (keys of ``DEFAULT_SIZES``); ``cases``: keys of
    ``CLUSTER_CASES``; ``devices``: "cpu", and "cuda" when a GPU is present; ``methods``: lessonlib's
    versions on the CPU ("tensor" elsewhere); ``lsh_params`` over ``DEFAULT_LSH``; ``progress``, a tqdm bar.
    Returns a DataFrame, a row per (case, implementation, device): n, best, median and IQR of the time,
    the agreement and its value, identical labels, share scanned (%), peak RSS and its growth (MiB),
    and a note.
    """
    import pandas as pd

    sizes = {**DEFAULT_SIZES, **_checks.mapping("sizes", {} if sizes is None else sizes, among=DEFAULT_SIZES,
                                                item=lambda n, v: _checks.integer(n, v, low=10, high=10**7))}
    cases = list(CLUSTER_CASES) if cases is None else _checks.sequence(
        "cases", cases, item=lambda n, v: _checks.choice(n, v, tuple(CLUSTER_CASES)))
    here = ("cpu", "cuda") if hardware.has_cuda() else ("cpu",)
    devices = list(here) if devices is None else _checks.sequence(
        "devices", devices, item=lambda n, v: _checks.choice(n, v, here))
    methods = _checks.sequence("methods", methods,
                               item=lambda n, v: _checks.choice(n, v, ("fused", "tensor")))
    repeat = _checks.integer("repeat", repeat, low=1)
    lsh_params = {**DEFAULT_LSH, **_checks.mapping("lsh_params", {} if lsh_params is None else lsh_params,
                                                   among=DEFAULT_LSH, item=_checks.positive)}
    runs = [(dev, m) for dev in devices for m in (methods if dev == "cpu" else ["tensor"])]
    rows, data = [], {}
    for case in progress_bar(cases, desc="clustering", unit="case", show=progress):
        algorithm, name, size, setting = CLUSTER_CASES[case]
        n = sizes[size]
        if name not in data:
            data[name] = cluster_data(name, n)
        results = (_kmeans(data[name], setting, runs) if algorithm == "k-means"
                   else _dbscan(data[name], setting, runs) if algorithm == "DBSCAN"
                   else _knn(data[name], setting, runs, lsh_params))
        for impl, device, call, agreement in results:
            t, rss, grew = timed_with_memory(call, repeat=repeat)
            rows.append({"algorithm": algorithm, "case": case, "implementation": impl, "device": device, "n": n,
                         "best (s)": t.min, "median (s)": t.median, "IQR (s)": t.iqr,
                         "agreement": AGREEMENT[algorithm], "value": None, "identical labels": None,
                         "scanned (%)": math.nan, "peak RSS (MiB)": rss, "RSS growth (MiB)": grew,
                         "note": None, **agreement})  # value, note and what else it measured
    return pd.DataFrame(rows)


def cluster_goals(table, crossover=None):
    """The clustering chapter's performance goals, judged on the CPU rows of ``table``
    (:func:`cluster_comparison`); ``crossover`` (:func:`lessonlib.bench.lsh.lsh_crossover`) adds the LSH
    goal at its largest n, from 1,000,000. Returns a DataFrame, a row per measure: ``case``,
    ``measure``, ``value`` (in words), ``goal`` and ``met``.
    """
    import pandas as pd

    _checks.frame("table", table, ("case", "device"), empty=True)
    if crossover is not None:
        _checks.frame("crossover", crossover, ("n", "LSH query (s)", "brute force (s)", "recall@10"))
    rows = []

    def goal(case, measure, value, goal, met):
        rows.append({"case": case, "measure": measure, "value": value, "goal": goal, "met": bool(met)})

    cpu = table[table.device == "cpu"]
    for case in dict.fromkeys(cpu.case):
        by = cpu[cpu.case == case].set_index("implementation")
        ours = next((by.loc[i] for i in ("lessonlib kmeans (fused)", "lessonlib dbscan (fused)") if i in by.index), None)
        if ours is not None:
            skl = by.loc["scikit-learn KMeans (lloyd)" if ours.algorithm == "k-means" else "scikit-learn DBSCAN"]
            bound = 1.0 if ours.algorithm == "k-means" else 1.25
            ratio = ours["best (s)"] / skl["best (s)"]
            if ours.algorithm == "DBSCAN":
                case = f"{case}, n = {int(ours.n):,}"
            goal(case, "time ÷ scikit-learn's", f"{ratio:.3f}×", f"≤ {bound:g}×", ratio <= bound)
            if ours.algorithm == "k-means":
                goal(case, "inertia ÷ scikit-learn's", f"{ours.value:.6f}×", "≤ 1.001×", ours.value <= 1.001)
            goal(case, "identical labels", "yes" if ours["identical labels"] else "no", "yes",
                 ours["identical labels"])
        for impl in [i for i in by.index if i.startswith("lessonlib LSH")]:
            knn, name = by.loc[impl], f"{case}, {impl}, n = {int(by.loc[impl].n):,}"
            goal(name, "recall@10", f"{float(knn.value):.3f}", "≥ 0.9", float(knn.value) >= 0.9)
            share = float(knn["scanned (%)"])
            goal(name, "points scanned", f"{share:.3f}%", "≤ 10%", share <= 10.0)
    if crossover is not None and len(crossover) and int(crossover.n.max()) >= 1_000_000:
        n = int(crossover.n.max())
        big = crossover.set_index("n").loc[n]
        ratio, recall = big["LSH query (s)"] / big["brute force (s)"], float(big["recall@10"])
        name = f"LSH, 32-D, n = {n:,}, 1,000 queries"
        goal(name, "query time ÷ brute force's", f"{ratio:.3f}×", "< 1×", ratio < 1.0)
        goal(name, "recall@10", f"{recall:.3f}", "≥ 0.9", recall >= 0.9)
    return pd.DataFrame(rows, columns=["case", "measure", "value", "goal", "met"])
