"""GPU kernels: the matrix product as many small, independent pieces of work.

Taught by the chapter "GPU kernels". A GPU runs one function, the *kernel*,
many times at once, each copy on its own thread and told only where it is in a
grid. Written that way, a matrix product is one thread per output cell:

- :func:`matmul_kernel` and :func:`launch_kernel` -- the idea in plain Python,
  run one grid position after another;
- ``matmul_cuda_naive`` -- the same kernel compiled by Numba for CUDA, as the
  lecture wrote it: its running sum starts as a Python float, so it is kept in
  float64, and neighbouring threads walk down a column of the output;
- ``matmul_cuda_naive_fp32`` -- one line changed: the sum is float32;
- ``matmul_cuda_coalesced`` -- one more line changed: neighbouring threads
  take neighbouring columns, so they read neighbouring memory;
- ``matmul_cuda_tiled``, made by :func:`tiled_kernel` -- threads of a block share tiles of the inputs
  through fast on-chip memory, so each number is read from main memory once
  per tile instead of once per multiply;
- ``matmul_cuda_blocked``, made by :func:`blocked_kernel` -- each thread computes a
  small block of outputs from values it holds in registers;
- :func:`cuda_matmul` -- the host side: copy in, launch, copy back;
- :func:`torch_cuda_matmul` -- PyTorch's ``.cuda()`` path;
- :func:`small_grids` -- silences Numba's low-occupancy warning for launches
  that are small on purpose (demonstrations), and nothing else.

Where a thread is. ``cuda.grid(2)`` returns ``(x, y)``, each one
``blockIdx * blockDim + threadIdx`` along its axis of the launch grid, and
``x`` is the index that changes fastest from one thread to the next (the 32
threads of a warp are neighbours in ``x``). Every kernel here calls the output's
row ``i`` and its column ``j``, and every kernel after the lecture's puts ``x``
on the columns: ``j, i = cuda.grid(2)`` (the register-blocked kernel takes its
columns from ``blockIdx.x`` and ``threadIdx.x`` the same way), so neighbouring
threads read and write neighbouring memory. The one exception is the lecture's
kernel, kept as it was lectured, with its one-line float32 variant:
``i, j = cuda.grid(2)`` puts ``x`` on the rows. ``matmul_cuda_coalesced``
is exactly that swap, and :func:`launch_config` lays the grid out to match.

The raw ``@cuda.jit`` kernels check nothing, as CUDA kernels do: given a
too-small output they fill only part of it, and given mismatched shapes they
read whatever lies in memory. :func:`cuda_matmul` checks its inputs and is the
function to call.

The kernels are compiled for the target :func:`lessonlib.hardware.numba_cuda`
chooses: with no GPU, Numba's CUDA simulator, which checks correctness but is
not a speed test. ``KERNELS`` is the one catalogue of the ladder: each kernel's
name (as :func:`cuda_matmul` takes it) and the label every table gives it.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from functools import lru_cache

import numpy as np
import torch

from numba import float32, uint64

from . import _checks, hardware

cuda = hardware.numba_cuda()  # the real GPU target, or the simulator when there is no GPU

TPB = 16  # threads per block, along each of the two block dimensions
TM = 8  # the register-blocked kernel: each thread computes a TM × TM block of outputs
MAX_GRID_Y = 65_535  # CUDA's limit on blocks along a grid's y (and z) dimension; x allows 2**31 - 1
MAX_GRID_X = 2**31 - 1
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

    Parameters
    ----------
    grid : tuple of int
        ``(i, j)``, this call's position in the launch grid.
    a, b, c : 2-D arrays or tensors
        Inputs and the output to write into.

    Notes
    -----
    Like the CUDA kernels it stands for, it checks nothing about its
    arguments: it runs once per grid position, and :func:`launch_kernel`
    checks the grid.
    """
    i, j = grid
    if i < c.shape[0] and j < c.shape[1]:  # a launch grid can be larger than the output
        tmp = 0.0
        for k in range(a.shape[1]):
            tmp += a[i, k] * b[k, j]
        c[i, j] = tmp


