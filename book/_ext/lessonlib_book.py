"""Sphinx extension with the book's build rules that Jupyter Book does not have.

1. Execution cache keyed on lessonlib's source. jupyter-cache hashes only the
   code in a page's cells, so a page whose cells did not change would keep
   outputs computed with an older lessonlib. Here the cache folder is named
   after a hash of every file in ``lessonlib/``: change the library and every
   page runs again; leave it alone and every page comes from the cache.
2. A time budget per page. The execution timeout applies per cell; this check
   warns (an error under ``-W``) when a whole page took longer than
   ``lessonlib_page_budget_s`` to execute.
3. A ``.ipynb`` download for every chapter. myst-nb writes each page as a
   notebook to ``_build/jupyter_execute``; the theme offers it in its download
   menu only when launch buttons are on. Here it is written, with its outputs
   from the execution cache, next to the page's source in ``_sources`` and
   offered always.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

PREFIX = "lessonlib-"


def lessonlib_hash(package_dir: Path) -> str:
    """SHA-256 over the relative paths and bytes of the package's files."""
    h = hashlib.sha256()
    for path in sorted(package_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(path.relative_to(package_dir).as_posix().encode())
            h.update(b"\0")
            h.update(path.read_bytes())
            h.update(b"\0")
    return h.hexdigest()[:16]


def _key_cache_on_lessonlib(app: Sphinx, config) -> None:
    package = Path(app.srcdir) / "lessonlib"
    if not package.is_dir():
        logger.warning("lessonlib/ not found beside _config.yml; cache not keyed on it")
        return
    root = Path(app.outdir).parent / ".jupyter_cache"
    current = root / f"{PREFIX}{lessonlib_hash(package)}"
    # Caches made with an older lessonlib can never be hit again: drop them.
    if root.is_dir():
        for old in root.glob(f"{PREFIX}*"):
            if old != current:
                shutil.rmtree(old, ignore_errors=True)
    config.nb_execution_cache_path = str(current)


def _check_page_budget(app: Sphinx, env) -> None:
    from myst_nb.sphinx_ import NbMetadataCollector

    budget = app.config.lessonlib_page_budget_s
    for docname, meta in sorted(NbMetadataCollector.get_doc_data(env).items()):
        runtime = (meta.get("exec_data") or {}).get("runtime")
        if runtime is not None and runtime > budget:
            logger.warning(
                "%s took %.0f s to execute, over the %.0f s page budget "
                "(lessonlib_page_budget_s): make its default sizes smaller",
                docname, runtime, budget, location=docname,
            )


def _offer_notebook(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    import nbformat
    from jupyter_cache import get_cache

    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if doctree is None or not executed.is_file():
        return
    nb = nbformat.read(executed, as_version=4)
    if not any(cell.cell_type == "code" for cell in nb.cells):
        return  # a page of prose: its source download is enough
    # When a page comes from the execution cache, myst-nb 1.4 writes the notebook
    # without its outputs (it merges them into a copy). Take them from the cache.
    try:
        _, nb = get_cache(app.config.nb_execution_cache_path).merge_match_into_notebook(nb)
    except KeyError:
        pass  # not in the cache: the file already holds what ran
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    context["ipynb_source"] = f"{pagename}.ipynb"  # read by the theme's download menu


def setup(app: Sphinx):
    app.add_config_value("lessonlib_page_budget_s", 120.0, "env", [float, int])
    # priority < 500 so this runs before myst-nb reads the cache path at builder-inited
    app.connect("config-inited", _key_cache_on_lessonlib, priority=100)
    app.connect("env-check-consistency", _check_page_budget)
    # before the theme builds its header buttons (priority 501)
    app.connect("html-page-context", _offer_notebook, priority=450)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
