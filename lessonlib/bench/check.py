"""The GPU check: one command for a machine with a CUDA GPU, every result in one folder.

::

    PYTHONPATH=. python3 -m lessonlib.bench.check OUTDIR      # or: make gpu-check GPU_OUT=OUTDIR

It runs with whatever ``python3`` is on the PATH (one that already holds torch,
numba and numba-cuda), with lessonlib from this checkout through
``PYTHONPATH=.``; it installs nothing and fetches nothing. It writes five files
into ``OUTDIR``:

- ``check.log`` -- everything it printed, the versions first;
- ``check.json`` -- the versions, each step's status and seconds, and the summary;
- ``gpu_tests.xml`` -- the ``gpu``-marked tests' JUnit XML (run with ``LESSONLIB_REQUIRE_GPU=1``);
- ``reference_gpu.json`` -- :func:`lessonlib.bench.gpu.gpu_report`, checked against
  :mod:`lessonlib.bench.reference`'s format; copy it to ``book/_data/`` and commit it;
- ``ladder.png`` -- the kernel ladder at 4096², drawn from that file (:func:`ladder_chart`).

Steps, and what each costs on an H200 by estimate (the whole check is about 3
minutes, 5 at most; each part timed on a two-core CPU machine at small or full
sizes and scaled, see the README's GPU section):

1. preflight, seconds: versions, ``nvidia-smi``, torch sees a GPU, Numba's real
   CUDA target runs a small kernel and agrees with torch. Anything missing stops
   the check here, exit status 2, each missing thing named;
2. the ``gpu`` tests, about 1 minute (mostly imports and kernel compilation);
3. the reference, about 2 minutes: the CPU rows it compares with (the matmul
   ladder, the lecture's mean shift loop, scikit-learn's clustering, about 70 s
   together) and the GPU rows (about 45 s);
4. the chart and the summary, seconds.

Exit status 0 when every step passed, 1 when a step failed (the other steps
still run and their files are written), 2 when the preflight found something
missing. A watchdog stops the check after ``--budget`` seconds (default 480,
inside a 10-minute command limit), with status 1, writing where each thread
was into the log.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import faulthandler
import json
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

from .. import _checks, hardware

ROOT = Path(__file__).resolve().parents[2]  # the checkout: lessonlib/bench/check.py -> .
COMMAND = "python3 -m lessonlib.bench.check"
FILES = ("check.log", "check.json", "gpu_tests.xml", "reference_gpu.json", "ladder.png")
NEEDED = ("numpy", "scipy", "sklearn", "pandas", "matplotlib", "pytest", "yaml")  # besides torch and numba
TESTS_TIMEOUT_S = 240


# ---------------------------------------------------------------- versions and preflight


def _device_properties() -> dict:
    """torch's view of device 0: name, compute capability, memory."""
    import torch

    p = torch.cuda.get_device_properties(0)
    return {"name": p.name, "capability": f"{p.major}.{p.minor}", "memory_GiB": round(p.total_memory / 2**30, 1)}


def _numba_target() -> tuple[bool, str]:
    """Whether Numba's real CUDA target works here, and what it says of the CUDA versions."""
    if hardware.cuda_simulator_active():
        return False, "Numba is on its CUDA simulator (NUMBA_ENABLE_CUDASIM is set): unset it"
    if not hardware.numba_cuda_available():
        return False, "Numba's CUDA target is unavailable (numba-cuda missing, or no NVVM: see the warning above)"
    from numba import cuda

    def version(get) -> str:
        try:
            return ".".join(map(str, get()))
        except Exception as exc:  # noqa: BLE001 - a version we cannot read is recorded, not fatal
            return f"unknown ({type(exc).__name__})"

    def driver_cuda():
        from numba.cuda.cudadrv.driver import driver  # inside: its place may move between numba-cuda versions

        return driver.get_version()

    return True, (f"real GPU; CUDA runtime {version(cuda.runtime.get_version)}, "
                  f"the driver's CUDA {version(driver_cuda)}")


