"""GPU kernels: the matrix product as many small, independent pieces of work.

Taught by the chapter "GPU kernels" (the plain-Python kernel, the lecture's
``@cuda.jit`` kernel, ``.cuda()``) and its page "GPU kernels, going further"
(the ladder ``KERNELS``: float32 sum, coalesced, tiled, register-blocked, with
the grid convention ``j, i = cuda.grid(2)``). The raw ``@cuda.jit`` kernels
check nothing, as CUDA kernels do; :func:`cuda_matmul` checks its inputs and
is the function to call. Without a GPU the kernels run on Numba's CUDA
simulator (:func:`lessonlib.hardware.numba_cuda`), a correctness check only.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from functools import lru_cache, wraps

import numpy as np
import torch

from numba import float32, uint64

from . import _checks, hardware

cuda = hardware.numba_cuda()  # the real GPU target, or the simulator when there is no GPU

TPB = 16  # threads per block, along each of the two block dimensions
TM = 8  # the register-blocked kernel: each thread computes a TM × TM block of outputs
MAX_GRID_Y = 65_535  # CUDA's limit on blocks along a grid's y (and z) dimension; x allows 2**31 - 1
MAX_GRID_X = 2**31 - 1
MAX_LAUNCH = 10**6  # launch_kernel's most calls, a plain Python loop
# The ladder, in order, each rung changing one thing: kernel name -> the label of its row in every table.
KERNELS = {
    "naive": "naive kernel",
    "naive_fp32": "naive kernel, float32 sum",
    "coalesced": "coalesced kernel",
    "tiled": "tiled kernel",
    "blocked": "register-blocked kernel",
}


def matmul_kernel(grid, a, b, c):
    """Fill one output cell, ``c[i, j]``, of ``a @ b``: a kernel in plain Python.

    ``grid`` is ``(i, j)``, this call's position; like a CUDA kernel it checks
    nothing (:func:`launch_kernel` checks the grid).
    """
    i, j = grid
    if i < c.shape[0] and j < c.shape[1]:  # a launch grid can be larger than the output
        tmp = 0.0
        for k in range(a.shape[1]):
            tmp += a[i, k] * b[k, j]
        c[i, j] = tmp


def blocks_per_grid(n_rows: int, n_cols: int, tpb: int = TPB) -> tuple[int, int]:
    """Blocks to cover an ``n_rows × n_cols`` output with ``tpb × tpb`` blocks, rounded up."""
    for name, v in (("n_rows", n_rows), ("n_cols", n_cols), ("tpb", tpb)):
        _checks.integer(name, v, low=1)
    return math.ceil(n_rows / tpb), math.ceil(n_cols / tpb)


def launch_kernel(kernel, grid_x: int, grid_y: int, *args,
                  tpb: int | None = None) -> int:
    """Call ``kernel((i, j), *args)`` at every position of a grid in turn; return the call count.

    Parameters
    ----------
    kernel : callable
    grid_x, grid_y : int
        The grid's size: for a matrix product, the output's rows and columns.
    *args
        Passed to every call.
    tpb : int, optional
        Cover the grid with whole ``tpb × tpb`` blocks, as a GPU does, so positions
        past the output are launched too; at most 32.

    At most ``MAX_LAUNCH`` calls: each is a Python function call.
    """
    _checks.callable_("kernel", kernel)
    _check_launch(grid_x, grid_y, tpb)
    if tpb is not None:  # whole blocks, as on a GPU: block index * tpb + thread index
        bx, by = blocks_per_grid(grid_x, grid_y, tpb)
        grid_x, grid_y = bx * tpb, by * tpb
    for i in range(grid_x):
        for j in range(grid_y):
            kernel((i, j), *args)
    return grid_x * grid_y


def _check_launch(grid_x, grid_y, tpb) -> None:
    for name, v in (("grid_x", grid_x), ("grid_y", grid_y)):
        _checks.integer(name, v, low=1, high=MAX_LAUNCH)
    if tpb is not None:
        _checks.integer("tpb", tpb, low=1, high=32)
        grid_x, grid_y = (b * tpb for b in blocks_per_grid(grid_x, grid_y, tpb))
    if grid_x * grid_y > MAX_LAUNCH:
        raise ValueError(f"grid_x × grid_y ({grid_x:,} × {grid_y:,} in whole blocks) must be at most {MAX_LAUNCH:,}")


def _checks_first(cached):
    """Over ``lru_cache``: unhashable arguments skip the cache, so the factory's own checks refuse them by name."""
    @wraps(cached)
    def call(*args, **kwargs):
        try:
            hash((args, *kwargs.items()))
        except TypeError:
            return cached.__wrapped__(*args, **kwargs)
        return cached(*args, **kwargs)
    return call


