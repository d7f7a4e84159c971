"""The GPU check, ``PYTHONPATH=. python3 -m lessonlib.bench.check OUTDIR`` (``make gpu-check``): installs nothing,
fetches nothing, writes every result into OUTDIR (the README's GPU section lists them). It imports only what a GPU
machine's Python holds (torch, numba-cuda, numpy, scipy, scikit-learn, pandas, matplotlib, pytest, PyYAML;
``tests/test_bench_check.py`` blocks the rest). Its time limit and log are the caller's: ``make gpu-check`` runs it
under ``timeout`` (SIGINT, so the traceback says where it was) and ``tee``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path

from .. import _checks, hardware

ROOT = Path(__file__).resolve().parents[2]  # the checkout: lessonlib/bench/check.py -> .
COMMAND = "python3 -m lessonlib.bench.check"
FILES = ("check.json", "gpu_tests.xml", "reference_gpu.json", "ladder.png")  # check.log: make gpu-check's tee
NEEDED = ("numpy", "scipy", "sklearn", "pandas", "matplotlib", "pytest", "yaml")  # besides torch and numba


def _device_properties() -> dict:
    """torch's view of device 0."""
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

    # imported inside version(): its place may move between numba-cuda versions
    driver = lambda: importlib.import_module("numba.cuda.cudadrv.driver").driver.get_version()  # noqa: E731
    return True, (f"real GPU; CUDA runtime {version(cuda.runtime.get_version)}, "
                  f"the driver's CUDA {version(driver)}")


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
    """What this machine has for the check (the versions actually used), and what it lacks."""
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
    facts.update(nvidia_smi=smi, driver=hardware.driver_version())
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
    missing += [f"the Python package {m!r} is missing (the check installs nothing)" for m in NEEDED
                if importlib.util.find_spec(m) is None]
    if facts["numba_cuda"] == "not installed":
        missing.append("numba-cuda is not installed: Numba has no CUDA target")
    if not missing:  # Numba only once torch has a GPU: without one, importing numba.cuda would pin the real target
        ok, facts["numba_target"] = _numba_target()
        problem = _smoke_kernel() if ok else facts["numba_target"]
        missing += [problem] if problem else []
    return facts, missing


def gpu_test_files(root: Path = ROOT) -> list[str]:
    """The test files that hold ``gpu``-marked tests, relative to ``root`` and sorted."""
    root = _checks.path("root", root)
    if not (root / "tests").is_dir():
        raise ValueError(f"root must be a checkout with a tests/ folder; {root} has none")
    marked = re.compile(r"^\s*(@pytest\.mark\.gpu\b|pytestmark\b.*\bpytest\.mark\.gpu\b)", re.MULTILINE)
    return sorted(p.relative_to(root).as_posix() for p in (root / "tests").glob("test_*.py")
                  if marked.search(p.read_text(encoding="utf-8")))


