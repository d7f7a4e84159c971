"""Locality-sensitive hashing against brute force, for the clustering chapter's LSH tables."""

from __future__ import annotations

import torch

from .. import _checks, cluster, lsh
from .._deps import require
from ..timing import Timing, bench, timed
from ._common import progress as progress_bar
from .memory import timed_with_memory

# LSH settings for the 32-D crossover: found by a small sweep at n = 200,000 (recall@10 >= 0.9, fewest points scanned)
LSH_CROSSOVER_PARAMS = {"n_tables": 16, "n_hashes": 8, "width": 24.0}


def _sizes(name: str, values, low: int) -> list[int]:
    return _checks.sequence(name, values, item=lambda n, v: _checks.integer(n, v, low=low))


def _check_query_args(X, Q, n_hashes, width, k, repeat):
    """The arguments :func:`lsh_sweep` and :func:`lsh_query_time` share, checked."""
    X = _checks.points("X", X, convert=False)
    Q = _checks.points("Q", Q, dims=X.shape[1], convert=False, like="X")
    _checks.integer("n_hashes", n_hashes, low=1)
    _checks.positive("width", width)
    _checks.integer("k", k, low=1, high=len(X))
    _checks.integer("repeat", repeat, low=1)


def lsh_sweep(X: torch.Tensor, Q: torch.Tensor, tables=(1, 2, 4, 8, 16, 32), *, n_hashes: int = 4,
              width: float = 8.0, k: int = 10, repeat: int = 3):
    """LSH's recall, work and query time against the number of ``tables``, brute force beside it.

    ``X`` (n, d) is indexed outside the timing and queried with ``Q`` (q, d); each time is the median
    of ``repeat`` samples. Returns a DataFrame, a row per number of tables: ``tables``, ``recall@k``,
    ``points scanned (%)``, ``query time (s)``, ``brute force (s)`` and ``vs brute force``.
    """
    import pandas as pd

    _check_query_args(X, Q, n_hashes, width, k, repeat)
    tables = _sizes("tables", tables, 1)
    _, exact = lsh.exact_knn(X, Q, k)
    t_exact = bench(lsh.exact_knn, X, Q, k, repeat=repeat).median
    rows = []
    for n_tables in tables:
        index = lsh.build(X, n_tables=n_tables, n_hashes=n_hashes, width=width)
        _, found, scanned = lsh.query(index, Q, k)
        t_query = bench(lsh.query, index, Q, k, repeat=repeat).median
        rows.append({"tables": n_tables, f"recall@{k}": lsh.recall(found, exact),
                     "points scanned (%)": 100 * float(scanned.float().mean()) / len(X),
                     "query time (s)": t_query, "brute force (s)": t_exact, "vs brute force": t_exact / t_query})
    return pd.DataFrame(rows)


def lsh_query_time(X: torch.Tensor, Q: torch.Tensor, *, n_tables: int, n_hashes: int = 4, width: float = 8.0,
                   k: int = 10, method: str = "tensor", repeat: int = 3) -> Timing:
    """The Timing of :func:`lessonlib.lsh.query` at one setting and ``method``; the index is built first."""
    _check_query_args(X, Q, n_hashes, width, k, repeat)
    _checks.integer("n_tables", n_tables, low=1)
    _checks.choice("method", method, ("tensor", "fused", "auto"))
    index = lsh.build(X, n_tables=n_tables, n_hashes=n_hashes, width=width)
    return bench(lsh.query, index, Q, k, method=method, repeat=repeat, name=f"LSH query ({method})")


