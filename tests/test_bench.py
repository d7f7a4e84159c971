import pytest
import torch

from lessonlib.bench import LECTURE_MATMUL, cluster_data, main, matmul_ladder, square_gflops


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


@pytest.mark.parametrize("slow_rows", [0, 38])
def test_matmul_ladder_rejects_bad_slow_rows(slow_rows):
    with pytest.raises(ValueError, match=r"slow_rows must be an int in \[1, 37\]"):
        matmul_ladder(torch.rand(37, 4), torch.rand(4, 2), slow_rows=slow_rows)
    with pytest.raises(TypeError, match=r"slow_rows must be an int, got 2.0"):
        matmul_ladder(torch.rand(37, 4), torch.rand(4, 2), slow_rows=2.0)


def test_matmul_ladder_checks_shapes():
    with pytest.raises(ValueError, match=r"x.shape\[1\] \(4\) must equal w.shape\[0\] \(5\)"):
        matmul_ladder(torch.rand(7, 4), torch.rand(5, 2))
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got None"):  # it said "a must be" before
        matmul_ladder(None, torch.rand(5, 2))


def test_cluster_data_checks_its_seed():
    with pytest.raises(TypeError, match="seed must be an int, got 2.5"):
        cluster_data("dbscan", 20, seed=2.5)


def test_square_gflops_positive_and_validated():
    assert square_gflops(32, repeat=1, max_time=1.0) > 0
    with pytest.raises(ValueError, match="n must be a positive int"):
        square_gflops(0)


def test_cli_matmul(capsys):
    assert main(["matmul", "--rows", "40", "--square", "32"]) == 0
    out = capsys.readouterr().out
    assert "matmul_einsum (40 rows)" in out and "GFLOP/s" in out and "% of it" in out


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


def test_gpu_measurements_refuse_without_a_gpu_too():
    from lessonlib import hardware
    from lessonlib.bench import gpu_matmul_timings, gpu_meanshift_timings, gpu_report

    if hardware.has_cuda():
        pytest.skip("a GPU is present")
    for f, args in ((gpu_matmul_timings, (torch.rand(3, 4), torch.rand(4, 2))), (gpu_meanshift_timings, ()),
                    (gpu_report, ())):
        with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
            f(*args)


# ---------------------------------------------------------------- the lecture's GPU claims


def _lecture_matmul():
    """The course notebook's own figures (01_matmul.ipynb), as the claims take them."""
    from lessonlib.bench import AS_LECTURED_KERNEL, AS_LECTURED_TORCH

    cpu_per_row = {"matmul_loops": 0.421 / 5, "matmul_broadcast": 0.663 / 50_000,
                   "matmul_einsum": 0.0151 / 50_000, "matmul": 0.0152 / 50_000}
    return cpu_per_row, {AS_LECTURED_KERNEL: 3.61e-3, AS_LECTURED_TORCH: 458e-6}


def test_the_lectures_own_matmul_figures_hold_their_claims():
    from lessonlib.bench import matmul_claims

    cpu, gpu = _lecture_matmul()
    verdicts = matmul_claims(cpu, gpu, 50_000)
    assert [v.claim.id for v in verdicts] == ["kernel_beats_cpu", "cuda_vs_broadcast", "five_million"]
    assert all(v.held for v in verdicts)
    ratios = [v.ratio for v in verdicts]
    assert ratios == pytest.approx([15.1 / 3.61, 663 / 0.458, 421 / 5 * 50_000 / 0.458])  # ms, worked by hand
    assert str(verdicts[0]).startswith("held: 4.18× (kernel as lectured 3.61 ms; CPU einsum 15.1 ms")
    assert "4,210 s for 50,000 rows" in str(verdicts[2])


def test_matmul_claims_that_do_not_hold_say_so():
    from lessonlib.bench import AS_LECTURED_KERNEL, AS_LECTURED_TORCH, matmul_claims

    cpu, gpu = _lecture_matmul()
    slow = {**gpu, AS_LECTURED_KERNEL: 0.02, AS_LECTURED_TORCH: 0.0021}  # 663 ms / 2.1 ms = 316 (< 1000/sqrt(10))
    verdicts = {v.claim.id: v for v in matmul_claims(cpu, slow, 50_000)}
    assert not verdicts["kernel_beats_cpu"].held and str(verdicts["kernel_beats_cpu"]).startswith("did not hold: 0.76×")
    assert verdicts["cuda_vs_broadcast"].ratio == pytest.approx(315.7, abs=0.1)
    assert not verdicts["cuda_vs_broadcast"].held
    assert verdicts["five_million"].held  # 4,210 s / 2.1 ms = 2.0 million: above 5 million / sqrt(10)
    fast = {**gpu, AS_LECTURED_TORCH: 0.002}  # 331x: a thousand within half an order of magnitude
    assert {v.claim.id: v.held for v in matmul_claims(cpu, fast, 50_000)}["cuda_vs_broadcast"]


