import pytest
import torch

from lessonlib.bench import LECTURE_MATMUL, main, matmul_ladder, square_gflops


def test_matmul_ladder_times_every_rung_with_the_lecture_beside_it():
    g = torch.Generator().manual_seed(0)
    x, w = torch.rand(37, 20, generator=g), torch.randn(20, 3, generator=g)
    table = matmul_ladder(x, w, slow_rows=3, repeat=1, max_time=1.0)
    f = table.frame
    assert list(f.index) == [
        "matmul_loops (3 rows)", "matmul_njit (3 rows)", "matmul_elementwise (3 rows)",
        "matmul_broadcast (37 rows)", "matmul_einsum (37 rows)", "matmul (37 rows)",
    ]
    lecture = f["lecture (2022, its own hardware)"]
    assert lecture.iloc[0] == LECTURE_MATMUL["matmul_loops"] and lecture.iloc[1] == ""
    # per-row times: the median divided by the rows each rung produced
    torch.testing.assert_close(
        torch.tensor(f["per row (s)"].to_numpy()),
        torch.tensor((f["median (s)"] / [3, 3, 3, 37, 37, 37]).to_numpy()),
    )
    assert f["GFLOP/s"].gt(0).all()


@pytest.mark.parametrize("slow_rows", [0, 38, 2.0])
def test_matmul_ladder_rejects_bad_slow_rows(slow_rows):
    with pytest.raises(ValueError, match=r"slow_rows must be an int in \[1, 37\]"):
        matmul_ladder(torch.rand(37, 4), torch.rand(4, 2), slow_rows=slow_rows)


def test_matmul_ladder_checks_shapes():
    with pytest.raises(ValueError, match=r"a.shape\[1\] \(4\) must equal b.shape\[0\] \(5\)"):
        matmul_ladder(torch.rand(7, 4), torch.rand(5, 2))


def test_square_gflops_positive_and_validated():
    assert square_gflops(32, repeat=1, max_time=1.0) > 0
    with pytest.raises(ValueError, match="n must be a positive int"):
        square_gflops(0)


def test_cli_matmul(capsys):
    assert main(["matmul", "--rows", "40", "--square", "32"]) == 0
    out = capsys.readouterr().out
    assert "matmul_einsum (40 rows)" in out and "GFLOP/s" in out and "% of it" in out


def _fake_report():
    t = lambda s: {"median_s": s, "min_s": s, "iqr_s": 0.0, "samples": 3, "calls_per_sample": 1}  # noqa: E731
    return {
        "device": "Test GPU", "driver": "1.0", "date": "2026-01-01", "command": "python -m lessonlib.bench gpu --out f.json",
        "versions": {"torch": "2.13.0", "numba-cuda": "0.30.4"}, "host": "h", "data": "synthetic",
        "matmul_mnist": {
            "shape": [[50000, 784], [784, 10]],
            "cpu matmul_loops (5 rows)": t(0.5),
            "to_device": t(0.02), "naive kernel": t(0.004), "tiled kernel": t(0.002),
            "copy_to_host": t(0.001), "torch .cuda() @": t(0.0005), "torch round trip": t(0.03),
            "bytes_moved": 159_000_000, "bandwidth_floor_s": 0.0001,
        },
        "device_copy_GBps": 1590.0,
        "square_4096_GFLOPs": {"naive kernel": 1000.0, "tiled kernel": 5000.0, "cuBLAS (TF32 off)": 50000.0},
    }


def test_reference_round_trip_and_table(tmp_path):
    import json

    from lessonlib.bench import load_reference, reference_table

    assert load_reference(tmp_path / "absent.json") is None
    path = tmp_path / "ref.json"
    path.write_text(json.dumps(_fake_report()))
    html = reference_table(load_reference(path))._repr_html_()
    assert "Reference, not measured by this build: Test GPU" in html and "2026-01-01" in html
    assert "10.0% of cuBLAS" in html and "5.0× the floor" in html
    assert "10,000,000×" in html  # 0.5 s / 5 rows * 50,000 rows / 0.5 ms


def test_reference_rejects_a_malformed_file(tmp_path):
    from lessonlib.bench import load_reference

    path = tmp_path / "bad.json"
    path.write_text('{"device": "x"}')
    with pytest.raises(ValueError, match="missing"):
        load_reference(path)


