"""Code the reader sees fits the column and runs as shown: two build checks, each a warning (an error under ``-W``)
naming the page and its line.

1. No line of a visible notebook cell (a code cell not tagged ``remove-input`` or ``remove-cell``; ``hide-*`` cells
   are a click away, so they count) or of a ``teaching-code`` listing is longer than :data:`MAX_LINE`, what a code
   block shows at 1280 px with ``book/_static/lessonlib.css``. Outputs are measured on the built site by the browser
   test.
2. A reader who copies the visible cells of a page in order meets no ``NameError``: a visible cell reads names bound
   by itself or an earlier visible cell, builtins, or names no cell binds, never one that only hidden cells bind.
"""

from __future__ import annotations

import ast
import builtins

from docutils import nodes
from sphinx.util import logging
from teaching_code import bound_names  # book/_ext is on the path: a local extension

logger = logging.getLogger(__name__)

#: The longest line of code a reader sees: at 1280 px the stylesheet gives a code block 716 px of 13 px text, 91
#: characters; three to spare.
MAX_LINE = 88

HIDDEN = {"remove-input", "remove-cell"}
IPYTHON_NAMES = {"display", "get_ipython", "In", "Out", "exit", "quit"}


def long_lines(text: str, limit: int = MAX_LINE) -> list[tuple[int, str]]:
    """``(line number from 1, line)`` for every line of ``text`` longer than ``limit`` characters."""
    return [(n, line) for n, line in enumerate(text.splitlines(), 1) if len(line) > limit]


def visible(cell) -> bool:
    """A code cell whose code a reader can see (hidden behind a click counts as seen)."""
    return cell.cell_type == "code" and not HIDDEN & set(cell.metadata.get("tags", []))


def names(source: str) -> tuple[set[str], set[str]]:
    """``(bound, read)``: the names a cell binds anywhere in it (scopes merged: that can miss a problem,
    never invent one) and the names it reads; IPython lines (``%``, ``!``) are left out."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    try:
        tree = ast.parse(code)
    except SyntaxError:  # not Python (a cell magic's language): nothing to say
        return set(), set()
    return bound_names(tree), {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def hidden_only_reads(cells: list) -> list[tuple[int, list[str]]]:
    """``(index of the cell, names)`` for each visible cell that reads names only hidden cells bind."""
    code = [(i, c, names(c.source)) for i, c in enumerate(cells) if c.cell_type == "code"]
    by_hidden = {name for _, c, (bound, _) in code if not visible(c) for name in bound}
    seen = set(dir(builtins)) | IPYTHON_NAMES
    found = []
    for i, cell, (bound, read) in code:
        if not visible(cell):
            continue
        missing = sorted((read - bound - seen) & by_hidden)
        if missing:
            found.append((i, missing))
        seen |= bound | set(missing)  # each name named once, where a reader first meets it
    return found


def _first_line(lines: list[str], start: int, source: str) -> int:
    """The 1-based line of the page where a cell's code starts (its fence is line ``start + 1``)."""
    body = source.splitlines()
    return next((j + 1 for j in range(start + 1, len(lines)) if lines[j:j + len(body)] == body), start + 1)


def page_problems(text: str, limit: int = MAX_LINE) -> list[tuple[int, str]]:
    """``(line of the page, message)`` for each problem of a MyST notebook's visible cells."""
    from myst_nb.core.read import read_myst_markdown_notebook

    nb = read_myst_markdown_notebook(text, add_source_map=True)
    lines = text.splitlines()
    starts = {i: _first_line(lines, at, cell.source) for i, (cell, at)
              in enumerate(zip(nb.cells, nb.metadata["source_map"])) if cell.cell_type == "code"}
    number = {i: k for k, i in enumerate(sorted(starts), 1)}  # the code cells of the page, counted from 1
    problems = []
    for i, cell in enumerate(nb.cells):
        if visible(cell):
            for n, line in long_lines(cell.source, limit):
                problems.append((starts[i] + n - 1, f"a line of visible code cell {number[i]} has {len(line)} "
                                 f"characters, over the {limit} a code block shows at 1280 px: {line.strip()[:60]!r}"))
    for i, missing in hidden_only_reads(nb.cells):
        problems.append((starts[i], f"visible code cell {number[i]} reads {', '.join(map(repr, missing))}, which "
                         "only hidden cells (remove-input/remove-cell) define: a reader who copies the visible "
                         "cells gets a NameError; import or define it in a visible cell"))
    return sorted(problems)


def check_page(app, docname: str, source: list[str]) -> None:
    """``source-read``: warn about each problem of a notebook page's visible cells."""
    from myst_nb.core.read import is_myst_markdown_notebook

    if is_myst_markdown_notebook(source[0]):
        for line, message in page_problems(source[0], app.config.visible_code_max_line):
            logger.warning(message, location=(docname, line), type="visible_code", subtype="cell")


def check_listings(app, doctree: nodes.document) -> None:
    """``doctree-read``: warn about each line of a ``teaching-code`` listing over the width."""
    limit = app.config.visible_code_max_line
    for block in doctree.findall(nodes.literal_block):
        listing = block.get("teaching_code")
        if listing:
            for n, line in long_lines(block.astext(), limit):
                logger.warning(f"teaching-code {listing}: line {n} of the listing has {len(line)} characters, "
                               f"over the {limit} a code block shows at 1280 px: {line.strip()[:60]!r}",
                               location=block, type="visible_code", subtype="listing")


def setup(app):
    app.add_config_value("visible_code_max_line", MAX_LINE, "env", int)
    app.connect("source-read", check_page)
    app.connect("doctree-read", check_listings)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
