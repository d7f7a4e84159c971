import math
import time

import numpy as np
import pytest

from lessonlib import hardware
from lessonlib.timing import Ladder, Timing, bench, format_ratio, format_seconds, ladder


def test_bench_never_times_the_first_call():
    calls = []

    def slow_first():
        if not calls:
            time.sleep(0.2)  # stands in for a compiling first call
        calls.append(1)

    t = bench(slow_first, repeat=3, min_time=0.001)
    assert max(t.times) < 0.05
    assert len(calls) > t.repeat * t.number  # warm-up and calibration ran too


def test_bench_statistics_match_numpy():
    t = bench(sum, range(100), repeat=9, min_time=0.001)
    assert t.repeat == 9 and t.number >= 1
    assert t.min == pytest.approx(np.min(t.times))
    assert t.median == pytest.approx(np.median(t.times))
    q1, q3 = np.percentile(t.times, [25, 75])
    assert t.iqr == pytest.approx(q3 - q1)
    assert t.name == "sum"


def test_bench_measures_roughly_the_right_time():
    t = bench(time.sleep, 0.01, repeat=3, min_time=0.001)
    assert 0.009 < t.median < 0.05


def test_bench_passes_args_and_kwargs():
    seen = []
    bench(lambda a, *, b: seen.append((a, b)), 1, b=2, repeat=1, number=1)
    assert set(seen) == {(1, 2)}


def test_bench_respects_time_budget():
    t = bench(time.sleep, 0.05, repeat=50, max_time=0.2)
    assert 1 <= t.repeat <= 4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"warmup": 0}, "warmup must be an integer >= 1"),
        ({"repeat": 0}, "repeat must be an integer >= 1"),
        ({"number": 0}, "number must be an integer >= 1"),
        ({"min_time": 0}, "min_time must be > 0"),
        ({"max_time": -1}, "max_time must be > 0"),
    ],
)
def test_bench_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bench(sum, [1], **kwargs)


def test_bench_rejects_non_callable():
    with pytest.raises(ValueError, match="fn must be callable"):
        bench(3)


@pytest.mark.parametrize("times", [(), (0.0,), (float("nan"),), (-1.0,)])
def test_timing_rejects_bad_samples(times):
    with pytest.raises(ValueError, match="Timing 'x'"):
        Timing("x", times, 1)


def test_ladder_speedups_against_first_and_previous():
    rows = [Timing("slow", (8.0, 8.0), 1), Timing("mid", (2.0,), 1), Timing("fast", (0.5,), 1)]
    table = ladder(rows, flops=[1e9, 1e9, 1e9], nbytes=4e9, caption="Toy")
    f = table.frame
    np.testing.assert_allclose(f["× first"], [1, 4, 16])
    np.testing.assert_allclose(f["× previous"], [1, 4, 4])
    np.testing.assert_allclose(f["GFLOP/s"], [1 / 8, 1 / 2, 2])
    np.testing.assert_allclose(f["GB/s"], [0.5, 2, 8])
    assert table.speedup("fast") == pytest.approx(16)
    assert table.speedup("fast", over="mid") == pytest.approx(4)
    assert table.caption.startswith("Toy. Measured by this build on ")
    assert hardware.label() in table.caption


def test_ladder_renders_html_with_caption_and_units():
    rows = [Timing("a", (2e-3,), 1), Timing("b", (5e-6,), 1)]
    html = ladder(rows, caption="Units")._repr_html_()
    assert "<caption>Units. Measured by this build on" in html
    assert "2 ms" in html and "5 µs" in html and "400×" in html
    assert ">min<" not in html  # kept in .frame, left out of the page


def test_ladder_html_is_the_same_for_the_same_numbers():
    rows = [Timing("a", (2e-3,), 1), Timing("b", (5e-6,), 1)]
    assert ladder(rows)._repr_html_() == ladder(rows)._repr_html_()


def test_ladder_validates():
    good = Timing("a", (1.0,), 1)
    with pytest.raises(ValueError, match="timings is empty"):
        ladder([])
    with pytest.raises(ValueError, match="must be Timing objects"):
        ladder([1.0])
    with pytest.raises(ValueError, match="names must be unique"):
        ladder([good, good])
    with pytest.raises(ValueError, match="flops has 2 entries but there are 1 timings"):
        ladder([good], flops=[1, 2])
    with pytest.raises(ValueError, match="no row named 'zzz'"):
        ladder([good]).speedup("zzz")
    assert isinstance(ladder([good]), Ladder)


@pytest.mark.parametrize(
    "s, text", [(1.5, "1.5 s"), (0.0123, "12.3 ms"), (4.56e-5, "45.6 µs"), (7e-9, "7 ns"), (0.0, "0 ns")]
)
def test_format_seconds(s, text):
    assert format_seconds(s) == text


@pytest.mark.parametrize("x, text", [(153290.1, "153,290×"), (19.63, "19.6×"), (0.694, "0.69×"), (1.0, "1.00×")])
def test_format_ratio(x, text):
    assert format_ratio(x) == text


@pytest.mark.parametrize("x", [0.0, -2.0, math.inf, math.nan])
def test_format_ratio_rejects(x):
    with pytest.raises(ValueError, match="ratio must be finite"):
        format_ratio(x)


@pytest.mark.parametrize("s", [-1.0, math.inf, math.nan])
def test_format_seconds_rejects(s):
    with pytest.raises(ValueError, match="seconds must be finite"):
        format_seconds(s)


def test_ladder_with_work_compares_time_per_unit():
    rows = [Timing("loops, 5 rows", (1.0,), 1), Timing("fast, 1000 rows", (0.1,), 1)]
    table = ladder(rows, work=[5, 1000], notes={"quoted": ["415 ms", "15 ms"]})
    f = table.frame
    np.testing.assert_allclose(f["per row (s)"], [0.2, 1e-4])
    np.testing.assert_allclose(f["× first"], [1, 2000])
    assert table.speedup("fast, 1000 rows") == pytest.approx(2000)
    assert list(f["quoted"]) == ["415 ms", "15 ms"]
    assert "extrapolated" in table.caption
    html = table._repr_html_()
    assert ">per row<" in html and "415 ms" in html


def test_ladder_rejects_bad_work_and_notes():
    good = Timing("a", (1.0,), 1)
    with pytest.raises(ValueError, match="work entries must be > 0"):
        ladder([good], work=[0])
    with pytest.raises(ValueError, match=r"notes\['x'\] has 2 entries"):
        ladder([good], notes={"x": ["1", "2"]})