def blocks_per_grid(n_rows: int, n_cols: int, tpb: int = TPB) -> tuple[int, int]:
    """Blocks needed to cover an ``n_rows × n_cols`` output with ``tpb × tpb`` blocks.

    Rounds up, so the last block in each direction may hang over the edge:
    that is why every kernel checks its position before writing.
    """
    for name, v in (("n_rows", n_rows), ("n_cols", n_cols), ("tpb", tpb)):
        _checks.integer(name, v, low=1)
    return math.ceil(n_rows / tpb), math.ceil(n_cols / tpb)


def launch_kernel(kernel, grid_x: int, grid_y: int, *args, tpb: int | None = None) -> int:
    """Call ``kernel((i, j), *args)`` for every position of a grid, one after another.

    A GPU would run these calls in parallel; here they run in a Python loop,
    which is only correct because no call depends on another.

    Parameters
    ----------
    kernel : callable
        ``kernel(grid, *args)``.
    grid_x, grid_y : int
        The grid's size: for a matrix product, the output's rows and columns.
    *args
        Passed to every call.
    tpb : int, optional
        Model CUDA's blocks: the grid is covered by ``tpb × tpb`` blocks,
        rounded up (:func:`blocks_per_grid`), so positions beyond
        ``grid_x × grid_y`` are launched too, as on a GPU.

    Returns
    -------
    int
        How many kernel calls were made.
    """
    _checks.callable_("kernel", kernel)
    if tpb is None:
        blocks_per_grid(grid_x, grid_y)  # validates the sizes
        xs, ys = range(grid_x), range(grid_y)
    else:
        bx, by = blocks_per_grid(grid_x, grid_y, tpb)
        xs, ys = range(bx * tpb), range(by * tpb)  # block index * tpb + thread index
    calls = 0
    for i in xs:
        for j in ys:
            kernel((i, j), *args)
            calls += 1
    return calls


@cuda.jit
def matmul_cuda_naive(a, b, c):
    """One thread per output cell: ``matmul_kernel`` compiled for the GPU, as the lecture wrote it.

    ``tmp = 0.0`` is a Python float, so Numba keeps the sum in float64; and
    ``i, j = cuda.grid(2)`` puts ``x`` on the row: the exception to the
    module's grid convention, kept as lectured. Like every raw kernel here it
    checks nothing about its arguments.
    """
    i, j = cuda.grid(2)  # as lectured: x, the fastest index between neighbouring threads, is the row
    if i < c.shape[0] and j < c.shape[1]:
        tmp = 0.0
        for k in range(a.shape[1]):
            tmp += a[i, k] * b[k, j]
        c[i, j] = tmp


@cuda.jit
def matmul_cuda_naive_fp32(a, b, c):
    """``matmul_cuda_naive`` with one line changed: the running sum is float32.

    It keeps the lecture's ``i, j = cuda.grid(2)`` (``x`` on the row), so that
    this rung changes the type only. Checks nothing about its arguments (a raw
    kernel).
    """
    i, j = cuda.grid(2)  # as lectured (the next rung swaps these)
    if i < c.shape[0] and j < c.shape[1]:
        tmp = float32(0)  # the one-line fix: float32 products are now added in float32
        for k in range(a.shape[1]):
            tmp += a[i, k] * b[k, j]
        c[i, j] = tmp


@cuda.jit
def matmul_cuda_coalesced(a, b, c):
    """``matmul_cuda_naive_fp32`` with one line changed: ``j, i = cuda.grid(2)``.

    ``x`` is now the column, the module's convention from here on: threads that
    are neighbours in ``x`` read neighbouring elements of ``b`` and write
    neighbouring elements of ``c``, which the GPU merges into few memory
    transactions. Launch it with the grid's ``x`` covering the columns.
    Checks nothing about its arguments (a raw kernel).
    """
    j, i = cuda.grid(2)  # swapped: x is the column (the module's convention)
    if i < c.shape[0] and j < c.shape[1]:
        tmp = float32(0)
        for k in range(a.shape[1]):
            tmp += a[i, k] * b[k, j]
        c[i, j] = tmp


