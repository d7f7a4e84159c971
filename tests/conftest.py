"""Shared test set-up: fixtures and markers.

The CUDA target is chosen here, before any test module imports ``numba.cuda``:
without a GPU, kernels run on Numba's simulator. Tests marked ``gpu`` need a real
device: without one they are skipped, or, under ``LESSONLIB_REQUIRE_GPU=1``, they
fail, naming what is missing. Tests marked ``book`` check the site that ``make test``
builds before it starts pytest (:func:`built_site`), build small books of their own,
or drive a browser (``make unit`` leaves them out).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

# As the Makefile sets it, for a pytest run without make, before torch loads OpenMP: idle OpenMP
# threads sleep instead of spinning, which on two cores shared by several processes (the test
# workers, the kernels they start) made a page take several times as long.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from lessonlib import hardware  # noqa: E402
from lessonlib.book import REQUIRE_GPU_ENV, require_gpu  # noqa: E402

hardware.use_cuda_simulator()

ROOT = Path(__file__).resolve().parents[1]
BUILD_PASSED = ROOT / "_build" / "strict-build-passed"  # written by the Makefile when its strict build passes
SUMMARY: list[str] = []  # lines printed at the end of the run (what the book tests checked)


def gpu_required() -> bool:
    """``LESSONLIB_REQUIRE_GPU=1``: a GPU run, where a missing GPU is a failure, never a skip."""
    return os.environ.get(REQUIRE_GPU_ENV, "0") not in ("", "0")


def pytest_collection_modifyitems(config, items):
    if hardware.has_cuda() or gpu_required():
        return  # with LESSONLIB_REQUIRE_GPU=1, pytest_runtest_setup fails them instead
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none on this machine")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


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

    if str(ROOT / "book/_ext") not in sys.path:  # as Sphinx has it: the modules import each other
        sys.path.insert(0, str(ROOT / "book/_ext"))
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


@pytest.fixture(scope="session")
def built_site() -> Path:
    """The site of the strict build (``jupyter-book build . -W -n --keep-going``): ``_build/html``.

    ``make test`` builds it from scratch before it starts pytest (the pages' outputs
    still come from the execution cache when neither they nor lessonlib changed).
    """
    if not BUILD_PASSED.is_file():
        pytest.fail("no passing strict build of the book in _build/html: run `make test` (it builds the book, "
                    "then runs the tests), or `make book` before running pytest yourself", pytrace=False)
    return ROOT / "_build" / "html"


# Under pytest-xdist (``make test``) the tests run in worker processes: each worker hands its
# SUMMARY lines to the main process, which prints them.
def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["summary"] = SUMMARY


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    SUMMARY.extend(getattr(node, "workeroutput", {}).get("summary", []))


def pytest_terminal_summary(terminalreporter):
    for line in SUMMARY:
        terminalreporter.write_line(line)