def test_the_cpu_with_the_faster_of_einsum_and_matmul_is_what_the_kernel_must_beat():
    from lessonlib.bench import matmul_claims

    cpu, gpu = _lecture_matmul()
    cpu = {**cpu, "matmul": 0.003 / 50_000}  # @ at 3 ms: the kernel's 3.61 ms no longer beats the CPU
    v = matmul_claims(cpu, gpu, 50_000)[0]
    assert not v.held and "CPU @ 3 ms" in v.detail


def test_the_lectures_own_meanshift_figures_hold_their_claims_and_a_slower_big_batch_does_not():
    from lessonlib.bench import MEANSHIFT_LOOP, meanshift_claims

    cpu = {MEANSHIFT_LOOP: 0.452}
    gpu = {"GPU, bs = 5": 0.157, "GPU, bs = 64": 0.013, "GPU, bs = 500": 0.001, "GPU, bs = 1024": 0.0009}
    ms, batches = meanshift_claims(cpu, gpu)
    assert ms.held and ms.ratio == pytest.approx(452) and batches.held and batches.ratio == pytest.approx(0.157 / 0.0009)
    ms, batches = meanshift_claims({**cpu, "CPU, batched, bs = 500": 0.2}, {**gpu, "GPU, bs = 1024": 0.02,
                                                                           "GPU, bs = 500": 0.004})
    assert not batches.held and "bs=1024 20 ms" in str(batches)
    assert not ms.held and ms.ratio == pytest.approx(113)  # below 400 / sqrt(10) = 126.5
    assert "against the batched version on the CPU (200 ms): 50.0×" in str(ms)


@pytest.mark.parametrize("bad,error,message", [
    ({}, ValueError, r"cpu is missing the rows \['CPU, loop \(as lectured\)'\]"),
    ([], TypeError, "cpu must be a dict"),
    ({"CPU, loop (as lectured)": -1.0}, ValueError, "must be a number > 0"),
    ({"CPU, loop (as lectured)": "1 s"}, TypeError, "must be a number"),
])
def test_claims_check_their_inputs(bad, error, message):
    from lessonlib.bench import meanshift_claims

    gpu = {f"GPU, bs = {bs}": 0.01 for bs in (5, 64, 500, 1024)}
    with pytest.raises(error, match=message):
        meanshift_claims(bad, gpu)


def test_ladder_per_row_reads_the_cpu_ladder():
    from lessonlib.bench import MATMUL_CPU_ROWS, ladder_per_row

    g = torch.Generator().manual_seed(0)
    x, w = torch.rand(37, 20, generator=g), torch.randn(20, 3, generator=g)
    table = matmul_ladder(x, w, slow_rows=3, repeat=1, max_time=1.0)
    per_row = ladder_per_row(table)
    assert set(MATMUL_CPU_ROWS) <= set(per_row)
    assert per_row["matmul_loops"] == pytest.approx(table.frame["median (s)"].iloc[0] / 3)
    assert per_row["matmul"] == pytest.approx(table.frame["median (s)"].iloc[-1] / 37)
    with pytest.raises(TypeError, match="table must be a Ladder"):
        ladder_per_row(table.frame)


def test_numba_rows_allocate_every_buffer_before_timing_and_the_lecture_row_is_the_lectures(monkeypatch):
    """On the simulator: what each Numba row of gpu_matmul_timings does, at sizes not multiple of 16."""
    import numpy as np

    from lessonlib import bench as B
    from lessonlib import kernels

    g = torch.Generator().manual_seed(1)
    x, w = torch.rand(37, 50, generator=g), torch.randn(50, 3, generator=g)
    calls = B._numba_matmul_calls(x, w, 16)
    assert set(calls) == set(B.GPU_MATMUL_ROWS) - {B.AS_LECTURED_TORCH, "torch @ on the GPU", "torch .cuda() @ .cpu()"}
    allocations = []
    for name in ("to_device", "device_array", "pinned_array", "device_array_like", "mapped_array"):
        real = getattr(kernels.cuda, name)
        monkeypatch.setattr(kernels.cuda, name, lambda *a, _n=name, _f=real, **k: allocations.append(_n) or _f(*a, **k))
    first = calls[B.AS_LECTURED_KERNEL]()
    for f in calls.values():
        f()
    assert allocations == []  # no device or pinned allocation inside a timed call
    second = calls[B.AS_LECTURED_KERNEL]()
    assert second is not first  # r = rg.copy_to_host(): a new host array on every call, as in the lecture
    assert first.dtype == np.float64  # the lecture's r = np.zeros(tr.shape) is float64
    want = (x.double() @ w.double()).numpy()  # independent reference
    np.testing.assert_allclose(first, want, rtol=1e-5, atol=1e-5)


