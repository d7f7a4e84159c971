"""The Benchmarks page's claim: every timing table in the lesson's chapters is made by a function of lessonlib.bench.

Each chapter's code cells are read (as the build reads them); in every cell
tagged ``timing``, each table it shows (``book.table(...)``, ``claims_table(...)``,
or a ladder left as the cell's value) must get its data from a function listed
in ``lessonlib.bench.BENCHMARKS``, followed through the page's assignments; and
no timing cell may time anything itself (``bench(...)``, ``perf_counter``,
``timeit``). ``how_it_runs`` is left out on purpose: it times four sums by hand
to show how the timer works, and the Benchmarks page says so.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest
import yaml

from lessonlib.bench import BENCHMARKS, Benchmark, benchmarks_frame

ROOT = Path(__file__).resolve().parents[1]
REGISTERED = {b.function.rsplit(".", 1)[1] for b in BENCHMARKS}
TIMERS = {"bench", "perf_counter", "timeit", "process_time", "monotonic"}
NOT_TABLES = {"print", "glue", "show", "display", "set", "legend", "savefig"}


def lesson_chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    part = next(p for p in toc["parts"] if p["caption"] == "The lesson")
    return [Path(c["file"]).name for c in part["chapters"]]


def code_cells(text: str) -> list[tuple[set, str]]:
    """``(tags, source)`` of each code cell of a MyST page, as myst-nb reads it."""
    import nbformat
    from myst_nb.core.read import read_myst_markdown_notebook

    nb = nbformat.from_dict(read_myst_markdown_notebook(text))
    return [(set(c.metadata.get("tags", [])), c.source) for c in nb.cells if c.cell_type == "code"]


def _name(func) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _calls(node) -> set[str]:
    return {_name(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)} - {None}


def _names(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _targets(target) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def _tables(tree: ast.Module) -> list[tuple[str, ast.AST]]:
    """The tables a cell shows: ``(what, the expression that holds its data)``."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            f = node.func
            if (isinstance(f, ast.Attribute) and f.attr == "table" and _names(f.value) == {"book"}) or \
                    _name(f) == "claims_table":
                out.append((ast.unparse(node)[:60], node.args[0]))
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr) and not (isinstance(last.value, ast.Call) and
                                           (_name(last.value.func) in NOT_TABLES or _name(last.value.func) == "table"
                                            or _name(last.value.func) == "claims_table")):
        if not isinstance(last.value, ast.Constant):
            out.append((ast.unparse(last.value)[:60], last.value))
    return out


def untraced(cells: list[tuple[set, str]]) -> list[str]:
    """What breaks the rule in a page's cells: a timing cell that times by itself, or a table from no benchmark."""
    problems, defs = [], {}
    for i, (tags, source) in enumerate(cells):
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    for name in _targets(t):
                        defs.setdefault(name, []).append(node.value)
        if "timing" not in tags:
            continue
        timers = _calls(tree) & TIMERS
        if timers:
            problems.append(f"cell {i}: times by itself ({', '.join(sorted(timers))}): {source[:80]!r}")
        for what, expr in _tables(tree):
            seen, todo, found = set(), [expr], False
            while todo and not found:
                e = todo.pop()
                if e is None:
                    continue
                if _calls(e) & REGISTERED:
                    found = True
                    break
                for name in _names(e) - seen:
                    seen.add(name)
                    todo.extend(defs.get(name, []))
            if not found:
                problems.append(f"cell {i}: the table {what!r} comes from no function of lessonlib.bench.BENCHMARKS")
    return problems


@pytest.mark.parametrize("page", lesson_chapters())
def test_every_timing_table_of_a_chapter_comes_from_a_registered_benchmark(page):
    cells = code_cells((ROOT / "book" / f"{page}.md").read_text())
    assert untraced(cells) == []


def test_the_check_finds_tables_in_the_chapters():
    """Not vacuous: the chapters' timing cells show tables, and each is traced."""
    count = 0
    for page in lesson_chapters():
        for tags, source in code_cells((ROOT / "book" / f"{page}.md").read_text()):
            if "timing" in tags:
                count += len(_tables(ast.parse(source)))
    assert count >= 12


PLANTED = '''---
jupytext:
  text_representation:
    format_name: myst
---

```{code-cell} ipython3
from lessonlib import book
from lessonlib.timing import bench
import pandas as pd
```

```{code-cell} ipython3
:tags: [timing]
rows = []
for n in (10, 100):
    rows.append({"n": n, "time (s)": bench(sum, range(n)).median})
book.table(pd.DataFrame(rows), caption="a loop of its own")
```
'''


def test_a_planted_cell_with_its_own_loop_fails():
    problems = untraced(code_cells(PLANTED))
    assert len(problems) == 2
    assert "times by itself (bench)" in problems[0] and "comes from no function" in problems[1]


def test_a_planted_table_from_no_benchmark_fails_even_without_a_timer():
    page = PLANTED.replace('bench(sum, range(n)).median', 'n * 1e-3')
    (problem,) = untraced(code_cells(page))
    assert "comes from no function of lessonlib.bench.BENCHMARKS" in problem


def test_a_table_from_a_registered_benchmark_passes():
    page = PLANTED.replace('''rows = []
for n in (10, 100):
    rows.append({"n": n, "time (s)": bench(sum, range(n)).median})
book.table(pd.DataFrame(rows), caption="a loop of its own")''', '''from lessonlib.bench.meanshift import meanshift_comparison
table = meanshift_comparison((60,))
shown = table[["n", "median (s)"]]
book.table(shown, caption="from the registry")''')
    assert untraced(code_cells(page)) == []


@pytest.mark.parametrize("b", BENCHMARKS, ids=lambda b: f"{b.chapter}:{b.function}")
def test_each_registered_function_exists_is_documented_and_is_used_by_its_chapter(b: Benchmark):
    fn = b.producer()
    doc = inspect.getdoc(fn) or ""
    assert len(doc) > 60, f"{b.function} has no docstring saying what it measures and returns"
    assert fn.__module__ == f"lessonlib.bench.{b.function.rsplit('.', 1)[0]}"
    text = (ROOT / "book" / f"{b.chapter}.md").read_text()
    assert re.search(rf"\b{fn.__name__}\b", text), f"{b.chapter}.md never names {fn.__name__}"
    assert b.command in ("", "matmul", "meanshift", "cluster", "claims")


def test_the_registry_table_has_one_row_per_benchmark():
    frame = benchmarks_frame()
    assert list(frame.columns) == ["table", "function", "chapter", "command"]
    assert len(frame) == len(BENCHMARKS) and frame.function.str.startswith("lessonlib.bench.").all()
    assert len(set(zip(frame.table, frame.chapter))) == len(frame)