@lru_cache(maxsize=None)
def tiled_kernel(tpb: int = TPB, dtype=np.float32):
    """The shared-memory tiled kernel for ``tpb × tpb`` blocks and one dtype.

    Shared arrays need their shape and type when the kernel is compiled, so
    each (tpb, dtype) pair gets its own kernel, made once and cached. Compared
    with ``matmul_cuda_coalesced`` it changes one thing: the inputs come through
    shared-memory tiles. The kernel checks nothing about its arguments.

    Parameters
    ----------
    tpb : int, default 16
        Threads per block along each dimension; also the tile's side.
    dtype : numpy scalar type, default numpy.float32
        The element type of the inputs, the tiles and the sum.

    Returns
    -------
    numba.cuda dispatcher
        Launch it as ``kernel[(ceil(n / tpb), ceil(m / tpb)), (tpb, tpb)](a, b, c)``.
    """

    @cuda.jit
    def matmul_cuda_tiled(a, b, c):
        sa = cuda.shared.array(shape=(tpb, tpb), dtype=dtype)  # a tile of a, shared by the block
        sb = cuda.shared.array(shape=(tpb, tpb), dtype=dtype)  # a tile of b
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        j, i = cuda.grid(2)  # the module's convention: x is the column
        n_k = a.shape[1]
        tmp = dtype(0)
        for t in range((n_k + tpb - 1) // tpb):  # as many tiles as K needs, whatever the grid
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
            cuda.syncthreads()  # everyone has finished reading before the next tile overwrites it
        if i < c.shape[0] and j < c.shape[1]:  # only now: threads off the edge still had to help load
            c[i, j] = tmp

    return matmul_cuda_tiled


@lru_cache(maxsize=None)
def blocked_kernel(tpb: int = TPB, tm: int = TM, dtype=np.float32):
    """The register-blocked kernel: each thread computes a ``tm × tm`` block of outputs.

    Compared with the tiled kernel it changes one thing, the work per thread. A
    block of ``tpb × tpb`` threads covers a ``(tpb·tm) × (tpb·tm)`` tile of the
    output. For each slice of ``tpb`` values along K it loads a
    ``(tpb·tm) × tpb`` tile of ``a`` and a ``tpb × (tpb·tm)`` tile of ``b``
    into shared memory; then, for every k of the slice, each thread copies
    ``tm`` values of each tile into registers and does ``tm²`` multiply-adds
    with them, instead of one multiply-add per two shared-memory loads. The sum
    is kept in ``dtype``. The kernel checks nothing about its arguments.

    A thread's outputs are ``tpb`` apart (rows ``ty, ty + tpb, ...``, columns
    ``tx, tx + tpb, ...``), so neighbouring threads still read neighbouring
    shared-memory words and write neighbouring output cells.

    Parameters
    ----------
    tpb : int, default 16
        Threads per block along each dimension; also the K slice's width.
    tm : int, default 8
        Each thread's outputs along each dimension (``tm²`` accumulators).
    dtype : numpy scalar type, default numpy.float32

    Returns
    -------
    numba.cuda dispatcher
        Launch it as ``kernel[(ceil(n / (tpb·tm)), ceil(m / (tpb·tm))), (tpb, tpb)](a, b, c)``.
    """
    bm = tpb * tm  # the side of the block's output tile
    # The innermost loop indexes shared memory with unsigned integers. Numba lets a signed index
    # count from the end (a[-1]), and the code that checks for that, on every load, made the loop
    # half integer arithmetic; an unsigned index cannot be negative, so that code goes away.
    # (Every operand must be unsigned: Numba turns a mix of signed and unsigned int64 into float64.)
    u_tpb, u_tm = np.uint64(tpb), np.uint64(tm)

    @cuda.jit
    def matmul_cuda_blocked(a, b, c):
        sa = cuda.shared.array(shape=(bm, tpb), dtype=dtype)  # a's tile: bm rows, one K slice
        sb = cuda.shared.array(shape=(tpb, bm), dtype=dtype)  # b's tile: one K slice, bm columns
        acc = cuda.local.array(shape=(tm, tm), dtype=dtype)  # this thread's outputs, in registers
        ra = cuda.local.array(shape=tm, dtype=dtype)
        rb = cuda.local.array(shape=tm, dtype=dtype)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        u_tx, u_ty = uint64(tx), uint64(ty)
        row0 = cuda.blockIdx.y * bm  # this block's first output row and column: x is the column, as in
        col0 = cuda.blockIdx.x * bm  # j, i = cuda.grid(2)
        m, n_k = a.shape
        n = b.shape[1]
        zero = dtype(0)  # typed: a bare 0 would mix an int, or a float64, into the sums
        for r in range(tm):
            for s in range(tm):
                acc[r, s] = zero
        for k0 in range(0, n_k, tpb):  # slices of K, however many the inputs need
            for r in range(tm):  # each thread loads tm elements of each tile; 0 off the edge
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
            cuda.syncthreads()  # everyone is done with the tiles before they are overwritten
        for r in range(tm):  # write only cells inside c (like every kernel here, whatever a and b are)
            i = row0 + ty + r * tpb
            for s in range(tm):
                j = col0 + tx + s * tpb
                if i < c.shape[0] and j < c.shape[1]:
                    c[i, j] = acc[r, s]

    return matmul_cuda_blocked


matmul_cuda_tiled = tiled_kernel(TPB, np.float32)
matmul_cuda_blocked = blocked_kernel(TPB, TM, np.float32)

_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}
MAX_BLOCKED_TPB = 16  # ptxas gives the blocked kernel about 128 registers per thread: 256 threads fit, 1024 do not


