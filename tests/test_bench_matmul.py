"""lessonlib.bench.matmul: the ladder's rows and their sanity, and its checks (no timing assertions)."""

import pytest
import torch

from lessonlib.bench.matmul import (BROADCAST_SLOW, LECTURE_RUNGS, ladder_per_row, ladder_rows, matmul_ladder,
                                    read_speed, square_gflops)
from lessonlib.bench.claims import MATMUL_CPU_ROWS


def _xw(rows=37):
    g = torch.Generator().manual_seed(0)
    return torch.rand(rows, 20, generator=g), torch.randn(20, 3, generator=g)


def _fake_bench(monkeypatch, per_row=1e-3):
    """Replace the clock: each call "takes" ``per_row`` seconds per row of its first argument, and is recorded."""
    from lessonlib.bench import matmul as bm
    from lessonlib.timing import Timing

    calls = []

    def fake(f, a, w, *, name, **_):
        calls.append((f.__name__, tuple(a.shape), tuple(w.shape)))
        return Timing(name, (per_row * a.shape[0],), 1)

    monkeypatch.setattr(bm, "bench", fake)
    return calls


def test_matmul_ladder_runs_each_rung_on_its_rows_and_counts_its_flops(monkeypatch):
    calls = _fake_bench(monkeypatch)
    x, w = _xw()
    table = matmul_ladder(x, w, slow_rows=3)
    names = ["matmul_loops", "matmul_njit", "matmul_elementwise", "matmul_broadcast", "matmul_broadcast",
             "matmul_einsum", "matmul"]
    rows = [3, 3, 3, 3, 37, 37, 37]  # broadcasting twice: on the loops' rows, as the lecture compared it, and on all
    assert calls == [(n, (r, 20), (20, 3)) for n, r in zip(names, rows)]
    f = table.frame
    assert list(f.index) == [f"{n} ({r} rows{', as the loops' if i == 3 else ''})"
                             for i, (n, r) in enumerate(zip(names, rows))]
    assert table.keys == list(LECTURE_RUNGS) and table.keys[3] == BROADCAST_SLOW and table.work == rows
    lecture = f["lecture (2022, its own hardware)"]
    assert lecture.iloc[0] == "421 ms (notebook 01_matmul)" and lecture.iloc[3] == "70.1 µs (notebook 01_matmul)"
    # 1 ms per row on every rung: every speed-up is 1, and a row's 3 outputs of 20 multiply-adds are 120 flop
    assert f["per row (s)"].tolist() == pytest.approx([1e-3] * 7) and f["× first"].tolist() == pytest.approx([1.0] * 7)
    assert f["GFLOP/s"].tolist() == pytest.approx([120 / 1e-3 / 1e9] * 7)


@pytest.mark.parametrize("slow_rows", [0, 38])
def test_matmul_ladder_rejects_bad_slow_rows(slow_rows):
    with pytest.raises(ValueError, match=r"slow_rows must be an int in \[1, 37\]"):
        matmul_ladder(torch.rand(37, 4), torch.rand(4, 2), slow_rows=slow_rows)
    with pytest.raises(TypeError, match=r"slow_rows must be an int, got 2.0"):
        matmul_ladder(torch.rand(37, 4), torch.rand(4, 2), slow_rows=2.0)


def test_matmul_ladder_checks_shapes():
    with pytest.raises(ValueError, match=r"x.shape\[1\] \(4\) must equal w.shape\[0\] \(5\)"):
        matmul_ladder(torch.rand(7, 4), torch.rand(5, 2))
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got None"):  # it said "a must be" before
        matmul_ladder(None, torch.rand(5, 2))
    with pytest.raises(ValueError, match="w must be floating point"):
        matmul_ladder(torch.rand(7, 4), torch.ones(4, 2, dtype=torch.long))


def test_square_gflops_is_the_flops_over_the_median(monkeypatch):
    from lessonlib.bench import matmul as bm
    from lessonlib.timing import Timing

    monkeypatch.setattr(bm, "bench", lambda f, a, b, **_: Timing("mm", (0.5, 0.25, 1.0), 1))
    assert square_gflops(100) == pytest.approx(2 * 100**3 / 0.5 / 1e9)  # the median of the three samples
    with pytest.raises(ValueError, match=r"n must be an int in \[1, 16384\], got 0"):
        square_gflops(0)
    with pytest.raises(TypeError, match="n must be an int"):
        square_gflops(2.0)


def test_read_speed_is_bytes_over_the_median():
    x = torch.rand(1000, 10)
    t, gbs = read_speed(x, repeat=2, max_time=0.5)
    assert t.name == "torch.sum" and gbs == pytest.approx(1000 * 10 * 4 / t.median / 1e9)
    with pytest.raises(ValueError, match="x is empty"):
        read_speed(torch.rand(0, 3))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        read_speed([1.0, 2.0])


def test_ladder_per_row_reads_the_cpu_ladder(monkeypatch):
    _fake_bench(monkeypatch, per_row=2e-3)
    x, w = _xw()
    table = matmul_ladder(x, w, slow_rows=3)
    per_row = ladder_per_row(table)
    assert set(MATMUL_CPU_ROWS) <= set(per_row)
    assert per_row == pytest.approx(dict.fromkeys(per_row, 2e-3))
    assert {fn: rows for fn, (rows, _) in ladder_rows(table).items()}["matmul_einsum"] == 37
    with pytest.raises(TypeError, match="table must be a Ladder"):
        ladder_per_row(table.frame)
    from lessonlib.timing import Timing, ladder

    with pytest.raises(ValueError, match="table has no work per row"):
        ladder_per_row(ladder([Timing("a", (1.0,), 1)]))