@cuda.jit
def matmul_cuda_naive(a, b, c):
    """One thread per output cell, as lectured: a float64 sum, and ``x`` on the rows."""
    # as lectured: x, the fastest index between neighbouring threads, is the row
    i, j = cuda.grid(2)
    if i < c.shape[0] and j < c.shape[1]:
        tmp = 0.0
        for k in range(a.shape[1]):
            tmp += a[i, k] * b[k, j]
        c[i, j] = tmp


@cuda.jit
def matmul_cuda_naive_fp32(a, b, c):
    """``matmul_cuda_naive`` with one line changed: the running sum is float32."""
    i, j = cuda.grid(2)  # as lectured (the next rung swaps these)
    if i < c.shape[0] and j < c.shape[1]:
        tmp = float32(0)  # the one-line fix: float32 products are now added in float32
        for k in range(a.shape[1]):
            tmp += a[i, k] * b[k, j]
        c[i, j] = tmp


@cuda.jit
def matmul_cuda_coalesced(a, b, c):
    """``matmul_cuda_naive_fp32`` with one line changed: ``j, i = cuda.grid(2)``, x on columns."""
    j, i = cuda.grid(2)  # swapped: x is the column (the module's convention)
    if i < c.shape[0] and j < c.shape[1]:
        tmp = float32(0)
        for k in range(a.shape[1]):
            tmp += a[i, k] * b[k, j]
        c[i, j] = tmp


@_checks_first
@lru_cache(maxsize=None)
def tiled_kernel(tpb: int = TPB, dtype=np.float32):
    """The shared-memory tiled kernel for ``tpb × tpb`` blocks, compiled once per (tpb, dtype).

    ``tpb`` is also the tile's side (at most 128 to compile, 32 to launch); ``dtype``
    is the type of the inputs, the tiles and the sum. Launch the result as
    ``kernel[(ceil(n / tpb), ceil(m / tpb)), (tpb, tpb)](a, b, c)``.
    """
    _check_compile_args(tpb, dtype)

    @cuda.jit
    def matmul_cuda_tiled(a, b, c):
        # a tile of a, shared by the block
        sa = cuda.shared.array(shape=(tpb, tpb), dtype=dtype)
        sb = cuda.shared.array(shape=(tpb, tpb), dtype=dtype)  # a tile of b
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        j, i = cuda.grid(2)  # the module's convention: x is the column
        n_k = a.shape[1]
        tmp = dtype(0)
        # as many tiles as K needs, whatever the grid
        for t in range((n_k + tpb - 1) // tpb):
            k = t * tpb
            # Each thread loads one element of each tile; off the edge it loads 0,
            # which adds nothing to the sum.
            if i < a.shape[0] and k + tx < n_k:
                sa[ty, tx] = a[i, k + tx]
            else:
                sa[ty, tx] = 0
            if k + ty < n_k and j < b.shape[1]:
                sb[ty, tx] = b[k + ty, j]
            else:
                sb[ty, tx] = 0
            cuda.syncthreads()  # the whole tile is loaded before anyone reads it
            for kk in range(tpb):
                tmp += sa[ty, kk] * sb[kk, tx]
            # everyone has finished reading before the next tile overwrites it
            cuda.syncthreads()
        # only now: threads off the edge still had to help load
        if i < c.shape[0] and j < c.shape[1]:
            c[i, j] = tmp

    return matmul_cuda_tiled


@_checks_first
@lru_cache(maxsize=None)
def blocked_kernel(tpb: int = TPB, tm: int = TM, dtype=np.float32):
    """The register-blocked kernel: each thread computes a ``tm × tm`` block of outputs.

    ``tpb`` is the block's side and the K slice's width, ``tm²`` the sums each
    thread keeps in registers, ``dtype`` the type of inputs and sums. Launch the
    result as ``kernel[(ceil(n / (tpb·tm)), ceil(m / (tpb·tm))), (tpb, tpb)](a, b, c)``; ``tm`` at most 16.
    """
    _check_compile_args(tpb, dtype)
    _checks.integer("tm", tm, low=1, high=16)
    bm = tpb * tm  # the side of the block's output tile
    # The innermost loop indexes shared memory with unsigned integers: a signed index
    # may count from the end (a[-1]), and checking for that on every load made the
    # loop half integer arithmetic. (Every operand must be unsigned: Numba turns a
    # mix of signed and unsigned int64 into float64.)
    u_tpb, u_tm = np.uint64(tpb), np.uint64(tm)

    @cuda.jit
    def matmul_cuda_blocked(a, b, c):
        # a's tile: bm rows, one K slice; b's tile: one K slice, bm columns
        sa = cuda.shared.array(shape=(bm, tpb), dtype=dtype)
        sb = cuda.shared.array(shape=(tpb, bm), dtype=dtype)
        # this thread's outputs, in registers
        acc = cuda.local.array(shape=(tm, tm), dtype=dtype)
        ra = cuda.local.array(shape=tm, dtype=dtype)
        rb = cuda.local.array(shape=tm, dtype=dtype)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        u_tx, u_ty = uint64(tx), uint64(ty)
        # this block's first output row and column: x is the column, as in
        # j, i = cuda.grid(2)
        row0 = cuda.blockIdx.y * bm
        col0 = cuda.blockIdx.x * bm
        m, n_k = a.shape
        n = b.shape[1]
        zero = dtype(0)  # typed: a bare 0 would mix an int, or a float64, into the sums
        for r in range(tm):
            for s in range(tm):
                acc[r, s] = zero
        for k0 in range(0, n_k, tpb):  # slices of K, however many the inputs need
            # each thread loads tm elements of each tile; 0 off the edge
            for r in range(tm):
                i, k = row0 + ty + r * tpb, k0 + tx
                if i < m and k < n_k:
                    sa[ty + r * tpb, tx] = a[i, k]
                else:
                    sa[ty + r * tpb, tx] = zero
                k, j = k0 + ty, col0 + tx + r * tpb
                if k < n_k and j < n:
                    sb[ty, tx + r * tpb] = b[k, j]
                else:
                    sb[ty, tx + r * tpb] = zero
            cuda.syncthreads()  # the tiles are complete
            for kk in range(u_tpb):
                for r in range(u_tm):
                    ra[r] = sa[u_ty + r * u_tpb, kk]
                    rb[r] = sb[kk, u_tx + r * u_tpb]
                for r in range(tm):
                    for s in range(tm):
                        acc[r, s] += ra[r] * rb[s]
            # everyone is done with the tiles before they are overwritten
            cuda.syncthreads()
        # write only cells inside c (like every kernel here, whatever a and b are)
        for r in range(tm):
            i = row0 + ty + r * tpb
            for s in range(tm):
                j = col0 + tx + s * tpb
                if i < c.shape[0] and j < c.shape[1]:
                    c[i, j] = acc[r, s]

    return matmul_cuda_blocked


_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}
MAX_BLOCKED_TPB = 16  # ptxas gives the blocked kernel about 128 registers per thread: 256 threads fit, 1024 do not


