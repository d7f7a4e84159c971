"""book/_ext/visible_code.py: code the reader sees fits the column and runs as shown."""

from __future__ import annotations

import io
from pathlib import Path

from conftest import ROOT, book_ext

visible_code = book_ext("visible_code")
MAX_LINE = visible_code.MAX_LINE

FRONT = """---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  display_name: Python 3
  name: python3
---

# A page
"""


def page(*cells: tuple[str, str]) -> str:
    """A MyST notebook page from ``(tags, code)`` pairs, with a line of text between cells."""
    parts = [FRONT]
    for tags, code in cells:
        options = f":tags: [{tags}]\n" if tags else ""
        parts.append(f"Some text.\n\n```{{code-cell}} ipython3\n{options}{code}\n```\n")
    return "\n".join(parts)


def problems(text: str) -> list[tuple[int, str]]:
    return visible_code.page_problems(text)


# --- width ----------------------------------------------------------------------------------------------

def test_long_lines_names_each_line_over_the_limit():
    text = "short\n" + "x" * MAX_LINE + "\n" + "y" * (MAX_LINE + 1)
    assert visible_code.long_lines(text) == [(3, "y" * (MAX_LINE + 1))]


def test_a_long_line_in_a_visible_cell_is_named_with_its_line_on_the_page():
    long = "total = " + " + ".join(["1"] * 40)  # 125 characters
    text = page(("", "a = 1"), ("hide-input", f"b = 2\n{long}"))
    found = problems(text)
    assert len(found) == 1
    line, message = found[0]
    assert text.splitlines()[line - 1] == long  # the page's own line number
    assert "code cell 2" in message and f"{len(long)} characters" in message and "total = 1" in message


def test_a_long_line_in_a_hidden_cell_is_fine():
    long = "x = " + "1 + " * 40 + "1"
    for tags in ("remove-input", "remove-cell"):
        assert problems(page((tags, long))) == []


# --- a visible cell runs as shown ----------------------------------------------------------------------

def test_a_visible_cell_reading_a_name_only_a_hidden_cell_binds_is_named():
    text = page(("remove-input", "import numpy as np\nfrom functools import partial"),
                ("", "x = np.zeros(3)\ny = np.ones(3)"))
    found = problems(text)
    assert len(found) == 1
    line, message = found[0]
    assert text.splitlines()[line - 1] == "x = np.zeros(3)"
    assert "code cell 2" in message and "'np'" in message and "partial" not in message


def test_what_a_reader_can_run_is_fine():
    text = page(
        ("remove-cell", "import numpy as np\nscale = 2\nresult = 0"),
        ("", "import numpy as np\nscale = 3"),                   # binds them again, visibly
        ("hide-cell", "print(np.pi * scale, len([1]))"),         # an earlier visible cell, a builtin
        ("", "def f(result):\n    return [k * result for k in range(3)]"),  # a parameter, a loop variable
        ("", "display(undefined_anywhere)"),                    # IPython's display; a name nobody binds
    )
    assert problems(text) == []


def test_each_name_is_named_once_where_a_reader_first_meets_it():
    text = page(("remove-input", "import torch"), ("", "a = torch.ones(2)"), ("", "b = torch.zeros(2)"))
    found = problems(text)
    assert len(found) == 1 and "code cell 2" in found[0][1]


def test_a_name_a_later_hidden_cell_binds_counts_too():
    text = page(("", "print(threshold)"), ("remove-cell", "threshold = 0.5"))
    assert "'threshold'" in problems(text)[0][1]


def test_every_page_of_the_book_fits_and_runs_as_shown():
    checked = 0
    for md in sorted((ROOT / "book").glob("*.md")):
        text = md.read_text(encoding="utf-8")
        if text.startswith("---") and "format_name: myst" in text:
            assert problems(text) == [], md.name
            checked += 1
    assert checked >= 8  # the scan found the book's notebook pages


# --- in a Sphinx build: warnings that name the page and the line ---------------------------------------

def _build(tmp_path: Path, index: str, lib: str) -> str:
    """A one-page myst-nb build (nothing executed); returns the warnings."""
    from sphinx.application import Sphinx

    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(f"import sys\nsys.path.insert(0, {str(ROOT / 'book/_ext')!r})\n"
                                 "extensions = ['myst_nb', 'teaching_code', 'visible_code']\n"
                                 "nb_execution_mode = 'off'\n"
                                 "suppress_warnings = ['myst-nb.lexer']\n")  # no kernel to name the language
    (src / "index.md").write_text(index)
    (src / "lib.py").write_text(lib)
    warnings = io.StringIO()
    Sphinx(str(src), str(src), str(tmp_path / "out"), str(tmp_path / "doctrees"), "html",
           status=None, warning=warnings, freshenv=True).build()
    return warnings.getvalue()


def test_a_build_warns_for_a_long_listing_line_a_long_cell_line_and_a_hidden_only_name(tmp_path):
    long_call = "value = compute(" + ", ".join(f"argument_{i}" for i in range(9)) + ")"
    lib = ("def short(a):\n    return a + 1\n\n\n"
           "def wide(a):\n    '''Doc.'''\n    return a + " + " + ".join(["a"] * 40) + "\n")
    index = page(("remove-input", "import math"), ("", "x = math.pi"), ("", long_call)) + (
        "\n```{teaching-code} lib.py\n:pyobject: wide\n:no-docstring:\n```\n"
        "\n```{teaching-code} lib.py\n:pyobject: short\n```\n")
    lines = index.splitlines()
    out = _build(tmp_path, index, lib)
    assert f"index.md:{lines.index('x = math.pi') + 1}: WARNING: visible code cell 2 reads 'math'" in out
    assert f"index.md:{lines.index(long_call) + 1}: WARNING: a line of visible code cell 3 has {len(long_call)} characters" in out
    listing = lines.index("```{teaching-code} lib.py") + 1
    assert (f"index.md:{listing}: WARNING: teaching-code lib.py, object 'wide': line 2 of the listing has "
            f"{len('    return a + ' + ' + '.join(['a'] * 40))} characters") in out
    ours = [line for line in out.splitlines() if "index.md" in line and "WARNING" in line]
    assert "'short'" not in out and len(ours) == 3, out  # (Sphinx may add its own when apps share a process)