def _smoke_kernel() -> str | None:
    """One small Numba kernel against torch on the device: None when they agree, else what went wrong."""
    import torch

    from ..kernels import cuda_matmul

    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(37, 50, generator=g), torch.randn(50, 9, generator=g)
    try:
        got = cuda_matmul(a, b, kernel="naive")
        want = (a.cuda().double() @ b.cuda().double()).cpu()
    except Exception as exc:  # noqa: BLE001 - the message is the finding
        return f"a small Numba kernel failed on the device: {type(exc).__name__}: {exc}"
    err = float((got.double() - want).norm() / want.norm())
    return None if err < 1e-5 else f"a small Numba kernel disagrees with torch on the device (relative error {err:.2e})"


def preflight() -> tuple[dict, list[str]]:
    """What this machine has for the check, and what it lacks.

    Returns
    -------
    (dict, list of str)
        The versions actually used (Python, torch and its CUDA build, numba,
        numba-cuda, numpy, the GPU, its driver, compute capability and memory,
        Numba's CUDA target), and one line per missing thing; the check runs
        only when that list is empty.
    """
    missing = []
    facts = {"python": platform.python_version(), "python_executable": sys.executable}
    try:
        import torch
    except ImportError as exc:
        return {**facts, "torch": "not importable"}, [f"torch cannot be imported ({exc})"]
    version = hardware.package_version
    facts.update({"torch": torch.__version__, "torch_cuda": torch.version.cuda or "none (a CPU build)",
                  "numba": version("numba"), "numba_cuda": version("numba-cuda"), "numpy": version("numpy")})
    ok, smi = hardware.nvidia_smi("name", "driver_version", "memory.total")
    facts["nvidia_smi"] = smi
    facts["driver"] = hardware.driver_version()
    if not ok:
        missing.append(f"no NVIDIA driver answers: {smi}")
    if not hardware.has_cuda():
        why = ("it is a CPU build" if torch.version.cuda is None else
               f"driver: {facts['driver']}; torch's CUDA {torch.version.cuda} build needs a driver that supports it")
        missing.append(f"torch {torch.__version__} sees no CUDA device ({why})")
    else:
        try:
            facts["gpu"] = _device_properties()
        except Exception as exc:  # noqa: BLE001 - a GPU torch lists but cannot open is a finding
            missing.append(f"torch lists a CUDA device but cannot read it: {type(exc).__name__}: {exc}")
    for module in NEEDED:
        try:
            __import__(module)
        except ImportError:
            missing.append(f"the Python package {module!r} is missing (the check installs nothing)")
    if facts["numba_cuda"] == "not installed":
        missing.append("numba-cuda is not installed: Numba has no CUDA target")
    if not missing:  # Numba only once torch has a GPU: without one, importing numba.cuda would pin the real target
        ok, facts["numba_target"] = _numba_target()
        problem = None if ok else facts["numba_target"]
        problem = problem or _smoke_kernel()
        if problem:
            missing.append(problem)
    return facts, missing


# ---------------------------------------------------------------- the gpu tests


def gpu_test_files(root: Path = ROOT) -> list[str]:
    """The test files that hold ``gpu``-marked tests (only they are collected: the book's need jupyter-book).

    Returns
    -------
    list of str
        Paths relative to ``root``, sorted.
    """
    if not isinstance(root, Path):
        raise TypeError(f"root must be a pathlib.Path, got {type(root).__name__}")
    marked = re.compile(r"^\s*(@pytest\.mark\.gpu\b|pytestmark\b.*\bpytest\.mark\.gpu\b)", re.MULTILINE)
    return sorted(p.relative_to(root).as_posix() for p in (root / "tests").glob("test_*.py")
                  if marked.search(p.read_text(encoding="utf-8")))


