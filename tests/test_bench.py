import pytest
import torch

from lessonlib.bench import LECTURE_MATMUL, main, matmul_ladder, square_gflops


def test_matmul_ladder_times_every_rung_with_the_lecture_beside_it():
    g = torch.Generator().manual_seed(0)
    x, w = torch.rand(37, 20, generator=g), torch.randn(20, 3, generator=g)
    table = matmul_ladder(x, w, slow_rows=3, repeat=1, max_time=1.0)
    f = table.frame
    assert list(f.index) == [
        "matmul_loops (3 rows)", "matmul_njit (3 rows)", "matmul_elementwise (3 rows)",
        "matmul_broadcast (37 rows)", "matmul_einsum (37 rows)", "matmul (37 rows)",
    ]
    lecture = f["lecture (2022, its own hardware)"]
    assert lecture.iloc[0] == LECTURE_MATMUL["matmul_loops"] and lecture.iloc[1] == ""
    # per-row times: the median divided by the rows each rung produced
    torch.testing.assert_close(
        torch.tensor(f["per row (s)"].to_numpy()),
        torch.tensor((f["median (s)"] / [3, 3, 3, 37, 37, 37]).to_numpy()),
    )
    assert f["GFLOP/s"].gt(0).all()


@pytest.mark.parametrize("slow_rows", [0, 38, 2.0])
def test_matmul_ladder_rejects_bad_slow_rows(slow_rows):
    with pytest.raises(ValueError, match=r"slow_rows must be an int in \[1, 37\]"):
        matmul_ladder(torch.rand(37, 4), torch.rand(4, 2), slow_rows=slow_rows)


def test_matmul_ladder_checks_shapes():
    with pytest.raises(ValueError, match=r"a.shape\[1\] \(4\) must equal b.shape\[0\] \(5\)"):
        matmul_ladder(torch.rand(7, 4), torch.rand(5, 2))


def test_square_gflops_positive_and_validated():
    assert square_gflops(32, repeat=1, max_time=1.0) > 0
    with pytest.raises(ValueError, match="n must be a positive int"):
        square_gflops(0)


def test_cli_matmul(capsys):
    assert main(["matmul", "--rows", "40", "--square", "32"]) == 0
    out = capsys.readouterr().out
    assert "matmul_einsum (40 rows)" in out and "GFLOP/s" in out and "% of it" in out
