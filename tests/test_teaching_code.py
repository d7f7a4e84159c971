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
