"""The kernels compiled for the real CUDA target (sm_80 and sm_90) with NVVM and ptxas.

This test process runs on Numba's CUDA simulator (conftest); lessonlib.ptx compiles
in a separate process, or reads what it compiled before from its disk cache (the
planted kernels are always compiled). No GPU or driver is needed, only the
nvidia-nvvm, nvidia-cuda-nvrtc and nvidia-cuda-nvcc wheels that requirements.txt installs.
"""

import json
import os
from pathlib import Path

import pytest

from lessonlib import kernels, ptx
from lessonlib.ptx import ARCHS, BOOK_KERNELS, KernelSpec

# The planted kernels: the shipped sources at sizes that break a budget.
PLANTED = (
    KernelSpec("planted: blocked, 32×32 threads", "blocked", tpb=32, tm=4),  # ~95 registers × 1024 threads
    KernelSpec("planted: blocked, 16×16 sums per thread", "blocked", tm=16),  # 256 sums: past 255 registers
    KernelSpec("planted: tiled, TPB 64, float64", "tiled", tpb=64, dtype="float64"),  # 64 KiB of static shared
)


@pytest.fixture(scope="module")
def compiled():
    return ptx.compile_kernels()


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    # An empty disk cache of its own: the compiler process runs in every session, whatever is cached.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ptx, "CACHE_DIR", tmp_path_factory.mktemp("ptx-cache"))
        return ptx.compile_kernels(PLANTED, ("sm_90",))


def test_the_test_process_is_on_the_simulator_but_the_compiler_is_not(compiled):
    from lessonlib import hardware

    assert hardware.cuda_simulator_active()  # this process: the simulator
    assert all(".target " + arch in c.ptx for (_, arch), c in compiled.items())  # the other: real PTX


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("label", [s.label for s in BOOK_KERNELS])
def test_every_kernel_compiles_with_no_spill_and_no_stack(compiled, label, arch):
    c = compiled[(label, arch)]
    assert c.error is None and c.info is not None, c.error
    assert c.info.registers > 0
    assert ptx.problems(c) == []


def test_every_kernel_cuda_matmul_offers_is_checked():
    from lessonlib.kernels import KERNELS

    assert {s.kernel for s in BOOK_KERNELS} == set(KERNELS)


@pytest.mark.parametrize("arch", ARCHS)
def test_fast_float32_kernels_have_no_float64_instruction(compiled, arch):
    fast = [s for s in BOOK_KERNELS if s.fast_fp32]
    assert len(fast) == len(BOOK_KERNELS) - 1
    assert {s.label: ptx.f64_count(compiled[(s.label, arch)].ptx) for s in fast} == {s.label: 0 for s in fast}


@pytest.mark.parametrize("arch", ARCHS)
def test_the_lecture_kernel_keeps_its_float64_sum_and_the_count_is_pinned(compiled, arch):
    # With NVVM 13.0 (cuda-toolkit 13.0.3): the loop, unrolled 4 times plus a remainder, converts
    # each product (cvt.f64.f32) and adds it (add.f64): 5 + 5, two mov.f64 zeros and one final
    # cvt.rn.f32.f64. A change of kernel or compiler that moves this count must be looked at.
    p = compiled[("naive kernel", arch)].ptx
    assert ptx.f64_count(p) == 13
    assert p.count("cvt.f64.f32") == 5 and p.count("add.f64") == 5


def test_inner_loop_shows_the_conversion_and_the_fix_removes_it(compiled):
    before = ptx.inner_loop(compiled[("naive kernel", "sm_90")].ptx)
    after = ptx.inner_loop(compiled[("naive kernel, float32 sum", "sm_90")].ptx)
    assert [line.split()[0] for line in before] == [
        "ld.global.f32", "ld.global.f32", "mul.f32", "cvt.f64.f32", "add.f64"]
    assert [line.split()[0] for line in after] == ["ld.global.f32", "ld.global.f32", "fma.rn.f32"]


def test_tiled_and_blocked_use_the_shared_memory_their_tiles_need(compiled):
    from lessonlib.kernels import TM

    for arch in ARCHS:
        assert compiled[("tiled kernel", arch)].info.shared_bytes == 2 * 16 * 16 * 4
        assert compiled[("tiled kernel, TPB 8", arch)].info.shared_bytes == 2 * 8 * 8 * 4
        assert compiled[("register-blocked kernel", arch)].info.shared_bytes == 2 * 16 * (16 * TM) * 4
        assert compiled[("register-blocked kernel", arch)].ptx.count("fma.rn.f32") >= TM * TM  # the TM×TM block


