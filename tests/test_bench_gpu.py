"""lessonlib.bench.gpu: what each GPU row does (on the simulator), the report's schema, the tables; GPU-only parts on a GPU."""

import pytest
import torch

from lessonlib.bench.cli import main
from lessonlib.bench.matmul import matmul_ladder


def test_gpu_measurements_refuse_without_a_gpu(capsys):
    from lessonlib import hardware
    from lessonlib.bench import gpu

    if hardware.has_cuda():
        pytest.skip("a GPU is present")
    for f, args in ((gpu.device_bandwidth, ()), (gpu.gpu_square_gflops, (64,)), (gpu.gpu_meanshift_timings, ()),
                    (gpu.gpu_matmul_timings, (torch.rand(3, 4), torch.rand(4, 2))), (gpu.gpu_report, ())):
        with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
            f(*args)
    assert main(["gpu", "--out", "unused.json"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err


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


def test_gpu_report_follows_the_reference_schema_with_the_gpu_parts_faked(monkeypatch):
    """Everything gpu_report assembles, checked against the schema; the GPU-only measurements are fabricated."""
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
    report = B.gpu_report(40, command="python -m lessonlib.bench gpu --out x.json")
    assert reference.validate(report) is report
    assert report["cluster"][0]["median (s)"] is None  # NaN is not JSON: written as null
    assert report["matmul"]["shape"] == [[40, 784], [784, 10]]
    assert report["matmul"]["cpu"]["matmul_loops"]["rows"] == 5 and report["matmul"]["cpu"]["matmul"]["rows"] == 40
    assert report["provenance"]["command"] == "python -m lessonlib.bench gpu --out x.json"
    assert [v.claim.id for v in reference.gpu_claims(report)] == list(C.GPU_CLAIMS)


def test_gpu_rows_table_without_and_with_timings():
    from lessonlib.bench.claims import AS_LECTURED_TORCH, GPU_MATMUL_ROWS, LECTURE_GPU
    from lessonlib.bench.gpu import gpu_rows_table
    from lessonlib.timing import Timing, format_seconds, provenance

    none = gpu_rows_table(None)
    assert list(none.index) == list(GPU_MATMUL_ROWS) and (none["median"] == "not measured on this build").all()
    assert none.loc[AS_LECTURED_TORCH, "lecture (2022, its own GPU)"] == LECTURE_GPU[AS_LECTURED_TORCH].value
    timings = {r: Timing(r, (2e-3,), 1, provenance()) for r in GPU_MATMUL_ROWS}
    assert (gpu_rows_table(timings)["median"] == format_seconds(2e-3)).all()
    with pytest.raises(ValueError, match="timings is missing the rows"):
        gpu_rows_table({AS_LECTURED_TORCH: timings[AS_LECTURED_TORCH]})


def test_roofline_table_puts_the_model_beside_what_was_measured():
    from lessonlib import ptx
    from lessonlib.bench.gpu import roofline_table

    model = {"a": ptx.roofline(100, 784, 10), "b": ptx.roofline(64, 64, 64)}
    t = roofline_table(model, {"a": "3 ms"})
    assert list(t.index) == ["a", "b"]
    assert list(t["measured by this build"]) == ["3 ms", "not measured: no GPU in this build"]
    with pytest.raises(ValueError, match=r"model\['a'\] is missing"):
        roofline_table({"a": {"bytes": 1}})


def test_gpu_rows_table_from_a_planted_reference_and_the_roofline_without_a_gpu():
    from test_bench_claims import planted_reference

    from lessonlib import ptx
    from lessonlib.bench.claims import AS_LECTURED_KERNEL, GPU_MATMUL_ROWS
    from lessonlib.bench.gpu import gpu_rows_table, roofline_table

    table = gpu_rows_table(None, reference=planted_reference(kernel=3e-3))
    assert list(table.index) == list(GPU_MATMUL_ROWS) and "median" not in table
    assert table.loc[AS_LECTURED_KERNEL, "reference median"] == "3 ms"
    with pytest.raises(ValueError, match="reference"):
        gpu_rows_table(None, reference={"format": "x"})
    model = {"a": ptx.roofline(100, 784, 10)}
    assert "measured by this build" not in roofline_table(model)
