"""lessonlib.bench.cluster at tiny sizes: our results against scikit-learn's, the table's sanity, the goals."""

import math

import pandas as pd
import pytest

from lessonlib.bench.cluster import AGREEMENT, CLUSTER_CASES, Goal, cluster_comparison, cluster_goals

SMALL = {"kmeans": 2_000, "dbscan": 1_500, "dbscan_blobs": 2_000, "knn": 3_000}


@pytest.fixture(scope="module")
def table():
    return cluster_comparison(SMALL, devices=["cpu"], repeat=1)


def test_cluster_comparison_small_sizes_agree_with_scikit_learn(table):
    assert list(dict.fromkeys(table.case)) == list(CLUSTER_CASES)
    assert set(table.algorithm) == set(AGREEMENT) and (table.agreement == table.algorithm.map(AGREEMENT)).all()
    first = table[table.case == "k-means, 2-D, k = 8"]
    assert list(first.implementation) == [
        "scikit-learn KMeans (lloyd)", "lessonlib kmeans (fused)", "lessonlib kmeans (tensor)"]
    ours = table[table.implementation.str.startswith("lessonlib kmeans")]
    assert (ours.value - 1).abs().max() < 1e-9 and ours["identical labels"].all()
    db = table[table.implementation.str.startswith("lessonlib dbscan")]
    assert len(db) == 8 and (db.value == 1.0).all() and db["identical labels"].all()
    knn = table[table.algorithm == "10 nearest neighbours"].set_index("implementation")
    assert list(knn.index) == ["scikit-learn NearestNeighbors", "lessonlib exact_knn (brute force)",
                               "lessonlib LSH (fused)", "lessonlib LSH (tensor)"]
    assert knn.loc["lessonlib exact_knn (brute force)", "value"] == 1.0
    assert 0 < knn.loc["lessonlib LSH (fused)", "value"] <= 1.0
    assert knn.loc["lessonlib LSH (fused)", "value"] == knn.loc["lessonlib LSH (tensor)", "value"]
    scanned = knn["scanned (%)"]
    assert 0 < scanned["lessonlib LSH (fused)"] <= 100 and math.isnan(scanned["lessonlib exact_knn (brute force)"])


def test_cluster_comparison_times_and_memory_are_sane(table):
    assert (table["best (s)"] <= table["median (s)"]).all()
    assert (table["peak RSS (MiB)"] > 10).all() and (table["RSS growth (MiB)"] >= 0).all()
    assert (table.n == table.case.map(lambda c: SMALL[CLUSTER_CASES[c][2]])).all()


def test_cluster_goals_keep_their_numbers(table):
    goals = cluster_goals(table)
    assert len(goals) == 2 + 4 + 2  # k-means and DBSCAN cases, LSH per method; no crossover given
    assert all(isinstance(g, Goal) for g in goals)
    assert all(g.identical is True for g in goals[:6])
    # the time ratio is the table's own best times, divided here
    by = table[table.case == "k-means, 2-D, k = 8"].set_index("implementation")["best (s)"]
    assert goals[0].measures[0][1] == pytest.approx(by["lessonlib kmeans (fused)"] / by["scikit-learn KMeans (lloyd)"])
    lsh = goals[6]
    assert [m[0] for m in lsh.measures] == ["recall@10", "points scanned"]
    assert lsh.measures[1][1] == table.set_index("implementation").loc["lessonlib LSH (fused)", "scanned (%)"]
    recall, scanned = lsh.measures[0][1], lsh.measures[1][1]
    assert lsh.met == (recall >= 0.9 and scanned <= 10)


def test_a_goal_and_its_measures():
    g = Goal("x", (("t", 0.5, "<=", 1.0, "×"), ("r", 0.95, ">=", 0.9, "")), identical=True)
    assert g.met and str(g) == "x: t 0.500× (goal <= 1×), r 0.950 (goal >= 0.9), identical labels: True"
    assert not Goal("x", g.measures, identical=False).met
    assert not Goal("x", (("t", 1.0, "<", 1.0, ""),)).met  # on the bound: "<" fails, "<=" holds
    assert Goal("x", (("t", 1.0, "<=", 1.0, ""),)).met
    assert str(Goal("x", (("inertia", 1.0004123, "<=", 1.001, "×", 6),))) == "x: inertia 1.000412× (goal <= 1.001×)"


def test_cluster_comparison_validates():
    with pytest.raises(ValueError, match="cases entries must be one of 'k-means, 2-D, k = 8'.*"):
        cluster_comparison(cases=["k-medoids"])
    with pytest.raises(ValueError, match="methods entries must be one of 'fused', 'tensor'"):
        cluster_comparison(cases=["DBSCAN, moons, eps 0.05"], methods=("numba",))
    with pytest.raises(ValueError, match="sizes keys must be one of 'kmeans', .*; got 'kmedoids'"):
        cluster_comparison({"kmedoids": 10})
    with pytest.raises(TypeError, match="table must be a pandas DataFrame"):
        cluster_goals([])
    with pytest.raises(ValueError, match="table is missing the columns"):
        cluster_goals(pd.DataFrame({"case": []}))
