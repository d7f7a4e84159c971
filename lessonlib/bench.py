"""Benchmarks: the timing ladders the chapters show, runnable from the command line.

Benchmarks are not tests: tests check that results are right, these measure
how fast they come. The chapters call the same functions, so a table in the
book and a run of ``python -m lessonlib.bench matmul`` measure the same thing.

Usage::

    python -m lessonlib.bench matmul [--rows N] [--square N]
"""

from __future__ import annotations

import argparse
import sys

import torch

from . import hardware, matmul
from .timing import Ladder, bench, ladder

# The lecture's own timings (2022, its author's machine), quoted beside each rung.
LECTURE_MATMUL = {
    "matmul_loops": "415 ms (5 rows)",
    "matmul_broadcast": "663 ms (all rows)",
    "matmul_einsum": "15 ms (all rows)",
    "matmul": "15 ms (all rows)",
}


def matmul_ladder(
    x: torch.Tensor,
    w: torch.Tensor,
    *,
    slow_rows: int = 5,
    repeat: int = 5,
    max_time: float = 8.0,
    caption: str = "",
) -> Ladder:
    """Time every rung of the matrix-product ladder on ``x @ w``.

    The rungs with Python loops over rows and columns run on the first
    ``slow_rows`` rows of ``x``; the others on all of ``x``. The table compares
    time per output row, with the lecture's figures in a last column.

    Parameters
    ----------
    x : torch.Tensor of shape (n, k)
    w : torch.Tensor of shape (k, m)
    slow_rows : int, default 5
        Rows for the slow rungs (loops, Numba, elementwise).
    repeat, max_time
        Passed to :func:`lessonlib.timing.bench` for every rung.
    caption : str
        What was multiplied; the hardware is added.

    Returns
    -------
    Ladder
    """
    matmul._check_matmul(x, w)
    if isinstance(slow_rows, bool) or not isinstance(slow_rows, int) or not 1 <= slow_rows <= x.shape[0]:
        raise ValueError(f"slow_rows must be an int in [1, {x.shape[0]}], got {slow_rows!r}")
    part = x[:slow_rows]
    rungs = [
        (matmul.matmul_loops, part),
        (matmul.matmul_njit, part),
        (matmul.matmul_elementwise, part),
        (matmul.matmul_broadcast, x),
        (matmul.matmul_einsum, x),
        (torch.matmul, x),
    ]
    timings = [
        bench(f, a, w, name=f"{f.__name__} ({a.shape[0]:,} rows)", repeat=repeat, max_time=max_time)
        for f, a in rungs
    ]
    rows = [a.shape[0] for _, a in rungs]
    return ladder(
        timings,
        work=rows,
        flops=[2 * r * w.shape[0] * w.shape[1] for r in rows],
        notes={"lecture (2022, its own hardware)": [LECTURE_MATMUL.get(f.__name__, "") for f, _ in rungs]},
        caption=caption,
    )


def square_gflops(n: int = 2048, *, repeat: int = 5, max_time: float = 8.0) -> float:
    """This machine's float32 GFLOP/s on an n×n by n×n product with torch: a practical peak."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    a = torch.randn(n, n)
    t = bench(torch.matmul, a, a, repeat=repeat, max_time=max_time)
    return 2 * n**3 / t.median / 1e9


def _data(rows: int):
    from .data import lecture_weights, load_mnist, mnist_like

    try:
        (x, _), _ = load_mnist()
        source = "MNIST"
    except FileNotFoundError:
        (x, _), _ = mnist_like(n_train=rows, n_valid=1)
        source = "synthetic data with MNIST's shapes"
    return x[:rows], lecture_weights(), source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lessonlib.bench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    mm = sub.add_parser("matmul", help="the matrix-product ladder and this machine's square-matmul GFLOP/s")
    mm.add_argument("--rows", type=int, default=50_000, help="rows of x for the fast rungs (default 50000)")
    mm.add_argument("--square", type=int, default=2048, help="size of the square matmul for the peak (default 2048)")
    args = parser.parse_args(argv)

    print(hardware.label())
    if args.what == "matmul":
        x, w, source = _data(args.rows)
        table = matmul_ladder(x, w, caption=f"({args.rows} × 784) @ (784 × 10) float32 on {source}")
        print(table)
        peak = square_gflops(args.square)
        best = float(table.frame["GFLOP/s"].iloc[-1])
        print(f"torch {args.square}² float32 matmul: {peak:.1f} GFLOP/s; "
              f"MNIST-shaped @: {best:.1f} GFLOP/s = {100 * best / peak:.0f}% of it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
