"""lessonlib.bench.claims: the lecture's GPU claims judged on the lecture's own figures, and on others."""

import pytest

# ---------------------------------------------------------------- the lecture's GPU claims


def _lecture_matmul():
    """The course notebook's own figures (01_matmul.ipynb), as the claims take them."""
    from lessonlib.bench.claims import AS_LECTURED_KERNEL, AS_LECTURED_TORCH

    cpu_per_row = {"matmul_loops": 0.421 / 5, "matmul_broadcast": 0.663 / 50_000,
                   "matmul_einsum": 0.0151 / 50_000, "matmul": 0.0152 / 50_000}
    return cpu_per_row, {AS_LECTURED_KERNEL: 3.61e-3, AS_LECTURED_TORCH: 458e-6}


def test_the_lectures_own_matmul_figures_hold_their_claims():
    from lessonlib.bench.claims import matmul_claims

    cpu, gpu = _lecture_matmul()
    verdicts = matmul_claims(cpu, 50_000, gpu)
    assert [v.claim.id for v in verdicts] == ["kernel_beats_cpu", "cuda_vs_broadcast", "five_million"]
    assert all(v.held for v in verdicts)
    ratios = [v.ratio for v in verdicts]
    assert ratios == pytest.approx([15.1 / 3.61, 663 / 0.458, 421 / 5 * 50_000 / 0.458])  # ms, worked by hand
    assert str(verdicts[0]).startswith("held: 4.18× (kernel as lectured 3.61 ms; CPU einsum 15.1 ms")
    assert "4,210 s for 50,000 rows" in str(verdicts[2])


def test_matmul_claims_that_do_not_hold_say_so():
    from lessonlib.bench.claims import AS_LECTURED_KERNEL, AS_LECTURED_TORCH, matmul_claims

    cpu, gpu = _lecture_matmul()
    slow = {**gpu, AS_LECTURED_KERNEL: 0.02, AS_LECTURED_TORCH: 0.0021}  # 663 ms / 2.1 ms = 316 (< 1000/sqrt(10))
    verdicts = {v.claim.id: v for v in matmul_claims(cpu, 50_000, slow)}
    assert not verdicts["kernel_beats_cpu"].held and str(verdicts["kernel_beats_cpu"]).startswith("did not hold: 0.76×")
    assert verdicts["cuda_vs_broadcast"].ratio == pytest.approx(315.7, abs=0.1)
    assert not verdicts["cuda_vs_broadcast"].held
    assert verdicts["five_million"].held  # 4,210 s / 2.1 ms = 2.0 million: above 5 million / sqrt(10)
    fast = {**gpu, AS_LECTURED_TORCH: 0.002}  # 331x: a thousand within half an order of magnitude
    assert {v.claim.id: v.held for v in matmul_claims(cpu, 50_000, fast)}["cuda_vs_broadcast"]


def test_the_cpu_with_the_faster_of_einsum_and_matmul_is_what_the_kernel_must_beat():
    from lessonlib.bench.claims import matmul_claims

    cpu, gpu = _lecture_matmul()
    cpu = {**cpu, "matmul": 0.003 / 50_000}  # @ at 3 ms: the kernel's 3.61 ms no longer beats the CPU
    v = matmul_claims(cpu, 50_000, gpu)[0]
    assert not v.held and "CPU @ 3 ms" in v.detail


def test_the_lectures_own_meanshift_figures_hold_their_claims_and_a_slower_big_batch_does_not():
    from lessonlib.bench.claims import MEANSHIFT_LOOP, meanshift_claims

    cpu = {MEANSHIFT_LOOP: 0.452}  # the notebook's loop, and its bs = 1,250 on the GPU; the transcript's batches
    gpu = {"GPU, bs = 5": 0.157, "GPU, bs = 64": 0.013, "GPU, bs = 1024": 0.0021, "GPU, bs = 1250": 0.002}
    ms, batches = meanshift_claims(cpu, gpu)
    assert ms.held and ms.ratio == pytest.approx(226) and batches.held
    assert batches.ratio == pytest.approx(0.157 / 0.0021)
    ms, batches = meanshift_claims({**cpu, "CPU, batched, bs = 500": 0.2}, {**gpu, "GPU, bs = 1024": 0.02,
                                                                           "GPU, bs = 1250": 0.004})
    assert not batches.held and "bs=1024 20 ms" in str(batches)
    assert not ms.held and ms.ratio == pytest.approx(113)  # below the lecture's 400 / sqrt(10) = 126.5
    assert "against the batched version on the CPU (200 ms): 50.0×" in str(ms)


