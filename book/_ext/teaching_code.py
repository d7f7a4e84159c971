"""``teaching-code``: ``literalinclude`` of a library function as taught, with two more flags.

``:no-docstring:`` drops the docstring (the API reference keeps it); ``:no-checks:`` drops, from the top of the body,
the statements that only validate input: calls to ``_check...``/``_require...`` helpers or to ``_checks.<anything>``
(as statements, or bound as in ``X = _checks.points("X", X)``), and ``if``/``for`` blocks that only check or raise.
The rest is the library's source, line for line: what is tested is what is shown.

A listing must run as shown. With ``:pyobject:`` the build fails, naming the page, the object and the name, when the
shown code reads a name that only a removed check defined (a check may re-bind an argument, never define a new name),
when a removed check replaced an argument's default None that the shown code then reads untested, when it reads a
name that neither the listing, its module nor the builtins define, or when the object is not in the file.
"""

from __future__ import annotations

import ast
import builtins
import textwrap

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.directives.code import LiteralInclude
from sphinx.errors import ExtensionError
from sphinx.pycode import ModuleAnalyzer


def _only_raises(stmt: ast.stmt) -> bool:
    """An ``if`` whose body only raises (no ``else``): an input check."""
    return isinstance(stmt, ast.If) and not stmt.orelse and all(isinstance(s, ast.Raise) for s in stmt.body)


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


def _is_check_if(stmt: ast.stmt) -> bool:
    """``if ...:`` (no ``else``) whose body only holds checks: ``if number is not None: _checks.integer(...)``."""
    return isinstance(stmt, ast.If) and not stmt.orelse and all(
        _only_raises(s) or _is_check_call(s) or _is_check_if(s) for s in stmt.body)


def _is_check_loop(stmt: ast.stmt) -> bool:
    """``for ...:`` whose body only holds checks."""
    return isinstance(stmt, ast.For) and not stmt.orelse and all(_only_raises(s) or _is_check_call(s)
                                                                  for s in stmt.body)


def _plan(code: str, *, docstring: bool, checks: bool):
    """``(definition node, 1-based lines to drop, removed check statements)`` for ``code``, or None."""
    src = textwrap.dedent(code)
    tree = ast.parse(src)
    if not tree.body or not isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return None
    body = tree.body[0].body
    drop, removed, i = set(), [], 0
    if docstring and ast.get_docstring(tree.body[0], clean=False) is not None:
        drop.update(range(body[0].lineno, body[0].end_lineno + 1))
        i = 1
    if checks:
        while i < len(body) and (_only_raises(body[i]) or _is_check_call(body[i]) or _is_check_loop(body[i])
                                 or _is_check_if(body[i])):
            drop.update(range(body[i].lineno, body[i].end_lineno + 1))
            removed.append(body[i])
            i += 1
    if i >= len(body):  # nothing left to show: keep the code as it is
        return tree.body[0], set(), []
    if drop:  # blank lines between what went and the first line shown go too: the body starts at once
        lines = src.splitlines()
        drop.update(n for n in range(min(drop), body[i].lineno) if not lines[n - 1].strip())
    return tree.body[0], drop, removed


def strip_code(code: str, *, docstring: bool, checks: bool) -> str:
    """Return ``code`` (one def or class) without its docstring and/or leading input checks."""
    plan = _plan(code, docstring=docstring, checks=checks)
    if plan is None or not plan[1]:
        return code
    _, drop, _ = plan
    src = textwrap.dedent(code)
    indent = len(code.splitlines()[0]) - len(code.splitlines()[0].lstrip()) if code.strip() else 0
    lines = [line for n, line in enumerate(src.splitlines(), 1) if n not in drop]
    return textwrap.indent("\n".join(lines), " " * indent) + ("\n" if code.endswith("\n") else "")


def bound_names(node: ast.AST) -> set[str]:
    """Every name bound anywhere inside ``node`` (scopes merged: a lenient, never a false alarm)."""
    names: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            names.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler, ast.MatchAs,
                            ast.MatchStar)) and n.name:
            names.add(n.name)
        elif isinstance(n, ast.arg):
            names.add(n.arg)
        elif isinstance(n, ast.alias):
            names.add((n.asname or n.name).split(".")[0])
        elif isinstance(n, (ast.Global, ast.Nonlocal)):
            names.update(n.names)
        elif isinstance(n, ast.MatchMapping) and n.rest:
            names.add(n.rest)
    return names