def _check_compile_args(tpb, dtype) -> None:
    _checks.integer("tpb", tpb, low=1, high=128)  # compiled past a launch's 32: lessonlib.ptx plants such kernels
    if not isinstance(dtype, (type, np.dtype)) or dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be numpy.float32 or numpy.float64, got {dtype!r}")


def _check_kernel_args(kernel, tpb) -> None:
    _checks.choice("kernel", kernel, KERNELS)
    _checks.integer("tpb", tpb, low=1, high=32)  # a block holds at most 32 × 32 = 1024 threads


def get_kernel(kernel: str = "naive", tpb: int = TPB, dtype=np.float32):
    """The compiled kernel :func:`cuda_matmul` launches for ``kernel``, ``tpb`` and ``dtype``.

    ``dtype`` is numpy.float32 or numpy.float64; the other arguments are as in
    :func:`cuda_matmul`.
    """
    _check_kernel_args(kernel, tpb)
    _check_compile_args(tpb, dtype)
    if kernel == "blocked" and tpb > MAX_BLOCKED_TPB:
        raise ValueError(f"tpb must be at most {MAX_BLOCKED_TPB} for the blocked kernel, got {tpb}:"
                         f" {tpb}×{tpb} threads, each holding {TM}×{TM} sums in registers, need "
                         "more registers than an SM has (lessonlib.ptx checks the shipped size)")
    if kernel == "tiled":
        return tiled_kernel(tpb, dtype)
    if kernel == "blocked":
        return blocked_kernel(tpb, TM, dtype)
    return {"naive": matmul_cuda_naive, "naive_fp32": matmul_cuda_naive_fp32,
            "coalesced": matmul_cuda_coalesced}[kernel]


