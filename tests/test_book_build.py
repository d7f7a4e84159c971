"""The book as a whole: strict build, execution cache rules, the built site.

These check the site ``make test`` builds (``built_site``) or build a one-page
copy of the book, and are marked ``book``. That every page's outputs are
reproducible is checked in tests/test_book_fresh_runs.py.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
import yaml
from conftest import ROOT, SUMMARY, book_ext, code_pages, toc_pages

from lessonlib.hardware import cpu_cores as hardware_cores

pytestmark = pytest.mark.book


def test_strict_build_writes_every_page(built_site):
    for page in toc_pages():
        assert (built_site / f"{page}.html").is_file(), page


def _page_code(page: str) -> str:
    from myst_nb.core.read import read_myst_markdown_notebook

    path = ROOT / f"{page}.md"
    nb = read_myst_markdown_notebook(path.read_text(), path=path)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def test_cache_is_keyed_on_each_pages_modules_and_the_machine(built_site, monkeypatch):
    ext = book_ext("lessonlib_book")
    ref, code = ROOT / ext.REFERENCE, _page_code("book/gpu_kernels")
    key = ext.page_key(code, ROOT / "lessonlib", ext.machine_key(), ref)
    assert ext.page_key(code, ROOT / "lessonlib", "NVIDIA H200, 580.65.06", ref) != key
    assert ext.page_key(code, ROOT / "lessonlib", "NVIDIA H200, 570.10", ref) != ext.page_key(
        code, ROOT / "lessonlib", "NVIDIA H200, 580.65.06", ref)
    monkeypatch.setattr(ext.shutil, "which", lambda name: None)
    assert ext.machine_key() == "cpu"
    assert sorted(p.name for p in (ROOT / "_build/.jupyter_cache").iterdir()) == [ext.CACHE]
    keys = json.loads((ROOT / "_build/.jupyter_cache" / ext.CACHE / ext.KEYS).read_text())
    assert set(keys) == set(code_pages())
    assert keys["book/gpu_kernels"] == ext.page_key(code, ROOT / "lessonlib", "cpu", ref)


def test_a_page_is_keyed_on_the_modules_it_imports_and_on_nothing_else(tmp_path):
    """Editing a module no page imports (the GPU check) re-runs no page; editing one a page imports re-runs it."""
    ext = book_ext("lessonlib_book")
    pkg, ref = tmp_path / "lessonlib", tmp_path / "reference_gpu.json"
    shutil.copytree(ROOT / "lessonlib", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    codes = {page: _page_code(page) for page in code_pages()}

    def keys():
        return {page: ext.page_key(code, pkg, "cpu", ref) for page, code in codes.items()}

    before = keys()
    assert "bench.gpu" in ext.page_modules(codes["book/gpu_kernels"], ext.module_graph(pkg))
    (pkg / "__pycache__").mkdir(exist_ok=True)
    (pkg / "__pycache__" / "x.pyc").write_bytes(b"ignored")
    with open(pkg / "bench/check.py", "a") as f:
        f.write("\n# the GPU check changed\n")
    assert keys() == before  # no page imports it
    with open(pkg / "kernels.py", "a") as f:
        f.write("\n# a comment is a change\n")
    after = keys()
    changed = {page for page in codes if after[page] != before[page]}
    assert "book/gpu_kernels" in changed and "book/gpu_kernels_further" in changed
    assert "book/calculus" not in changed and "book/clip_inverse" not in changed
    # a module imported only inside a function counts: lessonlib.bench.reference imports lessonlib.book so
    assert "book" in ext.module_graph(pkg)["bench.reference"]


def test_cache_key_changes_with_the_gpu_reference_file(tmp_path):
    """A new, changed or removed reference file re-executes every page: no cached page shows a stale reference."""
    ext = book_ext("lessonlib_book")
    from lessonlib.bench.reference import DEFAULT_PATH  # where the chapters read it, relative to book/

    assert ROOT / ext.REFERENCE == ROOT / "book" / DEFAULT_PATH
    pkg, ref, code = ROOT / "lessonlib", tmp_path / "book/_data/reference_gpu.json", _page_code("book/calculus")
    absent = ext.page_key(code, pkg, "cpu", ref)
    assert ext.reference_hash(ref) == "none"
    ref.parent.mkdir(parents=True)
    ref.write_text('{"provenance": {"date": "2026-11-28 15:04 UTC"}}\n')
    first = ext.page_key(code, pkg, "cpu", ref)
    ref.write_text('{"provenance": {"date": "2026-12-01 09:30 UTC"}}\n')
    second = ext.page_key(code, pkg, "cpu", ref)
    assert len({absent, first, second}) == 3
    assert ext.page_key(code, pkg, "cpu", ref) == second  # the same bytes, the same key
    assert ext.reference_hash(ref) == hashlib.sha256(ref.read_bytes()).hexdigest()[:16]  # the bytes, not the name
    ref.unlink()
    assert ext.page_key(code, pkg, "cpu", ref) == absent


TINY_PAGE = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Tiny

```{code-cell} ipython3
from lessonlib import book
from lessonlib.timing import bench, ladder
book.setup();
```

```{code-cell} ipython3
:tags: [timing]
ladder([bench(sum, range(10), name="sum", repeat=2, number=10)], caption="Tiny")
```
"""


