"""The shared input checks, and a sweep of bad input over the public API.

The sweep's property: called with one argument replaced by junk, a public
function either accepts it (a reasonable alternative, such as a list for a
tensor) or raises ``TypeError``/``ValueError`` whose message names that
argument. Nothing else may come out (no ``AttributeError`` from deep inside
torch), and the other inputs are not mutated.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lessonlib import _checks, book, data, timing


def test_integer_rule():
    assert _checks.integer("n", np.int64(3), low=1) == 3
    for bad in (2.5, "3", True, None):
        with pytest.raises(TypeError, match="n must be an int"):
            _checks.integer("n", bad)
    with pytest.raises(ValueError, match=r"n must be an int in \[1, 5\], got 9"):
        _checks.integer("n", 9, low=1, high=5)
    with pytest.raises(ValueError, match="n must be an int <= 5"):
        _checks.integer("n", 9, high=5)


def test_real_rule():
    assert _checks.real("x", 2) == 2.0
    with pytest.raises(TypeError, match="x must be a number, got None"):
        _checks.real("x", None)
    with pytest.raises(TypeError, match="x must be a number, got list"):
        _checks.real("x", [1.0])
    with pytest.raises(ValueError, match="x must be finite"):
        _checks.real("x", math.inf)
    with pytest.raises(ValueError, match="x must be a number > 0"):
        _checks.real("x", 0, low=0, strict=True)
    assert _checks.real("x", 0, low=0) == 0.0


def test_seed_and_text_rules():
    assert _checks.seed(0) == 0 and _checks.seed(2**32 - 1) == 2**32 - 1
    with pytest.raises(ValueError, match="seed must be an int in"):
        _checks.seed(2**32)
    with pytest.raises(TypeError, match="caption must be a str"):
        _checks.text("caption", 3)
    with pytest.raises(ValueError, match="caption must not be empty"):
        _checks.text("caption", "  ")
    assert _checks.text("caption", "", empty=True) == ""


JUNK = [None, "x", "", 2.5, -1, 0, True, math.nan, math.inf, [], [1, 2], {}, object(),
        np.zeros(0), np.ones((2, 2)), torch.empty(0), torch.zeros(3, dtype=torch.int64),
        torch.full((2, 2), math.nan)]


def _frame():
    return pd.DataFrame({"a": [1.0, 2.0]})


def _timings():
    return [timing.Timing("a", (2.0,), 1), timing.Timing("b", (1.0,), 1)]


# function, valid keyword arguments (made fresh per call), the arguments to replace with junk
CASES = [
    (timing.format_seconds, lambda: {"s": 1.5}, ["s"]),
    (timing.format_ratio, lambda: {"x": 2.0}, ["x"]),
    (timing.bench, lambda: {"fn": math.pi.__abs__, "name": "s", "warmup": 1, "repeat": 1, "number": 1, "min_time": 0.001,
                            "max_time": 1.0, "sync": "block"},
     ["fn", "name", "warmup", "repeat", "number", "min_time", "max_time", "sync"]),
    (timing.ladder, lambda: {"timings": _timings(), "flops": 1.0, "nbytes": 1.0, "work": None, "work_unit": "row",
                             "notes": None, "caption": "c"},
     ["timings", "flops", "nbytes", "work", "work_unit", "notes", "caption"]),
    (timing.measured_caption, lambda: {"text": "t", "measured": None}, ["text", "measured"]),
    (book.seed_everything, lambda: {"seed": 1}, ["seed"]),
    (book.table, lambda: {"frame": _frame(), "caption": "c", "formats": None, "hide_index": False},
     ["frame", "caption", "formats", "hide_index"]),
    (data.mnist_like, lambda: {"n_train": 3, "n_valid": 2, "seed": 0}, ["n_train", "n_valid", "seed"]),
    (data.shapes_dataset, lambda: {"n": 2, "size": 16, "seed": 0}, ["n", "size", "seed"]),
    (data.git_blob_id, lambda: {"data": b"abc"}, ["data"]),
]


def _snapshot(value):
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, pd.DataFrame):
        return value.copy()
    return None


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(torch.nan_to_num(a), torch.nan_to_num(b))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b, equal_nan=True)
    if isinstance(a, pd.DataFrame):
        return a.equals(b)
    return True


@pytest.mark.parametrize("fn, valid, args", CASES, ids=[c[0].__qualname__ for c in CASES])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_bad_input_is_refused_by_name_or_accepted(fn, valid, args, data):
    arg = data.draw(st.sampled_from(args), label="argument")
    junk = data.draw(st.sampled_from(JUNK), label="junk")
    kwargs = valid()
    kwargs[arg] = junk
    before = {k: _snapshot(v) for k, v in kwargs.items()}
    try:
        fn(**kwargs)
    except (TypeError, ValueError) as exc:
        assert arg in str(exc), f"{fn.__qualname__}({arg}={junk!r}) raised {type(exc).__name__} without naming {arg}: {exc}"
    except Exception as exc:  # noqa: BLE001 - the property: nothing else comes out
        pytest.fail(f"{fn.__qualname__}({arg}={junk!r}) raised {type(exc).__name__}: {exc}")
    for k, v in kwargs.items():
        if before[k] is not None:
            assert _same(v, before[k]), f"{fn.__qualname__} mutated {k}"
