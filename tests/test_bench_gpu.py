"""lessonlib.bench.gpu: what each GPU row does (on the simulator), the report's schema, the tables; GPU-only parts on a GPU."""

import pytest
import torch

from lessonlib.bench.matmul import matmul_ladder


def test_gpu_measurements_refuse_without_a_gpu():
    from lessonlib import hardware
    from lessonlib.bench import gpu

    if hardware.has_cuda():
        pytest.skip("a GPU is present")
    for f, args in ((gpu.device_bandwidth, ()), (gpu.gpu_square_gflops, (64,)), (gpu.gpu_meanshift_timings, ()),
                    (gpu.gpu_matmul_timings, (torch.rand(3, 4), torch.rand(4, 2))), (gpu.gpu_report, ())):
        with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
            f(*args)


def test_numba_rows_allocate_every_buffer_before_timing_and_the_lecture_row_is_the_lectures(monkeypatch):
    """On the simulator: what each Numba row of gpu_matmul_timings does, at sizes not multiple of 16."""
    import numpy as np

    from lessonlib.bench import claims as C
    from lessonlib.bench import gpu as B
    from lessonlib import kernels

    g = torch.Generator().manual_seed(1)
    x, w = torch.rand(37, 50, generator=g), torch.randn(50, 3, generator=g)
    calls = B._numba_matmul_calls(x, w, 16)
    assert set(calls) == set(C.GPU_MATMUL_ROWS) - {C.AS_LECTURED_TORCH, "torch @ on the GPU", "torch .cuda() @ .cpu()"}
    allocations = []
    for name in ("to_device", "device_array", "pinned_array", "device_array_like", "mapped_array"):
        real = getattr(kernels.cuda, name)
        monkeypatch.setattr(kernels.cuda, name, lambda *a, _n=name, _f=real, **k: allocations.append(_n) or _f(*a, **k))
    first = calls[C.AS_LECTURED_KERNEL]()
    for f in calls.values():
        f()
    assert allocations == []  # no device or pinned allocation inside a timed call
    second = calls[C.AS_LECTURED_KERNEL]()
    assert second is not first  # r = rg.copy_to_host(): a new host array on every call, as in the lecture
    assert first.dtype == np.float64  # the lecture's r = np.zeros(tr.shape) is float64
    want = (x.double() @ w.double()).numpy()  # independent reference
    np.testing.assert_allclose(first, want, rtol=1e-5, atol=1e-5)


@pytest.mark.gpu
def test_gpu_timings_on_the_device():
    from lessonlib.bench.claims import GPU_MATMUL_ROWS
    from lessonlib.bench.gpu import device_bandwidth, gpu_matmul_timings, gpu_square_gflops

    g = torch.Generator().manual_seed(0)
    t = gpu_matmul_timings(torch.rand(1000, 784, generator=g), torch.randn(784, 10, generator=g), repeat=2)
    assert list(t) == list(GPU_MATMUL_ROWS) and all(v.median > 0 for v in t.values())
    assert device_bandwidth(1 << 24) > 0
    tf32 = torch.backends.cuda.matmul.allow_tf32
    assert set(gpu_square_gflops(256)) == set(__import__("lessonlib.bench.claims").bench.claims.SQUARE_ROWS)
    assert torch.backends.cuda.matmul.allow_tf32 == tf32  # restored


