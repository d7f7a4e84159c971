"""The matrix-product ladder on the CPU, a square product's GFLOP/s and how fast torch reads memory:
the tables of "Einstein summation".
"""

from __future__ import annotations

import torch

from .. import _checks
from .. import matmul as mm
from ..lecture import FIGURES
from ..timing import Ladder, Timing, bench, ladder

BROADCAST_SLOW = "matmul_broadcast (slow rows)"  # broadcasting on the slow rungs' rows, as the lecture compared it
# Each rung's key -> the lecture's figure for it (lessonlib.lecture), quoted beside it.
LECTURE_RUNGS = {"matmul_loops": "loops", "matmul_njit": "njit", "matmul_elementwise": "elementwise",
                 BROADCAST_SLOW: "broadcast_5", "matmul_broadcast": "broadcast", "matmul_einsum": "einsum",
                 "matmul": "torch_cpu"}


def matmul_ladder(x: torch.Tensor, w: torch.Tensor, *, slow_rows: int = 5, repeat: int = 5,
                  max_time: float = 8.0, caption: str = "") -> Ladder:
    """Time every rung of the matrix-product ladder on ``x @ w`` (``x`` (n, k), ``w`` (k, m)), per row.

    The loops, and broadcasting too (key ``BROADCAST_SLOW``), run on ``slow_rows`` rows; broadcasting,
    einsum and ``@`` on all of ``x``; ``repeat`` and ``max_time`` go to :func:`lessonlib.timing.bench`.
    Returns a Ladder keyed by ``LECTURE_RUNGS``, with the lecture's figures in a last column.
    """
    x, w = _checks.matmul_operands(x, w, ("x", "w"))
    _checks.integer("slow_rows", slow_rows, low=1, high=x.shape[0])
    _checks.integer("repeat", repeat, low=1)
    _checks.positive("max_time", max_time)
    _checks.text("caption", caption, empty=True)
    fns = (mm.matmul_loops, mm.matmul_njit, mm.matmul_elementwise, mm.matmul_broadcast, mm.matmul_broadcast,
           mm.matmul_einsum, torch.matmul)
    keys, inputs = list(LECTURE_RUNGS), [x[:slow_rows]] * 4 + [x] * 3
    names = [f"{f.__name__} ({len(a):,} rows{', as the loops' if k == BROADCAST_SLOW else ''})"
             for k, f, a in zip(keys, fns, inputs)]
    timings = [bench(f, a, w, name=name, repeat=repeat, max_time=max_time) for f, a, name in zip(fns, inputs, names)]
    rows = [len(a) for a in inputs]
    return ladder(timings, work=rows, flops=[2 * r * w.shape[0] * w.shape[1] for r in rows], caption=caption,
                  notes={"lecture (2022, its own hardware)": [str(FIGURES[LECTURE_RUNGS[k]]) for k in keys]}, keys=keys)


def square_gflops(n: int = 2048, *, repeat: int = 5, max_time: float = 8.0) -> float:
    """This machine's float32 GFLOP/s on torch's n × n product (``2 n³`` over the median time): a
    practical peak. ``repeat`` and ``max_time`` go to :func:`lessonlib.timing.bench`.
    """
    n = _checks.integer("n", n, low=1, high=2**14)  # 1 GiB a matrix
    _checks.integer("repeat", repeat, low=1)
    _checks.positive("max_time", max_time)
    a = torch.randn(n, n)
    t = bench(torch.matmul, a, a, repeat=repeat, max_time=max_time)
    return 2 * n**3 / t.median / 1e9


def read_speed(x: torch.Tensor, *, repeat: int = 5, max_time: float = 4.0) -> tuple[Timing, float]:
    """How fast torch reads a non-empty ``x`` once: the Timing of ``torch.sum(x)``, and ``x``'s bytes
    over its median, in GB/s.
    """
    x = _checks.tensor("x", x, convert=False)
    if x.numel() == 0:
        raise ValueError(f"x is empty: shape {tuple(x.shape)}")
    _checks.integer("repeat", repeat, low=1)
    _checks.positive("max_time", max_time)
    t = bench(torch.sum, x, repeat=repeat, max_time=max_time, name="torch.sum")
    return t, x.numel() * x.element_size() / t.median / 1e9


def ladder_rows(table: Ladder) -> dict:
    """A :func:`matmul_ladder` table's rows by key, with the rows of ``x`` each ran on:
    ``{"matmul_loops": (5, row), ...}``, each ``row`` a pandas Series.
    """
    _checks.instance("table", table, Ladder, "a Ladder from matmul_ladder")
    if table.work is None:
        raise ValueError("table has no work per row: make it with matmul_ladder (or ladder(..., work=...))")
    rows = (row for _, row in table.frame.iterrows())
    return {key: (int(work), row) for key, work, row in zip(table.keys, table.work, rows)}


def ladder_per_row(table: Ladder) -> dict[str, float]:
    """Seconds per output row of each rung of a :func:`matmul_ladder` table, by function name."""
    return {fn: float(row["median (s)"]) / rows for fn, (rows, row) in ladder_rows(table).items()}