def _read(nodes_: list[ast.AST]) -> list[ast.Name]:
    """The names read in ``nodes_``, in source order."""
    found = [n for node in nodes_ for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
    return sorted(found, key=lambda n: (n.lineno, n.col_offset))


def module_names(module_source: str) -> set[str] | None:
    """Names a module binds at its top level (in ``if``/``try``/``with`` blocks too); None if it star-imports."""
    body = ast.parse(module_source).body
    if any(isinstance(s, ast.ImportFrom) and any(a.name == "*" for a in s.names) for s in body):
        return None
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {s.name for s in body if isinstance(s, defs)} | {
        n for s in body if not isinstance(s, defs) for n in bound_names(s)}


def _tests_none(name: str, nodes_: list[ast.AST]) -> bool:
    """Whether the shown code compares ``name`` with None or tests its truth (``if name``, ``x if name else y``)."""
    def is_name(e):
        return isinstance(e, ast.Name) and e.id == name

    for node in nodes_:
        for n in ast.walk(node):
            if isinstance(n, ast.Compare) and any(isinstance(op, (ast.Is, ast.IsNot, ast.Eq, ast.NotEq)) for op in n.ops):
                sides = [n.left, *n.comparators]
                if any(is_name(e) for e in sides) and any(isinstance(e, ast.Constant) and e.value is None for e in sides):
                    return True
            if isinstance(n, (ast.If, ast.IfExp, ast.While)):
                t = n.test.operand if isinstance(n.test, ast.UnaryOp) and isinstance(n.test.op, ast.Not) else n.test
                if is_name(t) or (isinstance(t, ast.BoolOp) and any(is_name(v) for v in t.values)):
                    return True
            if isinstance(n, ast.BoolOp) and any(is_name(v) for v in n.values[:-1]):  # same or default
                return True
    return False


def _none_defaults(fn: ast.AST) -> set[str]:
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return set()
    a = fn.args
    positional = [*a.posonlyargs, *a.args]
    pairs = list(zip(positional[len(positional) - len(a.defaults):], a.defaults)) + list(zip(a.kwonlyargs, a.kw_defaults))
    return {arg.arg for arg, d in pairs if isinstance(d, ast.Constant) and d.value is None}


def listing_problems(code: str, *, docstring: bool, checks: bool, module_source: str | None = None) -> list[str]:
    """Why ``code`` (one def or class), shown as ``strip_code`` shows it, would not run as shown; [] if it would.

    Each problem is one sentence that names the name. ``module_source`` is the
    file the code comes from: its top-level names count as defined.
    """
    plan = _plan(code, docstring=docstring, checks=checks)
    if plan is None:
        return []
    fn, _, removed = plan
    kept_body = [s for s in fn.body if s not in removed]
    shown = [*fn.decorator_list, *(fn.bases if isinstance(fn, ast.ClassDef) else []), *kept_body]
    params = set()
    if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        shown += [d for d in [*fn.args.defaults, *fn.args.kw_defaults] if d is not None]
        params = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
    defined = params | {fn.name} | {n for s in kept_body for n in bound_names(s)}
    by_check = {}
    for stmt in removed:
        for name in bound_names(stmt):
            by_check.setdefault(name, ast.get_source_segment(textwrap.dedent(code), stmt).splitlines()[0].strip())
    known = module_names(module_source) if module_source is not None else None
    problems, seen = [], set()
    for n in _read(shown):
        if n.id in defined or n.id in seen:
            continue
        seen.add(n.id)
        if n.id in by_check:
            problems.append(f"the shown code reads '{n.id}', which only a removed check line defined "
                            f"({by_check[n.id]!s}); define it in the function's body, after the checks")
        elif known is not None and n.id not in known and n.id not in dir(builtins):
            problems.append(f"the shown code reads '{n.id}', which neither the listing nor its module defines")
    reads = {n.id for n in _read(kept_body)}
    for name in sorted(_none_defaults(fn) & set(by_check) & reads):
        if not _tests_none(name, kept_body):
            problems.append(f"'{name}' is shown with the default None, and the line that replaced None was a "
                            f"removed check ({by_check[name]}); replace None in the function's body")
    return problems


class TeachingCode(LiteralInclude):
    option_spec = dict(LiteralInclude.option_spec, **{"no-docstring": directives.flag, "no-checks": directives.flag})

    def run(self):
        docstring, checks = "no-docstring" in self.options, "no-checks" in self.options
        for flag in ("no-docstring", "no-checks"):
            self.options.pop(flag, None)
        obj = self.options.get("pyobject")
        where = f"{self.env.doc2path(self.env.docname, False)}, line {self.lineno}: teaching-code {self.arguments[0]}"
        module_source = None
        if obj:
            _, filename = self.env.relfn2path(self.arguments[0], self.env.docname)
            try:
                with open(filename, encoding=self.options.get("encoding", self.config.source_encoding)) as f:
                    module_source = f.read()
            except OSError as exc:
                raise ExtensionError(f"{where}: cannot read the file ({exc})") from exc
            tags = ModuleAnalyzer.for_string(module_source, "").find_tags()
            if obj not in tags:
                raise ExtensionError(f"{where}: no object named {obj!r} in that file "
                                     f"(it has: {', '.join(sorted(tags)) or 'none'})")
        result = super().run()
        for node in result:
            for block in node.findall(nodes.literal_block) if not isinstance(node, nodes.literal_block) else [node]:
                source = block.astext()
                if obj:
                    problems = listing_problems(source, docstring=docstring, checks=checks, module_source=module_source)
                    if problems:
                        raise ExtensionError(f"{where}, object {obj!r} would not run as shown: " + "; ".join(problems))
                text = strip_code(source, docstring=docstring, checks=checks)
                # what visible_code.py names when a line is too wide for the column
                block["teaching_code"] = self.arguments[0] + (f", object {obj!r}" if obj else "")
                block.children = []
                block += nodes.Text(text)
                block.rawsource = text
        return result


def setup(app):
    app.add_directive("teaching-code", TeachingCode)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