def _junit_counts(path: Path) -> dict:
    import xml.etree.ElementTree as ET

    suites = ET.parse(path).getroot()
    suites = [suites] if suites.tag == "testsuite" else list(suites.iter("testsuite"))
    return {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}


def run_gpu_tests(out: Path, *, root: Path = ROOT, files=None, timeout: float = TESTS_TIMEOUT_S) -> dict:
    """Run the ``gpu`` tests in a fresh process with ``LESSONLIB_REQUIRE_GPU=1``; JUnit XML into ``out``.

    Returns
    -------
    dict
        ``ok`` (every selected test passed, none skipped, at least one ran),
        ``exit`` (pytest's status), the counts, and ``problem`` when not ok.
    """
    files = gpu_test_files(root) if files is None else list(files)
    xml = out / "gpu_tests.xml"
    env = {**os.environ, "LESSONLIB_REQUIRE_GPU": "1",
           "PYTHONPATH": os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", *files]
    print("$ LESSONLIB_REQUIRE_GPU=1", " ".join(cmd[2:]), flush=True)
    try:
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
        text, status = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        text = "".join(s.decode() if isinstance(s, bytes) else s for s in (exc.stdout or "", exc.stderr or ""))
        status = None
    print(text, flush=True)
    result = {"exit": status, "files": files}
    if status is None:
        return {**result, "ok": False, "problem": f"the gpu tests ran past {timeout:g} s and were stopped"}
    if not xml.is_file():
        return {**result, "ok": False, "problem": f"pytest wrote no JUnit XML (exit {status})"}
    counts = _junit_counts(xml)
    result.update(counts)
    if status == 0 and counts["tests"] > 0 and counts["skipped"] == 0:
        return {**result, "ok": True}
    return {**result, "ok": False,
            "problem": f"pytest exit {status}: {counts['tests']} gpu tests, {counts['failures']} failed, "
                       f"{counts['errors']} errors, {counts['skipped']} skipped"}


# ---------------------------------------------------------------- the chart and the summary


def ladder_chart(ref: dict):
    """The kernel ladder of a reference file: each kernel's and cuBLAS's GFLOP/s at n², log scale.

    The GPU run's own picture of its result, drawn only from the reference
    file: the chapter's ladder chart (:func:`lessonlib.kernels.plot_ladder`)
    compares whole products with the lecture's, this one the kernels' speed.

    Parameters
    ----------
    ref : dict
        A reference file (:func:`lessonlib.bench.reference.load_reference`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    from .reference import short_label, validate
    from .claims import SQUARE_ROWS

    if not isinstance(ref, dict):
        raise TypeError(f"ref must be a dict read by load_reference, got {type(ref).__name__}")
    validate(ref, source="ref")
    sq = ref["square_matmul"]
    rates = [sq["GFLOP/s"][r] for r in SQUARE_ROWS]
    fig = Figure(figsize=(6, 2.8), dpi=80, layout="constrained")
    ax = fig.add_subplot()
    ax.barh(list(SQUARE_ROWS)[::-1], rates[::-1], color=["tab:gray"] + ["tab:blue"] * (len(rates) - 1))
    ax.set_xscale("log")
    ax.set_xlabel(f"GFLOP/s, {sq['n']:,}² float32 (log scale)")
    for y, v in enumerate(rates[::-1]):
        ax.annotate(f" {100 * v / rates[-1]:.0f}% of cuBLAS", (v, y), va="center", fontsize=8)
    ax.set_xlim(min(rates) / 2, max(rates) * 8)
    ax.set_title(short_label(ref), fontsize=9)
    return fig


def summary(ref: dict) -> dict:
    """What the closing note of a GPU run reports, from a reference file.

    Returns
    -------
    dict
        ``pct_of_cublas`` (each kernel at n², TF32 off), ``mnist_over_floor``
        (each kernel-only row and torch's ``@`` over the bandwidth floor of the
        MNIST-shaped product at the measured copy bandwidth), ``claims`` (each
        lecture GPU claim's verdict) and ``cluster`` (each GPU row's median
        against scikit-learn's on the CPU).
    """
    from ..ptx import roofline
    from ..kernels import KERNELS
    from .reference import gpu_claims, validate

    if not isinstance(ref, dict):
        raise TypeError(f"ref must be a dict read by load_reference, got {type(ref).__name__}")
    validate(ref, source="ref")
    sq, mm = ref["square_matmul"]["GFLOP/s"], ref["matmul"]
    (m, k), (_, n) = mm["shape"]
    floor = roofline(m, k, n, bandwidth=ref["device_copy_GBps"] * 1e9)["memory_s"]
    rows = [*KERNELS.values(), "torch @ on the GPU"]
    cpu = {r["case"]: r["median (s)"] for r in ref["cluster"] if r.get("device") == "cpu"}
    return {
        "pct_of_cublas": {r: 100 * sq[r] / sq["cuBLAS (TF32 off)"] for r in KERNELS.values()},
        "mnist_floor_s": floor,
        "mnist_over_floor": {r: mm["gpu"][r]["median_s"] / floor for r in rows},
        "claims": {v.claim.text: str(v) for v in gpu_claims(ref)},
        "cluster": [{"case": r.get("case"), "implementation": r["implementation"], "GPU (s)": r["median (s)"],
                     "scikit-learn CPU (s)": cpu.get(r.get("case"))}
                    for r in ref["cluster"] if r.get("device") != "cpu"],
    }


def _print_summary(s: dict) -> None:
    print("4096² float32, share of cuBLAS (TF32 off):")
    for r, v in s["pct_of_cublas"].items():
        print(f"  {r:<28} {v:6.1f}%")
    floor = s["mnist_floor_s"] * 1e6
    print(f"MNIST-shaped product over its bandwidth floor ({floor:.1f} µs at the measured copy rate):")
    for r, v in s["mnist_over_floor"].items():
        print(f"  {r:<28} {v:6.1f}×")
    print("The lecture's GPU claims:")
    for claim, verdict in s["claims"].items():
        print(f"  {claim}: {verdict}")
    print("Clustering, GPU against scikit-learn on this machine's CPU (median s):")
    for r in s["cluster"]:
        print(f"  {r['case']}, {r['implementation']}: {r['GPU (s)']} against {r['scikit-learn CPU (s)']}")


# ---------------------------------------------------------------- the run


class _Tee:
    """A text stream that writes to the console and to the log, line by line (a killed run keeps its lines)."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for s in self.streams:
            s.write(text)
            if "\n" in text:
                s.flush()
        return len(text)

    def flush(self):
        for s in self.streams:
            s.flush()

    def isatty(self):
        return False


def _step(name: str, steps: dict, fn):
    """Run one step, print and record its status and seconds; a failure is recorded, not raised."""
    print(f"\n== {name}", flush=True)
    start = time.perf_counter()
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001 - one step's failure must not lose the others' files
        traceback.print_exc()
        result = {"ok": False, "problem": f"{type(exc).__name__}: {exc}"}
    result["seconds"] = round(time.perf_counter() - start, 1)
    steps[name] = {k: v for k, v in result.items() if k != "value"}
    print(f"== {name}: {'ok' if result['ok'] else 'FAILED: ' + result['problem']} ({result['seconds']} s)", flush=True)
    return result.get("value")


def run(out, *, rows: int = 50_000, budget: float = 480.0, test_files=None) -> int:
    """The whole check, writing into ``out``; see the module's description.

    Parameters
    ----------
    out : str or pathlib.Path
        The results folder (made if absent).
    rows : int, default 50,000
        Rows of the MNIST-shaped product (passed to :func:`~lessonlib.bench.gpu.gpu_report`).
    budget : float, default 480
        Seconds before the watchdog stops the process.
    test_files : list of str, optional
        The test files to run; by default :func:`gpu_test_files`.

    Returns
    -------
    int
        0, 1 or 2, as the module's description says.
    """
    if not isinstance(out, (str, Path)):
        raise TypeError(f"out must be a str or a pathlib.Path, got {type(out).__name__}")
    rows = _checks.integer("rows", rows, low=5)
    budget = _checks.positive("budget", budget)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    command = f"{COMMAND} {out}"
    started = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    record = {"command": command, "started": started, "files": list(FILES), "steps": {}}
    log = open(out / "check.log", "w", encoding="utf-8", buffering=1)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Tee(saved[0], log), _Tee(saved[1], log)
    faulthandler.dump_traceback_later(budget, exit=True, file=log)
    try:
        status = _run(out, record, rows=rows, test_files=test_files)
    finally:
        faulthandler.cancel_dump_traceback_later()
        sys.stdout, sys.stderr = saved
        log.close()
    return status


def _run(out: Path, record: dict, *, rows: int, test_files) -> int:
    steps = record["steps"]
    print(f"{record['command']}  (started {record['started']}; installs nothing, fetches nothing)")
    start = time.perf_counter()
    try:
        facts, missing = preflight()
    except Exception as exc:  # noqa: BLE001 - said, not raised: the folder still gets its record
        traceback.print_exc()
        facts, missing = {}, [f"the preflight itself failed: {type(exc).__name__}: {exc}"]
    record["versions"] = facts
    steps["preflight"] = {"ok": not missing, "seconds": round(time.perf_counter() - start, 1)}
    for key, value in facts.items():
        print(f"  {key}: {value}")
    if missing:
        record["missing"] = missing
        print("\nThe check cannot run here. Missing:", *[f"  - {m}" for m in missing], sep="\n")
        _write_record(out, record)
        return 2

    _step("gpu tests", steps, lambda: run_gpu_tests(out, files=test_files))

    def reference():
        from .reference import write_reference
        from .gpu import gpu_report

        parts = {}

        def on_part(name, seconds):
            parts[name] = round(seconds, 1)
            print(f"  {name}: {seconds:.1f} s", flush=True)

        report = gpu_report(rows, command=record["command"], on_part=on_part)
        print(f"wrote {write_reference(report, out / 'reference_gpu.json')}")
        return {"ok": True, "parts": parts, "value": report}

    report = _step("reference", steps, reference)
    if report is not None:
        def chart():
            fig = ladder_chart(report)
            fig.savefig(out / "ladder.png")
            return {"ok": True, "bytes": (out / "ladder.png").stat().st_size}

        def summarise():
            record["summary"] = summary(report)
            _print_summary(record["summary"])
            return {"ok": True}

        _step("chart", steps, chart)
        _step("summary", steps, summarise)
    record["seconds"] = round(time.perf_counter() - start, 1)
    failed = [name for name, s in steps.items() if not s["ok"]]
    print(f"\n{'every step passed' if not failed else 'FAILED: ' + ', '.join(failed)} in {record['seconds']} s")
    _write_record(out, record)
    return 1 if failed else 0


def _write_record(out: Path, record: dict) -> None:
    from ._common import jsonable

    (out / "check.json").write_text(json.dumps(jsonable(record), indent=2, ensure_ascii=False) + "\n",
                                    encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """``python3 -m lessonlib.bench.check OUTDIR [--rows N] [--budget S]``; return the exit status."""
    p = argparse.ArgumentParser(prog=COMMAND, description="The GPU check: tests, reference file, chart, in OUTDIR.")
    p.add_argument("out", type=Path, help="the results folder")
    p.add_argument("--rows", type=int, default=50_000, help="rows of the MNIST-shaped product (default 50000)")
    p.add_argument("--budget", type=float, default=480.0, help="seconds before the watchdog stops it (default 480)")
    args = p.parse_args(argv)
    return run(args.out, rows=args.rows, budget=args.budget)


if __name__ == "__main__":
    sys.exit(main())
