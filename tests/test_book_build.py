"""The book as a whole: strict build, execution cache rules, reproducible outputs.

These build the book (or a one-page copy of it) and are marked ``book``.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml
from conftest import ROOT, jupyter_book

pytestmark = pytest.mark.book


def _load_ext():
    spec = importlib.util.spec_from_file_location("lessonlib_book", ROOT / "book/_ext/lessonlib_book.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    stack = list(toc.get("chapters", [])) + [c for p in toc.get("parts", []) for c in p["chapters"]]
    while stack:
        entry = stack.pop(0)
        pages.append(entry["file"])
        stack[:0] = entry.get("sections", [])
    return pages


def test_strict_build_writes_every_page(built_site):
    for page in toc_pages():
        assert (built_site / f"{page}.html").is_file(), page


def test_cache_is_keyed_on_lessonlib_source(built_site):
    ext = _load_ext()
    key = ext.lessonlib_hash(ROOT / "lessonlib")
    caches = sorted(p.name for p in (ROOT / "_build/.jupyter_cache").iterdir())
    assert caches == [f"lessonlib-{key}"]


def test_lessonlib_hash_sees_every_change(tmp_path):
    ext = _load_ext()
    pkg = tmp_path / "lessonlib"
    shutil.copytree(ROOT / "lessonlib", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    before = ext.lessonlib_hash(pkg)
    (pkg / "__pycache__").mkdir(exist_ok=True)
    (pkg / "__pycache__" / "x.pyc").write_bytes(b"ignored")
    assert ext.lessonlib_hash(pkg) == before
    with open(pkg / "timing.py", "a") as f:
        f.write("\n# a comment is a change\n")
    assert ext.lessonlib_hash(pkg) != before
    (pkg / "timing.py").rename(pkg / "timing2.py")
    assert ext.lessonlib_hash(pkg) not in (before,)


@pytest.fixture
def one_page_book(tmp_path) -> Path:
    """A copy of the book reduced to its status page, with its own lessonlib copy."""
    for name in ("_config.yml",):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "lessonlib", tmp_path / "lessonlib", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "book").mkdir()
    shutil.copytree(ROOT / "book/_ext", tmp_path / "book/_ext", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "book/_static").mkdir()
    shutil.copy(ROOT / "book/status.md", tmp_path / "book/status.md")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/status\n")
    return tmp_path


def test_cache_reruns_pages_only_when_lessonlib_changes(one_page_book):
    first = jupyter_book(one_page_book)
    assert first.returncode == 0, first.stdout[-4000:]
    assert "Executing notebook" in first.stdout

    again = jupyter_book(one_page_book, "--all")
    assert again.returncode == 0, again.stdout[-4000:]
    assert "Using cached notebook" in again.stdout
    assert "Executing notebook" not in again.stdout

    with open(one_page_book / "lessonlib/hardware.py", "a") as f:
        f.write("\n# lessonlib changed\n")
    changed = jupyter_book(one_page_book, "--all")
    assert changed.returncode == 0, changed.stdout[-4000:]
    assert "Executing notebook" in changed.stdout


def test_planted_failing_cell_fails_the_build(one_page_book):
    page = one_page_book / "book/status.md"
    text = page.read_text()
    marker = "## How each page ran"
    assert marker in text
    planted = '```{code-cell} ipython3\nraise RuntimeError("planted failure")\n```\n\n'
    page.write_text(text.replace(marker, planted + marker))
    proc = jupyter_book(one_page_book)
    assert proc.returncode != 0
    assert "planted failure" in proc.stdout + proc.stderr


def _comparable(nb) -> list:
    """Outputs of every cell not tagged 'timing', without run counters."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "timing" in cell.metadata.get("tags", []):
            continue
        outs = []
        for out in cell.get("outputs", []):
            out = {k: out[k] for k in ("output_type", "name", "text", "data", "ename", "evalue") if k in out}
            if outs and out["output_type"] == "stream" and outs[-1]["output_type"] == "stream" \
                    and outs[-1]["name"] == out["name"]:
                outs[-1]["text"] += out["text"]  # how a stream is split into messages is timing, not output
            else:
                outs.append(out)
        cells.append((cell.source, outs))
    return cells


@pytest.mark.parametrize("page", [p for p in toc_pages() if "{code-cell}" in (ROOT / f"{p}.md").read_text()])
def test_fresh_run_reproduces_the_build(built_site, page):
    """Run the page again from scratch: every non-timing output equals the built one."""
    from jupyter_cache import get_cache
    from myst_nb.core.read import read_myst_markdown_notebook
    from nbclient import NotebookClient

    path = ROOT / f"{page}.md"
    nb = read_myst_markdown_notebook(path.read_text(), path=path)
    (cache_dir,) = (ROOT / "_build/.jupyter_cache").iterdir()
    cache = get_cache(cache_dir)
    record = cache.match_cache_notebook(nb)
    built = cache.get_cache_bundle(record.pk).nb

    fresh = nbformat.from_dict(nb)
    NotebookClient(fresh, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    for (source, new), (_, old) in zip(_comparable(fresh), _comparable(built), strict=True):
        assert new == old, f"outputs differ in the cell starting {source.splitlines()[0]!r}:\n{new!r:.1500}\n!=\n{old!r:.1500}"


def test_page_weight_budget(built_site):
    """Every page ≤ 2 MB (animations embed their frames), the whole site ≤ 50 MB."""
    pages = sorted(((p.stat().st_size, p.relative_to(built_site).as_posix()) for p in built_site.rglob("*.html")),
                   reverse=True)
    total = sum(p.stat().st_size for p in built_site.rglob("*") if p.is_file())
    heaviest = ", ".join(f"{name} {size / 2**20:.2f} MB" for size, name in pages[:5])
    assert pages[0][0] <= 2 * 2**20, f"a page is over 2 MB; heaviest: {heaviest}"
    assert total <= 50 * 2**20, f"site is {total / 2**20:.1f} MB, over 50 MB; heaviest pages: {heaviest}"
