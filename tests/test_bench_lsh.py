"""lessonlib.bench.lsh at tiny sizes: the sweep, the crossover, DBSCAN with LSH pairs; structure and sanity only."""

import pandas as pd
import pytest
import torch

from lessonlib.bench.cluster import cluster_goals
from lessonlib.bench.lsh import dbscan_lsh, lsh_crossover, lsh_query_time, lsh_sweep
from lessonlib.data import cluster_data


@pytest.fixture(scope="module")
def knn():
    return cluster_data("knn", 2_000)


def test_lsh_sweep_rows_and_ratios(knn):
    X, Q = knn
    sweep = lsh_sweep(X, Q[:100], (1, 4), repeat=1)
    assert list(sweep.columns) == ["tables", "recall@10", "points scanned (%)", "query time (s)", "brute force (s)",
                                   "vs brute force"]
    assert list(sweep.tables) == [1, 4]
    assert ((sweep["recall@10"] > 0) & (sweep["recall@10"] <= 1)).all()
    assert ((sweep["points scanned (%)"] > 0) & (sweep["points scanned (%)"] <= 100)).all()
    assert sweep["recall@10"].is_monotonic_increasing  # more tables: a superset of candidates (same seed)
    pd.testing.assert_series_equal(sweep["vs brute force"], sweep["brute force (s)"] / sweep["query time (s)"],
                                   check_names=False)
    with pytest.raises(ValueError, match="Q must hold 16-D points"):
        lsh_sweep(X, torch.rand(5, 3))


def test_lsh_query_time(knn):
    X, Q = knn
    t = lsh_query_time(X, Q[:50], n_tables=2, method="tensor", repeat=1)
    assert t.median > 0 and "tensor" in t.name
    with pytest.raises(ValueError, match="method must be"):
        lsh_query_time(X, Q, n_tables=2, method="numba")


def test_lsh_crossover_small_sizes_and_its_goal():
    none = pd.DataFrame({"case": [], "device": []})  # no k-means, DBSCAN or kNN rows
    cross = lsh_crossover((2_000, 500), repeat=1)
    assert list(cross.n) == [500, 2_000]
    assert ((cross["recall@10"] > 0) & (cross["recall@10"] <= 1)).all()
    assert (cross[["brute force (s)", "LSH query (s)", "LSH build (s)"]] > 0).all().all()
    assert cluster_goals(none, cross).empty  # below 1,000,000: no verdict
    big = cross.assign(n=[500, 1_000_000], **{"recall@10": [0.5, 0.95],
                                            "LSH query (s)": [1.0, 1.0], "brute force (s)": [2.0, 0.5]})
    time, recall = cluster_goals(none, big).itertuples(index=False)
    assert time.case == "LSH, 32-D, n = 1,000,000, 1,000 queries"
    assert (time.value, time.met) == ("2.000×", False)  # slower than brute force there: not met
    assert (recall.value, recall.met) == ("0.950", True)
    with pytest.raises(ValueError, match="sizes entries must be an int >= 10"):
        lsh_crossover((5,))


def test_dbscan_lsh_rows():
    X = cluster_data("dbscan", 600)
    table = dbscan_lsh(X, tables=(1, 8), repeat=1)
    assert list(table.neighbours) == ["exact (columns)", "LSH, 1 table", "LSH, 8 tables"]
    assert list(table.tables) == [0, 1, 8]
    assert table["pairs found (%)"].iloc[0] == 100.0 and (table["pairs found (%)"] <= 100).all()
    assert (table["pairs found (%)"].diff().iloc[2:] >= 0).all()  # more tables never find fewer pairs
    assert ((table["ARI vs exact"] > -1) & (table["ARI vs exact"] <= 1)).all() and table["ARI vs exact"].iloc[0] == 1
    assert (table["time (s)"] > 0).all() and (table["noise points"] >= 0).all()
    with pytest.raises(ValueError, match="eps must be a positive number"):
        dbscan_lsh(X, eps=0)
