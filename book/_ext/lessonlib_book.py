"""Sphinx extension: the book's build rules that Jupyter Book does not have.

1. The execution cache is keyed per page (:func:`page_key`: the lessonlib modules the page imports, transitively, the
   GPU reference file and the machine); when a page's key changes, its cached outputs are dropped and it runs again.
2. Page times: each executed page is compared with ``lessonlib_page_target_s`` (reported, a benchmark); only a page
   over ``lessonlib_page_limit_s``, a runaway rather than a busy machine, is a warning (an error under ``-W``).
3. ``lessonlib_always_execute`` pages (the build status page) are read and run by every build.
4. ``{lessonlib-exec-table}``: how each page ran, in words rather than emoji.
5. A ``.ipynb`` download for every chapter, with its outputs from the execution cache.
6. "Open in Colab" links when a repository is configured (``lessonlib_colab_repository``, or
   ``LESSONLIB_COLAB_REPOSITORY`` from the GPU workflow), and in every downloaded notebook a first cell
   (``reader_cell.py``) that installs lessonlib at the commit that built it, outside a checkout.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import os
import posixpath
import re
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)


def _imported(tree, package: list[str], modules) -> set[str]:
    """The lessonlib modules ``tree`` imports (from inside the package ``package``), and the packages above them."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            head = package[: len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "lessonlib":
            head = node.module.split(".")[1:]
        elif isinstance(node, ast.Import):
            found |= _imported(ast.parse("\n".join(f"from {a.name} import _" for a in node.names)), package, modules)
            continue
        else:
            continue
        for h in [head + [a.name] for a in node.names] + [head]:  # a module, and every package above it
            found |= {".".join(h[:i]) for i in range(len(h) + 1)} & modules
    return found


def module_graph(package_dir: Path) -> dict[str, set[str]]:
    """``{module: the lessonlib modules it imports}``, dotted names relative to the package
    (``"bench.claims"``; the package itself is ``""``), imports inside functions included."""
    files = {".".join(p.relative_to(package_dir).with_suffix("").parts).removesuffix("__init__").rstrip("."): p
             for p in package_dir.rglob("*.py") if "__pycache__" not in p.parts}
    return {name: _imported(ast.parse(path.read_text(encoding="utf-8")),
                            name.split(".") if path.name == "__init__.py" and name else name.split(".")[:-1],
                            set(files)) - {name}
            for name, path in files.items()}


def page_modules(code: str, graph: dict[str, set[str]]) -> set[str]:
    """The lessonlib modules that ``code`` (a page's cells) imports, and everything they import."""
    plain = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
    todo, seen = _imported(ast.parse(plain), [], set(graph)), set()
    while todo:
        name = todo.pop()
        seen.add(name)
        todo |= graph[name] - seen
    return seen


def page_key(code: str, package_dir: Path, machine: str, reference: Path) -> str:
    """A page's key: the bytes of the lessonlib modules it runs, the reference file's hash, the machine."""
    h = hashlib.sha256(f"{machine}\0{reference_hash(reference)}\0".encode())
    graph = module_graph(package_dir)
    for name in sorted(page_modules(code, graph)):
        path = package_dir.joinpath(*name.split(".")) if name else package_dir
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def machine_key() -> str:
    """What the cache must not mix, from ``nvidia-smi``: each GPU's name and driver, or ``"cpu"`` (a GPU that
    nvidia-smi cannot see counts as its own kind).
    """
    from lessonlib.hardware import nvidia_smi

    ok, text = nvidia_smi("name", "driver_version")
    if not ok:
        return "cpu" if text == "nvidia-smi not found" else text
    return text or "cpu"


REFERENCE = "book/_data/reference_gpu.json"  # the GPU reference file, relative to the book's root
CACHE, KEYS = "lessonlib-cache", "page-keys.json"  # the execution cache's folder in _build/.jupyter_cache