@pytest.mark.parametrize("bad,error,message", [
    ({}, ValueError, r"cpu is missing the keys \['CPU, loop \(as lectured\)'\]"),
    ([], TypeError, "cpu must be a dict"),
    ({"CPU, loop (as lectured)": -1.0}, ValueError, "must be a positive number"),
    ({"CPU, loop (as lectured)": "1 s"}, TypeError, "must be a number"),
    ({"CPU, loop (as lectured)": 1.0, "CPU, batched, bs = 500": 0.0}, ValueError, "must be a positive number"),
    ({"CPU, loop (as lectured)": 1.0, "CPU, fused": 1.0}, ValueError, "names 'CPU, fused', which is not one of"),
])
def test_claims_check_their_inputs(bad, error, message):
    from lessonlib.bench.claims import meanshift_claims

    gpu = {f"GPU, bs = {bs}": 0.01 for bs in (5, 64, 1024, 1250)}
    with pytest.raises(error, match=message):
        meanshift_claims(bad, gpu)



def test_gpu_claims_refuses_a_report_of_the_wrong_shape():
    from lessonlib.bench.reference import gpu_claims

    with pytest.raises(TypeError, match="report must be a dict"):
        gpu_claims([])
    with pytest.raises(ValueError, match="the top level: 'matmul' is missing"):
        gpu_claims({"format": "lessonlib-gpu-reference", "version": 1})


def test_medians_reads_each_timing():
    from lessonlib.bench.claims import medians
    from lessonlib.timing import Timing, provenance

    t = Timing("a", (1.0, 3.0, 2.0), 1, provenance())
    assert medians({"a": t}) == {"a": 2.0}
    with pytest.raises(TypeError, match=r"timings\['a'\] must be a Timing, got 2.0"):
        medians({"a": 2.0})


# ---------------------------------------------------------------- the chapter's claims table and ladder chart


def planted_reference(kernel=1.0e-3, torch_gpu=2.0e-4) -> dict:
    """A small reference file, valid under lessonlib.bench.reference.FORMAT_SPEC, with round figures chosen here."""
    from lessonlib.bench.claims import (AS_LECTURED_KERNEL, AS_LECTURED_TORCH, GPU_MATMUL_ROWS, GPU_MEANSHIFT_ROWS,
                                        MEANSHIFT_CPU_ROWS, SQUARE_ROWS)

    def t(s, **extra):
        return {"median_s": s, "min_s": s, "iqr_s": 0.0, "samples": 3, **extra}

    gpu = {row: t(5e-4) for row in GPU_MATMUL_ROWS}
    gpu.update({AS_LECTURED_KERNEL: t(kernel), AS_LECTURED_TORCH: t(torch_gpu)})
    return {
        "format": "lessonlib-gpu-reference", "version": 1,
        "provenance": {"gpu": "Planted GPU", "driver": "1", "cuda": "1", "torch": "1", "numba": "1",
                       "numba_cuda": "1", "python": "3", "cpu": "Planted CPU (8 cores)",
                       "date": "2026-02-03 04:05 UTC", "command": "planted", "seconds": 1.0},
        "matmul": {"shape": [[1000, 784], [784, 10]], "data": "planted", "tpb": 16, "host_memory": "pageable",
                   "cpu": {"matmul_loops": t(0.5, rows=5), "matmul_broadcast": t(0.02, rows=1000),
                           "matmul_einsum": t(4e-3, rows=1000), "matmul": t(2e-3, rows=1000)},
                   "gpu": gpu},
        "meanshift": {"points": 10, "cpu": {r: t(0.4) for r in MEANSHIFT_CPU_ROWS},
                      "gpu": {r: t(1e-3) for r in GPU_MEANSHIFT_ROWS}},
        "cluster": [],
        "device_copy_GBps": 1000.0,
        "square_matmul": {"n": 64, "GFLOP/s": {r: 100.0 for r in SQUARE_ROWS}},
    }


