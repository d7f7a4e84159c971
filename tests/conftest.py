"""Shared test set-up.

The CUDA target is chosen here, before any test module imports ``numba.cuda``:
without a GPU, kernels run on Numba's simulator. Tests marked ``gpu`` need a real
device: without one they are skipped, or, under ``LESSONLIB_REQUIRE_GPU=1``, they
fail, naming what is missing. Tests marked ``book`` build the book or drive a
browser over it (``make unit`` leaves them out).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from lessonlib import hardware
from lessonlib.book import REQUIRE_GPU_ENV, require_gpu

hardware.use_cuda_simulator()

ROOT = Path(__file__).resolve().parents[1]
SUMMARY: list[str] = []  # lines printed at the end of the run (browser summary)


def pytest_collection_modifyitems(config, items):
    # Unit tests first, then the book tests; the fresh re-runs of every page run in the
    # background all along, at the lowest priority (FRESH_RUNS); the determinism tests,
    # which wait for them, go last.
    items.sort(key=lambda item: (item.get_closest_marker("book") is not None,
                                 item.originalname == "test_fresh_run_reproduces_the_build"))
    if hardware.has_cuda() or gpu_required():
        return  # with LESSONLIB_REQUIRE_GPU=1, pytest_runtest_setup fails them instead
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none on this machine")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


def gpu_required() -> bool:
    """``LESSONLIB_REQUIRE_GPU=1``: a GPU run, where a missing GPU is a failure, never a skip."""
    return os.environ.get(REQUIRE_GPU_ENV, "0") not in ("", "0")


def pytest_runtest_setup(item):
    # Under LESSONLIB_REQUIRE_GPU=1 a gpu test fails, naming what is missing, unless torch and Numba both
    # have the GPU (lessonlib.book.require_gpu: the same check a GPU build's first page makes).
    if item.get_closest_marker("gpu") is not None and gpu_required():
        try:
            require_gpu()
        except RuntimeError as err:
            pytest.fail(str(err), pytrace=False)


def book_ext(name: str):
    """A module of the book's Sphinx extension, ``book/_ext/<name>.py``, loaded from its file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "book/_ext" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def toc_pages() -> list[str]:
    """Every page of the book, in the table of contents' order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    stack = list(toc.get("chapters", [])) + [c for p in toc.get("parts", []) for c in p["chapters"]]
    while stack:
        entry = stack.pop(0)
        pages.append(entry["file"])
        stack[:0] = entry.get("sections", [])
    return pages


def code_pages() -> list[str]:
    """The pages that run code."""
    return [p for p in toc_pages() if "{code-cell}" in (ROOT / f"{p}.md").read_text()]


class FreshRuns:
    """Every page with code executed again from scratch, one at a time, in the background.

    Started as soon as the determinism tests are collected (:func:`pytest_collection_finish`),
    longest page first; those tests run last and wait for their page. Each page
    runs in its own fresh kernel at the lowest priority (nice 19), so the other
    tests and the strict build take the cores first and the build's timings stay
    undisturbed but for the caches the two share; the timings a fresh run prints
    are not compared.
    """

    def __init__(self):
        self.pool, self.futures = None, {}

    def start(self) -> None:
        if self.pool is not None:
            return
        import nbformat
        from myst_nb.core.read import read_myst_markdown_notebook
        from nbclient import NotebookClient

        def run(page):
            path = ROOT / f"{page}.md"
            nb = nbformat.from_dict(read_myst_markdown_notebook(path.read_text(), path=path))
            client = NotebookClient(nb, timeout=600, kernel_name="python3",
                                    resources={"metadata": {"path": str(path.parent)}})
            client.on_notebook_start = lambda notebook: _lowest_priority(client.km.provisioner.pid)
            client.execute()
            return nb

        pages = code_pages()
        size = {p: len((ROOT / f"{p}.md").read_text()) for p in pages}
        # os.nice in the worker thread: on Linux it applies to that thread and the kernels it starts
        self.pool = ThreadPoolExecutor(max_workers=1, initializer=os.nice, initargs=(19,))
        self.futures = {p: self.pool.submit(run, p) for p in sorted(pages, key=lambda p: -size[p])}

    def result(self, page: str):
        self.start()  # already started, unless the tests were collected in an unusual way
        return self.futures[page].result()

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _lowest_priority(pid: int) -> None:
    """Put the kernel ``pid`` behind every other process of the machine.

    Its threads already inherit nice 19, but jupyter_client starts each kernel in a
    session of its own, and where the scheduler groups processes by session
    (``/proc/sys/kernel/sched_autogroup_enabled``), the session's group shares the CPU
    equally with the test session's: the group's own nice must be 19 too.
    """
    try:
        Path(f"/proc/{pid}/autogroup").write_text("19")
    except OSError:  # no autogroups (not Linux, or a kernel built without them): nice 19 suffices
        pass


FRESH_RUNS = FreshRuns()


def pytest_collection_finish(session):
    if any("fresh_runs" in getattr(item, "fixturenames", ()) for item in session.items):
        FRESH_RUNS.start()


def pytest_sessionfinish(session, exitstatus):
    FRESH_RUNS.stop()


def pytest_terminal_summary(terminalreporter):
    for line in SUMMARY:
        terminalreporter.write_line(line)


def jupyter_book(root: Path, *extra: str, preexec_fn=None) -> subprocess.CompletedProcess:
    """Run the strict build the Makefile runs, on the book at ``root``."""
    jb = Path(sys.executable).with_name("jupyter-book")
    return subprocess.run(
        [str(jb), "build", str(root), "-W", "-n", "--keep-going", *extra],
        capture_output=True,
        text=True,
        timeout=3600,
        preexec_fn=preexec_fn,
    )


@pytest.fixture(scope="session")
def built_site() -> Path:
    """A strict, full build of this book; returns ``_build/html``.

    The HTML and Sphinx's environment are built from scratch, so no page left
    over from an earlier build is tested; executed outputs still come from the
    execution cache when lessonlib and the page's code are unchanged.
    """
    for stale in ("html", ".doctrees"):
        shutil.rmtree(ROOT / "_build" / stale, ignore_errors=True)
    proc = jupyter_book(ROOT, "--all")
    if proc.returncode != 0:
        pytest.fail(
            f"strict book build failed (exit {proc.returncode}):\n"
            f"{proc.stdout[-8000:]}\n{proc.stderr[-4000:]}",
            pytrace=False,
        )
    return ROOT / "_build" / "html"