def reference_hash(path: Path) -> str:
    """SHA-256 of the GPU reference file's bytes, or ``"none"`` when there is no such file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else "none"


def _key_cache_on_pages(app: Sphinx, config) -> None:
    """Drop the cached outputs of each page whose key changed since the last build."""
    from jupyter_cache import get_cache
    from myst_nb.core.read import read_myst_markdown_notebook

    app.lessonlib_started = time.time()  # pages stamped after this ran in this build
    app.lessonlib_rerun = []  # pages whose key changed
    root, package = Path(app.srcdir), Path(app.srcdir) / "lessonlib"
    folder = Path(app.outdir).parent / ".jupyter_cache" / CACHE
    config.nb_execution_cache_path = str(folder)
    for old in folder.parent.glob("*") if folder.parent.is_dir() else []:
        if old != folder:  # caches of an older layout can never be hit again
            shutil.rmtree(old, ignore_errors=True)
    if not package.is_dir():
        logger.warning("lessonlib/ not found beside _config.yml; cache not keyed on it")
        return
    machine, cache = machine_key(), get_cache(str(folder))
    logger.info("execution cache keyed on each page's lessonlib modules, the GPU reference (%s) and this "
                "machine: %s", reference_hash(root / REFERENCE), machine)
    keys_file = folder / KEYS
    old = json.loads(keys_file.read_text()) if keys_file.is_file() else {}
    new = {}
    for page in sorted((root / "book").glob("*.md")):
        text = page.read_text(encoding="utf-8")
        if "{code-cell}" not in text:
            continue
        nb = read_myst_markdown_notebook(text, path=page)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        doc = page.relative_to(root).with_suffix("").as_posix()
        new[doc] = page_key(code, package, machine, root / REFERENCE)
        if old.get(doc) != new[doc]:
            app.lessonlib_rerun.append(doc)  # read again (_always_read), and so executed again
            try:
                cache.remove_cache(cache.match_cache_notebook(nb).pk)
                logger.info("%s: its key changed, so it runs again", doc)
            except KeyError:
                pass  # nothing cached for this code
    keys_file.write_text(json.dumps(new, indent=1, sort_keys=True))


def _page_times(env) -> dict[str, dict]:
    from myst_nb.sphinx_ import NbMetadataCollector

    return {doc: meta["exec_data"] for doc, meta in sorted(NbMetadataCollector.get_doc_data(env).items())
            if meta.get("exec_data")}


def _ran_now(app: Sphinx, data: dict) -> bool:
    """Whether this build executed the page: a page executed now is stamped with the time it finished, one
    from the cache with its record's time (myst-nb's method says "cache" either way).
    """
    return (data.get("mtime") or 0) >= app.lessonlib_started


def _check_page_times(app: Sphinx, env) -> None:
    target, limit = app.config.lessonlib_page_target_s, app.config.lessonlib_page_limit_s
    ran = {doc: d["runtime"] for doc, d in _page_times(env).items()
           if _ran_now(app, d) and d.get("runtime") is not None}
    if not ran:
        return
    over = [f"{doc} {t:.0f} s" for doc, t in ran.items() if t > target]
    logger.info("page times (target %g s each): %s", target, ", ".join(f"{doc} {t:.1f} s" for doc, t in ran.items()))
    logger.info("pages over the %g s target: %s", target, ", ".join(over) if over else "none")
    for doc, t in ran.items():
        if t > limit:
            logger.warning("%s took %.0f s to execute, over the %g s limit (lessonlib_page_limit_s): make its "
                           "default sizes smaller", doc, t, limit, location=doc)


def _always_read(app: Sphinx, env, added, changed, removed) -> list[str]:
    return [doc for doc in [*app.config.lessonlib_always_execute, *getattr(app, "lessonlib_rerun", [])]
            if doc in env.found_docs]


class ExecTableNode(nodes.General, nodes.Element):
    """Placeholder for the table of how each page ran, filled once every page has executed."""


class ExecTable(SphinxDirective):
    """``{lessonlib-exec-table}``: how each page of the book ran."""

    def run(self):
        from myst_nb.ext.execution_tables import METADATA_KEY
        from myst_nb.sphinx_ import NbMetadataCollector

        # marks the page so myst-nb re-renders it whenever another page executes again
        NbMetadataCollector.set_doc_data(self.env, self.env.docname, METADATA_KEY, True)
        return [ExecTableNode()]


class ExecTableTransform(SphinxPostTransform):
    default_priority = 8  # before the reference resolvers, so the page links resolve

    def run(self, **kwargs) -> None:
        for node in list(self.document.findall(ExecTableNode)):
            node.replace_self(self._table())

    def _table(self) -> nodes.table:
        target = self.app.config.lessonlib_page_target_s
        header = ["Page", "Outputs from", "Ran at (UTC)", "Run time (s)", f"Within the {target:g} s target",
                  "Result"]
        head, body = nodes.thead(), nodes.tbody()
        head += nodes.row("", *(nodes.entry("", nodes.paragraph(text=h)) for h in header))
        group = nodes.tgroup("", *(nodes.colspec(colwidth=1) for _ in header), head, body, cols=len(header))
        table = nodes.table("", group, classes=["colwidths-auto"])
        for doc, data in _page_times(self.env).items():
            link = pending_xref(refdoc=self.env.docname, reftype="doc", refdomain="std", refexplicit=True,
                                reftarget=posixpath.relpath(doc, posixpath.dirname(self.env.docname)),
                                refwarn=True, classes=["xref", "doc"])
            link += nodes.inline(text=doc)
            runtime, mtime = data.get("runtime"), data.get("mtime")
            cells = ["this build" if _ran_now(self.app, data) else "an earlier run (cache)",
                     "-" if not mtime else datetime.fromtimestamp(mtime, timezone.utc).strftime("%Y-%m-%d %H:%M"),
                     "-" if runtime is None else f"{runtime:.1f}",
                     "-" if runtime is None else ("yes" if runtime <= target else "no"),
                     "ok" if data.get("succeeded") else "failed"]
            body += nodes.row("", nodes.entry("", nodes.paragraph("", "", link)),
                              *(nodes.entry("", nodes.paragraph(text=c)) for c in cells))
        return table


def _offer_notebook(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    import nbformat
    from jupyter_cache import get_cache

    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if doctree is None or not executed.is_file():
        return
    nb = nbformat.read(executed, as_version=4)
    if not any(cell.cell_type == "code" for cell in nb.cells):
        return  # a page of prose: its source download is enough
    # myst-nb 1.4 writes a page from the execution cache without its outputs (it merges them into a copy): take them
    try:
        _, nb = get_cache(app.config.nb_execution_cache_path).merge_match_into_notebook(nb)
    except KeyError:
        pass  # not in the cache: the file already holds what ran
    nb = with_reader_cell(nb, app.config.lessonlib_colab_repository, app.config.lessonlib_source_commit)
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    context["ipynb_source"] = f"{pagename}.ipynb"  # read by the theme's download menu


READER_CELL_TAG = "lessonlib-reader-setup"
REPOSITORY_ENV, COMMIT_ENV = "LESSONLIB_COLAB_REPOSITORY", "LESSONLIB_SOURCE_COMMIT"


def colab_url(repository: str, branch: str, pagename: str) -> str:
    """Where Colab opens the notebook ``pagename`` published on ``branch`` of GitHub's ``repository``."""
    return f"https://colab.research.google.com/github/{repository}/blob/{branch}/{pagename}.ipynb"


