"""GPU kernels: the matrix product as many small, independent pieces of work.

Taught by the chapter "GPU kernels". A GPU runs one function, the *kernel*,
many times at once, each copy on its own thread and told only where it is in a
grid. Written that way, a matrix product is one thread per output cell:

- :func:`matmul_kernel` and :func:`launch_kernel` -- the idea in plain Python,
  run one grid position after another;
- ``matmul_cuda_naive`` -- the same kernel compiled by Numba for CUDA;
- ``matmul_cuda_tiled``, made by :func:`tiled_kernel` -- threads of a block share tiles of the inputs
  through fast on-chip memory, so each number is read from main memory once
  per tile instead of once per multiply;
- :func:`cuda_matmul` -- the host side: copy in, launch, copy back;
- :func:`torch_cuda_matmul` -- PyTorch's ``.cuda()`` path.

Importing this module picks the CUDA target first: with no GPU, the kernels run
on Numba's CUDA simulator, which checks correctness but is not a speed test.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from . import hardware

hardware.use_cuda_simulator()  # before numba.cuda is imported: real GPU, or the simulator

from numba import cuda  # noqa: E402

from .matmul import _check_matmul  # noqa: E402

TPB = 16  # threads per block, along each of the two block dimensions


def matmul_kernel(grid, a, b, c):
    """Fill one output cell, ``c[i, j]``, of ``a @ b``: a kernel in plain Python.

    Parameters
    ----------
    grid : tuple of int
        ``(i, j)``, this call's position in the launch grid.
    a, b, c : 2-D arrays or tensors
        Inputs and the output to write into.
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
    for name, v, low in (("n_rows", n_rows, 1), ("n_cols", n_cols, 1), ("tpb", tpb, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
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
    if not callable(kernel):
        raise ValueError(f"kernel must be callable, got {type(kernel).__name__}")
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
    """One thread per output cell: ``matmul_kernel`` compiled for the GPU."""
    i, j = cuda.grid(2)  # this thread's (row, column): block index * block size + thread index
    if i < c.shape[0] and j < c.shape[1]:
        tmp = 0.0
        for k in range(a.shape[1]):
            tmp += a[i, k] * b[k, j]
        c[i, j] = tmp


@lru_cache(maxsize=None)
def tiled_kernel(tpb: int = TPB, dtype=np.float32):
    """The shared-memory tiled kernel for ``tpb × tpb`` blocks and one dtype.

    Shared arrays need their shape and type when the kernel is compiled, so
    each (tpb, dtype) pair gets its own kernel, made once and cached.
    """

    @cuda.jit
    def matmul_cuda_tiled(a, b, c):
        sa = cuda.shared.array(shape=(tpb, tpb), dtype=dtype)  # a tile of a, shared by the block
        sb = cuda.shared.array(shape=(tpb, tpb), dtype=dtype)  # a tile of b
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        j, i = cuda.grid(2)  # x runs along columns, so neighbouring threads read neighbouring memory
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


matmul_cuda_tiled = tiled_kernel(TPB, np.float32)

_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def cuda_matmul(a: torch.Tensor, b: torch.Tensor, *, kernel: str = "naive", tpb: int = TPB) -> torch.Tensor:
    """Multiply on the GPU with a Numba kernel: copy in, launch, copy back.

    Parameters
    ----------
    a : torch.Tensor of shape (m, k), float32 or float64
    b : torch.Tensor of shape (k, n), same dtype
    kernel : {"naive", "tiled"}
    tpb : int, default 16
        Threads per block along each dimension (at most 32: a block holds at
        most 1024 threads).

    Returns
    -------
    torch.Tensor of shape (m, n), on the CPU
    """
    _check_matmul(a, b)
    if kernel not in ("naive", "tiled"):
        raise ValueError(f"kernel must be 'naive' or 'tiled', got {kernel!r}")
    if isinstance(tpb, bool) or not isinstance(tpb, int) or not 1 <= tpb <= 32:
        raise ValueError(f"tpb must be an int in [1, 32] (tpb*tpb threads per block), got {tpb!r}")
    if a.dtype not in _DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {a.dtype}")
    (m, _), (_, n) = a.shape, b.shape
    d_a = cuda.to_device(np.ascontiguousarray(a.detach().cpu().numpy()))  # host -> device copies
    d_b = cuda.to_device(np.ascontiguousarray(b.detach().cpu().numpy()))
    d_c = cuda.device_array((m, n), dtype=_DTYPES[a.dtype])
    if kernel == "naive":
        matmul_cuda_naive[blocks_per_grid(m, n, tpb), (tpb, tpb)](d_a, d_b, d_c)
    else:
        bx, by = blocks_per_grid(n, m, tpb)  # x covers columns in the tiled kernel
        tiled_kernel(tpb, _DTYPES[a.dtype])[(bx, by), (tpb, tpb)](d_a, d_b, d_c)
    return torch.from_numpy(d_c.copy_to_host())  # device -> host copy


def torch_cuda_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(a.cuda() @ b.cuda()).cpu()``: PyTorch's own GPU matrix product.

    Raises
    ------
    RuntimeError
        If there is no CUDA device.
    """
    _check_matmul(a, b)
    if not hardware.has_cuda():
        raise RuntimeError("torch_cuda_matmul needs a CUDA device; torch sees none on this machine")
    return (a.cuda() @ b.cuda()).cpu()


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
