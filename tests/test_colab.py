""""Open in Colab": a plain link on every page with a notebook, only when the build knows its repository.

These tests call the extension's functions; tests/test_book_build.py checks the
one-page book built with a repository and without one.
Colab itself cannot be reached from here: the tests check the URL it would open.
"""

from __future__ import annotations

from types import SimpleNamespace

import nbformat
import pytest
from conftest import ROOT, book_ext
from test_book_build import COLAB_COMMIT as COMMIT
from test_book_build import COLAB_REPO as REPO


ext = book_ext("lessonlib_book")


def test_colab_url_opens_the_published_notebook():
    assert ext.colab_url("o/r", "notebooks", "book/calculus") == \
        "https://colab.research.google.com/github/o/r/blob/notebooks/book/calculus.ipynb"
    assert ext.install_source("o/r", "abc") == "lessonlib @ git+https://github.com/o/r.git@abc"
    assert ext.install_source("", "abc") is None and ext.install_source("o/r", "") is None


def _app(repository: str = "", commit: str = "", srcdir=ROOT):
    config = SimpleNamespace(lessonlib_colab_repository=repository, lessonlib_source_commit=commit,
                             lessonlib_notebooks_branch="notebooks")
    return SimpleNamespace(config=config, srcdir=str(srcdir))


def test_the_repository_and_commit_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(ext.REPOSITORY_ENV, REPO)
    monkeypatch.setenv(ext.COMMIT_ENV, COMMIT)
    app = _app()
    ext._configure_colab(app, app.config)
    assert (app.config.lessonlib_colab_repository, app.config.lessonlib_source_commit) == (REPO, COMMIT)
    monkeypatch.delenv(ext.REPOSITORY_ENV)
    app = _app()
    ext._configure_colab(app, app.config)
    assert (app.config.lessonlib_colab_repository, app.config.lessonlib_source_commit) == ("", "")
    monkeypatch.delenv(ext.COMMIT_ENV)
    app = _app("o/r", srcdir=tmp_path)  # set in _config.yml; no commit anywhere, not a git checkout
    ext._configure_colab(app, app.config)
    assert (app.config.lessonlib_colab_repository, app.config.lessonlib_source_commit) == ("o/r", "")


def test_a_malformed_repository_gives_no_link(monkeypatch):
    warnings = []
    monkeypatch.setattr(ext.logger, "warning", lambda *a, **k: warnings.append(a))
    app = _app("https://github.com/o/r")
    ext._configure_colab(app, app.config)
    assert app.config.lessonlib_colab_repository == "" and warnings


@pytest.mark.parametrize("repository, ipynb, expected", [
    (REPO, "book/calculus.ipynb", [f"https://colab.research.google.com/github/{REPO}/blob/notebooks/book/calculus.ipynb"]),
    ("", "book/calculus.ipynb", []),   # no repository: no dead link
    (REPO, None, []),                  # a page of prose has no notebook to open
])
def test_the_button_only_where_there_is_a_notebook_to_open(repository, ipynb, expected):
    context = {"header_buttons": [], "ipynb_source": ipynb}
    ext._add_colab_button(_app(repository), "book/calculus", "page.html", context, None)
    links = [b for group in context["header_buttons"] for b in group["buttons"]]
    assert [b["url"] for b in links] == expected
    for button in links:
        assert button["type"] == "link" and not button["icon"].startswith(("http:", "https:", "//"))


def test_the_reader_cell_goes_first_once_and_the_notebook_is_not_changed():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title"),
                                         nbformat.v4.new_code_cell("from lessonlib import book")])
    once = ext.with_reader_cell(nb, REPO, COMMIT)
    twice = ext.with_reader_cell(once, REPO, COMMIT)
    assert len(nb.cells) == 2 and len(once.cells) == len(twice.cells) == 3
    assert twice.cells[0].source == "# Title" and twice.cells[2].source == "from lessonlib import book"
    first = twice.cells[1]  # the first code cell: it runs before anything imports lessonlib
    assert ext.READER_CELL_TAG in first.metadata["tags"] and first.metadata["cellView"] == "form"
    assert first.source.rstrip().endswith(f"print(prepare('lessonlib @ git+https://github.com/{REPO}.git@{COMMIT}', "
                                          f"'{COMMIT}'))")
    assert ext.with_reader_cell(nb, "", "").cells[1].source.rstrip().endswith("print(prepare(None, None))")
    nbformat.validate(twice)


def test_every_lesson_chapter_gets_a_notebook_and_so_a_link():
    """The link goes on every page whose executed notebook is offered: every page with code, every lesson chapter."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    (lesson,) = [part for part in toc["parts"] if part["caption"] == "The lesson"]
    chapters = [c["file"] for c in lesson["chapters"]]
    assert len(chapters) >= 6
    for page in chapters:
        assert "{code-cell}" in (ROOT / f"{page}.md").read_text(), page