def test_the_claims_frame_holds_what_the_lecture_said_its_figures_and_each_verdict():
    from lessonlib.bench.claims import GPU_CLAIMS, MATMUL_CLAIMS, claims_frame, matmul_claims
    from lessonlib.bench.reference import gpu_claims

    frame = claims_frame(MATMUL_CLAIMS)
    assert list(frame.columns) == ["the lecture said", "the lecture's figures"]
    assert list(frame.index) == [GPU_CLAIMS[c].text for c in MATMUL_CLAIMS]
    said, figures = frame.iloc[2]  # five million: what the lecture said, and the book's arithmetic, labelled
    assert said.startswith("5 million× (transcript)") and "9,192,140× (the book's arithmetic)" in figures
    assert "4,210 s scaled to 50,000" in figures  # 421 ms for 5 rows, times 10,000
    cpu, gpu = _lecture_matmul()
    slow = dict(gpu, **{k: 1.0 for k in gpu})  # a GPU slower than every CPU rung: no claim holds
    frame = claims_frame(MATMUL_CLAIMS, measured=matmul_claims(cpu, 50_000, slow),
                         reference=gpu_claims(planted_reference())[:3])
    assert frame["this build"].str.startswith("did not hold").all()
    # the planted machine: @ 2 ms beats einsum 4 ms; the kernel's 1 ms beats it by 2×; 20 ms / 0.2 ms = 100×
    assert frame["reference GPU"].tolist()[:2] == ["held: 2.00× (kernel as lectured 1 ms; CPU @ 2 ms, the faster of "
                                                   "einsum and @)", "did not hold: 100× (broadcasting 20 ms on the "
                                                   "CPU; (m1c @ m2c).cpu() 200 µs)"]
    with pytest.raises(ValueError, match="claims entries must be one of"):
        claims_frame(["faster"])
    with pytest.raises(TypeError, match="measured must be a sequence"):
        claims_frame(MATMUL_CLAIMS, measured="held")


def test_rows_frame_puts_each_lecture_figure_beside_its_like_for_like_row():
    from lessonlib.bench.claims import AS_LECTURED_KERNEL, AS_LECTURED_TORCH, GPU_MATMUL_ROWS, rows_frame

    frame = rows_frame({r: 2e-3 for r in GPU_MATMUL_ROWS}, GPU_MATMUL_ROWS)
    assert list(frame.index) == list(GPU_MATMUL_ROWS) and (frame["median"] == "2 ms").all()
    assert frame.loc[AS_LECTURED_KERNEL, "lecture"] == "3.61 ms (notebook 01_matmul)"
    assert frame.loc[AS_LECTURED_TORCH, "lecture"] == "458 µs (notebook 01_matmul)"
    assert (frame["lecture"].drop([AS_LECTURED_KERNEL, AS_LECTURED_TORCH]) == "").all()
    with pytest.raises(ValueError, match=r"times\['tiled kernel'\] must be finite, got nan"):
        rows_frame({"tiled kernel": float("nan")}, GPU_MATMUL_ROWS)


def test_ladder_series_scales_each_source_to_its_whole_product():
    from lessonlib.bench.claims import AS_LECTURED_TORCH, LADDER
    from lessonlib.bench.reference import ladder_series

    cpu, gpu = _lecture_matmul()
    series = ladder_series(cpu, 50_000, reference=planted_reference())
    assert list(series) == ["lecture (2022)", "this build", "reference: Planted GPU, 2026-02-03 04:05 UTC"]
    assert set(series["this build"]) == set(list(LADDER)[:4])  # no GPU rows without a GPU
    assert series["this build"]["broadcasting"] == pytest.approx(0.663)
    planted = series["reference: Planted GPU, 2026-02-03 04:05 UTC"]
    assert planted["Python loops (extrapolated)"] == pytest.approx(0.5 / 5 * 1000)  # its own 1,000 rows
    assert planted["torch on the GPU, as lectured"] == pytest.approx(2e-4)
    with_gpu = ladder_series(cpu, 50_000, gpu=gpu)["this build"]
    assert with_gpu["torch on the GPU, as lectured"] == gpu[AS_LECTURED_TORCH] and len(with_gpu) == 6
    lecture = series["lecture (2022)"]
    assert lecture["Numba kernel, as lectured"] == pytest.approx(3.61e-3)
    assert lecture["Python loops (extrapolated)"] == pytest.approx(4210)  # the notebook's 421 ms for 5 rows
