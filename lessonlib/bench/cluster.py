"""k-means, DBSCAN and nearest neighbours against scikit-learn, and the clustering chapter's goals.

- ``ALGORITHMS`` -- one :class:`Algorithm` per row of the comparison: how to
  run scikit-learn's version, how to run ours, how to compare their results.
  Adding an algorithm is adding an entry (and its cases to ``CLUSTER_CASES``);
- :func:`cluster_comparison` -- every case, ours against scikit-learn's, on
  identical data in one process, with time and peak memory;
- :func:`cluster_goals` -- the chapter's performance goals, each a
  :class:`Goal` whose numbers stay numbers until it is printed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .. import _checks, hardware
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


@dataclass(frozen=True)
class Case:
    """One row group of the comparison: an algorithm on one data set with one setting.

    Attributes
    ----------
    algorithm : str
        A key of ``ALGORITHMS``.
    data : str
        What :func:`lessonlib.data.cluster_data` makes.
    size : str
        The key of :func:`cluster_comparison`'s ``sizes`` that says how many points.
    params : dict
        The algorithm's setting (``k``, ``eps``).
    """

    algorithm: str
    data: str
    size: str
    params: dict


CLUSTER_CASES = {
    "k-means, 2-D, k = 8": Case("k-means", "kmeans", "kmeans", {"k": 8}),
    "k-means, 16-D, k = 32": Case("k-means", "kmeans16", "kmeans", {"k": 32}),
    "DBSCAN, moons, eps 0.05": Case("DBSCAN", "dbscan", "dbscan", {"eps": 0.05}),
    "DBSCAN, moons, eps 0.1": Case("DBSCAN", "dbscan", "dbscan", {"eps": 0.1}),
    "DBSCAN, moons, eps 0.3": Case("DBSCAN", "dbscan", "dbscan", {"eps": 0.3}),
    "DBSCAN, blobs, eps 0.3": Case("DBSCAN", "dbscan_blobs", "dbscan_blobs", {"eps": 0.3}),
    "10 nearest neighbours, 16-D": Case("10 nearest neighbours", "knn", "knn", {}),
}

DEFAULT_SIZES = {"kmeans": 100_000, "dbscan": 20_000, "dbscan_blobs": 100_000, "knn": 100_000}
DEFAULT_LSH = {"n_tables": 16, "n_hashes": 4, "width": 8.0}


@dataclass(frozen=True)
class Agreement:
    """How one of our results compares with scikit-learn's.

    Attributes
    ----------
    value : float
        The agreement measure (inertia ratio, 1.0 for identical labels, recall@10).
    identical : bool or None
        Whether the labels are identical, where labels are compared one by one.
    scanned : float
        Percentage of the points a neighbour query measured (NaN where it does not apply).
    note : str
    """

    value: float
    identical: bool | None = None
    scanned: float = math.nan
    note: str = ""


@dataclass(frozen=True)
class Variant:
    """One of lessonlib's versions of an algorithm, as the comparison runs it.

    Attributes
    ----------
    label : str
        The implementation column; ``{method}`` is replaced by the method's name.
    per_method : bool
        True: one row per device and method (``"fused"``, ``"tensor"``);
        False: one row per device.
    run
        A function: ``run(ctx, device, method)`` returns the call to time, with no arguments.
    compare
        A function: ``compare(ctx, reference_result, result)`` returns an :class:`Agreement`.
    """

    label: str
    per_method: bool
    run: object  # a function (typed "object" so that the API page links nothing it cannot resolve)
    compare: object


@dataclass(frozen=True)
class Algorithm:
    """How one algorithm is compared with scikit-learn's: one row of ``ALGORITHMS``.

    Attributes
    ----------
    reference : str
        The implementation column of scikit-learn's row.
    agreement : str
        What the agreement value measures.
    prepare
        A function: ``prepare(data, params)`` returns the context every call below takes
        (the data on the CPU, the parameters, a shared start).
    run_reference
        A function: ``run_reference(ctx)`` returns scikit-learn's call to time, with no arguments.
    reference_note
        A function: ``reference_note(ctx, reference_result)`` gives the note of scikit-learn's row.
    variants : tuple of Variant
        Our versions, each compared with scikit-learn's result.
    """

    reference: str
    agreement: str
    prepare: object  # functions, typed "object" as in Variant
    run_reference: object
    reference_note: object
    variants: tuple


def _sklearn(module: str):
    from .._deps import require

    return require(module, "bench", "comparing with scikit-learn")


# ---------------------------------------------------------------- k-means


def _kmeans_prepare(X, p):
    from .. import cluster

    return {"X": X, "k": p["k"], "init": cluster.kmeans_plusplus(X, p["k"], seed=0)}


def _kmeans_reference(ctx):
    KMeans = _sklearn("sklearn.cluster").KMeans
    X, init = ctx["X"], ctx["init"]
    return lambda: KMeans(ctx["k"], init=init.numpy(), n_init=1, max_iter=100, tol=0,
                          algorithm="lloyd").fit(X.numpy())


def _kmeans_ours(ctx, device, method):
    from .. import cluster

    X, init = ctx["X"].to(device), ctx["init"].to(device)
    return lambda: cluster.kmeans(X, ctx["k"], iters=100, init=init, method=method)


def _kmeans_compare(ctx, ref, out):
    from .. import cluster

    X = ctx["X"]
    centroids, labels = out
    ref_inertia = cluster.inertia(X, torch.from_numpy(ref.cluster_centers_).to(X.dtype))
    differ = int((labels.cpu().numpy() != ref.labels_).sum())
    return Agreement(cluster.inertia(X, centroids.cpu()) / ref_inertia, differ == 0,
                     note="" if differ == 0 else f"{differ} labels differ")


# ---------------------------------------------------------------- DBSCAN


def _dbscan_reference(ctx):
    DBSCAN = _sklearn("sklearn.cluster").DBSCAN
    return lambda: DBSCAN(eps=ctx["eps"], min_samples=10).fit(ctx["X"].numpy()).labels_


def _dbscan_ours(ctx, device, method):
    from .. import cluster

    X = ctx["X"].to(device)
    return lambda: cluster.dbscan(X, eps=ctx["eps"], min_samples=10, method=method)


def _dbscan_compare(ctx, ref, out):
    labels = out.cpu().numpy()
    same = bool((labels == ref).all())
    ari = _sklearn("sklearn.metrics").adjusted_rand_score
    return Agreement(float(same), same, note="" if same else f"ARI {ari(ref, labels):.4f}")


# ---------------------------------------------------------------- nearest neighbours


def _knn_prepare(data, p):
    X, Q = data
    return {"X": X, "Q": Q, "lsh": p["lsh"]}


def _knn_reference(ctx):
    NearestNeighbors = _sklearn("sklearn.neighbors").NearestNeighbors
    X, Q = ctx["X"].numpy(), ctx["Q"].numpy()
    return lambda: NearestNeighbors(n_neighbors=10).fit(X).kneighbors(Q)


def _exact_ours(ctx, device, method):
    from .. import lsh

    X, Q = ctx["X"].to(device), ctx["Q"].to(device)
    return lambda: lsh.exact_knn(X, Q, 10)


def _lsh_ours(ctx, device, method):
    from .. import lsh

    X, Q = ctx["X"].to(device), ctx["Q"].to(device)
    return lambda: lsh.query(lsh.build(X, **ctx["lsh"]), Q, 10, method=method)


def _recall(ctx, ref, out):
    from .. import lsh

    return lsh.recall(out[1].cpu(), torch.from_numpy(ref[1]))  # (dist, idx), as kneighbors returns them


def _exact_compare(ctx, ref, out):
    return Agreement(_recall(ctx, ref, out), note="all n distances per query")


def _lsh_compare(ctx, ref, out):
    scanned = 100 * float(out[2].float().mean()) / len(ctx["X"])
    return Agreement(_recall(ctx, ref, out), scanned=scanned,
                     note=f"build + 1,000 queries; scans {scanned:.2f}% of the points")


ALGORITHMS = {
    "k-means": Algorithm(
        "scikit-learn KMeans (lloyd)", "inertia ÷ scikit-learn's", _kmeans_prepare, _kmeans_reference,
        lambda ctx, ref: f"{ref.n_iter_} iterations",
        (Variant("lessonlib kmeans ({method})", True, _kmeans_ours, _kmeans_compare),)),
    "DBSCAN": Algorithm(
        "scikit-learn DBSCAN", "identical labels", lambda X, p: {"X": X, "eps": p["eps"]}, _dbscan_reference,
        lambda ctx, ref: f"{ref.max() + 1} clusters, {(ref == -1).sum()} noise points",
        (Variant("lessonlib dbscan ({method})", True, _dbscan_ours, _dbscan_compare),)),
    "10 nearest neighbours": Algorithm(
        "scikit-learn NearestNeighbors", "recall@10", _knn_prepare, _knn_reference,
        lambda ctx, ref: "fit + 1,000 queries",
        (Variant("lessonlib exact_knn (brute force)", False, _exact_ours, _exact_compare),
         Variant("lessonlib LSH ({method})", True, _lsh_ours, _lsh_compare))),
}


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

    Each case runs scikit-learn's version once untimed (its result is the
    reference), then timed; then each of lessonlib's versions (``ALGORITHMS``)
    likewise, compared with the reference.

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
    progress : bool, default False
        Show a progress bar (tqdm, from the ``bench`` extra).

    Returns
    -------
    pandas.DataFrame
        One row per (case, implementation, device): n, best, median and
        inter-quartile range of the time, the agreement measure and its
        value, whether the labels are identical to scikit-learn's, the share
        of points a neighbour query scanned (%), the peak resident memory of
        the process while it ran and its rise above the memory already held
        when it started (MiB), and a note. scikit-learn always runs on the CPU.
    """
    import pandas as pd

    from ..data import cluster_data

    if sizes is not None and not isinstance(sizes, dict):
        raise TypeError(f"sizes must be a dict of data set to points, got {type(sizes).__name__}")
    unknown = [k for k in (sizes or {}) if k not in DEFAULT_SIZES]
    if unknown:
        raise ValueError(f"sizes keys must be among {sorted(DEFAULT_SIZES)}, got {unknown}")
    sizes = {**DEFAULT_SIZES, **{k: _checks.integer(f"sizes[{k!r}]", v, low=10) for k, v in (sizes or {}).items()}}
    cases = list(CLUSTER_CASES) if cases is None else list(cases)
    unknown = [c for c in cases if c not in CLUSTER_CASES]
    if unknown:
        raise ValueError(f"cases must be names from CLUSTER_CASES, got {unknown}")
    devices = list(devices) if devices is not None else ["cpu"] + (["cuda"] if hardware.has_cuda() else [])
    if isinstance(methods, str) or not set(methods) <= {"fused", "tensor"} or not methods:
        raise ValueError(f"methods must be a non-empty subset of ('fused', 'tensor'), got {methods!r}")
    if lsh_params is not None and not isinstance(lsh_params, dict):
        raise TypeError(f"lsh_params must be a dict, got {type(lsh_params).__name__}")
    repeat = _checks.integer("repeat", repeat, low=1)
    lsh = {**DEFAULT_LSH, **(lsh_params or {})}
    rows, data = [], {}

    def row(case, impl, device, n, timed, agreement: Agreement):
        t, rss, grew = timed
        rows.append({"algorithm": CLUSTER_CASES[case].algorithm, "case": case, "implementation": impl,
                     "device": device, "n": n, "best (s)": t.min, "median (s)": t.median, "IQR (s)": t.iqr,
                     "agreement": ALGORITHMS[CLUSTER_CASES[case].algorithm].agreement,
                     "value": agreement.value, "identical labels": agreement.identical,
                     "scanned (%)": agreement.scanned, "peak RSS (MiB)": rss, "RSS growth (MiB)": grew,
                     "note": agreement.note})

    for case in progress_bar(cases, desc="clustering", unit="case", show=progress):
        spec = CLUSTER_CASES[case]
        algo, n = ALGORITHMS[spec.algorithm], sizes[spec.size]
        if spec.data not in data:
            data[spec.data] = cluster_data(spec.data, n)
        ctx = algo.prepare(data[spec.data], {**spec.params, "lsh": lsh})
        fit = algo.run_reference(ctx)
        ref = fit()
        row(case, algo.reference, "cpu", n, timed_with_memory(fit, repeat=repeat),
            Agreement(1.0, note=algo.reference_note(ctx, ref)))
        for variant in algo.variants:
            runs = [(dev, m) for dev in devices for m in (methods if dev == "cpu" else ["tensor"])] \
                if variant.per_method else [(dev, "tensor") for dev in devices]
            for dev, m in runs:
                call = variant.run(ctx, dev, m)
                agreement = variant.compare(ctx, ref, call())
                row(case, variant.label.format(method=m), dev, n, timed_with_memory(call, repeat=repeat), agreement)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- the goals


