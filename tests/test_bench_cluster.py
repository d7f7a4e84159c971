"""lessonlib.bench.cluster at tiny sizes: our results against scikit-learn's, the table's sanity, the goals."""

import math

import pandas as pd
import pytest

from lessonlib.bench.cluster import AGREEMENT, CLUSTER_CASES, cluster_comparison, cluster_goals

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
    assert list(goals.columns) == ["case", "measure", "value", "goal", "met"]
    # k-means: time, inertia, labels; DBSCAN: time, labels; LSH per method: recall, share scanned
    assert len(goals) == 2 * 3 + 4 * 2 + 2 * 2  # no crossover given
    labels = goals[goals.measure == "identical labels"]
    assert len(labels) == 6 and labels.met.all() and (labels.value == "yes").all()
    # the time ratio is the table's own best times, divided here
    by = table[table.case == "k-means, 2-D, k = 8"].set_index("implementation")["best (s)"]
    first = goals.iloc[0]
    assert (first.case, first.measure, first.goal) == ("k-means, 2-D, k = 8", "time ÷ scikit-learn's", "≤ 1×")
    ratio = by["lessonlib kmeans (fused)"] / by["scikit-learn KMeans (lloyd)"]
    assert first.value == f"{ratio:.3f}×" and first.met == (ratio <= 1)
    lsh = goals[goals.case.str.contains("lessonlib LSH (fused)", regex=False)]
    assert list(lsh.measure) == ["recall@10", "points scanned"]
    scanned = table.set_index("implementation").loc["lessonlib LSH (fused)", "scanned (%)"]
    assert lsh.value.iloc[1] == f"{scanned:.3f}%" and lsh.met.iloc[1] == (scanned <= 10)


def test_cluster_comparison_validates():
    with pytest.raises(ValueError, match="cases entries must be one of 'k-means, 2-D, k = 8'.*"):
        cluster_comparison(cases=["k-medoids"])
    with pytest.raises(ValueError, match="methods entries must be one of 'fused', 'tensor'"):
        cluster_comparison(cases=["DBSCAN, moons, eps 0.05"], methods=("numba",))
    with pytest.raises(ValueError, match="sizes names 'kmedoids', which is not one of"):
        cluster_comparison({"kmedoids": 10})
    with pytest.raises(TypeError, match="table must be a pandas DataFrame"):
        cluster_goals([])
    with pytest.raises(ValueError, match="table is missing the columns"):
        cluster_goals(pd.DataFrame({"case": []}))
