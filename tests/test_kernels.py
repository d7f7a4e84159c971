"""Kernels are checked on Numba's CUDA simulator here (conftest chooses it when
there is no GPU) and on the device where there is one. Sizes are deliberately
not multiples of the block size."""

import numpy as np
import pytest
import torch
from numba import cuda

from lessonlib import hardware
from lessonlib.kernels import (
    KERNELS,
    MAX_GRID_Y,
    TM,
    TPB,
    blocked_kernel,
    blocks_per_grid,
    cuda_matmul,
    get_kernel,
    launch_config,
    launch_kernel,
    matmul_kernel,
    small_grids,
    torch_cuda_matmul,
)

SHAPES = [(17, 33, 9), (3, 50, 2), (1, 1, 1)]
# K larger than the register-blocked kernel's K slice (16) and no multiple of it or of any block
# size; (20, 37, 40) takes 2 × 3 blocks of 16 × 16 (no square grid) and three K tiles, one partial.
AWKWARD = [(1, 1, 1), (17, 33, 9), (20, 37, 40)]


def _inputs(m, k, n, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(m, k, generator=g, dtype=dtype), torch.randn(k, n, generator=g, dtype=dtype)


@pytest.mark.parametrize("m, k, n", SHAPES)
@pytest.mark.parametrize("tpb", [None, 16, 8])
def test_launch_kernel_matches_torch(m, k, n, tpb):
    a, b = _inputs(m, k, n)
    c = torch.full((m, n), float("nan"))  # poisoned: every cell must be written
    calls = launch_kernel(matmul_kernel, m, n, a, b, c, tpb=tpb)
    torch.testing.assert_close(c, a @ b, rtol=1e-4, atol=1e-4)
    if tpb is None:
        assert calls == m * n
    else:
        bx, by = blocks_per_grid(m, n, tpb)
        assert calls == bx * by * tpb * tpb >= m * n


def test_launch_kernel_reaches_past_the_output_when_blocks_overhang():
    seen = []
    launch_kernel(lambda grid: seen.append(grid), 5, 10, tpb=8)
    assert len(seen) == 128 and (7, 15) in seen  # 1×2 blocks of 8×8; (7, 15) is outside 5×10


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("m, k, n", SHAPES)
@pytest.mark.parametrize("tpb", [16, 8])
def test_cuda_matmul_matches_torch(kernel, m, k, n, tpb):
    a, b = _inputs(m, k, n)
    torch.testing.assert_close(cuda_matmul(a, b, kernel=kernel, tpb=tpb), a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kernel", KERNELS)
def test_cuda_matmul_float64(kernel):
    a, b = _inputs(5, 19, 3, dtype=torch.float64)
    c = cuda_matmul(a, b, kernel=kernel, tpb=8)
    assert c.dtype == torch.float64
    torch.testing.assert_close(c, a @ b)


def _loop_matmul(a, b):
    """An independent reference: the textbook triple loop, summed in float64."""
    out = np.zeros((a.shape[0], b.shape[1]))
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            out[i, j] = sum(float(a[i, k]) * float(b[k, j]) for k in range(a.shape[1]))
    return out


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("m, k, n", AWKWARD)
def test_every_output_cell_is_written(kernel, m, k, n):
    a, b = _inputs(m, k, n)
    an, bn = a.numpy(), b.numpy()
    c = np.full((m, n), np.nan, dtype=np.float32)  # poison: every cell must be overwritten
    grid, block = launch_config(kernel, m, n, TPB)
    get_kernel(kernel, TPB, np.float32)[grid, block](an, bn, c)
    assert not np.isnan(c).any()
    np.testing.assert_allclose(c, _loop_matmul(an, bn), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("tpb, tm", [(4, 2), (8, 3)])
def test_blocked_kernel_other_tile_sizes(tpb, tm):
    # Several blocks in each direction, tiles hanging over every edge, K (37) no multiple of tpb.
    m, k, n = 2 * tpb * tm + 3, 37, tpb * tm + 5
    a, b = _inputs(m, k, n, seed=3)
    an, bn = a.numpy(), b.numpy()
    c = np.full((m, n), np.nan, dtype=np.float32)
    blocked_kernel(tpb, tm, np.float32)[blocks_per_grid(n, m, tpb * tm), (tpb, tpb)](an, bn, c)
    np.testing.assert_allclose(c, _loop_matmul(an, bn), rtol=1e-4, atol=1e-4)


def test_raw_kernels_check_nothing_a_small_output_is_filled_in_part():
    a, b = _inputs(9, 5, 7)
    an, bn = a.numpy(), b.numpy()
    c = np.full((4, 7), np.nan, dtype=np.float32)  # too few rows for a 9×7 product: no error
    blocked_kernel(4, 2, np.float32)[blocks_per_grid(7, 9, 8), (4, 4)](an, bn, c)
    np.testing.assert_allclose(c, _loop_matmul(an, bn)[:4], rtol=1e-4, atol=1e-4)


def test_cuda_matmul_accepts_non_contiguous_inputs():
    a, b = _inputs(6, 11, 5)
    at, bt = a.T.contiguous().T, b.T.contiguous().T  # same values, column-major strides
    assert not at.is_contiguous()
    torch.testing.assert_close(cuda_matmul(at, bt, kernel="blocked"), a @ b, rtol=1e-4, atol=1e-4)


def test_tiled_kernel_uses_k_not_the_grid_for_its_tile_count():
    # K spans 5 tiles of 8 while the grid is a single block: counting tiles from
    # gridDim (as some textbook versions do) would stop after the first.
    a, b = _inputs(4, 37, 3)
    torch.testing.assert_close(cuda_matmul(a, b, kernel="tiled", tpb=8), a @ b, rtol=1e-4, atol=1e-4)


def test_blocks_per_grid_rounds_up():
    assert blocks_per_grid(17, 9, 16) == (2, 1)
    assert blocks_per_grid(16, 16, 16) == (1, 1)
    assert blocks_per_grid(50_000, 10, TPB) == (3125, 1)
    with pytest.raises(ValueError, match="tpb must be an int >= 1"):
        blocks_per_grid(3, 3, 0)


@pytest.mark.parametrize(
    "a, b, kwargs, match",
    [
        (torch.ones(3, 4), torch.ones(5, 2), {}, r"a.shape\[1\] \(4\) must equal b.shape\[0\] \(5\)"),
        (torch.ones(3), torch.ones(3, 2), {}, r"a must be 2-D, got 1-D with shape \(3,\)"),
        (torch.ones(3, 2), torch.ones(2, 2, 2), {}, r"b must be 2-D"),
        (torch.ones(3, 2), torch.ones(2, 2), {"kernel": "fast"}, "kernel must be one of 'naive', 'naive_fp32'"),
        (torch.ones(3, 2), torch.ones(2, 2), {"kernel": "blocked", "tpb": 32}, "tpb must be at most 16"),
        (torch.ones(3, 2), torch.ones(2, 2), {"tpb": 64}, r"tpb must be an int in \[1, 32\]"),
        (torch.ones(3, 2, dtype=torch.float16), torch.ones(2, 2, dtype=torch.float16), {}, "float32 or float64"),
    ],
)
def test_cuda_matmul_refuses_bad_input(a, b, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cuda_matmul(a, b, **kwargs)


def test_launch_config_puts_long_dimensions_on_x_and_refuses_grids_a_gpu_cannot_launch():
    assert launch_config("naive", 50_000, 10) == ((3125, 1), (16, 16))  # the lecture's: rows on x
    assert launch_config("coalesced", 50_000, 10) == ((1, 3125), (16, 16))  # columns on x
    assert launch_config("blocked", 50_000, 10) == ((1, -(-50_000 // (16 * TM))), (16, 16))
    rows = MAX_GRID_Y * 16 + 1  # one block too many along y for the row-on-y kernels
    assert launch_config("naive", rows, 10)[0][0] == MAX_GRID_Y + 1  # x has room
    with pytest.raises(ValueError, match="blocks along the grid's y"):
        launch_config("coalesced", rows, 10)
    with pytest.raises(ValueError, match="blocks along the grid's y"):
        launch_config("tiled", rows, 10)
    with pytest.raises(ValueError, match="blocks along the grid's y"):
        launch_config("naive", 10, rows)  # the lecture's kernel has columns on y
    assert launch_config("blocked", rows, 10)[0][1] <= MAX_GRID_Y  # 128 rows per block
    with pytest.raises(ValueError, match="kernel must be one of"):
        launch_config("fast", 2, 2)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"kernel": 3}, TypeError, "kernel must be a str, one of 'naive'"),
    ({"kernel": None}, TypeError, "kernel must be a str"),
    ({"kernel": "fast"}, ValueError, "kernel must be one of 'naive'"),
    ({"tpb": 16.0}, TypeError, "tpb must be an int, got 16.0"),
    ({"tpb": True}, TypeError, "tpb must be an int, got True"),
    ({"tpb": 0}, ValueError, r"tpb must be an int in \[1, 32\], got 0"),
])
def test_kernel_arguments_type_error_for_the_kind_value_error_for_the_value(kwargs, error, match):
    for call in (lambda: get_kernel(**kwargs), lambda: launch_config(kwargs.get("kernel", "naive"), 4, 4,
                                                                     kwargs.get("tpb", 16)),
                 lambda: cuda_matmul(torch.ones(2, 2), torch.ones(2, 2), **kwargs)):
        with pytest.raises(error, match=match):
            call()


def test_the_tiled_kernel_for_another_tpb_and_float64_sums_in_float64():
    # K = 37 spans five tiles of 8; float32 sums would be off by about 1e-6 relative, float64 by 1e-15
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(9, 37, dtype=torch.float64, generator=g), torch.randn(37, 5, dtype=torch.float64, generator=g)
    with small_grids():
        c = cuda_matmul(a, b, kernel="tiled", tpb=8)
    assert c.dtype == torch.float64
    torch.testing.assert_close(c, a @ b, rtol=1e-12, atol=1e-12)


def test_get_kernel_validates():
    with pytest.raises(ValueError, match="dtype must be numpy.float32 or numpy.float64"):
        get_kernel("naive", 16, np.float16)
    with pytest.raises(ValueError, match="tpb must be at most 16 for the blocked kernel"):
        get_kernel("blocked", 32)


def test_launch_kernel_validates():
    with pytest.raises(TypeError, match="kernel must be callable"):
        launch_kernel(None, 2, 2)
    with pytest.raises(TypeError, match="grid_x must be an int, got 2.0"):
        launch_kernel(matmul_kernel, 2.0, 2)
    with pytest.raises(ValueError, match=r"grid_x must be an int in \[1, 1000000\]"):
        launch_kernel(matmul_kernel, 0, 2)


def test_torch_cuda_matmul_without_gpu_says_so():
    if hardware.has_cuda():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="needs a CUDA device"):
        torch_cuda_matmul(torch.ones(2, 2), torch.ones(2, 2))


@pytest.mark.gpu
def test_torch_cuda_matmul_on_gpu():
    a, b = _inputs(17, 33, 9)
    torch.testing.assert_close(torch_cuda_matmul(a, b), a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.gpu
@pytest.mark.parametrize("kernel", KERNELS)
def test_kernels_on_the_device_at_mnist_shape(kernel):
    assert not hardware.cuda_simulator_active() and cuda.is_available()
    a, b = _inputs(50_000, 784, 10)
    torch.testing.assert_close(cuda_matmul(a, b, kernel=kernel), a @ b, rtol=1e-3, atol=1e-3)


def test_plot_launch_grid_marks_threads_outside_the_output():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lessonlib.kernels import plot_launch_grid

    ax = plot_launch_grid(5, 10, 4)  # 2×3 blocks of 4×4: 8×12 threads, 50 inside
    colours = [p.get_facecolor() for p in ax.patches[:-1]]
    inside = matplotlib.colors.to_rgba("#cfe3f7")
    assert len(colours) == 96 and sum(c == inside for c in colours) == 50
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="too many to draw"):
        plot_launch_grid(50_000, 10, 16)


def test_small_grids_silences_only_numbas_low_occupancy_warning():
    """Run where Numba's real launch configuration exists without a GPU: lessonlib.ptx's compile-only mode.

    The simulator never warns, so the warning is produced by numba-cuda's own code, in a child process.
    """
    import json
    import os
    import subprocess
    import sys

    from lessonlib.hardware import COMPILE_ONLY_ENV

    code = r"""
import json, warnings
from lessonlib import kernels
from numba.cuda.core.errors import NumbaPerformanceWarning

def launch_and_other_warnings(blocks):
    kernels.matmul_cuda_naive[(blocks, 1), (16, 16)]  # under 128 blocks: Numba warns (once per grid and kernel)
    warnings.warn("some other warning", UserWarning)
    warnings.warn(NumbaPerformanceWarning("Host array used in CUDA kernel will incur copy overhead"))

out = {}
for name, quiet, blocks in (("bare", False, 3), ("inside", True, 4), ("after", False, 5)):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if quiet:
            with kernels.small_grids():
                launch_and_other_warnings(blocks)
        else:
            launch_and_other_warnings(blocks)
    out[name] = [str(w.message) for w in caught]
print(json.dumps(out))
"""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env[COMPILE_ONLY_ENV] = "1"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    grid = "Grid size {} will likely result in GPU under-utilization due to low occupancy."
    others = ["some other warning", "Host array used in CUDA kernel will incur copy overhead"]
    assert seen["bare"] == [grid.format(3), *others]
    assert seen["inside"] == others  # only the low-occupancy warning is gone
    assert seen["after"] == [grid.format(5), *others]  # and only inside the block


# ---------------------------------------------------------------- the pictures' index arithmetic


def _threads(tpb):
    """(threadIdx.x, threadIdx.y) in CUDA's numbering: x changes fastest. Written out here, not taken from lessonlib."""
    return [(t - (t // tpb) * tpb, t // tpb) for t in range(tpb * tpb)]


@pytest.mark.parametrize("tpb,warp", [(16, 0), (16, 3), (8, 1), (6, 1)])
def test_warp_cells_are_the_warps_threads_through_cuda_grid(tpb, warp):
    from lessonlib.kernels import warp_cells

    threads = _threads(tpb)[32 * warp:32 * (warp + 1)]
    bx, by = 2, 1
    grid = [(bx * tpb + tx, by * tpb + ty) for tx, ty in threads]  # cuda.grid(2): (x, y)
    assert warp_cells("lecture", tpb=tpb, warp=warp, block=(bx, by)) == grid  # i, j = x, y
    assert warp_cells("coalesced", tpb=tpb, warp=warp, block=(bx, by)) == [(y, x) for x, y in grid]  # j, i = x, y


def test_a_warp_of_the_lectures_kernel_walks_down_a_column_and_the_coalesced_one_along_a_row():
    from lessonlib.kernels import memory_sectors, warp_addresses

    m, n_k, n, k = 50, 784, 10, 3
    a = np.arange(m * n_k).reshape(m, n_k)  # each cell holds its own row-major offset
    b = np.arange(n_k * n).reshape(n_k, n)
    c = np.arange(m * n).reshape(m, n)
    lec = warp_addresses("lecture", k, m, n_k, n)
    # 16 threads along x are rows 0..15; y is columns 0 and 1, both inside the 10 columns
    rows, cols = np.repeat(np.arange(2), 16) * 0 + np.tile(np.arange(16), 2), np.repeat(np.arange(2), 16)
    assert lec["a"] == list(a[rows, k]) and lec["b"] == list(b[k, cols]) and lec["c"] == list(c[rows, cols])
    co = warp_addresses("coalesced", k, m, n_k, n)
    keep = np.tile(np.arange(16), 2) < n  # columns 10..15 lie outside the output: those threads touch nothing
    rows2, cols2 = np.repeat(np.arange(2), 16)[keep], np.tile(np.arange(16), 2)[keep]
    assert co["b"] == list(b[k, cols2]) and co["a"] == list(a[rows2, k]) and len(co["c"]) == 20
    # 16 rows of a, each 784 floats apart, fall in 16 sectors; 2 neighbouring floats of b in one
    assert memory_sectors(lec["a"]) == 16 and memory_sectors(lec["b"]) == 1
    assert memory_sectors([0, 7, 8, 15, 16]) == 3 and memory_sectors([1], itemsize=8, sector_bytes=8) == 1
    with pytest.raises(ValueError, match="k"):
        warp_addresses("lecture", n_k, m, n_k, n)
    with pytest.raises(ValueError, match="mapping"):
        warp_addresses("diagonal", 0, m, n_k, n)
    with pytest.raises(TypeError, match="offsets"):
        memory_sectors(5)
    with pytest.raises(ValueError, match="offsets entries"):
        memory_sectors([-1])


@pytest.mark.parametrize("m,n_k,n,tpb,block", [(48, 56, 48, 16, (1, 1)), (17, 33, 9, 8, (1, 2)), (3, 5, 3, 4, (0, 0))])
def test_tile_loads_are_the_tiles_of_a_and_b_one_block_reads(m, n_k, n, tpb, block):
    from lessonlib.kernels import tile_loads

    bx, by = block
    steps = tile_loads(m, n_k, n, tpb=tpb, block=block)
    assert len(steps) == -(-n_k // tpb)
    for t, step in enumerate(steps):
        a_rows, a_cols = range(by * tpb, min((by + 1) * tpb, m)), range(t * tpb, min((t + 1) * tpb, n_k))
        b_rows, b_cols = range(t * tpb, min((t + 1) * tpb, n_k)), range(bx * tpb, min((bx + 1) * tpb, n))
        assert step["a"] == {(r, c) for r in a_rows for c in a_cols}
        assert step["b"] == {(r, c) for r in b_rows for c in b_cols}
    every_k = set().union(*(s["a"] for s in steps))
    assert {c for _, c in every_k} == (set(range(n_k)) if by * tpb < m else set())  # the tiles cover all of K


def test_the_pictures_draw_what_the_arithmetic_says():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lessonlib import ptx
    from lessonlib.kernels import plot_ladder, plot_roofline, plot_tile_loads, plot_warp_reads

    # The warp picture at the MNIST shapes, step k = 3: the offsets worked out here by hand (row-major,
    # 8 float32 numbers to a 32-byte sector), then compared with the squares and the notes drawn.
    m, n_k, n, k = 50_000, 784, 10, 3
    lanes = [(t % 16, t // 16) for t in range(32)]  # (x, y) = (threadIdx.x, threadIdx.y) of block (0, 0)
    by_hand = {"lecture": [(x, y) for x, y in lanes], "coalesced": [(y, x) for x, y in lanes if x < n]}
    fig = plot_warp_reads(m, n_k, n, k=k)
    dark, pale = (matplotlib.colors.to_rgba(c) for c in ("#1f4e9c", "#d5e3f3"))
    for ax, mapping in zip(fig.axes, ("lecture", "coalesced")):
        cells = by_hand[mapping]
        offsets = {"a": {i * n_k + k for i, _ in cells}, "b": {k * n + j for _, j in cells},
                   "c": {i * n + j for i, j in cells}}
        faces = [p.get_facecolor() for p in ax.patches if p.get_fill()]
        assert faces.count(dark) == sum(len(o) for o in offsets.values())
        assert len(faces) == 8 * sum(len({o // 8 for o in offs}) for offs in offsets.values())
        notes = " ".join(t.get_text() for t in ax.texts)
        for name, offs in offsets.items():
            sectors = len({o // 8 for o in offs})
            assert f": {sectors} sector{'' if sectors == 1 else 's'}\n" in notes
    assert "b[k, j]: 1 sector\n" in " ".join(t.get_text() for t in fig.axes[0].texts)  # 1 sector, not 1 sectors
    assert "12 fall outside c" in fig.axes[1].get_title(loc="left")  # columns 10..15 of the block's 16
    plt.close(fig)
    fig = plot_tile_loads(48, 56, 48, tpb=16, block=(1, 1))
    a_ax = next(ax for ax in fig.axes if ax.get_title().startswith("a ("))
    a_img = a_ax.images[0].get_array()
    assert (a_img[16:32] == np.repeat(np.arange(1, 5), 16)[:56]).all() and a_img[:16].sum() == 0
    assert "4 steps along k (56 = 16 + 16 + 16 + 8)" in " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    plt.close(fig)
    products = {"mnist": ptx.roofline(50_000, 784, 10), "square": ptx.roofline(4096, 4096, 4096)}
    ax = plot_roofline(products, bandwidth=4.8e12, flops_peak=67e12, measured={"square": 0.01})
    xs, ys = ax.lines[0].get_data()
    assert np.allclose(ys, np.minimum(67e12, 4.8e12 * xs) / 1e9)  # the roof: min(peak, bandwidth × intensity)
    point = ax.lines[3].get_data()  # the square product's measured point: its FLOPs over the time
    assert np.isclose(point[1][0], 2 * 4096**3 / 0.01 / 1e9)
    plt.close(ax.figure)
    ax = plot_ladder(["loops", "@"], {"lecture": {"loops": 4000.0, "@": 0.015}, "here": {"@": 0.01}})
    assert [round(p.get_width(), 3) for p in ax.patches] == [4000.0, 0.015, 0.01]
    plt.close(ax.figure)


@pytest.mark.parametrize("call,error,message", [
    (lambda k: k.plot_roofline({}, bandwidth=1.0, flops_peak=1.0), ValueError, "products must not be empty"),
    (lambda k: k.plot_roofline({"p": {"bytes": 1}}, bandwidth=1.0, flops_peak=1.0), ValueError, "flops"),
    (lambda k: k.plot_roofline({"p": {"bytes": 1, "flops": 2}}, bandwidth=-1.0, flops_peak=1.0), ValueError,
     "bandwidth"),
    (lambda k: k.plot_roofline({"p": {"bytes": 1, "flops": 2}}, bandwidth=1.0, flops_peak=1.0, measured={"q": 1.0}),
     ValueError, "'q'"),
    (lambda k: k.plot_ladder("loops", {"a": {}}), TypeError, "rungs"),
    (lambda k: k.plot_ladder(["loops"], {"a": {"loops": 0.0}}), ValueError, "series"),
    (lambda k: k.plot_ladder(["loops"], {"a": {"@": 1.0}}), ValueError, "'@'"),
    (lambda k: k.plot_ladder(["loops"], {}), ValueError, "series must not be empty"),
    (lambda k: k.tile_loads(1, 0, 1), ValueError, "n_k"),
    (lambda k: k.plot_tile_loads(32, 16 * 9, 32), ValueError, "n_k"),
    (lambda k: k.plot_warp_reads(50, 0, 10), ValueError, "n_k"),
    (lambda k: k.tile_loads(4, 4, 4, block=[0, 0]), TypeError, "block"),
    (lambda k: k.warp_cells("lecture", tpb=4), ValueError, "tpb"),
    (lambda k: k.warp_cells("lecture", tpb=16, warp=8), ValueError, "warp"),
])
def test_the_pictures_check_their_inputs(call, error, message):
    from lessonlib import kernels

    with pytest.raises(error, match=message):
        call(kernels)
