"""lessonlib.bench.matmul: the ladder's rows and their sanity, and its checks (no timing assertions)."""

import pytest
import torch

from lessonlib.bench.matmul import LECTURE_MATMUL, ladder_per_row, ladder_rows, matmul_ladder, read_speed, square_gflops
from lessonlib.bench.claims import MATMUL_CPU_ROWS


def _xw(rows=37):
    g = torch.Generator().manual_seed(0)
    return torch.rand(rows, 20, generator=g), torch.randn(20, 3, generator=g)


def test_matmul_ladder_times_every_rung_with_the_lecture_beside_it():
    x, w = _xw()
    table = matmul_ladder(x, w, slow_rows=3, repeat=1, max_time=1.0)
    f = table.frame
    assert list(f.index) == [
        "matmul_loops (3 rows)", "matmul_njit (3 rows)", "matmul_elementwise (3 rows)",
        "matmul_broadcast (37 rows)", "matmul_einsum (37 rows)", "matmul (37 rows)",
    ]
    lecture = f["lecture (2022, its own hardware)"]
    assert lecture.iloc[0] == LECTURE_MATMUL["matmul_loops"] and lecture.iloc[1] == LECTURE_MATMUL["matmul_njit"]
    rows = torch.tensor([3, 3, 3, 37, 37, 37], dtype=torch.float64)
    median = torch.tensor(f["median (s)"].to_numpy())
    torch.testing.assert_close(torch.tensor(f["per row (s)"].to_numpy()), median / rows)
    # GFLOP/s from the flop count worked out here: 2 multiply-adds' worth per output number
    torch.testing.assert_close(torch.tensor(f["GFLOP/s"].to_numpy(dtype=float)), 2 * rows * 20 * 3 / median / 1e9)
    per_row = median / rows
    torch.testing.assert_close(torch.tensor(f["× first"].to_numpy()), per_row[0] / per_row)
    assert (f["median (s)"] > 0).all() and (f["min (s)"] <= f["median (s)"]).all()


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


def test_square_gflops_positive_and_validated():
    assert square_gflops(32, repeat=1, max_time=1.0) > 0
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        square_gflops(0)
    with pytest.raises(TypeError, match="n must be an int"):
        square_gflops(2.0)


def test_read_speed_is_bytes_over_the_median():
    x = torch.rand(1000, 10)
    t, gbs = read_speed(x, repeat=2, max_time=0.5)
    assert t.median > 0 and gbs == pytest.approx(1000 * 10 * 4 / t.median / 1e9)
    with pytest.raises(ValueError, match="x is empty"):
        read_speed(torch.rand(0, 3))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        read_speed([1.0, 2.0])


def test_ladder_per_row_reads_the_cpu_ladder():
    x, w = _xw()
    table = matmul_ladder(x, w, slow_rows=3, repeat=1, max_time=1.0)
    per_row = ladder_per_row(table)
    assert set(MATMUL_CPU_ROWS) <= set(per_row)
    assert per_row["matmul_loops"] == pytest.approx(table.frame["median (s)"].iloc[0] / 3)
    assert per_row["matmul"] == pytest.approx(table.frame["median (s)"].iloc[-1] / 37)
    assert {fn: rows for fn, (rows, _) in ladder_rows(table).items()}["matmul_einsum"] == 37
    with pytest.raises(TypeError, match="table must be a Ladder"):
        ladder_per_row(table.frame)