def test_gpu_measurements_refuse_without_a_gpu(capsys):
    from lessonlib import hardware
    from lessonlib.bench import device_bandwidth, gpu_square_gflops

    if hardware.has_cuda():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        device_bandwidth()
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        gpu_square_gflops(64)
    assert main(["gpu", "--out", "unused.json"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err


@pytest.mark.gpu
def test_gpu_timings_on_the_device():
    from lessonlib.bench import device_bandwidth, gpu_matmul_timings, gpu_square_gflops

    g = torch.Generator().manual_seed(0)
    t = gpu_matmul_timings(torch.rand(1000, 784, generator=g), torch.randn(784, 10, generator=g))
    assert set(t) == {"to_device", "naive kernel", "tiled kernel", "copy_to_host", "torch .cuda() @", "torch round trip"}
    assert device_bandwidth(1 << 24) > 0
    assert all(v > 0 for v in gpu_square_gflops(256).values())


def test_cluster_comparison_small_sizes_agree_with_scikit_learn():
    from lessonlib.bench import CLUSTER_CASES, cluster_comparison, cluster_goals

    table = cluster_comparison({"kmeans": 2_000, "dbscan": 1_500, "dbscan_blobs": 2_000, "knn": 3_000},
                               devices=["cpu"], repeat=1)
    assert list(dict.fromkeys(table.case)) == list(CLUSTER_CASES)
    first = table[table.case == "k-means, 2-D, k = 8"]
    assert list(first.implementation) == [
        "scikit-learn KMeans (lloyd)", "lessonlib kmeans (fused)", "lessonlib kmeans (tensor)"]
    ours = table[table.implementation.str.startswith("lessonlib kmeans")]
    assert (ours.value - 1).abs().max() < 1e-9 and ours["identical labels"].all()
    db = table[table.implementation.str.startswith("lessonlib dbscan")]
    assert len(db) == 8 and (db.value == 1.0).all() and db["identical labels"].all()
    by = table.set_index("implementation")
    assert by.loc["lessonlib exact_knn (brute force)", "value"] == 1.0
    assert 0 < by.loc["lessonlib LSH (fused)", "value"] <= 1.0
    assert by.loc["lessonlib LSH (fused)", "value"] == by.loc["lessonlib LSH (tensor)", "value"]
    assert (table["best (s)"] > 0).all() and (table["best (s)"] <= table["median (s)"]).all()
    assert (table["peak RSS (MiB)"] > 10).all() and (table["RSS growth (MiB)"] >= 0).all()
    goals = cluster_goals(table)
    assert len(goals) == 2 + 4 + 2  # k-means and DBSCAN cases, LSH per method; no crossover given
    assert all("identical labels: True" in text for text, _ in goals[:6])


def test_cluster_comparison_validates():
    from lessonlib.bench import cluster_comparison

    with pytest.raises(ValueError, match="cases must be names from CLUSTER_CASES"):
        cluster_comparison(cases=["k-medoids"])
    with pytest.raises(ValueError, match="methods must be a non-empty subset"):
        cluster_comparison(cases=["DBSCAN, moons, eps 0.05"], methods=("numba",))


def test_lsh_crossover_small_sizes_and_its_goal():
    import pandas as pd

    from lessonlib.bench import cluster_goals, lsh_crossover

    none = pd.DataFrame({"case": [], "device": []})  # no k-means, DBSCAN or kNN rows
    cross = lsh_crossover((2_000, 500), repeat=1)
    assert list(cross.n) == [500, 2_000]
    assert ((cross["recall@10"] > 0) & (cross["recall@10"] <= 1)).all()
    assert (cross[["brute force (s)", "LSH query (s)", "LSH build (s)"]] > 0).all().all()
    assert cluster_goals(none, cross) == []  # below 1,000,000: no verdict
    big = cross.assign(n=[500, 1_000_000], **{"recall@10": [0.5, 0.95],
                                            "LSH query (s)": [1.0, 1.0], "brute force (s)": [2.0, 0.5]})
    (text, ok), = cluster_goals(none, big)
    assert not ok and "n = 1,000,000" in text  # slower than brute force there: not met
    with pytest.raises(ValueError, match="sizes must be ints >= 10"):
        lsh_crossover((5,))


def test_peak_rss_rises_with_a_big_allocation_and_resets():
    import numpy as np

    from lessonlib.bench import peak_rss, peak_rss_reset

    start = peak_rss_reset()
    a = np.ones(40 * 2**20 // 8)  # 40 MiB, touched
    assert peak_rss() >= start + 30
    del a
    assert peak_rss_reset() < start + 30  # the peak drops back to what is held now (Linux)


def test_cluster_data_validates():
    from lessonlib.bench import cluster_data

    with pytest.raises(ValueError, match="what must be one of"):
        cluster_data("kmedoids", 100)
    with pytest.raises(ValueError, match="n must be an int >= 10, got 3"):
        cluster_data("dbscan", 3)
    X, Q = cluster_data("knn", 50)
    assert X.shape == (50, 16) and Q.shape == (1000, 16)
    X, Q = cluster_data("knn32", 50)
    assert X.shape == (50, 32) and Q.shape == (1000, 32) and X.dtype == torch.float32
    assert cluster_data("kmeans16", 40).shape == (40, 16) and cluster_data("kmeans", 40).dtype == torch.float64


def test_cli_cluster(capsys):
    code = main(["cluster", "--dbscan", "1500", "--kmeans", "2000", "--dbscan-blobs", "2000", "--knn", "3000",
                 "--lsh-sizes", "1000", "--repeat", "1"])
    out = capsys.readouterr().out
    assert code == (1 if "NOT MET" in out else 0)
    assert "lessonlib dbscan (fused)" in out and "recall@10" in out and "peak RSS" in out
    assert "LSH against brute force, 32-D" in out
    assert out.count("met:") + out.count("NOT MET:") == 8