def launch_config(kernel: str, m: int, n: int, tpb: int = TPB) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(blocks per grid, threads per block)`` for an ``m × n`` output.

    The lecture's kernels put rows on the grid's ``x``, the others columns. A
    GPU allows at most 65,535 blocks along ``y`` (the simulator never
    enforces it), so a launch that would need more is refused here.
    """
    _check_kernel_args(kernel, tpb)
    m, n = _checks.integer("m", m, low=1), _checks.integer("n", n, low=1)
    if kernel in ("naive", "naive_fp32"):
        grid, along_y = blocks_per_grid(m, n, tpb), "n (columns)"
    else:
        grid, along_y = blocks_per_grid(n, m, tpb * (TM if kernel == "blocked" else 1)), "m (rows)"
    if grid[1] > MAX_GRID_Y:
        raise ValueError(f"the {kernel} kernel needs {grid[1]:,} blocks along the grid's y for "
                         f"{along_y}; CUDA allows {MAX_GRID_Y:,}: the output {m}×{n} is too large "
                         f"for this kernel and tpb={tpb}")
    if grid[0] > MAX_GRID_X:
        raise ValueError(f"the {kernel} kernel needs {grid[0]:,} blocks along the grid's x; CUDA allows {MAX_GRID_X:,}")
    return grid, (tpb, tpb)


def cuda_matmul(a: torch.Tensor, b: torch.Tensor, *, kernel: str = "naive", tpb: int = TPB) -> torch.Tensor:
    """Multiply on the GPU with a Numba kernel: copy in, launch, copy back.

    Parameters
    ----------
    a : torch.Tensor of shape (m, k), float32 or float64
    b : torch.Tensor of shape (k, n), same dtype
    kernel : {"naive", "naive_fp32", "coalesced", "tiled", "blocked"}
        A rung of the ladder ``KERNELS``.
    tpb : int, default 16
        Threads per block along each dimension, at most 32 (1024 threads).

    Returns
    -------
    torch.Tensor of shape (m, n), on the CPU
    """
    _checks.matmul_operands(a, b)
    _check_kernel_args(kernel, tpb)
    if a.dtype not in _DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {a.dtype}")
    (m, _), (_, n) = a.shape, b.shape
    grid, block = launch_config(kernel, m, n, tpb)
    compiled = get_kernel(kernel, tpb, _DTYPES[a.dtype])
    d_a = cuda.to_device(np.ascontiguousarray(a.detach().cpu().numpy()))  # host -> device copies
    d_b = cuda.to_device(np.ascontiguousarray(b.detach().cpu().numpy()))
    d_c = cuda.device_array((m, n), dtype=_DTYPES[a.dtype])
    compiled[grid, block](d_a, d_b, d_c)
    return torch.from_numpy(d_c.copy_to_host())  # device -> host copy


def torch_cuda_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(a.cuda() @ b.cuda()).cpu()``: PyTorch's own GPU product (RuntimeError with no GPU)."""
    _checks.matmul_operands(a, b)
    if not hardware.has_cuda():
        raise RuntimeError("torch_cuda_matmul needs a CUDA device; torch sees none on this machine")
    return (a.cuda() @ b.cuda()).cpu()


# What numba-cuda says, on a real GPU only, when a grid has fewer than 128 blocks
# (numba/cuda/dispatcher.py: "Grid size N will likely result in GPU under-utilization due to low occupancy.").
LOW_OCCUPANCY_MESSAGE = r"Grid size \d+ will likely result in GPU under-utilization"


@contextmanager
def small_grids():
    """Inside the block, Numba's low-occupancy warning (fewer than 128 blocks) is ignored; no other.

    For demonstrations that are small on purpose; the simulator never warns.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=LOW_OCCUPANCY_MESSAGE)
        yield


def plot_launch_grid(n_rows: int, n_cols: int, tpb: int = TPB, ax=None):
    """Draw an ``n_rows × n_cols`` output covered by ``tpb × tpb`` blocks, one square per thread.

    Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    bx, by = blocks_per_grid(n_rows, n_cols, tpb)
    _checks.axes("ax", ax)
    if bx * by * tpb * tpb > 20_000:
        raise ValueError(f"n_rows={n_rows}, n_cols={n_cols}, tpb={tpb}: {bx}×{by} blocks of {tpb}×{tpb} threads "
                         "are too many to draw (at most 20,000 threads); use a smaller grid")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6 * bx / max(by, 1) * 0.9 + 0.5))
    rows, cols = bx * tpb, by * tpb
    for i in range(rows):
        for j in range(cols):
            outside = i >= n_rows or j >= n_cols
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor="#f4a3a3" if outside else "#cfe3f7",
                                   edgecolor="white", linewidth=0.5))
    ax.hlines(np.arange(bx + 1) * tpb, 0, cols, color="black", linewidth=1.5)  # block boundaries
    ax.vlines(np.arange(by + 1) * tpb, 0, rows, color="black", linewidth=1.5)
    ax.add_patch(Rectangle((0, 0), n_cols, n_rows, fill=False, edgecolor="#1f4e9c", linewidth=2.5))
    ax.set(xlim=(0, cols), ylim=(rows, 0), aspect="equal", xlabel="column j", ylabel="row i",
           title=f"{n_rows}×{n_cols} output, {bx}×{by} blocks of {tpb}×{tpb} threads")
    ax.grid(False)
    return ax