def install_source(repository: str, commit: str) -> str | None:
    """What a downloaded notebook's first cell gives pip: lessonlib at the commit that built it."""
    if not repository or not commit:
        return None
    return f"lessonlib @ git+https://github.com/{repository}.git@{commit}"


def reader_cell_source(source: str | None, commit: str | None) -> str:
    """The first cell's code: ``reader_cell.py`` and one call to its ``prepare``."""
    code = (Path(__file__).with_name("reader_cell.py")).read_text()
    return ("#@title Install lessonlib here, unless this is a checkout of the book\n"
            f"{code}\nprint(prepare({source!r}, {commit!r}))\n")


def with_reader_cell(nb, repository: str, commit: str, source: str | None = None):
    """A copy of ``nb`` whose first code cell is the reader's set-up cell (replacing one put there before),
    after the title and any prose before it; ``source`` overrides what pip installs from (a wheel).
    """
    import nbformat

    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if READER_CELL_TAG not in c.get("metadata", {}).get("tags", [])]
    cell = nbformat.v4.new_code_cell(reader_cell_source(source or install_source(repository, commit), commit or None),
                                     metadata={"tags": [READER_CELL_TAG], "cellView": "form",
                                               "jupyter": {"source_hidden": True}})
    cell.pop("id", None)  # nbformat 4.4 notebooks have no cell ids; 4.5 ones get one on write
    if nb.nbformat_minor >= 5:
        cell["id"] = READER_CELL_TAG
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    nb.cells.insert(first_code, cell)
    return nb