def run_gpu_tests(out: Path, *, root: Path = ROOT, files=None, timeout: float = 240) -> dict:
    """The ``gpu`` tests in a new process under ``LESSONLIB_REQUIRE_GPU=1``, JUnit XML into ``out``; ``ok``
    only when at least one test ran and every one passed, none skipped.
    """
    out, marked = _checks.path("out", out), gpu_test_files(root)  # gpu_test_files checks root
    files = marked if files is None else _checks.sequence("files", files, item=_checks.text)
    _checks.positive("timeout", timeout)
    xml = out / "gpu_tests.xml"
    env = {**os.environ, "LESSONLIB_REQUIRE_GPU": "1",
           "PYTHONPATH": os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", *files]
    print("$ LESSONLIB_REQUIRE_GPU=1", " ".join(cmd[2:]), flush=True)
    try:
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
        text, status = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:  # its output may be bytes, even with text=True
        text, status = "".join(s.decode() if isinstance(s, bytes) else s
                               for s in (exc.stdout or "", exc.stderr or "")), None
    print(text, flush=True)
    result = {"exit": status, "files": files, "ok": False}
    if status is None:
        return {**result, "problem": f"the gpu tests ran past {timeout:g} s and were stopped"}
    if not xml.is_file():
        return {**result, "problem": f"pytest wrote no JUnit XML (exit {status})"}
    top = ET.parse(xml).getroot()
    runs = [top] if top.tag == "testsuite" else list(top.iter("testsuite"))
    c = {k: sum(int(s.get(k, 0)) for s in runs) for k in ("tests", "failures", "errors", "skipped")}
    result.update(c, ok=status == 0 and c["tests"] > 0 and c["skipped"] == 0)
    if not result["ok"]:
        result["problem"] = (f"pytest exit {status}: {c['tests']} gpu tests, {c['failures']} "
                             f"failed, {c['errors']} errors, {c['skipped']} skipped")
    return result


def ladder_chart(ref: dict):
    """A matplotlib Figure of a reference file's kernel ladder: GFLOP/s at n², log scale."""
    from matplotlib.figure import Figure

    from .claims import SQUARE_ROWS
    from .reference import short_label

    title = short_label(ref)  # checks ref
    sq = ref["square_matmul"]
    rates = [sq["GFLOP/s"][r] for r in SQUARE_ROWS]
    fig = Figure(figsize=(6, 2.8), dpi=80, layout="constrained")
    ax = fig.add_subplot()
    ax.barh(list(SQUARE_ROWS)[::-1], rates[::-1], color=["tab:gray"] + ["tab:blue"] * (len(rates) - 1))
    ax.set(xscale="log", xlim=(min(rates) / 2, max(rates) * 8),
           xlabel=f"GFLOP/s, {sq['n']:,}² float32 (log scale)")
    for y, v in enumerate(rates[::-1]):
        ax.annotate(f" {100 * v / rates[-1]:.0f}% of cuBLAS", (v, y), va="center", fontsize=8)
    ax.set_title(title, fontsize=9)
    return fig


def summary(ref: dict) -> dict:
    """What a GPU run's closing note reports (the README's GPU section lists it), from ``ref``."""
    from ..kernels import KERNELS
    from ..ptx import roofline
    from .reference import gpu_claims, short_label

    label = short_label(ref)  # checks ref
    sq, mm = ref["square_matmul"]["GFLOP/s"], ref["matmul"]
    (m, k), (_, n) = mm["shape"]
    floor = roofline(m, k, n, bandwidth=ref["device_copy_GBps"] * 1e9)["memory_s"]
    rows = [*KERNELS.values(), "torch @ on the GPU"]
    cpu = {r.get("case"): r.get("median (s)") for r in ref["cluster"] if r["device"] == "cpu"}
    return {
        "reference": label, "pct_of_cublas": {r: 100 * sq[r] / sq["cuBLAS (TF32 off)"] for r in KERNELS.values()},
        "mnist_floor_s": floor, "mnist_over_floor": {r: mm["gpu"][r]["median_s"] / floor for r in rows},
        "claims": {v.claim.text: str(v) for v in gpu_claims(ref)},
        "cluster": [{"case": r.get("case"), "implementation": r["implementation"], "GPU (s)": r.get("median (s)"),
                     "scikit-learn CPU (s)": cpu.get(r.get("case"))}
                    for r in ref["cluster"] if r["device"] != "cpu"],
    }


def run(out, *, rows: int = 50_000, test_files=None) -> int:
    """The whole check, writing into the folder ``out`` (``rows`` of the MNIST-shaped product; ``test_files``
    by default :func:`gpu_test_files`). Returns the exit status: 0 all passed, 1 a step failed, 2 this
    machine cannot run it (the preflight says what is missing).
    """
    out, rows = _checks.path("out", out), _checks.integer("rows", rows, low=5)
    if test_files is not None:
        _checks.sequence("test_files", test_files, item=_checks.text)
    out.mkdir(parents=True, exist_ok=True)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started in the background: the time limit's SIGINT
        signal.signal(signal.SIGINT, signal.default_int_handler)  # must still stop it and say where
    started = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    record = {"command": f"{COMMAND} {out}", "started": started, "files": list(FILES), "steps": {}}
    print(f"{record['command']}  (started {started}; installs nothing, fetches nothing)", flush=True)
    start = time.perf_counter()
    try:
        facts, missing = preflight()
    except Exception as exc:  # noqa: BLE001 - said, not raised: the folder still gets its record
        traceback.print_exc()
        facts, missing = {}, [f"the preflight itself failed: {type(exc).__name__}: {exc}"]
    record["versions"] = facts
    record["steps"]["preflight"] = {"ok": not missing, "seconds": round(time.perf_counter() - start, 1)}
    print(*[f"  {key}: {value}" for key, value in facts.items()], sep="\n")
    if missing:
        record["missing"] = missing
        print("\nThe check cannot run here. Missing:", *[f"  - {m}" for m in missing], sep="\n")
        return _write_record(out, record, 2)

    def reference():
        from .gpu import gpu_report
        from .reference import write_reference

        parts = {}
        report = gpu_report(rows, command=record["command"], on_part=lambda name, s: parts.update({name: round(s, 1)}))
        print(f"wrote {write_reference(report, out / 'reference_gpu.json')}; parts (s): {parts}")
        return {"ok": True, "parts": parts, "report": report}

    def chart():
        ladder_chart(report).savefig(out / "ladder.png")
        return {"ok": True}

    def summarise():
        record["summary"] = summary(report)
        print(json.dumps(record["summary"], indent=1, ensure_ascii=False))
        return {"ok": True}

    report = None
    steps = {"gpu tests": lambda: run_gpu_tests(out, files=test_files), "reference": reference,
             "chart": chart, "summary": summarise}
    for name, step in steps.items():  # each runs even if an earlier one failed, so the folder holds what it can
        if name in ("chart", "summary") and report is None:
            continue
        began = time.perf_counter()
        try:
            print(f"\n== {name}", flush=True)
            result = step()
        except Exception as exc:  # noqa: BLE001 - one step's failure must not lose the others' files
            traceback.print_exc()
            result = {"ok": False, "problem": f"{type(exc).__name__}: {exc}"}
        except KeyboardInterrupt:  # make gpu-check's time limit: say where it was, keep what is done
            traceback.print_exc()
            record["steps"][name] = {"ok": False, "problem": "stopped by the time limit (SIGINT)"}
            return _write_record(out, record, 1)
        report = result.pop("report", report)
        record["steps"][name] = {**result, "seconds": round(time.perf_counter() - began, 1)}
        print(f"== {name}: {'ok' if result['ok'] else 'FAILED: ' + result['problem']}", flush=True)
    record["seconds"] = round(time.perf_counter() - start, 1)
    failed = [name for name, s in record["steps"].items() if not s["ok"]]
    print(f"\n{'every step passed' if not failed else 'FAILED: ' + ', '.join(failed)} in {record['seconds']} s")
    return _write_record(out, record, 1 if failed else 0)


def _write_record(out: Path, record: dict, status: int) -> int:
    record["exit"] = status  # numpy scalars, if any, as floats
    (out / "check.json").write_text(json.dumps(record, indent=2, ensure_ascii=False, default=float) + "\n",
                                    encoding="utf-8")
    return status


def main(argv: list[str] | None = None) -> int:
    """``python3 -m lessonlib.bench.check OUTDIR [--rows N]``; return the exit status."""
    p = argparse.ArgumentParser(prog=COMMAND, description="The GPU check: tests, reference file, chart, in OUTDIR.")
    p.add_argument("out", type=Path, help="the results folder")
    p.add_argument("--rows", type=int, default=50_000, help="rows of the MNIST-shaped product (default 50000)")
    args = p.parse_args(argv if argv is None else _checks.sequence("argv", argv, item=_checks.text, empty=True))
    return run(args.out, rows=args.rows)


if __name__ == "__main__":
    sys.exit(main())
