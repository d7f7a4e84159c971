"""lessonlib.bench.meanshift at tiny sizes: the structure and sanity of each table, never its speed."""

import math

import pandas as pd
import pytest
import torch

from lessonlib.bench.claims import MEANSHIFT_CPU_ROWS
from lessonlib.bench.meanshift import (
    cpu_meanshift_timings,
    lecture_points,
    meanshift_batch_sweep,
    meanshift_comparison,
    scaling_slopes,
)


def test_cpu_meanshift_rows_time_the_lectures_loop_and_the_batched_version():
    t = cpu_meanshift_timings(torch.randn(40, 2, generator=torch.Generator().manual_seed(0)), repeat=1, max_time=1.0)
    assert list(t) == list(MEANSHIFT_CPU_ROWS) and [v.name for v in t.values()] == list(MEANSHIFT_CPU_ROWS)
    with pytest.raises(ValueError):
        cpu_meanshift_timings(torch.randn(4, 2, 2))
    assert lecture_points().shape == (1500, 2)


def test_batch_sweep_at_tiny_sizes_has_consistent_speed_ups():
    data = torch.randn(30, 2, generator=torch.Generator().manual_seed(1))
    sweep = meanshift_batch_sweep(data, (4, 16, 64), loop=True, repeat=1)
    f = sweep.frame
    assert list(f.index) == ["loop (meanshift)", "bs = 4", "bs = 16", "bs = n = 30"]  # 64 >= n is dropped
    assert f["lecture (2022)"].iloc[0] == "452 ms (notebook 02_meanshift)"  # the loop's one figure
    # × first is the first row's time over each row's; × previous, the row above's over each
    pd.testing.assert_series_equal(f["× first"], f["median (s)"].iloc[0] / f["median (s)"], check_names=False)
    assert f["× previous"].iloc[2] == pytest.approx(f["median (s)"].iloc[1] / f["median (s)"].iloc[2])
    assert "CPU" in sweep.caption and "30 points" in sweep.caption
    with pytest.raises(TypeError, match="batch_sizes must be a sequence"):
        meanshift_batch_sweep(data, 5)
    with pytest.raises(TypeError, match="loop must be True or False, got 'yes'"):
        meanshift_batch_sweep(data, loop="yes")
    with pytest.raises(ValueError, match="batch_sizes entries must be an int >= 1, got 0"):
        meanshift_batch_sweep(data, (0,))


def test_meanshift_comparison_at_tiny_sizes():
    table = meanshift_comparison((60, 120), batched_max=60, sklearn_default_max=60, repeat=1)
    assert list(table.columns) == ["n", "method", "median (s)", "ARI", "clusters", "note"]
    methods = ["meanshift_batched (bs=1024)", "meanshift_fast", "sklearn MeanShift, bin_seeding",
               "sklearn MeanShift, defaults"]
    assert list(table.method) == methods * 2 and list(table.n) == [60] * 4 + [120] * 4
    ran = table.dropna(subset=["median (s)"])
    skipped = table[table["median (s)"].isna()]
    # the two quadratic methods are skipped above their limit, and say so
    assert list(skipped.method) == [methods[0], methods[3]] and (skipped.n == 120).all()
    assert skipped.note.str.startswith("not run: quadratic, over 60 points").all()
    assert ((ran.ARI > -1) & (ran.ARI <= 1)).all() and (ran.clusters >= 1).all()
    # the lecture's six clusters, 10 points each: our versions find them
    ours = ran[ran.method.str.startswith("meanshift")]
    assert (ours.ARI > 0.9).all()


def test_meanshift_comparison_validates():
    with pytest.raises(ValueError, match="sizes entries must be an int >= 6"):
        meanshift_comparison((3,))
    with pytest.raises(TypeError, match="sizes must be a sequence"):
        meanshift_comparison(100)
    with pytest.raises(ValueError, match="bw must be a positive number"):
        meanshift_comparison((60,), bw=0)


def test_scaling_slopes_fit_a_power_law():
    # times worked out here: t = n^2 for one method, 3 n for the other, NaN rows left out
    n = [100, 1000, 10000]
    table = pd.DataFrame({"n": n * 2 + [100000], "method": ["a"] * 3 + ["b"] * 3 + ["a"],
                          "median (s)": [x**2 for x in n] + [3 * x for x in n] + [math.nan]})
    slopes = scaling_slopes(table)
    assert list(slopes) == ["a", "b"]
    assert slopes["a"] == pytest.approx(2.0) and slopes["b"] == pytest.approx(1.0)
    assert scaling_slopes(table[table.n == 100]) == {}  # one size: no slope
    with pytest.raises(ValueError, match="missing the columns"):
        scaling_slopes(table.drop(columns="n"))