def test_planted_kernels_make_the_check_fail(planted):
    regs, spills, shared = (planted[(s.label, "sm_90")] for s in PLANTED)
    assert any("cannot fit on an SM" in p and "limited by registers" in p for p in ptx.problems(regs))
    assert any("spills" in p for p in ptx.problems(spills))
    assert shared.error is not None and "too much shared data" in shared.error
    assert ptx.problems(shared) and "shared" in ptx.problems(shared)[0].lower()


def test_resource_table_has_a_row_per_kernel(compiled):
    table = ptx.resource_table(compiled)
    assert list(table.index) == [s.label for s in BOOK_KERNELS]
    assert (table["spills (bytes)"] == 0).all()
    assert table.loc["naive kernel", "float64 instructions"] == 13
    assert table["occupancy A100 (sm_80)"].str.endswith(")").all()
    with pytest.raises(TypeError, match=r"compiled\['x'\] must be a Compiled, got 1"):
        ptx.resource_table({"x": 1})


def test_find_ptxas_finds_the_wheel_binary():
    path = ptx.find_ptxas()
    assert path.name == "ptxas" and os.access(path, os.X_OK)


# --- pure functions, checked against figures worked out by hand from NVIDIA's rules ---

@pytest.mark.parametrize(
    "regs, smem, threads, arch, blocks, occ, limit",
    [
        (32, 0, 256, "sm_90", 8, 1.0, "warps"),  # 64 warps / 8 per block
        (30, 2048, 64, "sm_80", 32, 1.0, "warps"),  # 2-warp blocks: 32 blocks (also the block cap)
        (128, 0, 256, "sm_90", 2, 0.25, "registers"),  # 4096 regs/warp: 4 warps per 16 K partition, 16 per SM
        (122, 16384, 256, "sm_80", 2, 0.25, "registers"),  # 3904 -> 4096 regs/warp after rounding to 256
        (40, 40 * 1024, 128, "sm_80", 4, 16 / 64, "shared memory"),  # (40 K + 1 K) into 164 K: 4 times
        (40, 40 * 1024, 128, "sm_90", 5, 20 / 64, "shared memory"),  # (40 K + 1 K) into 228 K: 5 times
        (40, 49 * 1024, 128, "sm_90", 0, 0.0, "shared memory"),  # over the 48 KB static limit
        (96, 0, 1024, "sm_90", 0, 0.0, "registers"),  # 96 × 1024 > 64 K registers per block
        (256, 0, 32, "sm_90", 0, 0.0, "registers"),  # past 255 per thread
    ],
)
def test_occupancy(regs, smem, threads, arch, blocks, occ, limit):
    r = ptx.occupancy(regs, smem, threads, arch)
    assert (r["blocks_per_sm"], r["limit"]) == (blocks, limit)
    assert r["occupancy"] == pytest.approx(occ)


def test_occupancy_validates():
    with pytest.raises(TypeError, match="registers must be an int"):
        ptx.occupancy(3.0, 0, 32, "sm_90")
    with pytest.raises(ValueError, match=r"threads_per_block must be an int in \[1, 1024\], got 2048"):
        ptx.occupancy(32, 0, 2048, "sm_90")
    with pytest.raises(ValueError, match="shared_bytes must be an int >= 0"):
        ptx.occupancy(32, -1, 32, "sm_90")
    with pytest.raises(ValueError, match="arch must be one of"):
        ptx.occupancy(32, 0, 32, "sm_70")


def test_parse_ptxas():
    log = """ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function '_Z1k' for 'sm_90'
ptxas info    : Function properties for _Z1k
    8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads
ptxas info    : Used 40 registers, used 1 barriers, 2048 bytes smem, 560 bytes cmem[0]
"""
    info = ptx.parse_ptxas(log)
    assert (info.registers, info.shared_bytes, info.spill_stores, info.spill_loads, info.stack_frame,
            info.barriers) == (40, 2048, 4, 12, 8, 1)
    info = ptx.parse_ptxas("ptxas info    : Used 7 registers, 380 bytes cmem[0]")
    assert (info.registers, info.shared_bytes, info.spill_stores) == (7, 0, 0)
    with pytest.raises(ValueError, match="Used N registers"):
        ptx.parse_ptxas("ptxas fatal : whatever")
    with pytest.raises(TypeError, match="log must be a str"):
        ptx.parse_ptxas(None)