def test_cpu_meanshift_rows_time_the_lectures_loop_and_the_batched_version():
    from lessonlib.bench import MEANSHIFT_CPU_ROWS, cpu_meanshift_timings

    t = cpu_meanshift_timings(torch.randn(40, 2, generator=torch.Generator().manual_seed(0)), repeat=1, max_time=1.0)
    assert list(t) == list(MEANSHIFT_CPU_ROWS) and all(v.median > 0 for v in t.values())
    with pytest.raises(ValueError):
        cpu_meanshift_timings(torch.randn(4, 2, 2))


@pytest.mark.gpu
def test_gpu_timings_on_the_device():
    from lessonlib.bench import GPU_MATMUL_ROWS, device_bandwidth, gpu_matmul_timings, gpu_square_gflops

    g = torch.Generator().manual_seed(0)
    t = gpu_matmul_timings(torch.rand(1000, 784, generator=g), torch.randn(784, 10, generator=g), repeat=2)
    assert list(t) == list(GPU_MATMUL_ROWS) and all(v.median > 0 for v in t.values())
    assert device_bandwidth(1 << 24) > 0
    tf32 = torch.backends.cuda.matmul.allow_tf32
    assert set(gpu_square_gflops(256)) == set(__import__("lessonlib.bench").bench.SQUARE_ROWS)
    assert torch.backends.cuda.matmul.allow_tf32 == tf32  # restored


@pytest.mark.gpu
def test_the_lecture_rows_compute_the_product_on_the_device():
    import numpy as np

    from lessonlib import bench as B

    g = torch.Generator().manual_seed(2)
    x, w = torch.rand(1037, 784, generator=g), torch.randn(784, 10, generator=g)
    r = B._numba_matmul_calls(x, w, 16)[B.AS_LECTURED_KERNEL]()
    np.testing.assert_allclose(r, (x.double() @ w.double()).numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.gpu
def test_gpu_meanshift_rows_on_the_device():
    from lessonlib.bench import MEANSHIFT_ALL, gpu_meanshift_timings

    t = gpu_meanshift_timings(batch_sizes=(5, 64, 500, 1024, 1250), repeat=1, max_time=2.0)
    assert list(t) == ["GPU, bs = 5", "GPU, bs = 64", "GPU, bs = 500", "GPU, bs = 1024", "GPU, bs = 1250",
                       MEANSHIFT_ALL]


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


def test_gpu_report_follows_the_reference_schema_with_the_gpu_parts_faked(monkeypatch):
    """Everything gpu_report assembles, checked against the schema; the GPU-only measurements are fabricated."""
    import pandas as pd

    from lessonlib import bench as B
    from lessonlib import reference
    from lessonlib.timing import Timing, provenance

    def fake(names, s=1e-3):
        return {n: Timing(n, (s, 1.1 * s, 0.9 * s), 3, provenance()) for n in names}

    real_cpu_meanshift = B.cpu_meanshift_timings
    monkeypatch.setattr(B, "_require_gpu", lambda: None)
    monkeypatch.setattr(B, "gpu_matmul_timings", lambda x, w, **k: fake(B.GPU_MATMUL_ROWS))
    monkeypatch.setattr(B, "gpu_meanshift_timings", lambda *a, **k: fake(B.GPU_MEANSHIFT_ROWS))
    monkeypatch.setattr(B, "cpu_meanshift_timings",
                        lambda *a, **k: real_cpu_meanshift(torch.randn(30, 2), repeat=1, max_time=0.5))
    monkeypatch.setattr(B, "device_bandwidth", lambda *a: 3000.0)
    monkeypatch.setattr(B, "gpu_square_gflops", lambda *a, **k: {r: 1000.0 for r in B.SQUARE_ROWS})
    monkeypatch.setattr(B, "cluster_comparison", lambda **k: pd.DataFrame(
        [{"implementation": "lessonlib kmeans", "device": "cuda", "n": 10, "median (s)": float("nan")}]))
    monkeypatch.setattr(B, "matmul_ladder", lambda x, w: matmul_ladder(x, w, repeat=1, max_time=0.5))
    report = B.gpu_report(40, command="python -m lessonlib.bench gpu --out x.json")
    assert reference.validate(report) is report
    assert report["cluster"][0]["median (s)"] is None  # NaN is not JSON: written as null
    assert report["matmul"]["shape"] == [[40, 784], [784, 10]]
    assert report["matmul"]["cpu"]["matmul_loops"]["rows"] == 5 and report["matmul"]["cpu"]["matmul"]["rows"] == 40
    assert report["provenance"]["command"] == "python -m lessonlib.bench gpu --out x.json"
    assert [v.claim.id for v in B.gpu_claims(report)] == list(B.GPU_CLAIMS)


def test_gpu_claims_refuses_a_report_of_the_wrong_shape():
    from lessonlib.bench import gpu_claims

    with pytest.raises(TypeError, match="report must be a dict"):
        gpu_claims([])
    with pytest.raises(ValueError, match="missing 'matmul'"):
        gpu_claims({"format": "lessonlib-gpu-reference", "version": 1})