def jupyter_book(root: Path, *extra: str, env=None, cpu: int | None = None) -> subprocess.CompletedProcess:
    """The strict build the Makefile runs, of the book at ``root``; ``env``: the whole environment.

    ``cpu``: the one core to build on, as if on a machine with one core (set by a
    launcher before the build starts).
    """
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(root), "-W", "-n", "--keep-going", *extra]
    if cpu is not None:
        pin = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])}); os.execv(sys.argv[2], sys.argv[2:])"
        cmd = [sys.executable, "-c", pin, str(cpu), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=3600, env=env)


def _one_page_book(root: Path) -> Path:
    for name in ("_config.yml",):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "lessonlib", root / "lessonlib", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "book").mkdir()
    shutil.copytree(ROOT / "book/_ext", root / "book/_ext", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "book/_static").mkdir()
    shutil.copy(ROOT / "book/status.md", root / "book/status.md")
    (root / "book/tiny.md").write_text(TINY_PAGE)
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/status\nchapters:\n  - file: book/tiny\n")
    return root


def _ran(proc, page: str) -> str:
    """How the build handled ``page``: "executed" or "cached"."""
    lines = [line for line in proc.stdout.splitlines() if f"book/{page}.md:" in line]
    if any("Executing notebook" in line for line in lines):
        return "executed"
    assert any("Using cached notebook" in line for line in lines), lines
    return "cached"


def _caption(html: str) -> str:
    m = re.search(r"<caption>(.*?)</caption>", html, re.S)
    assert m, "no table caption on the page"
    return m.group(1)


COLAB_REPO = "someone/lesson12-book"  # what book.yml passes on GitHub, for test_colab
COLAB_COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def three_builds(tmp_path_factory):
    """One small book built three times, as the cache and Colab tests need it (each build costs seconds).

    1. ``first``: from scratch, with a page-time target of 1 ms, so every page is over it;
    2. ``later``: ``--all`` again, on one core only (as if on another machine), nothing changed,
       with a repository and a commit to link to Colab (as book.yml gives them);
    3. ``unrelated``: ``--all`` after a comment was added to a module the page does not import;
    4. ``changed``: ``--all`` after a comment was added to one it imports.

    Returns, for each build, its process, the HTML of the pages right after it, and a copy of its site.
    Built once: ``make test`` runs each test file's tests in one pytest-xdist worker (``--dist loadfile``).
    """
    ext = book_ext("lessonlib_book")
    root = _one_page_book(tmp_path_factory.mktemp("book"))
    config = root / "_config.yml"
    config.write_text(re.sub(r"lessonlib_page_target_s: \S+", "lessonlib_page_target_s: 0.001", config.read_text()))
    site = root / "_build/html"
    local = {k: v for k, v in os.environ.items() if k not in (ext.REPOSITORY_ENV, ext.COMMIT_ENV)}

    def build(name, *extra, env=local, cpu=None):
        proc = jupyter_book(root, *extra, env=env, cpu=cpu)
        assert proc.returncode == 0, f"{name}: {proc.stdout[-4000:]}"
        copy = shutil.copytree(site, tmp_path_factory.mktemp(name), dirs_exist_ok=True)
        return proc, {page: (site / f"book/{page}.html").read_text() for page in ("tiny", "status")}, copy

    runs = {"first": build("first")}
    colab = {**local, ext.REPOSITORY_ENV: COLAB_REPO, ext.COMMIT_ENV: COLAB_COMMIT}
    one_core = min(os.sched_getaffinity(0)) if hardware_cores() >= 2 else None  # as if another machine built it
    runs["later"] = build("later", "--all", env=colab, cpu=one_core)
    with open(root / "lessonlib/bench/check.py", "a") as f:  # a module the page does not import
        f.write("\n# the GPU check changed\n")
    runs["unrelated"] = build("unrelated", "--all")
    with open(root / "lessonlib/hardware.py", "a") as f:  # one it does (lessonlib.book imports it)
        f.write("\n# lessonlib changed\n")
    runs["changed"] = build("changed", "--all")
    return runs