def _check_kernel_args(kernel, tpb) -> None:
    """``TypeError`` for a kernel name that is not a str or a tpb that is not an int; ``ValueError`` for bad values."""
    _checks.choice("kernel", kernel, KERNELS)
    _checks.integer("tpb", tpb, low=1, high=32)  # a block holds at most 32 × 32 = 1024 threads


def get_kernel(kernel: str = "naive", tpb: int = TPB, dtype=np.float32):
    """The compiled kernel that :func:`cuda_matmul` launches for ``kernel``, ``tpb`` and ``dtype``.

    Parameters
    ----------
    kernel : {"naive", "naive_fp32", "coalesced", "tiled", "blocked"}
    tpb : int, default 16
        Threads per block along each dimension; the tiled and register-blocked
        kernels are compiled for it.
    dtype : numpy.float32 or numpy.float64

    Returns
    -------
    numba.cuda dispatcher
    """
    _check_kernel_args(kernel, tpb)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be numpy.float32 or numpy.float64, got {dtype!r}")
    if kernel == "tiled":
        return tiled_kernel(tpb, dtype)
    if kernel == "blocked" and tpb > MAX_BLOCKED_TPB:
        raise ValueError(
            f"tpb must be at most {MAX_BLOCKED_TPB} for the blocked kernel, got {tpb}: each of its threads "
            f"holds {TM}×{TM} sums in registers, and a block of {tpb}×{tpb} threads would need more "
            "registers than an SM has (lessonlib.ptx checks the shipped size)"
        )
    if kernel == "blocked":
        return blocked_kernel(tpb, TM, dtype)
    return {"naive": matmul_cuda_naive, "naive_fp32": matmul_cuda_naive_fp32,
            "coalesced": matmul_cuda_coalesced}[kernel]