# Pictures of what the threads do, from the kernels' own index arithmetic.

WARP = 32  # threads that run one instruction together
MAPPINGS = ("lecture", "coalesced")  # i, j = cuda.grid(2) as lectured; j, i = cuda.grid(2) from the coalesced rung on


def warp_cells(mapping: str = "lecture", *, tpb: int = TPB, warp: int = 0, block: tuple = (0, 0)) -> list:
    """The output cells ``(i, j)`` that the threads of one warp compute, in launch order.

    A block's threads are numbered ``threadIdx.y * tpb + threadIdx.x``, a warp is
    32 consecutive numbers (fewer for a last, partial warp), and ``mapping`` is
    the lecture's ``i, j = cuda.grid(2)`` or the coalesced ``j, i = cuda.grid(2)``.

    Parameters
    ----------
    mapping : {"lecture", "coalesced"}
    tpb : int, default 16
        Threads per block along each dimension (the block must hold a warp).
    warp : int, default 0
    block : tuple of int, default (0, 0)
        ``(blockIdx.x, blockIdx.y)``.
    """
    _checks.choice("mapping", mapping, MAPPINGS)
    _checks.integer("tpb", tpb, low=math.isqrt(WARP - 1) + 1, high=32)
    _checks.integer("warp", warp, low=0, high=math.ceil(tpb * tpb / WARP) - 1)
    if not isinstance(block, tuple) or len(block) != 2:
        raise TypeError(f"block must be a tuple (blockIdx.x, blockIdx.y), got {block!r}")
    bx, by = (_checks.integer(f"block[{n}]", v, low=0) for n, v in enumerate(block))
    cells = []
    for t in range(warp * WARP, min((warp + 1) * WARP, tpb * tpb)):
        tx, ty = t % tpb, t // tpb  # threadIdx.x changes fastest
        x, y = bx * tpb + tx, by * tpb + ty  # cuda.grid(2)
        cells.append((x, y) if mapping == "lecture" else (y, x))
    return cells


def warp_addresses(mapping: str, k: int, m: int, n_k: int, n: int, *, tpb: int = TPB, warp: int = 0) -> dict:
    """Row-major offsets of ``a``, ``b`` and ``c`` that one warp touches at step ``k``.

    For block (0, 0) of an ``(m × n_k) @ (n_k × n)`` product; ``tpb`` and
    ``warp`` are as in :func:`warp_cells`. Returns ``{"a": [...], "b": [...],
    "c": [...]}``, one offset per thread inside the output, in thread order.
    """
    for name, v in (("m", m), ("n_k", n_k), ("n", n)):
        _checks.integer(name, v, low=1)
    _checks.integer("k", k, low=0, high=n_k - 1)
    cells = [(i, j) for i, j in warp_cells(mapping, tpb=tpb, warp=warp) if i < m and j < n]
    return {"a": [i * n_k + k for i, _ in cells], "b": [k * n + j for _, j in cells],
            "c": [i * n + j for i, j in cells]}