@pytest.mark.gpu
def test_the_lecture_rows_compute_the_product_on_the_device():
    import numpy as np

    from lessonlib.bench import claims as C
    from lessonlib.bench import gpu as B

    g = torch.Generator().manual_seed(2)
    x, w = torch.rand(1037, 784, generator=g), torch.randn(784, 10, generator=g)
    r = B._numba_matmul_calls(x, w, 16)[C.AS_LECTURED_KERNEL]()
    np.testing.assert_allclose(r, (x.double() @ w.double()).numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.gpu
def test_gpu_meanshift_rows_on_the_device():
    from lessonlib.bench.claims import MEANSHIFT_ALL
    from lessonlib.bench.gpu import gpu_meanshift_timings

    t = gpu_meanshift_timings(batch_sizes=(5, 64, 500, 1024, 1250), repeat=1, max_time=2.0)
    assert list(t) == ["GPU, bs = 5", "GPU, bs = 64", "GPU, bs = 500", "GPU, bs = 1024", "GPU, bs = 1250",
                       MEANSHIFT_ALL]


def test_gpu_report_follows_the_reference_format_with_the_gpu_parts_faked(monkeypatch):
    """Everything gpu_report assembles, checked against the format; the GPU-only measurements are fabricated."""
    import pandas as pd

    from lessonlib.bench import claims as C
    from lessonlib.bench import gpu as B
    from lessonlib.bench import reference
    from lessonlib.timing import Timing, provenance

    def fake(names, s=1e-3):
        return {n: Timing(n, (s, 1.1 * s, 0.9 * s), 3, provenance()) for n in names}

    real_cpu_meanshift = B.cpu_meanshift_timings
    monkeypatch.setattr(B, "require_gpu", lambda: None)
    monkeypatch.setattr(B, "gpu_matmul_timings", lambda x, w, **k: fake(C.GPU_MATMUL_ROWS))
    monkeypatch.setattr(B, "gpu_meanshift_timings", lambda *a, **k: fake(C.GPU_MEANSHIFT_ROWS))
    monkeypatch.setattr(B, "cpu_meanshift_timings",
                        lambda *a, **k: real_cpu_meanshift(torch.randn(30, 2), repeat=1, max_time=0.1))
    monkeypatch.setattr(B, "device_bandwidth", lambda *a: 3000.0)
    monkeypatch.setattr(B, "gpu_square_gflops", lambda *a, **k: {r: 1000.0 for r in C.SQUARE_ROWS})
    monkeypatch.setattr(B, "cluster_comparison", lambda **k: pd.DataFrame(
        [{"implementation": "lessonlib kmeans", "device": "cuda", "n": 10, "median (s)": float("nan")}]))
    monkeypatch.setattr(B, "matmul_ladder", lambda x, w: matmul_ladder(x, w, repeat=1, max_time=0.1))
    report = B.gpu_report(40, command="python3 -m lessonlib.bench.check out")
    assert reference.validate(report) is report
    assert report["cluster"][0]["median (s)"] is None  # NaN is not JSON: written as null
    assert report["matmul"]["shape"] == [[40, 784], [784, 10]]
    assert report["matmul"]["cpu"]["matmul_loops"]["rows"] == 5 and report["matmul"]["cpu"]["matmul"]["rows"] == 40
    assert report["provenance"]["command"] == "python3 -m lessonlib.bench.check out"
    assert [v.claim.id for v in reference.gpu_claims(report)] == list(C.GPU_CLAIMS)


def test_roofline_table_puts_the_model_beside_what_was_measured():
    from lessonlib import ptx
    from lessonlib.bench.gpu import roofline_table

    model = {"a": ptx.roofline(100, 784, 10), "b": ptx.roofline(64, 64, 64)}
    t = roofline_table(model, {"a": "3 ms"}, device="H100 SXM")
    assert list(t.index) == ["a", "b"] and "H100 SXM lower bound (model)" in t
    assert list(t["measured by this build"]) == ["3 ms", "not measured: no GPU in this build"]
    with pytest.raises(ValueError, match=r"model\['a'\] is missing"):
        roofline_table({"a": {"bytes": 1}}, device="H100 SXM")
    with pytest.raises(TypeError, match="device must be a str"):
        roofline_table(model, device=None)


def test_the_roofline_takes_the_peaks_of_the_gpu_it_is_told():
    from lessonlib import ptx
    from lessonlib.bench.gpu import roofline_table

    assert ptx.peaks("NVIDIA H100 80GB HBM3") == ("H100 SXM", 3.35e12, 67e12)  # the name torch reports
    assert ptx.peaks("NVIDIA H200")[0] == "H200 SXM" and ptx.peaks("NVIDIA H100 PCIe")[0] == "H100 PCIe"
    assert ptx.peaks()[0] == "H100 SXM"  # a build without a GPU models the kind the GPU check runs on
    with pytest.raises(ValueError, match="no published peaks"):
        ptx.peaks("Radeon")
    name, bandwidth, flops = ptx.peaks("NVIDIA H200")
    r = ptx.roofline(50_000, 784, 10, bandwidth=bandwidth, flops_peak=flops)
    assert r["memory_s"] == pytest.approx((50_000 * 784 + 784 * 10 + 50_000 * 10) * 4 / 4.8e12)
    assert "measured by this build" not in roofline_table({"a": r}, device=name)