def lsh_crossover(sizes=(10_000, 30_000, 100_000, 300_000, 1_000_000), *,
                  params: dict | None = None, repeat: int = 3, progress: bool = False):
    """Query time of LSH and of brute force against the number of points, on the 32-D ``knn32`` data.

    Each of ``sizes`` takes the first n rows of one shuffled draw; the same 1,000 queries run against
    each, the index (``params`` over ``LSH_CROSSOVER_PARAMS``) built outside the timing. Returns a
    DataFrame, a row per n: brute force and LSH query times (best of ``repeat``), LSH build time,
    recall@10, the share of points scanned and each run's peak RSS (MiB).
    """
    import pandas as pd

    from ..data import cluster_data

    sizes = sorted(_sizes("sizes", sizes, 10))
    repeat = _checks.integer("repeat", repeat, low=1)
    params = {**LSH_CROSSOVER_PARAMS, **_checks.mapping("params", {} if params is None else params,
                                                        among=LSH_CROSSOVER_PARAMS, item=_checks.positive)}
    X_all, Q = cluster_data("knn32", sizes[-1])
    rows = []
    for n in progress_bar(sizes, desc="LSH crossover", unit="size", show=progress):
        X = X_all[:n]
        _, exact = lsh.exact_knn(X, Q, 10)
        t_brute, rss_brute, _ = timed_with_memory(lambda: lsh.exact_knn(X, Q, 10), repeat=repeat)  # noqa: B023
        index, build = timed(lsh.build, X, **params)
        _, found, scanned = lsh.query(index, Q, 10)
        t_lsh, rss_lsh, _ = timed_with_memory(lambda: lsh.query(index, Q, 10), repeat=repeat)  # noqa: B023
        rows.append({"n": n, "brute force (s)": t_brute.min, "LSH query (s)": t_lsh.min,
                     "LSH build (s)": build, "recall@10": lsh.recall(found, exact),
                     "points scanned (%)": 100 * float(scanned.float().mean()) / n,
                     "peak RSS brute force (MiB)": rss_brute, "peak RSS LSH (MiB)": rss_lsh})
        del index
    return pd.DataFrame(rows)


def dbscan_lsh(X: torch.Tensor, *, eps: float = 0.05, min_samples: int = 10, tables=(1, 2, 4, 8),
               n_hashes: int = 2, width: float = 0.1, repeat: int = 3):
    """DBSCAN with exact neighbour pairs against DBSCAN with pairs found by LSH, on the same points.

    The exact row times :func:`lessonlib.cluster.dbscan`; each LSH row (one per number of ``tables``)
    times the index, :func:`lessonlib.lsh.radius_pairs` and the clustering. Columns: ``neighbours``,
    ``tables`` (0: exact), ``pairs found (%)``, ``ARI vs exact``, ``noise points``, ``time (s)``.
    """
    import pandas as pd

    ari = require("sklearn.metrics", "bench", "comparing labels (adjusted Rand index)").adjusted_rand_score
    X = _checks.points("X", X, convert=False)
    eps = _checks.positive("eps", eps)
    min_samples = _checks.integer("min_samples", min_samples, low=1)
    tables = _sizes("tables", tables, 1)
    n_hashes = _checks.integer("n_hashes", n_hashes, low=1)
    width = _checks.positive("width", width)
    repeat = _checks.integer("repeat", repeat, low=1)
    exact_pairs = cluster.radius_pairs(X, eps=eps)
    exact = cluster.dbscan(X, eps=eps, min_samples=min_samples)
    rows = [{"neighbours": "exact (columns)", "tables": 0, "pairs found (%)": 100.0, "ARI vs exact": 1.0,
             "noise points": int((exact == -1).sum()),
             "time (s)": bench(cluster.dbscan, X, eps=eps, min_samples=min_samples, repeat=repeat).median}]
    for n_tables in tables:
        def approx(n_tables=n_tables):  # index, approximate pairs, clusters: what the time column measures
            pairs = lsh.radius_pairs(lsh.build(X, n_tables=n_tables, n_hashes=n_hashes, width=width), eps=eps)
            return cluster.dbscan(X, eps=eps, min_samples=min_samples, pairs=pairs), pairs
        labels, found = approx()
        rows.append({"neighbours": f"LSH, {n_tables} table{'s' * (n_tables > 1)}", "tables": n_tables,
                     "pairs found (%)": 100 * len(found[0]) / max(1, len(exact_pairs[0])),
                     "ARI vs exact": float(ari(exact.numpy(), labels.numpy())),
                     "noise points": int((labels == -1).sum()), "time (s)": bench(approx, repeat=repeat).median})
    return pd.DataFrame(rows)
