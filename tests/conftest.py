"""Shared test set-up.

The CUDA target is chosen here, before any test module imports ``numba.cuda``:
without a GPU, kernels run on Numba's simulator. Tests marked ``gpu`` need a real
device: without one they are skipped, or, under ``LESSONLIB_REQUIRE_GPU=1``, they
fail, naming what is missing. Tests marked ``book`` build the book or drive a
browser over it (``make unit`` leaves them out).
"""

from __future__ import annotations

import ast
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

# As the Makefile sets it, for a pytest run without make, before torch loads OpenMP: idle OpenMP
# threads sleep instead of spinning, which on two cores shared by the build, the fresh runs and the
# unit tests made a page take four times as long.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from lessonlib import hardware  # noqa: E402
from lessonlib.book import REQUIRE_GPU_ENV, require_gpu  # noqa: E402

hardware.use_cuda_simulator()

ROOT = Path(__file__).resolve().parents[1]
SUMMARY: list[str] = []  # lines printed at the end of the run (browser summary)


def pytest_collection_modifyitems(config, items):
    # Unit tests first, while the strict build and the fresh re-runs of every page run in
    # the background (STRICT_BUILD, FRESH_RUNS); then the book tests that build books of their
    # own, then those that wait for the strict build; the determinism tests, which wait for
    # the fresh runs, go last. Among the unit tests, those that run lessonlib's compiled
    # (Numba) functions go after the others, so that the one compile (NUMBA_CACHE) is done.
    items.sort(key=lambda item: (item.get_closest_marker("book") is not None,
                                 _module(item) in NUMBA_MODULES,
                                 "built_site" in getattr(item, "fixturenames", ()),
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


# Four kinds of job run in the background from the start of the session, while the unit
# tests run: the one compile of lessonlib's Numba functions (NUMBA_CACHE), then the strict
# build of the whole book (STRICT_BUILD) and the fresh re-runs of every page (FRESH_RUNS);
# and the builds of small books (SMALL_BUILDS). The fixtures that need a job wait for it.


def _lower_priority(pid, nice: int) -> None:
    """Give the scheduling group of process ``pid`` the niceness ``nice``.

    Where the scheduler groups processes by session (Linux with
    ``/proc/sys/kernel/sched_autogroup_enabled``), each session's group gets an
    equal share of the CPU whatever the nice of its threads, and jupyter_client
    starts every kernel in a session of its own: such a group is lowered by its own nice.
    """
    try:
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))
    except OSError:  # no autogroups (not Linux, or a kernel built without them): thread nice suffices
        pass


class StrictBuild:
    """The strict, full build of this book, in the background.

    The HTML and Sphinx's environment are built from scratch, so no page left
    over from an earlier build is tested; executed outputs still come from the
    execution cache when lessonlib and the page's code are unchanged. Its
    kernels share the cores with the unit tests; the page times it reports
    are not those of an idle machine, and no test reads them.
    """

    def __init__(self):
        self.proc, self.log, self._lock = None, None, threading.Lock()
        self.finished = threading.Event()  # set when the build process has exited

    def start(self) -> None:
        with self._lock:
            if self.proc is not None:
                return
            for stale in ("html", ".doctrees"):
                shutil.rmtree(ROOT / "_build" / stale, ignore_errors=True)
            self.log = tempfile.TemporaryFile("w+")  # a file, not a pipe: it is read only at the end
            self.proc = subprocess.Popen(build_command(ROOT, "--all"), stdout=self.log, stderr=subprocess.STDOUT,
                                         text=True, start_new_session=True)
            threading.Thread(target=lambda: (self.proc.wait(), self.finished.set()), daemon=True).start()

    def result(self) -> Path:
        self.start()  # already started, unless the tests were collected in an unusual way
        returncode = self.proc.wait(timeout=3600)
        if returncode != 0:
            self.log.seek(0)
            pytest.fail(f"strict book build failed (exit {returncode}):\n{self.log.read()[-12000:]}", pytrace=False)
        return ROOT / "_build" / "html"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:  # the session ended early (-x, Ctrl-C)
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait()


def _names(source: str) -> tuple[set[str], set[str]]:
    """The names a cell's code binds and the names it reads (IPython ``%``/``!`` lines read as nothing)."""
    tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
    return bound, read