@dataclass(frozen=True)
class Measure:
    """One measured number of a goal, and the bound it must keep.

    Attributes
    ----------
    name : str
    value : float
    op : str
        ``"<="``, ``"<"`` or ``">="``: how ``value`` must compare with ``bound``.
    bound : float
    unit : str
        Appended to both numbers when printed (``"×"``, ``"%"``).
    digits : int
        Decimals of ``value`` when printed (3 unless given).
    """

    name: str
    value: float
    op: str
    bound: float
    unit: str = ""
    digits: int = 3

    @property
    def met(self) -> bool:
        """Whether ``value`` keeps the bound."""
        return {"<=": self.value <= self.bound, "<": self.value < self.bound, ">=": self.value >= self.bound}[self.op]

    def __str__(self) -> str:
        return f"{self.name} {self.value:.{self.digits}f}{self.unit} (goal {self.op} {self.bound:g}{self.unit})"


@dataclass(frozen=True)
class Goal:
    """One performance goal of the clustering chapter, with the numbers that judge it.

    Attributes
    ----------
    case : str
        Which case (and implementation) it is about.
    measures : tuple of Measure
    identical : bool or None
        Whether the labels must be, and were, identical (None: not asked).
    """

    case: str
    measures: tuple
    identical: bool | None = None

    @property
    def met(self) -> bool:
        """Every measure within its bound, and identical labels where they are asked for."""
        return all(m.met for m in self.measures) and self.identical is not False

    def __str__(self) -> str:
        parts = [str(m) for m in self.measures]
        if self.identical is not None:
            parts.append(f"identical labels: {self.identical}")
        return f"{self.case}: " + ", ".join(parts)