def test_f64_count_and_inner_loop_on_hand_written_ptx():
    text = """
    .reg .f64 %fd<4>;
    .param .f64 scale;
    // add.f64 in a comment is no instruction
$L__BB0_2:
    ld.global.f32 %f1, [%rd1];
    add.s64 %rd2, %rd1, 4;
    ld.global.f32 %f2, [%rd2];
    mul.f32 %f3, %f1, %f2;
    cvt.f64.f32 %fd1, %f3;
    add.f64 %fd2, %fd2, %fd1;
    @%p1 mov.f64 %fd3, 0d0000000000000000;
    cvt.rn.f32.f64 %f4, %fd2;
"""
    assert ptx.f64_count(text) == 4
    assert [line.split()[0] for line in ptx.inner_loop(text)] == [
        "ld.global.f32", "ld.global.f32", "mul.f32", "cvt.f64.f32", "add.f64"]
    with pytest.raises(ValueError, match="no floating-point multiply-accumulate"):
        ptx.inner_loop("mov.u32 %r1, 0;")
    with pytest.raises(TypeError, match="ptx must be a str"):
        ptx.f64_count(b"add.f64")


def test_roofline_is_the_larger_of_memory_and_compute_time():
    r = ptx.roofline(50_000, 784, 10)
    nbytes = (50_000 * 784 + 784 * 10 + 50_000 * 10) * 4
    assert r["bytes"] == nbytes and r["flops"] == 2 * 50_000 * 784 * 10
    assert r["lower_bound_s"] == pytest.approx(nbytes / 3.35e12) and r["bound"] == "memory"  # an H100 SXM by default
    r = ptx.roofline(4096, 4096, 4096)
    assert r["lower_bound_s"] == pytest.approx(2 * 4096**3 / 67e12) and r["bound"] == "compute"
    with pytest.raises(ValueError, match="m must be an int >= 1"):
        ptx.roofline(0, 1, 1)
    with pytest.raises(TypeError, match="k must be an int"):
        ptx.roofline(1, 1.5, 1)
    with pytest.raises(ValueError, match="bandwidth must be a positive number"):
        ptx.roofline(1, 1, 1, bandwidth=0.0)


def test_compile_kernels_validates():
    with pytest.raises(TypeError, match="specs must be a sequence .a list or tuple., got KernelSpec"):
        ptx.compile_kernels(BOOK_KERNELS[0])
    with pytest.raises(TypeError, match="specs entries must be a KernelSpec, got 'naive'"):
        ptx.compile_kernels(["naive"])
    with pytest.raises(ValueError, match="archs entries must be one of .sm_80., .sm_90.; got .sm_70."):
        ptx.compile_kernels(BOOK_KERNELS, ("sm_70",))
    with pytest.raises(ValueError, match="distinct labels"):
        ptx.compile_kernels(BOOK_KERNELS[:1] * 2)
    with pytest.raises(TypeError, match="c must be a Compiled"):
        ptx.problems("naive")


def test_a_missing_ptxas_is_named(monkeypatch):
    import importlib.util
    import shutil

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="install the nvidia-cuda-nvcc wheel"):
        ptx.find_ptxas()


def test_the_disk_cache_returns_what_the_compiler_said_and_misses_when_a_kernel_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(ptx, "CACHE_DIR", tmp_path / "cache")
    spec = KernelSpec("disk cache check: naive, TPB 8", "naive", tpb=8)
    fresh = ptx.compile_kernels([spec], ("sm_90",))[(spec.label, "sm_90")]  # compiled: this label is new
    assert fresh.error is None and ".target sm_90" in fresh.ptx
    (entry,) = (tmp_path / "cache").iterdir()
    planted = json.loads(entry.read_text())
    planted["ptx"] = "// planted: read from the disk cache"
    entry.write_text(json.dumps(planted))
    ptx._compile_cached.cache_clear()  # this process's own cache forgets: only the disk remembers
    assert ptx.compile_kernels([spec], ("sm_90",))[(spec.label, "sm_90")].ptx == planted["ptx"]
    # Another kernel source, another entry: an edited kernel is compiled again, never served stale.
    changed = tmp_path / "kernels.py"
    changed.write_text(Path(kernels.__file__).read_text() + "\n# changed\n")
    ptxas = ptx.find_ptxas()
    before = ptx._cache_file(spec, "sm_90", ptxas)
    monkeypatch.setattr(kernels, "__file__", str(changed))
    assert ptx._cache_file(spec, "sm_90", ptxas) != before
    assert before == entry