def test_cache_reruns_a_page_only_when_a_module_it_runs_changes(three_builds):
    assert _ran(three_builds["first"][0], "tiny") == "executed"
    assert _ran(three_builds["later"][0], "tiny") == "cached"
    assert _ran(three_builds["unrelated"][0], "tiny") == "cached"
    assert _ran(three_builds["changed"][0], "tiny") == "executed"


@pytest.mark.skipif(hardware_cores() < 2, reason="fakes a second machine by running on one of two cores")
def test_cached_page_keeps_its_provenance_and_status_page_always_runs(three_builds):
    """Rebuild from the cache as if on another machine (one core instead of all of them).

    The cached page's caption still names the machine and time of the run that
    measured it; the status page, never cached, describes the new build.
    """
    (_, first, _), (later_proc, later, _) = three_builds["first"], three_builds["later"]
    caption = _caption(first["tiny"])
    m = re.fullmatch(r"Tiny\. Measured on (.+), (\d{4}-\d\d-\d\d \d\d:\d\d UTC)\.", caption)
    assert m, caption
    machine = m.group(1)
    assert f"({hardware_cores()} cores)" in machine

    assert _ran(later_proc, "tiny") == "cached" and _ran(later_proc, "status") == "executed"
    assert _caption(later["tiny"]) == caption  # the original run's provenance
    assert "(1 cores)" in later["status"] and machine not in later["status"]
    assert "an earlier run (cache)" in later["status"]


def test_page_over_the_target_is_reported_and_the_build_passes(three_builds):
    proc, html, _ = three_builds["first"]
    assert re.search(r"pages over the 0\.001 s target: .*book/status \d+ s", proc.stdout), proc.stdout[-3000:]
    assert re.search(r"page times \(target 0\.001 s each\): .*book/tiny \d", proc.stdout)
    assert "Within the 0.001 s target" in html["status"] and "this build" in html["status"]
    assert "✅" not in html["status"]


COLAB_HREF = re.compile(r'href="(https://colab\.research\.google\.com/[^"]*)"')


def _colab_links(html_dir) -> dict[str, list[str]]:
    return {p.relative_to(html_dir).as_posix(): COLAB_HREF.findall(p.read_text()) for p in html_dir.rglob("*.html")}