def cluster_goals(table, crossover=None) -> list[Goal]:
    """The clustering chapter's performance goals, each judged on the CPU rows of ``table``.

    k-means and DBSCAN compare best times (of the samples) of lessonlib's
    fused version and scikit-learn, per case; each LSH row of the
    nearest-neighbour case is judged on recall and the share of points it
    scanned; ``crossover`` (from :func:`lessonlib.bench.lsh.lsh_crossover`)
    adds the LSH goal at its largest n, if that n is at least 1,000,000.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`cluster_comparison`.
    crossover : pandas.DataFrame, optional

    Returns
    -------
    list of Goal
        ``goal.met`` says whether it was met; ``str(goal)`` gives its numbers.
    """
    import pandas as pd

    for name, frame in (("table", table), ("crossover", crossover)):
        if frame is not None and not isinstance(frame, pd.DataFrame):
            raise TypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in ("case", "device") if c not in table]
    if missing:
        raise ValueError(f"table is missing the columns {missing}")
    cpu = table[table.device == "cpu"]
    goals = []
    for case in dict.fromkeys(cpu.case):
        rows = cpu[cpu.case == case].set_index("implementation")
        algo = rows.algorithm.iloc[0]
        if algo == "k-means" and "lessonlib kmeans (fused)" in rows.index:
            ours, skl = rows.loc["lessonlib kmeans (fused)"], rows.loc["scikit-learn KMeans (lloyd)"]
            goals.append(Goal(case, (Measure("time ÷ scikit-learn's", ours["best (s)"] / skl["best (s)"], "<=", 1.0, "×"),
                                     Measure("inertia ÷ scikit-learn's", ours.value, "<=", 1.001, "×", 6)),
                              bool(ours["identical labels"])))
        elif algo == "DBSCAN" and "lessonlib dbscan (fused)" in rows.index:
            ours, skl = rows.loc["lessonlib dbscan (fused)"], rows.loc["scikit-learn DBSCAN"]
            goals.append(Goal(f"{case}, n = {int(ours.n):,}",
                              (Measure("time ÷ scikit-learn's", ours["best (s)"] / skl["best (s)"], "<=", 1.25, "×"),),
                              bool(ours["identical labels"])))
        elif algo == "10 nearest neighbours":
            for impl in [i for i in rows.index if i.startswith("lessonlib LSH")]:
                knn = rows.loc[impl]
                goals.append(Goal(f"{case}, {impl}, n = {int(knn.n):,}",
                                  (Measure("recall@10", float(knn.value), ">=", 0.9),
                                   Measure("points scanned", float(knn["scanned (%)"]), "<=", 10.0, "%"))))
    if crossover is not None and len(crossover) and int(crossover.n.max()) >= 1_000_000:
        n = int(crossover.n.max())
        big = crossover.set_index("n").loc[n]
        goals.append(Goal(f"LSH, 32-D, n = {n:,}, 1,000 queries",
                          (Measure("query time ÷ brute force's", big["LSH query (s)"] / big["brute force (s)"], "<",
                                   1.0, "×"),
                           Measure("recall@10", float(big["recall@10"]), ">=", 0.9))))
    return goals
