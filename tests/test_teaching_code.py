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


# --- a listing must run as shown ------------------------------------------------------------------------
listing_problems = teaching_code.listing_problems

MODULE = "import torch\n\nSCALE = 2\n\ndef _check_args(a, b):\n    return a, b, a\n"

REF_ONLY_IN_A_CHECK = '''def f(a, b):
    """Doc."""
    a, b, ref = _check_args(a, b)
    return (a - ref) * b
'''


def test_a_name_only_a_removed_check_defined_is_refused_by_name():
    problems = listing_problems(REF_ONLY_IN_A_CHECK, docstring=True, checks=True, module_source=MODULE)
    assert len(problems) == 1 and "'ref'" in problems[0] and "_check_args" in problems[0]
    # the same code with its checks shown runs as shown: nothing to say
    assert listing_problems(REF_ONLY_IN_A_CHECK, docstring=True, checks=False, module_source=MODULE) == []


def test_a_check_that_re_binds_arguments_only_is_fine():
    code = "def f(a, b):\n    a, b = _check_args(a, b)\n    return torch.tensor(a) * b * SCALE\n"
    assert listing_problems(code, docstring=True, checks=True, module_source=MODULE) == []


def test_a_none_default_replaced_only_in_a_removed_check_is_refused():
    code = ("def loss(x, same=None):\n    x, same = _check_args(x, same)\n    return x @ same\n")
    problems = listing_problems(code, docstring=True, checks=True, module_source=MODULE)
    assert len(problems) == 1 and "'same'" in problems[0] and "None" in problems[0]
    fixed = ("def loss(x, same=None):\n    x, same = _check_args(x, same)\n    if same is None:\n"
             "        same = torch.eye(len(x))\n    return x @ same\n")
    assert listing_problems(fixed, docstring=True, checks=True, module_source=MODULE) == []


def test_a_name_neither_the_listing_nor_its_module_defines_is_refused():
    code = "def f(a):\n    b = [a * k for k in range(3)]\n    return undefined_thing(b, SCALE)\n"
    problems = listing_problems(code, docstring=True, checks=True, module_source=MODULE)
    assert len(problems) == 1 and "'undefined_thing'" in problems[0]
    # builtins (range), comprehension variables (k), locals (b), module globals (SCALE) all count as defined
    assert listing_problems(code, docstring=True, checks=True,
                            module_source=MODULE + "def undefined_thing(b, s):\n    return b\n") == []


def test_a_method_may_use_its_class_and_module():
    code = "    def __mul__(self, other):\n        return Dual(self.a * other.a, SCALE)\n"
    assert listing_problems(code, docstring=True, checks=True, module_source=MODULE + "class Dual:\n    pass\n") == []
    assert "'Dual'" in listing_problems(code, docstring=True, checks=True, module_source=MODULE)[0]


def test_every_listing_the_book_shows_runs_as_shown():
    """Every ``{teaching-code}`` with ``:pyobject:`` in book/*.md: object found, no problem reported."""
    import re

    from sphinx.pycode import ModuleAnalyzer

    seen = 0
    for md in sorted((ROOT / "book").glob("*.md")):
        text = md.read_text(encoding="utf-8")
        for m in re.finditer(r"```\{teaching-code\} (\S+)\n((?::[^\n]*\n)*)", text):
            opts = dict(re.findall(r":([\w-]+):[ \t]*([^\n]*)", m.group(2)))
            if "pyobject" not in opts:
                continue
            path = (md.parent / m.group(1)).resolve()
            src = path.read_text(encoding="utf-8")
            tags = ModuleAnalyzer.for_string(src, "").find_tags()
            assert opts["pyobject"] in tags, (md.name, opts["pyobject"])
            _, start, end = tags[opts["pyobject"]]
            code = "\n".join(src.splitlines()[start - 1:end]) + "\n"
            problems = listing_problems(code, docstring="no-docstring" in opts, checks="no-checks" in opts,
                                        module_source=src)
            assert problems == [], (md.name, opts["pyobject"], problems)
            seen += 1
    assert seen >= 10  # the scan found the book's listings


def _run_directive(tmp_path, body):
    """Build a one-page Sphinx project using the directive; return (status, warnings) or raise."""
    from sphinx.application import Sphinx

    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(f"import sys\nsys.path.insert(0, {str(ROOT / 'book/_ext')!r})\n"
                                 "extensions = ['teaching_code']\n")
    (src / "lib.py").write_text(MODULE + "\n" + REF_ONLY_IN_A_CHECK + "\ndef g(a):\n    \"\"\"Doc.\"\"\"\n"
                                "    _check_args(a, a)\n    return a * SCALE\n")
    (src / "index.rst").write_text(body)
    app = Sphinx(str(src), str(src), str(tmp_path / "out"), str(tmp_path / "doctrees"), "html",
                 status=None, warning=None, freshenv=True)
    app.build()
    return (tmp_path / "out" / "index.html").read_text()


def test_the_directive_fails_the_build_naming_page_object_and_name(tmp_path):
    from sphinx.errors import ExtensionError

    with pytest.raises(ExtensionError, match=r"index.*'f'.*'ref'"):
        _run_directive(tmp_path, "Title\n=====\n\n.. teaching-code:: lib.py\n   :pyobject: f\n   :no-docstring:\n"
                                 "   :no-checks:\n")


def test_the_directive_fails_on_a_missing_object(tmp_path):
    from sphinx.errors import ExtensionError

    with pytest.raises(ExtensionError, match=r"index.*no object named 'nowhere'"):
        _run_directive(tmp_path, "Title\n=====\n\n.. teaching-code:: lib.py\n   :pyobject: nowhere\n")


def test_the_directive_shows_a_good_listing_stripped(tmp_path):
    html = _run_directive(tmp_path, "Title\n=====\n\n.. teaching-code:: lib.py\n   :pyobject: g\n"
                                    "   :no-docstring:\n   :no-checks:\n")
    assert "SCALE" in html and "_check_args" not in html and "Doc." not in html


def test_an_if_whose_body_only_checks_is_a_check():
    code = ("def t(n=None, m=1):\n    if n is not None:\n        _checks.integer(\"n\", n)\n"
            "    if m > 0:\n        if m > 9:\n            raise ValueError(\"m\")\n    k = 2 * m\n"
            "    if k:\n        _checks.integer(\"k\", k)\n    return k\n")
    # the two leading ifs go; the one after real work stays, as checks do
    assert strip_code(code, docstring=True, checks=True) == (
        "def t(n=None, m=1):\n    k = 2 * m\n    if k:\n        _checks.integer(\"k\", k)\n    return k\n")
    # an if that does anything besides checking is kept
    work = "def u(n=None):\n    if n is None:\n        n = 3\n    return n\n"
    assert strip_code(work, docstring=True, checks=True) == work


def test_no_blank_line_is_left_where_the_checks_were():
    code = "def v(a):\n    \"\"\"Doc.\"\"\"\n    _check_a(a)\n\n    b = a + 1\n\n    return b\n"
    assert strip_code(code, docstring=True, checks=True) == "def v(a):\n    b = a + 1\n\n    return b\n"


def test_no_blank_line_is_left_between_checks_that_went():
    code = "def w(a):\n    _check_a(a)\n\n    _check_a(a)\n\n    return a\n"
    assert strip_code(code, docstring=True, checks=True) == "def w(a):\n    return a\n"
