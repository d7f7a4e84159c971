"""book/_ext/teaching_code.py: library code shown without its docstring and input checks."""

from __future__ import annotations

import ast
import importlib.util
import inspect
from pathlib import Path

import pytest

from lessonlib import matmul, meanshift

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("teaching_code", ROOT / "book/_ext/teaching_code.py")
teaching_code = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(teaching_code)
strip_code = teaching_code.strip_code

SAMPLE = '''def f(a, b):
    """Add.

    Long docstring.
    """
    _check_thing(a)
    if b < 0:
        raise ValueError("b")
    for x in (a, b):
        if x is None:
            raise TypeError("x")
    c = a + b  # the idea
    if c > 10:
        c = 10
    return c
'''


def test_strips_docstring_and_leading_checks_only():
    out = strip_code(SAMPLE, docstring=True, checks=True)
    assert out == 'def f(a, b):\n    c = a + b  # the idea\n    if c > 10:\n        c = 10\n    return c\n'


def test_docstring_only_keeps_checks():
    out = strip_code(SAMPLE, docstring=True, checks=False)
    assert '"""' not in out and "_check_thing(a)" in out and "raise ValueError" in out


def test_nothing_asked_nothing_changed():
    assert strip_code(SAMPLE, docstring=False, checks=False) == SAMPLE


def test_a_method_keeps_its_indentation():
    method = '    def m(self):\n        """Doc."""\n        return 1\n'
    assert strip_code(method, docstring=True, checks=True) == "    def m(self):\n        return 1\n"


@pytest.mark.parametrize("fn", [matmul.matmul_loops, matmul.dist_b, meanshift.meanshift_batched, meanshift.gaussian])
def test_library_code_stays_valid_python_with_the_same_statements_after_the_checks(fn):
    src = inspect.getsource(fn)
    out = strip_code(src, docstring=True, checks=True)
    ast.parse(out)
    assert '"""' not in out
    # the last statement (the result) is kept, line for line
    assert src.rstrip().splitlines()[-1] == out.rstrip().splitlines()[-1]


CHECKS_MODULE = '''def g(X, k, seed=0):
    """Doc."""
    X = _checks.points("X", X, convert=True)
    _checks.integer("k", k, low=1)
    a, b = _checks.matmul_operands(X, X.T)
    gen = torch.Generator().manual_seed(_checks.seed("seed", seed))
    return a @ b, gen
'''


def test_calls_to_the_checks_module_go_as_statements_and_as_assignments():
    out = strip_code(CHECKS_MODULE, docstring=True, checks=True)
    # the three leading checks go; a check nested inside real work stays, and so does the result
    assert out == ('def g(X, k, seed=0):\n    gen = torch.Generator().manual_seed(_checks.seed("seed", seed))\n'
                   '    return a @ b, gen\n')


@pytest.mark.parametrize("line", [
    "    X = other.points(X)",  # not the checks module
    "    X[0] = _checks.points(\"X\", X)",  # a subscript target writes into data: not a pure check
    "    X = _checks.points(\"X\", X) + 1",  # a check inside an expression: real work
    "    y = _checks",  # no call
])
def test_look_alikes_are_kept(line):
    code = f"def h(X):\n{line}\n    return X\n"
    assert strip_code(code, docstring=True, checks=True) == code


def test_a_tuple_of_checks_bound_to_names_goes_too():
    code = ("def k(a, b):\n    a, b = _checks.tensor(\"a\", a), _check_b(b)\n"
            "    c, d = _checks.tensor(\"a\", a), a + 1\n    return c, d\n")
    # the first line is checks only; the second does work (a + 1) beside its check, so it stays
    assert strip_code(code, docstring=True, checks=True) == (
        "def k(a, b):\n    c, d = _checks.tensor(\"a\", a), a + 1\n    return c, d\n")


def test_the_functions_chapters_teach_show_no_check_line():
    from lessonlib import cluster, inverse, lsh

    for fn in (matmul.matmul_loops, meanshift.meanshift, meanshift.meanshift_batched,
               cluster.sq_dists, cluster.components, lsh.keys, inverse.clip_loss, inverse.invert,
               inverse.interrogate):
        src = inspect.getsource(fn)
        out = strip_code(src, docstring=True, checks=True)
        assert len(out.splitlines()) < len(src.splitlines()), fn.__name__  # something was dropped
        shown = out.splitlines()[1:]
        assert not [line for line in shown if "_check" in line or "raise " in line], (fn.__name__, out)