def without_measurements(cells: list) -> list:
    """``cells`` less each 'timing' cell that binds no name a later cell kept reads.

    A timing cell's outputs are measurements, never compared; what a fresh run
    must reproduce are the other outputs, and a measurement that one of them
    depended on (through a name, the random state, a setting) would show as a
    difference. A timing cell that also computes something later cells use
    (a trained model, say) stays.
    """
    needed, kept = set(), []
    for cell in reversed(cells):
        if cell.cell_type == "code":
            bound, read = _names(cell.source)
            if "timing" in cell.metadata.get("tags", []) and not bound & needed:
                continue
            needed |= read
        kept.append(cell)
    return kept[::-1]


class FreshRuns:
    """Every page with code executed again from scratch, in the background.

    Longest page first; the determinism tests run last and wait for their page.
    Each page runs in its own fresh kernel, behind the other tests and the
    strict build: its threads at nice 19, its scheduling group at nice 10 (at 19
    the fresh runs were left to finish well after every other test, on two
    cores). One page at a time while the strict build runs, two once it is done,
    so that the pages left at the end do not wait on one core while the other
    is idle. The measurements are left out (:func:`without_measurements`).
    """

    def __init__(self):
        self.futures, self.pending, self.threads, self._lock = {}, [], [], threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self.threads:
                return
            pages = code_pages()
            size = {p: len((ROOT / f"{p}.md").read_text()) for p in pages}
            self.pending = sorted(pages, key=lambda p: -size[p])
            self.futures = {p: Future() for p in self.pending}
            self.threads = [threading.Thread(target=self._work, args=(wait,), daemon=True) for wait in (False, True)]
            for thread in self.threads:
                thread.start()

    def _work(self, after_the_build: bool) -> None:
        os.nice(19)  # on Linux, this thread's and the kernels it starts
        while after_the_build and not STRICT_BUILD.finished.wait(timeout=1):
            if not self.pending:
                return
        while True:
            with self._lock:
                if not self.pending:
                    return
                page = self.pending.pop(0)
            future = self.futures[page]
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._run(page))
            except BaseException as err:  # the test that waits for the page reports it
                future.set_exception(err)

    @staticmethod
    def _run(page: str):
        import nbformat
        from myst_nb.core.read import read_myst_markdown_notebook
        from nbclient import NotebookClient

        path = ROOT / f"{page}.md"
        nb = nbformat.from_dict(read_myst_markdown_notebook(path.read_text(), path=path))
        nb.cells = without_measurements(nb.cells)
        client = NotebookClient(nb, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        client.on_notebook_start = lambda notebook: _lower_priority(client.km.provisioner.pid, 10)
        client.execute()
        return nb

    def result(self, page: str):
        self.start()  # already started, unless the tests were collected in an unusual way
        return self.futures[page].result()

    def stop(self) -> None:
        with self._lock:
            for future in self.futures.values():
                future.cancel()  # the pages not started; those running finish
            self.pending = []
        for thread in self.threads:
            thread.join()


class SmallBuilds:
    """Builds of small books that tests inspect, run one at a time at nice 19 from the start.

    A test module registers each with :meth:`add` under the name of the session
    fixture that returns it (:meth:`result`); the ones whose fixture was
    collected start with the session, in a folder of their own (:meth:`folder`).
    """

    def __init__(self):
        self.jobs, self.futures, self.folders, self.pool = {}, {}, [], None
        self._lock = threading.Lock()

    def add(self, name: str, job) -> None:
        self.jobs[name] = job

    def folder(self) -> Path:
        self.folders.append(Path(tempfile.mkdtemp(prefix="lessonlib-book-")))
        return self.folders[-1]

    def start(self, names) -> None:
        with self._lock:
            if self.pool is None:
                self.pool = ThreadPoolExecutor(max_workers=1, initializer=os.nice, initargs=(19,))
            for name in names:
                if name not in self.futures:
                    self.futures[name] = self.pool.submit(self.jobs[name])

    def result(self, name: str):
        self.start([name])  # already started, unless the tests were collected in an unusual way
        return self.futures[name].result()

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        for folder in self.folders:
            shutil.rmtree(folder, ignore_errors=True)


class NumbaCache:
    """lessonlib's cached Numba functions compiled once, at the start, in two processes of their own.

    In a fresh checkout their on-disk cache is empty, and the strict build's first page,
    the fresh run of the clustering page and the unit tests would each compile the same
    functions at the same time (about 25 CPU-s each). The strict build, the fresh runs and
    the unit tests in :data:`NUMBA_MODULES` start after these processes have written the
    cache; the other unit tests run meanwhile. Should one fail, the tests that run the
    functions compile them and report the error themselves.
    """

    # Every compiled function, in every signature the book and the tests use (float64; LSH also
    # float32), in two halves that take about as long (k-means and DBSCAN; LSH).
    SETUP = ("import torch", "from lessonlib import cluster, lsh",
             "X = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))")
    WARM = (("cluster.kmeans(X, 3, method='fused')", "cluster.dbscan(X, eps=0.3, method='fused')"),
            ("for dtype in (torch.float32, torch.float64):",
             "    lsh.query(lsh.build(X.to(dtype)), X.to(dtype), 3, method='fused')"))

    def __init__(self):
        self.procs, self._lock = [], threading.Lock()

    def start(self) -> None:
        with self._lock:
            if not self.procs:
                self.procs = [subprocess.Popen([sys.executable, "-c", "\n".join(self.SETUP + half)], cwd=ROOT,
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                              for half in self.WARM]

    def wait(self) -> None:
        for proc in self.procs:
            try:
                proc.wait(timeout=600)  # about 15 s on two cores; never a hung session
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


# The test modules whose tests run the compiled functions (directly, or through lessonlib.bench).
NUMBA_MODULES = {"test_bench_check", "test_bench_claims", "test_bench_cli", "test_bench_cluster", "test_bench_gpu",
                 "test_bench_lsh", "test_bench_reference", "test_bench_registry", "test_checks", "test_cluster",
                 "test_lsh", "test_teaching_code"}

STRICT_BUILD, FRESH_RUNS, SMALL_BUILDS, NUMBA_CACHE = StrictBuild(), FreshRuns(), SmallBuilds(), NumbaCache()


@pytest.fixture(autouse=True)
def _numba_cache(request):
    """The tests in :data:`NUMBA_MODULES` wait for :data:`NUMBA_CACHE` (done long before, as a rule)."""
    if _module(request.node) in NUMBA_MODULES:
        NUMBA_CACHE.wait()


def _module(item) -> str:
    module = getattr(item, "module", None)
    return module.__name__ if module is not None else ""


def pytest_collection_finish(session):
    used = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    jobs = [job.start for name, job in (("built_site", STRICT_BUILD), ("fresh_runs", FRESH_RUNS)) if name in used]
    if jobs or any(_module(item) in NUMBA_MODULES for item in session.items):
        NUMBA_CACHE.start()

    def start_after_the_compile():
        NUMBA_CACHE.wait()
        for start in jobs:
            start()

    if jobs:
        threading.Thread(target=start_after_the_compile, daemon=True).start()
    SMALL_BUILDS.start(sorted(used & SMALL_BUILDS.jobs.keys()))


def pytest_sessionfinish(session, exitstatus):
    NUMBA_CACHE.stop()
    STRICT_BUILD.stop()
    FRESH_RUNS.stop()
    SMALL_BUILDS.stop()


def pytest_terminal_summary(terminalreporter):
    for line in SUMMARY:
        terminalreporter.write_line(line)


def build_command(root: Path, *extra: str) -> list[str]:
    """The strict build the Makefile runs, of the book at ``root``."""
    return [str(Path(sys.executable).with_name("jupyter-book")), "build", str(root), "-W", "-n", "--keep-going", *extra]


PIN_AND_EXEC = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])}); os.execv(sys.argv[2], sys.argv[2:])"


def jupyter_book(root: Path, *extra: str, env=None, cpu: int | None = None) -> subprocess.CompletedProcess:
    """Run :func:`build_command` and wait for it.

    ``env``: the whole environment; ``cpu``: the one core to run on (set before the
    build starts, by a launcher, as ``preexec_fn`` would not be safe beside threads).
    """
    cmd = build_command(root, *extra)
    if cpu is not None:
        cmd = [sys.executable, "-c", PIN_AND_EXEC, str(cpu), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=3600, env=env)


@pytest.fixture(scope="session")
def built_site() -> Path:
    """A strict, full build of this book (:class:`StrictBuild`); returns ``_build/html``."""
    return STRICT_BUILD.result()