def test_a_build_links_each_notebook_to_colab_only_with_a_repository(three_builds):
    """The one-page book's rebuild with a repository and a commit links to Colab; the builds without, not."""
    ext = book_ext("lessonlib_book")
    html = three_builds["later"][2]
    links = _colab_links(html)
    base = f"https://colab.research.google.com/github/{COLAB_REPO}/blob/notebooks"
    assert links["book/tiny.html"] == [f"{base}/book/tiny.ipynb"]
    assert links["book/status.html"] == [f"{base}/book/status.ipynb"]
    assert not any(v for k, v in links.items() if k not in ("book/tiny.html", "book/status.html"))
    page = (html / "book/tiny.html").read_text()
    (logo,) = re.findall(r'<img alt="Open in Colab logo" src="([^"]+)"', page)
    assert (html / "book" / logo).resolve().is_file()  # served by the site itself: nothing fetched from Colab
    nb = nbformat.read(html / "_sources/book/tiny.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = code[0]
    assert ext.READER_CELL_TAG in first.metadata["tags"] and not first.get("outputs")
    source = f"lessonlib @ git+https://github.com/{COLAB_REPO}.git@{COLAB_COMMIT}"
    assert f"prepare('{source}', '{COLAB_COMMIT}')" in first.source
    assert code[1].source.startswith("from lessonlib import book")
    assert any(o.get("output_type") == "execute_result" for c in nb.cells for o in c.get("outputs", []))
    assert ext.READER_CELL_TAG not in page and "prepare(" not in page  # the HTML page never shows the cell

    for name in ("first", "changed"):  # from scratch, and --all after a change: no repository either time
        html = three_builds[name][2]
        assert not any(_colab_links(html).values()), name
        assert "colab" not in (html / "book/tiny.html").read_text().lower(), name
        nb = nbformat.read(html / "_sources/book/tiny.ipynb", as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert first.source.rstrip().endswith("print(prepare(None, None))"), name


def test_page_over_the_limit_fails_the_build(tmp_path):
    root = _one_page_book(tmp_path)
    config = root / "_config.yml"
    config.write_text(re.sub(r"lessonlib_page_limit_s: \S+", "lessonlib_page_limit_s: 0.001", config.read_text()))
    proc = jupyter_book(root)
    assert proc.returncode != 0
    assert "over the 0.001 s limit" in proc.stdout + proc.stderr


def test_planted_failing_cell_fails_the_build(tmp_path):
    root = _one_page_book(tmp_path)
    page = root / "book/status.md"
    text = page.read_text()
    marker = "## How each page ran"
    assert marker in text
    planted = '```{code-cell} ipython3\nraise RuntimeError("planted failure")\n```\n\n'
    page.write_text(text.replace(marker, planted + marker))
    proc = jupyter_book(root)
    assert proc.returncode != 0
    assert "planted failure" in proc.stdout + proc.stderr


def _chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [c["file"] for part in toc["parts"] for c in part["chapters"] if part.get("numbered")]


class _Links(HTMLParser):
    """Every href/src in a page, every id it defines, its images, and its tables.

    Each table is kept as its text (the caption marked by ``<caption>``) and
    whether it sits in a cell tagged ``timing`` (myst-nb adds the class ``tag_timing``).
    """

    def __init__(self):
        super().__init__()
        self.urls, self.ids, self.imgs, self.tables = [], set(), [], []
        self._divs: list[bool] = []  # for each open div: is it a timing cell?
        self._table = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for key in ("href", "src"):
            if a.get(key):
                self.urls.append(a[key])
        if tag == "div":
            self._divs.append("tag_timing" in (a.get("class") or "").split())
        if tag == "img":
            self.imgs.append(a)
        if tag == "table":
            self._table = []
        if tag == "caption" and self._table is not None:
            self._table.append("<caption>")

    def handle_endtag(self, tag):
        if tag == "div" and self._divs:
            self._divs.pop()
        if tag == "table" and self._table is not None:
            self.tables.append(("".join(self._table), any(self._divs)))
            self._table = None

    def handle_data(self, data):
        if self._table is not None:
            self._table.append(data)


def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def test_page_weight_budget(built_site):
    """Every page ≤ 2 MB (animations embed their frames), the whole site ≤ 50 MB."""
    pages = sorted(((p.stat().st_size, p.relative_to(built_site).as_posix()) for p in built_site.rglob("*.html")),
                   reverse=True)
    total = sum(p.stat().st_size for p in built_site.rglob("*") if p.is_file())
    heaviest = ", ".join(f"{name} {size / 2**20:.2f} MB" for size, name in pages[:5])
    SUMMARY.append(f"page weight: site {total / 2**20:.1f} MB (budget 50 MB); heaviest pages: {heaviest} (budget 2 MB)")
    assert pages[0][0] <= 2 * 2**20, f"a page is over 2 MB; heaviest: {heaviest}"
    assert total <= 50 * 2**20, f"site is {total / 2**20:.1f} MB, over 50 MB; heaviest pages: {heaviest}"


def test_every_internal_link_resolves(built_site):
    """Every href and src in the site points at a file that exists, and every #fragment at an id on that page."""
    # pages, not the theme's Jinja macro files that Sphinx copies into _static
    parsed = {p: _parse(p) for p in built_site.rglob("*.html") if "_static" not in p.relative_to(built_site).parts}
    checked, broken = 0, []
    for page, links in parsed.items():
        for url in links.urls:
            parts = urlsplit(url)
            if parts.scheme or url.startswith("//"):
                continue  # external (blocked by the browser test) or data:/mailto:
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            checked += 1
            if not target.is_file():
                broken.append(f"{page.relative_to(built_site)}: {url} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(built_site)}: {url} (no id {parts.fragment!r})")
    SUMMARY.append(f"internal links: {checked} checked in {len(parsed)} pages, {len(broken)} broken")
    assert not broken, "\n".join(broken[:30])


def test_every_timing_table_names_its_hardware(built_site):
    """A table with seconds or GFLOP/s in it says in its caption which machine measured it, and when."""
    measured = re.compile(r"Measured on (.+?), (\d{4}-\d\d-\d\d \d\d:\d\d UTC)")
    timing_tables = 0
    for page in (built_site / "book").glob("*.html"):
        for table, in_timing_cell in _parse(page).tables:
            if not (in_timing_cell or re.search(r"median \(s\)|\d GFLOP/s", table)):  # timing cell, or times in it
                continue
            timing_tables += 1
            assert "<caption>" in table, f"{page.name}: a timing table has no caption: {table[:200]!r}"
            text = table.split("<caption>", 1)[1]
            m = measured.search(text)
            assert (m and " cores)" in m.group(1)) or "Reference, not measured by this build" in text, (
                f"{page.name}: a timing table's caption does not say where and when it was measured: {text[:300]!r}")
    assert timing_tables >= 6  # a CPU build: einsum 1, gpu_kernels 1, meanshift 2, clustering 2, how_it_runs 1 (GPU tables are notes)
    SUMMARY.append(f"timing tables: {timing_tables}, each captioned with the machine and time of its run")


def test_every_figure_has_alt_text(built_site):
    """Images in chapters carry a description, not their file name."""
    missing = []
    n = 0
    for page in (built_site / "book").glob("*.html"):
        for img in _parse(page).imgs:
            alt = (img.get("alt") or "").strip()
            n += 1
            if len(alt) < 15 or alt.endswith((".png", ".svg", ".jpg")):
                missing.append(f"{page.name}: {img.get('src', '')[:60]} alt={alt!r}")
    assert n >= 15
    assert not missing, "\n".join(missing)


def test_api_reference_documents_every_public_function_and_chapters_link_to_it(built_site):
    import inspect

    api = _parse(built_site / "book/api.html").ids
    undocumented = []
    for mod in sorted(p.stem for p in (ROOT / "lessonlib").glob("*.py") if not p.stem.startswith("_")):
        module = importlib.import_module(f"lessonlib.{mod}")
        assert f"module-lessonlib.{mod}" in api, mod
        for name, obj in vars(module).items():
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if obj.__module__ == module.__name__ and f"lessonlib.{mod}.{name}" not in api:
                undocumented.append(f"lessonlib.{mod}.{name}")
    assert not undocumented, undocumented
    for chapter in _chapters():
        links = _parse(built_site / f"{chapter}.html").urls
        assert any("api.html#module-lessonlib." in u for u in links), f"{chapter} does not link to the API reference"


def test_downloaded_notebook_runs_against_lessonlib(built_site, tmp_path):
    """Every chapter offers its executed .ipynb and its .md; one downloaded notebook runs from scratch."""
    from nbclient import NotebookClient

    for chapter in _chapters():
        name = Path(chapter).name
        links = _parse(built_site / f"{chapter}.html").urls
        for suffix in (".ipynb", ".md"):
            href = f"../_sources/book/{name}{suffix}"
            assert href in links, f"{chapter}: no download link {href}"
            assert (built_site / "_sources/book" / f"{name}{suffix}").is_file()
        nb = nbformat.read(built_site / "_sources/book" / f"{name}.ipynb", as_version=4)
        assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{chapter}: notebook not executed"
    shutil.copy(built_site / "_sources/book/calculus.ipynb", tmp_path / "calculus.ipynb")
    nb = nbformat.read(tmp_path / "calculus.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    ran = sum(1 for c in nb.cells if c.cell_type == "code")
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    SUMMARY.append(f"download: calculus.ipynb from the site ran {ran} code cells without error in a fresh kernel")