def _configure_colab(app: Sphinx, config) -> None:
    """The repository and commit from the environment (the GPU workflow), unless _config.yml set them."""
    if not config.lessonlib_colab_repository:
        config.lessonlib_colab_repository = os.environ.get(REPOSITORY_ENV, "").strip()
    repository = config.lessonlib_colab_repository
    if repository and not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repository):
        logger.warning("lessonlib_colab_repository must be OWNER/REPO, got %r: no Colab links", repository)
        config.lessonlib_colab_repository = repository = ""
    if repository and not config.lessonlib_source_commit:
        config.lessonlib_source_commit = os.environ.get(COMMIT_ENV, "").strip() or _git_head(Path(app.srcdir))


def _git_head(folder: Path) -> str:
    try:
        proc = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _add_colab_button(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    repository = app.config.lessonlib_colab_repository
    if not repository or not context.get("ipynb_source") or "header_buttons" not in context:
        return
    # the theme's own launch menu (a rocket) with one plain link; its logo is the theme's copy: nothing fetched on load
    url = colab_url(repository, app.config.lessonlib_notebooks_branch, pagename)
    context["header_buttons"].append({
        "type": "group", "tooltip": "Run this page's notebook on a GPU", "icon": "fas fa-rocket",
        "label": "launch-buttons",
        "buttons": [{"type": "link", "url": url, "text": "Open in Colab", "label": "colab-button",
                     "tooltip": "Open this page's executed notebook in Google Colab",
                     "icon": "_static/images/logo_colab.png"}],
    })


def setup(app: Sphinx):
    app.add_config_value("lessonlib_page_target_s", 40.0, "env", [float, int])
    app.add_config_value("lessonlib_page_limit_s", 900.0, "env", [float, int])
    app.add_config_value("lessonlib_always_execute", [], "env", [list])
    # priority < 500 so this runs before myst-nb reads the cache path at builder-inited
    app.connect("config-inited", _key_cache_on_pages, priority=100)
    app.connect("env-check-consistency", _check_page_times)
    app.connect("env-get-outdated", _always_read)
    app.add_node(ExecTableNode)
    app.add_directive("lessonlib-exec-table", ExecTable)
    app.add_post_transform(ExecTableTransform)
    # before the theme builds its header buttons (priority 501)
    app.connect("html-page-context", _offer_notebook, priority=450)
    app.add_config_value("lessonlib_colab_repository", "", "html", [str])
    app.add_config_value("lessonlib_notebooks_branch", "notebooks", "html", [str])
    app.add_config_value("lessonlib_source_commit", "", "html", [str])
    app.connect("config-inited", _configure_colab)
    app.connect("html-page-context", _add_colab_button, priority=502)  # after the theme's own (501)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