def memory_sectors(offsets, *, itemsize: int = 4, sector_bytes: int = 32) -> int:
    """How many ``sector_bytes``-byte sectors the element ``offsets`` (aligned start) fall in."""
    offs = _checks.sequence("offsets", offsets, item=lambda n, v: _checks.integer(n, v, low=0), empty=True)
    _checks.integer("itemsize", itemsize, low=1)
    _checks.integer("sector_bytes", sector_bytes, low=1)
    return len({o * itemsize // sector_bytes for o in offs})


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def plot_warp_reads(m: int = 50_000, n_k: int = 784, n: int = 10, *, k: int = 0, tpb: int = TPB):
    """Draw the 32-byte sectors that the first warp moves at step ``k``, for each mapping.

    One panel per mapping (``MAPPINGS``), one stack per operand of an
    ``(m × n_k) @ (n_k × n)`` float32 product: each row of 8 squares is a sector,
    dark where a thread asked for the number, pale where it came along unused.
    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    per, gap = 8, 7  # float32 numbers in a sector; room between stacks for their notes
    addr = {mp: warp_addresses(mp, k, m, n_k, n, tpb=tpb) for mp in MAPPINGS}
    tall = {mp: max(memory_sectors(offs) for offs in a.values()) for mp, a in addr.items()}
    fig, axes = plt.subplots(2, 1, figsize=(9, 0.23 * (sum(tall.values()) + 12) + 0.9),
                             gridspec_kw={"height_ratios": [tall[mp] + 5.5 for mp in MAPPINGS]})
    what = {"a": ("a[i, k]", "read at every step"), "b": ("b[k, j]", "read at every step"),
            "c": ("c[i, j]", "written once")}
    for ax, mp in zip(axes, MAPPINGS):
        for s, (name, (label, when)) in enumerate(what.items()):
            x0, offs = s * (per + gap), addr[mp][name]
            sectors = sorted({o // per for o in offs})
            for r, sec in enumerate(sectors):
                for slot in range(per):
                    used = sec * per + slot in offs
                    ax.add_patch(Rectangle((x0 + slot, r), 1, 1, facecolor="#1f4e9c" if used else "#d5e3f3",
                                           edgecolor="white", linewidth=1))
                ax.add_patch(Rectangle((x0, r), per, 1, fill=False, edgecolor="#333333", linewidth=1))
            ax.text(x0 + per / 2, -0.4, f"{label}: {_plural(len(sectors), 'sector')}\n{when}", ha="center",
                    va="bottom", fontsize=10)
            span = (sectors[-1] - sectors[0] + 1) * 32
            note = "" if len(sectors) == 1 else "side by side" if span == 32 * len(sectors) else \
                f"spread over {span:,} bytes"
            ax.text(x0 + per / 2, len(sectors) + 0.3, note, ha="center", va="top", fontsize=10)
        cells = warp_cells(mp, tpb=tpb)
        rows, cols = len({i for i, _ in cells}), len({j for _, j in cells})
        idle = sum(i >= m or j >= n for i, j in cells)
        ax.set_title(f"{'As lectured' if mp == 'lecture' else 'Swapped'}: {'i, j' if mp == 'lecture' else 'j, i'}"
                     f" = cuda.grid(2) puts the warp's {len(cells)} threads on {_plural(rows, 'row')} × "
                     f"{_plural(cols, 'column')} of c" + (f"; {idle} fall outside c" if idle else ""),
                     fontsize=11, loc="left")
        ax.set(xlim=(-0.5, 3 * per + 2 * gap + 0.5), ylim=(tall[mp] + 1.8, -3.7), aspect="equal")
        ax.axis("off")
    fig.legend(handles=[Patch(facecolor="white", edgecolor="#333333", label="a row: one sector, 8 float32s"),
                        Patch(facecolor="#1f4e9c", label="a number a thread asked for"),
                        Patch(facecolor="#d5e3f3", label="moved with it, unused")],
               loc="lower center", ncol=3, fontsize=10, frameon=False)
    return fig


def tile_loads(m: int, n_k: int, n: int, *, tpb: int = TPB, block: tuple = (0, 0)) -> list:
    """The cells of ``a`` and ``b`` one block of :func:`tiled_kernel` loads, step by step along k.

    For an ``(m × n_k) @ (n_k × n)`` product and ``block = (blockIdx.x,
    blockIdx.y)``, sizes at most 4,096. Returns one ``{"a": set of (row, col), "b": set of (row, col)}``
    per step, the cells actually read.
    """
    for name, v in (("m", m), ("n_k", n_k), ("n", n)):
        _checks.integer(name, v, low=1, high=4096)
    _checks.integer("tpb", tpb, low=1, high=32)
    if not isinstance(block, tuple) or len(block) != 2:
        raise TypeError(f"block must be a tuple (blockIdx.x, blockIdx.y), got {block!r}")
    bx, by = (_checks.integer(f"block[{n_}]", v, low=0) for n_, v in enumerate(block))
    steps = []
    for t in range(math.ceil(n_k / tpb)):  # as many tiles as K needs
        a_cells, b_cells = set(), set()
        for ty in range(tpb):
            for tx in range(tpb):
                i, ka = by * tpb + ty, t * tpb + tx
                kb, j = t * tpb + ty, bx * tpb + tx
                if i < m and ka < n_k:
                    a_cells.add((i, ka))
                if kb < n_k and j < n:
                    b_cells.add((kb, j))
        steps.append({"a": a_cells, "b": b_cells})
    return steps


def plot_tile_loads(m: int = 32, n_k: int = 40, n: int = 32, *, tpb: int = TPB, block: tuple = (1, 1)):
    """Draw the tiles of ``a`` and ``b`` one block loads at each step along k, beside its tile of ``c``.

    Laid out as the product is: ``a`` left of ``c``, ``b`` above it, so that the
    block's rows and columns line up. Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    steps = tile_loads(m, n_k, n, tpb=tpb, block=block)
    if len(steps) > 8:
        raise ValueError(f"n_k ({n_k}) needs {len(steps)} steps of tpb ({tpb}); draw at most 8")
    if max(m, n) > 512:
        raise ValueError(f"m and n must be at most 512 to draw, got m={m}, n={n}")
    if block[0] * tpb >= n or block[1] * tpb >= m:
        raise ValueError(f"block {block} of tpb={tpb} lies outside the {m}×{n} output: it would load nothing")
    colours = ["#3b528b", "#21918c", "#5ec962", "#fde725", "#440154", "#31688e", "#35b779", "#b5de2b"]
    cmap = ListedColormap(["#eeeeee", *colours[:len(steps)]])
    fig, axes = plt.subplots(2, 2, figsize=(7.2, 7.2 * (n_k + m) / (n_k + n) + 0.3),
                             gridspec_kw={"width_ratios": [n_k, n], "height_ratios": [n_k, m]})
    (note, ax_b), (ax_a, ax_c) = axes
    for ax, name, shape in ((ax_a, "a", (m, n_k)), (ax_b, "b", (n_k, n))):
        grid = np.zeros(shape)
        for t, step in enumerate(steps):
            for cell in step[name]:
                grid[cell] = t + 1
            if step[name]:
                r, c = np.mean(sorted(step[name]), axis=0)
                ax.text(c, r, f"step {t}", ha="center", va="center", fontsize=10,
                        color="black" if t % 4 >= 2 else "white")
        ax.imshow(grid, cmap=cmap, vmin=0, vmax=len(steps), interpolation="nearest")
    bx, by = block
    out = np.zeros((m, n))
    out[by * tpb:(by + 1) * tpb, bx * tpb:(bx + 1) * tpb] = 1
    ax_c.imshow(out, cmap=ListedColormap(["#eeeeee", "#d62728"]), vmin=0, vmax=1, interpolation="nearest")
    ax_c.text(bx * tpb + tpb / 2 - 0.5, by * tpb + tpb / 2 - 0.5, f"block\n{block}", ha="center", va="center",
              fontsize=10, color="white")
    for ax, title in ((ax_a, f"a ({m}×{n_k}): the block's rows, along k"),
                      (ax_b, f"b ({n_k}×{n}): its columns"), (ax_c, f"c ({m}×{n}): its {tpb}×{tpb} outputs")):
        ax.set_xticks(np.arange(-0.5, ax.get_xlim()[1], tpb), labels=[])
        ax.set_yticks(np.arange(-0.5, ax.get_ylim()[0], tpb), labels=[])
        ax.grid(True, color="white", linewidth=1.5, alpha=1)
        ax.tick_params(length=0)
        ax.set_title(title, fontsize=10)
    note.axis("off")
    widths = " + ".join(str(min(tpb, n_k - t * tpb)) for t in range(len(steps)))
    note.text(0, 0.5, f"{len(steps)} steps along k ({n_k} = {widths}).\n\nAt step t the block copies\n"
              "tile t of a and tile t of b\ninto shared memory, waits for\nall its threads, then each\n"
              "thread adds a product per\ncolumn of the tile to its sum.", fontsize=10, va="center")
    return fig


_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def plot_roofline(products: dict, *, bandwidth: float, flops_peak: float, measured: dict | None = None, ax=None,
                  device: str = "a GPU"):
    """Draw the roofline: the speed a product can reach, against its FLOPs per byte moved.

    Parameters
    ----------
    products : dict of str to dict
        Product name to :func:`lessonlib.ptx.roofline`'s result (``bytes`` and ``flops`` are used); at most four.
    bandwidth : float
        Bytes per second.
    flops_peak : float
        FLOP per second.
    measured : dict of str to float, optional
        Product name to a measured time in seconds, drawn as a point below the roof.
    ax : matplotlib Axes, optional
    device : str
        The GPU whose peaks these are, for the title.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    _checks.text("device", device)
    _checks.axes("ax", ax)
    _checks.mapping("products", products, empty=False, of="name to roofline")
    if len(products) > len(_COLOURS):
        raise ValueError(f"products must name at most {len(_COLOURS)} products (one colour each), got {len(products)}")
    for name, r in products.items():
        if not isinstance(r, dict) or "bytes" not in r or "flops" not in r:
            raise ValueError(f"products[{name!r}] must be a dict with 'bytes' and 'flops', got {r!r}")
        _checks.positive(f"products[{name!r}]['bytes']", r["bytes"])
        _checks.positive(f"products[{name!r}]['flops']", r["flops"])
    _checks.positive("bandwidth", bandwidth)
    _checks.positive("flops_peak", flops_peak)
    measured = {} if measured is None else _checks.seconds("measured", measured, among=products)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.2))
    intensity = {name: r["flops"] / r["bytes"] for name, r in products.items()}
    ridge = flops_peak / bandwidth
    lo, hi = min(min(intensity.values()), ridge) / 4, max(max(intensity.values()), ridge) * 4
    xs = np.geomspace(lo, hi, 200)
    ax.loglog(xs, np.minimum(flops_peak, bandwidth * xs) / 1e9, color="black", linewidth=2)
    ax.text(ridge / 8, bandwidth * ridge / 8 / 1e9, f"   memory: {bandwidth / 1e12:.1f} TB/s", ha="left", va="top",
            fontsize=9)
    ax.text(hi / 1.3, flops_peak / 1.2 / 1e9, f"float32 arithmetic: {flops_peak / 1e12:.0f} TFLOP/s", ha="right",
            va="top", fontsize=9)
    for (name, r), colour in zip(products.items(), _COLOURS):
        x = intensity[name]
        best = min(flops_peak, bandwidth * x)
        ax.plot([x], [best / 1e9], "o", color=colour, markersize=8, label=f"{name}: the roof allows")
        if name in measured:
            ax.plot([x], [r["flops"] / measured[name] / 1e9], "x", color=colour, markersize=10, mew=2.5,
                    label=f"{name}: measured")
    lowest = min([bandwidth * lo] + [r["flops"] / measured[n] for n, r in products.items() if n in measured])
    ax.set_ylim(lowest / 3 / 1e9, flops_peak * 2 / 1e9)
    ax.set_xlim(lo / 3, hi)
    ax.set(xlabel="FLOPs per byte that must move (arithmetic intensity)", ylabel="GFLOP/s",
           title=f"Roofline of {device} for two float32 products (a model, not a measurement)")
    ax.legend(fontsize=9, loc="lower right")
    ax.grid(True, which="major", alpha=0.3)
    return ax


_LADDER_COLOURS = ("#7f7f7f", "#1f77b4", "#ff7f0e", "#2ca02c")


def plot_ladder(rungs, series: dict, *, ax=None):
    """Draw a ladder of timings as log-scale horizontal bars: a group per rung, a colour per source.

    Parameters
    ----------
    rungs : sequence of str
        The rungs, top to bottom.
    series : dict of str to dict of str to float
        Source (``"lecture (2022)"``, ``"this build"``, ...) to ``{rung: seconds}``;
        a source may lack rungs; at most four sources.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    rungs = _checks.sequence("rungs", rungs, item=_checks.text)
    if len(set(rungs)) < len(rungs):
        raise ValueError(f"rungs must not repeat a rung, got {rungs}")
    _checks.mapping("series", series, empty=False, of="source to {rung: seconds}")
    if len(series) > len(_LADDER_COLOURS):
        raise ValueError(f"series must hold at most {len(_LADDER_COLOURS)} sources (a colour each), got {len(series)}")
    _checks.axes("ax", ax)
    for source, times in series.items():
        _checks.text("series keys", source)
        _checks.seconds(f"series[{source!r}]", times, among=rungs)
    if ax is None:
        _, ax = plt.subplots(figsize=(9.5, 0.55 * len(rungs) * max(len(series), 1) / 1.5 + 1.2))
    height = 0.8 / len(series)
    for s, ((source, times), colour) in enumerate(zip(series.items(), _LADDER_COLOURS)):
        ys = [r + s * height for r, rung in enumerate(rungs) if rung in times]
        vals = [times[rung] for rung in rungs if rung in times]
        ax.barh(ys, vals, height=height * 0.92, color=colour, label=source)
        for y, v in zip(ys, vals):
            ax.text(v * 1.15, y, _seconds_label(v), va="center", fontsize=9)
    ax.set_xscale("log")
    ax.set_yticks([r + height * (len(series) - 1) / 2 for r in range(len(rungs))], labels=rungs)
    ax.invert_yaxis()
    left, right = ax.get_xlim()
    ax.set_xlim(left, right * 8)  # room for the labels
    ax.set_xlabel("seconds for the whole (50,000 × 784) @ (784 × 10) product, log scale")
    ax.legend(fontsize=10, loc="lower right")
    ax.grid(True, axis="x", which="major", alpha=0.3)
    return ax


def _seconds_label(s: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:,.3g} {unit}" if s < 1000 else f"{s:,.0f} s"
    return f"{s * 1e9:.3g} ns"
