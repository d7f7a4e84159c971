"""Shared test set-up.

The CUDA target is chosen here, before any test module imports ``numba.cuda``:
without a GPU, kernels run on Numba's simulator. Tests marked ``gpu`` need a real
device and are skipped without one; tests marked ``book`` build the book or drive
a browser over it (``make unit`` leaves them out).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lessonlib import hardware

hardware.use_cuda_simulator()

ROOT = Path(__file__).resolve().parents[1]
SUMMARY: list[str] = []  # lines printed at the end of the run (browser summary)


def pytest_collection_modifyitems(config, items):
    if hardware.has_cuda():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU; none on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


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
