"""``teaching-code``: show a library function as taught, without its docstring or input checks.

A chapter teaches the idea of a function; its numpydoc docstring (kept for the
API reference) and its argument checks would bury that idea in the reading
flow. This directive is ``literalinclude`` with two more flags::

    ```{teaching-code} ../lessonlib/matmul.py
    :pyobject: matmul_loops
    :no-docstring:
    :no-checks:
    ```

``:no-docstring:`` drops the function's (or class's) docstring.
``:no-checks:`` drops, from the top of the function body, the statements
that only validate input: calls to a ``_check...``/``_require...`` helper or
to ``_checks.<anything>`` (as a statement, or bound to names as in
``X = _checks.points("X", X)``), ``if ...: raise`` blocks, and ``isinstance``
guards that raise. The code shown is otherwise the
library's own source, line for line, so what is tested is what is shown.
"""

from __future__ import annotations

import ast
import textwrap

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.directives.code import LiteralInclude


def _only_raises(stmt: ast.stmt) -> bool:
    """An ``if`` whose body only raises (no ``else``): an input check."""
    return (
        isinstance(stmt, ast.If)
        and not stmt.orelse
        and all(isinstance(s, ast.Raise) for s in stmt.body)
    )


def _is_check(call: ast.expr) -> bool:
    """A call to an input check: ``_check_x(...)``/``_require_x(...)`` (bare or as ``module._check_x``),
    or anything in lessonlib's check module, ``_checks.name(...)``."""
    if not isinstance(call, ast.Call):
        return False
    f = call.func
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "_checks":
        return True
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
    return name.startswith("_check") or name.startswith("_require")


def _plain_target(t: ast.expr) -> bool:
    return isinstance(t, ast.Name) or (isinstance(t, ast.Tuple) and all(isinstance(e, ast.Name) for e in t.elts))


def _is_check_call(stmt: ast.stmt) -> bool:
    """A check as a statement, ``_check_x(...)``, or its result bound to names: ``X = _checks.points("X", X)``,
    ``a, b = _checks.tensor("a", a), _checks.tensor("b", b)``."""
    if isinstance(stmt, ast.Expr):
        return _is_check(stmt.value)
    if isinstance(stmt, ast.Assign):
        value = stmt.value
        checks = value.elts if isinstance(value, ast.Tuple) else [value]  # a, b = _check(a), _check(b)
        return all(_plain_target(t) for t in stmt.targets) and all(_is_check(v) for v in checks)
    return False


def _is_check_loop(stmt: ast.stmt) -> bool:
    """``for ...:`` whose body only holds checks."""
    return isinstance(stmt, ast.For) and not stmt.orelse and all(
        _only_raises(s) or _is_check_call(s) for s in stmt.body
    )


def strip_code(code: str, *, docstring: bool, checks: bool) -> str:
    """Return ``code`` (one def or class) without its docstring and/or leading input checks."""
    src = textwrap.dedent(code)
    indent = len(code.splitlines()[0]) - len(code.splitlines()[0].lstrip()) if code.strip() else 0
    tree = ast.parse(src)
    if not tree.body or not isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return code
    body = tree.body[0].body
    drop: set[int] = set()  # 1-based line numbers
    i = 0
    if docstring and body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        drop.update(range(body[0].lineno, body[0].end_lineno + 1))
        i = 1
    if checks:
        while i < len(body) and (_only_raises(body[i]) or _is_check_call(body[i]) or _is_check_loop(body[i])):
            drop.update(range(body[i].lineno, body[i].end_lineno + 1))
            i += 1
    if i >= len(body):  # nothing left to show: keep the code as it is
        return code
    lines = [line for n, line in enumerate(src.splitlines(), 1) if n not in drop]
    return textwrap.indent("\n".join(lines), " " * indent) + ("\n" if code.endswith("\n") else "")


class TeachingCode(LiteralInclude):
    option_spec = dict(LiteralInclude.option_spec, **{"no-docstring": directives.flag, "no-checks": directives.flag})

    def run(self):
        docstring = "no-docstring" in self.options
        checks = "no-checks" in self.options
        self.options.pop("no-docstring", None)
        self.options.pop("no-checks", None)
        result = super().run()
        for node in result:
            for block in node.findall(nodes.literal_block) if not isinstance(node, nodes.literal_block) else [node]:
                text = strip_code(block.astext(), docstring=docstring, checks=checks)
                block.children = []
                block += nodes.Text(text)
                block.rawsource = text
        return result


def setup(app):
    app.add_directive("teaching-code", TeachingCode)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