def launch_config(kernel: str, m: int, n: int, tpb: int = TPB) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(blocks per grid, threads per block)`` for an ``m × n`` output.

    The lecture's kernels (``naive``, ``naive_fp32``) put rows on the grid's
    ``x``; the others put columns on ``x`` and rows on ``y`` (the module's grid
    convention). A real GPU allows
    at most 65,535 blocks along ``y``, a limit the simulator never enforces,
    so a launch that would need more is refused here.

    Raises
    ------
    TypeError
        For a kernel name that is not a str, or a size or ``tpb`` that is not an int.
    ValueError
        For an unknown kernel, a size or ``tpb`` out of range, or a grid that a GPU cannot launch.
    """
    _check_kernel_args(kernel, tpb)
    if kernel in ("naive", "naive_fp32"):
        grid = blocks_per_grid(m, n, tpb)
        along_y = "n (columns)"
    elif kernel == "blocked":
        grid = blocks_per_grid(n, m, tpb * TM)
        along_y = "m (rows)"
    else:
        grid = blocks_per_grid(n, m, tpb)
        along_y = "m (rows)"
    if grid[1] > MAX_GRID_Y:
        raise ValueError(
            f"the {kernel} kernel needs {grid[1]:,} blocks along the grid's y for {along_y}; "
            f"CUDA allows {MAX_GRID_Y:,}: the output {m}×{n} is too large for this kernel and tpb={tpb}"
        )
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
        A rung of the ladder; see the module's description.
    tpb : int, default 16
        Threads per block along each dimension (at most 32: a block holds at
        most 1024 threads).

    Returns
    -------
    torch.Tensor of shape (m, n), on the CPU

    Raises
    ------
    TypeError
        For inputs that are not tensors, a kernel name that is not a str, or a
        ``tpb`` that is not an int.
    ValueError
        For mismatched or non-2-D inputs, an unknown kernel, a ``tpb`` out of
        range, another dtype, or an output too large for the kernel's launch grid.
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
    """``(a.cuda() @ b.cuda()).cpu()``: PyTorch's own GPU matrix product.

    Raises
    ------
    RuntimeError
        If there is no CUDA device.
    """
    _checks.matmul_operands(a, b)
    if not hardware.has_cuda():
        raise RuntimeError("torch_cuda_matmul needs a CUDA device; torch sees none on this machine")
    return (a.cuda() @ b.cuda()).cpu()


# What numba-cuda says, on a real GPU only, when a grid has fewer than 128 blocks
# (numba/cuda/dispatcher.py: "Grid size N will likely result in GPU under-utilization due to low occupancy.").
LOW_OCCUPANCY_MESSAGE = r"Grid size \d+ will likely result in GPU under-utilization"


@contextmanager
def small_grids():
    """Inside the block, launches with small grids do not warn; every other warning still shows.

    On a real GPU, Numba warns when a launch has fewer than 128 blocks: such a
    grid leaves most of the chip idle. A demonstration that multiplies a 37 × 50
    matrix is small on purpose, and the warning (with the path of Numba's
    source file) would only clutter the page. This context manager ignores that
    one message, matched by its text, for the code inside it; it changes no
    global setting, and other warnings, Numba's included, are shown as usual.
    The simulator never issues this warning.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=LOW_OCCUPANCY_MESSAGE)
        yield


def plot_launch_grid(n_rows: int, n_cols: int, tpb: int = TPB, ax=None):
    """Draw an ``n_rows × n_cols`` output covered by ``tpb × tpb`` blocks.

    Each small square is one thread; shaded squares fall outside the output,
    where the kernel's bounds check keeps them from writing.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    bx, by = blocks_per_grid(n_rows, n_cols, tpb)
    if bx * by * tpb * tpb > 20_000:
        raise ValueError(f"{bx}×{by} blocks of {tpb}×{tpb} threads are too many to draw; use a smaller grid")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6 * bx / max(by, 1) * 0.9 + 0.5))
    rows, cols = bx * tpb, by * tpb
    for i in range(rows):
        for j in range(cols):
            outside = i >= n_rows or j >= n_cols
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor="#f4a3a3" if outside else "#cfe3f7",
                                   edgecolor="white", linewidth=0.5))
    for b in range(bx + 1):  # block boundaries
        ax.axhline(b * tpb, color="black", linewidth=1.5)
    for b in range(by + 1):
        ax.axvline(b * tpb, color="black", linewidth=1.5)
    ax.add_patch(Rectangle((0, 0), n_cols, n_rows, fill=False, edgecolor="#1f4e9c", linewidth=2.5))
    ax.set(xlim=(0, cols), ylim=(rows, 0), aspect="equal", xlabel="column j", ylabel="row i",
           title=f"{n_rows}×{n_cols} output, {bx}×{by} blocks of {tpb}×{tpb} threads")
    ax.grid(False)
    return ax
