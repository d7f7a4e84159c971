"""lessonlib.bench.check: it fails fast without a GPU, runs end to end with the GPU faked, writes one folder,
and needs nothing the GPU machine's Python lacks."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lessonlib import hardware
from lessonlib.bench import check

ROOT = Path(__file__).resolve().parents[1]
KERNEL_GPU_TESTS = 6  # tests/test_kernels.py: one torch test and one per kernel of the ladder


def _env(**extra) -> dict:
    """This environment for a child Python, without the simulator switch the test session set."""
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_ENABLE_CUDASIM", "LESSONLIB_REQUIRE_GPU")}
    env["PYTHONPATH"] = str(ROOT)
    return {**env, **extra}


def test_the_check_stops_in_seconds_naming_what_is_missing_without_a_gpu(tmp_path):
    if hardware.has_cuda():
        pytest.skip("a GPU is present")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lessonlib.bench.check", str(tmp_path / "out")], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - start
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert seconds < 60, f"took {seconds:.0f} s"  # imports only: a few seconds on a quiet machine
    assert "sees no CUDA device" in proc.stdout and "Missing:" in proc.stdout
    assert f"torch: {torch.__version__}" in proc.stdout  # the versions actually used, not the pin
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["check.json"]  # nothing measured, nothing run
    record = json.loads((out / "check.json").read_text())
    assert record["steps"] == {"preflight": {"ok": False, "seconds": record["steps"]["preflight"]["seconds"]}}
    assert any("sees no CUDA device" in m for m in record["missing"]) and record["exit"] == 2
    assert record["versions"]["torch"] == torch.__version__


def test_make_gpu_check_keeps_the_log_and_stops_the_check_at_its_time_limit(tmp_path):
    """The recipe's timeout interrupts the check (SIGINT): the log says where it was, check.json what was done."""
    import shutil

    if shutil.which("make") is None or hardware.has_cuda():
        pytest.skip("needs make, and no GPU (the preflight then stops the check: no time limit reached)")
    proc = subprocess.run(["make", "-s", "gpu-check", f"GPU_OUT={tmp_path}", f"PYTHON={sys.executable}"], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr  # the check's own status comes through the pipe
    assert "sees no CUDA device" in (tmp_path / "check.log").read_text()
    script = ("import time, lessonlib.bench.check as c\n"
              "c.preflight = lambda: ({}, [])\n"
              "c.run_gpu_tests = lambda out, files=None: print('sleeping', flush=True) or time.sleep(60)\n"
              f"raise SystemExit(c.run({str(tmp_path / 'slow')!r}))")
    child = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    for line in child.stdout:  # the SIGINT that timeout sends, once the check is inside a step
        if line.startswith("sleeping"):
            child.send_signal(signal.SIGINT)
            break
    out, err = child.communicate(timeout=120)
    assert child.returncode == 1 and "run_gpu_tests" in err, out + err  # the traceback says where it was
    record = json.loads((tmp_path / "slow/check.json").read_text())
    assert record["steps"]["gpu tests"] == {"ok": False, "problem": "stopped by the time limit (SIGINT)"}


def test_gpu_tests_fail_not_skip_when_a_gpu_is_required(tmp_path):
    if hardware.has_cuda():
        pytest.skip("a GPU is present")
    # without the variable, the same tests are skipped, as on any CPU machine (run alongside, to save time)
    plain = subprocess.Popen([sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider",
                              "tests/test_kernels.py"], cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    result = check.run_gpu_tests(tmp_path, files=["tests/test_kernels.py"])
    assert not result["ok"] and result["exit"] == 1
    assert result["skipped"] == 0 and result["failures"] + result["errors"] == result["tests"] == KERNEL_GPU_TESTS
    assert "LESSONLIB_REQUIRE_GPU=1 but torch sees no CUDA device" in (tmp_path / "gpu_tests.xml").read_text()
    out, _ = plain.communicate(timeout=300)
    assert plain.returncode == 0 and f"{KERNEL_GPU_TESTS} skipped" in out, out


def _marked_gpu(tree) -> bool:
    """Whether a parsed test module marks any test ``gpu``: a decorator, or a module-level ``pytestmark``."""
    def is_gpu(node):
        node = node.func if isinstance(node, ast.Call) else node
        return isinstance(node, ast.Attribute) and node.attr == "gpu" and ast.unparse(node) == "pytest.mark.gpu"

    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and any(is_gpu(d) for d in node.decorator_list):
            return True
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets):
            if any(is_gpu(n) for n in ast.walk(node.value)):
                return True
    return False


def test_gpu_test_files_are_the_files_with_gpu_tests_and_no_book_tests():
    by_ast = sorted(f"tests/{p.name}" for p in (ROOT / "tests").glob("test_*.py")
                    if _marked_gpu(ast.parse(p.read_text())))
    files = check.gpu_test_files()
    assert files == by_ast and "tests/test_kernels.py" in files
    assert "tests/test_bench_check.py" not in files  # its text holds the marker, inside a string only
    for f in files:  # the book's tests need jupyter-book, absent on a GPU machine
        assert "pytest.mark.book" not in (ROOT / f).read_text(), f


def _fake_gpu(monkeypatch, *, square=None):
    """Fake every GPU-only part: the probes, and the GPU timings of the report (the CPU parts run, tiny)."""
    from lessonlib.bench import claims as C
    from lessonlib.bench import gpu as B
    from lessonlib.bench.matmul import matmul_ladder
    from lessonlib.timing import Timing, provenance

    monkeypatch.setattr(hardware, "has_cuda", lambda: True)
    monkeypatch.setattr(hardware, "gpu_name", lambda: "Fake GPU")
    monkeypatch.setattr(hardware, "nvidia_smi", lambda *f: (True, "Fake GPU, 580.00, 143771 MiB"))
    monkeypatch.setattr(hardware, "driver_version", lambda: "580.00")
    monkeypatch.setattr(check, "_device_properties", lambda: {"name": "Fake GPU", "capability": "9.0"})
    monkeypatch.setattr(check, "_numba_target", lambda: (True, "real GPU (faked)"))
    monkeypatch.setattr(check, "_smoke_kernel", lambda: None)

    def fake(names, s=1e-3):
        return {n: Timing(n, (s, 1.1 * s, 0.9 * s), 3, provenance()) for n in names}

    real_ms, real_cluster = B.cpu_meanshift_timings, B.cluster_comparison
    monkeypatch.setattr(B, "require_gpu", lambda: None)
    monkeypatch.setattr(B, "gpu_matmul_timings", lambda x, w, **k: fake(C.GPU_MATMUL_ROWS))
    monkeypatch.setattr(B, "gpu_meanshift_timings", lambda *a, **k: fake(C.GPU_MEANSHIFT_ROWS))
    monkeypatch.setattr(B, "device_bandwidth", lambda *a: 3000.0)
    monkeypatch.setattr(B, "gpu_square_gflops", lambda *a, **k: square or {r: 1000.0 for r in C.SQUARE_ROWS})
    monkeypatch.setattr(B, "cpu_meanshift_timings",
                        lambda *a, **k: real_ms(torch.randn(30, 2, generator=torch.Generator().manual_seed(0)),
                                                repeat=1, max_time=0.2))
    monkeypatch.setattr(B, "matmul_ladder", lambda x, w: matmul_ladder(x, w, repeat=1, max_time=0.2))
    # the real comparison, tiny, with the CPU standing in for the GPU
    monkeypatch.setattr(B, "cluster_comparison", lambda devices: real_cluster(
        {"kmeans": 60, "dbscan": 60, "dbscan_blobs": 60, "knn": 60}, cases=["k-means, 2-D, k = 8",
         "DBSCAN, moons, eps 0.1", "10 nearest neighbours, 16-D"], devices=["cpu"], methods=("tensor",), repeat=1))


def _passing_gpu_test(tmp_path) -> str:
    path = tmp_path / "gpu_tests" / "test_on_the_device.py"
    path.parent.mkdir()
    path.write_text("import pytest\n\n\n@pytest.mark.gpu\ndef test_on_the_device():\n    assert 2 + 2 == 4\n")
    (path.parent / "conftest.py").write_text(
        "def pytest_configure(config):\n    config.addinivalue_line('markers', 'gpu: needs a GPU')\n")
    return str(path)


def test_the_check_end_to_end_with_the_gpu_faked(tmp_path, monkeypatch, capsys):
    from lessonlib.bench.claims import GPU_CLAIMS, SQUARE_ROWS
    from lessonlib.kernels import KERNELS
    from lessonlib.bench.reference import LABEL, load_reference

    square = {r: 500.0 * (i + 1) for i, r in enumerate(SQUARE_ROWS[:-1])} | {"cuBLAS (TF32 off)": 10_000.0}
    _fake_gpu(monkeypatch, square=square)
    out = tmp_path / "out"
    assert check.run(out, rows=40, test_files=[_passing_gpu_test(tmp_path)]) == 0, capsys.readouterr().out
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(check.FILES) and len(files) <= 8  # what comes back from the GPU machine
    assert all(p.stat().st_size < 16 * 2**20 for p in out.iterdir())
    record = json.loads((out / "check.json").read_text())
    assert [name for name, s in record["steps"].items() if s["ok"]] == ["preflight", "gpu tests", "reference",
                                                                       "chart", "summary"]
    assert record["steps"]["gpu tests"]["tests"] == 1 and record["exit"] == 0
    assert set(record["steps"]["reference"]["parts"]) == {"CPU ladder", "GPU matmul rows", "mean shift, CPU",
                                                         "mean shift, GPU", "device bandwidth", "4096² GFLOP/s",
                                                         "clustering"}
    ref = load_reference(out / "reference_gpu.json")
    p = ref["provenance"]
    assert (p["torch"], p["gpu"], p["driver"]) == (torch.__version__, "Fake GPU", "580.00")
    assert p["command"] == f"python3 -m lessonlib.bench.check {out}"
    assert record["versions"]["torch"] == torch.__version__ and record["versions"]["driver"] == "580.00"
    printed = capsys.readouterr().out
    assert f"torch: {torch.__version__}" in printed and "every step passed" in printed
    s = record["summary"]
    assert s["pct_of_cublas"] == pytest.approx({r: 5.0 * (i + 1) for i, r in enumerate(KERNELS.values())})
    floor = (40 * 784 + 784 * 10 + 40 * 10) * 4 / 3000e9  # bytes read and written once, at 3000 GB/s
    assert s["mnist_floor_s"] == pytest.approx(floor)
    assert s["mnist_over_floor"]["torch @ on the GPU"] == pytest.approx(1e-3 / floor)
    assert len(s["claims"]) == len(GPU_CLAIMS)
    assert s["reference"] == f"{LABEL}: Fake GPU, {p['date']}"
    assert s["cluster"] == []  # the CPU stood in for the GPU: no GPU rows to put beside scikit-learn's
    png = (out / "ladder.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 200_000


# What the GPU machine's Python lacks (DEVELOPERS.md's list of it: no jsonschema, IPython, jupyter, myst-nb).
ABSENT_ON_THE_GPU_MACHINE = ("jsonschema", "IPython", "ipykernel", "jupyter_core", "jupyter_client", "jupyter_book",
                             "jupyter_cache", "myst_nb", "myst_parser", "nbformat", "nbclient", "sphinx", "docutils",
                             "playwright")
BLOCKER = """
import importlib.abc, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (absent on the GPU machine)", name=name)
sys.meta_path.insert(0, Absent())
"""


def test_the_check_runs_end_to_end_with_only_what_the_gpu_machine_has():
    """The check's whole import graph and the faked end-to-end run, with the GPU machine's missing packages blocked."""
    if os.environ.get("LESSONLIB_BLOCKED"):
        pytest.skip("already inside the blocked run")
    blocker = BLOCKER.format(blocked=set(ABSENT_ON_THE_GPU_MACHINE))
    script = (blocker + "import pytest\nimport lessonlib.bench.check, lessonlib.bench.gpu, lessonlib.bench.reference\n"
              "try:\n    import jsonschema\nexcept ModuleNotFoundError:\n    pass\n"
              "else:\n    raise SystemExit('the blocker does not block')\n"
              "raise SystemExit(pytest.main(['-q', '-p', 'no:cacheprovider', '-p', 'no:randomly', "
              "'tests/test_bench_check.py::test_the_check_end_to_end_with_the_gpu_faked', "
              "'tests/test_bench_check.py::test_a_failing_step_keeps_the_other_steps_files']))")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=_env(LESSONLIB_BLOCKED="1"),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "2 passed" in proc.stdout, proc.stdout[-4000:] + proc.stderr[-4000:]


def test_a_failing_step_keeps_the_other_steps_files(tmp_path, monkeypatch, capsys):
    from lessonlib.bench import gpu as B

    _fake_gpu(monkeypatch)

    def broken(x, w, **k):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    def passing_tests(out, files=None):  # the real run is the end-to-end test's: here only its file matters
        (out / "gpu_tests.xml").write_text('<testsuite tests="1" failures="0" errors="0" skipped="0"/>')
        return {"ok": True, "exit": 0, "tests": 1}

    monkeypatch.setattr(B, "gpu_matmul_timings", broken)
    monkeypatch.setattr(check, "run_gpu_tests", passing_tests)
    out = tmp_path / "out"
    assert check.run(out, rows=40) == 1
    assert sorted(p.name for p in out.iterdir()) == ["check.json", "gpu_tests.xml"]
    record = json.loads((out / "check.json").read_text())
    assert record["steps"]["gpu tests"]["ok"] and not record["steps"]["reference"]["ok"]
    assert "illegal memory access" in record["steps"]["reference"]["problem"]
    assert "Traceback" in capsys.readouterr().err


def test_a_gpu_that_numba_cannot_use_stops_the_check_before_anything_runs(tmp_path, monkeypatch):
    _fake_gpu(monkeypatch)
    monkeypatch.setattr(check, "_smoke_kernel", lambda: "a small Numba kernel failed on the device: "
                                                        "CudaAPIError: [222] CUDA_ERROR_UNSUPPORTED_PTX_VERSION")
    assert check.run(tmp_path, test_files=["never_run.py"]) == 2
    record = json.loads((tmp_path / "check.json").read_text())
    assert record["missing"] == ["a small Numba kernel failed on the device: "
                                 "CudaAPIError: [222] CUDA_ERROR_UNSUPPORTED_PTX_VERSION"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["check.json"]

    def broken():
        raise OSError("libcuda.so: cannot open shared object file")

    monkeypatch.setattr(check, "preflight", broken)
    assert check.run(tmp_path / "again") == 2
    record = json.loads((tmp_path / "again/check.json").read_text())
    assert record["missing"] == ["the preflight itself failed: OSError: libcuda.so: cannot open shared object file"]


def test_ladder_chart_summary_and_the_runners_check_their_input(tmp_path):
    with pytest.raises(TypeError, match="ref must be a dict"):
        check.ladder_chart([1, 2])
    with pytest.raises(ValueError, match="not a valid GPU reference file"):
        check.summary({"format": "something else"})
    with pytest.raises(TypeError, match="out must be a str or a pathlib.Path"):
        check.run(3)
    with pytest.raises(TypeError, match="root must be a str or a pathlib.Path, got 3"):
        check.gpu_test_files(3)
    with pytest.raises(ValueError, match="root must be a checkout with a tests/ folder"):
        check.gpu_test_files(tmp_path)
    with pytest.raises(TypeError, match="out must be a str or a pathlib.Path, got None"):
        check.run_gpu_tests(None)
    with pytest.raises(TypeError, match="files must be a sequence"):
        check.run_gpu_tests(tmp_path, files="abc")
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        check.run_gpu_tests(tmp_path, files=["tests/test_kernels.py"], timeout=0)


def test_summary_of_a_reference_whose_cluster_rows_name_no_case():
    from test_bench_reference import hand_made  # tests/ is on sys.path (pytest's prepend import mode)

    from lessonlib.bench.claims import SQUARE_ROWS

    ref = hand_made()  # its rows carry no "case": the format does not ask for one
    s = check.summary(ref)
    assert s["cluster"] == [{"case": None, "implementation": "lessonlib kmeans", "GPU (s)": 0.01,
                             "scikit-learn CPU (s)": None}]
    # GFLOP/s 1000, 2000, ... with cuBLAS last: kernel i is (i + 1) / len(SQUARE_ROWS) of cuBLAS
    assert s["pct_of_cublas"] == pytest.approx({r: 100 * (i + 1) / len(SQUARE_ROWS)
                                                for i, r in enumerate(SQUARE_ROWS[:-1])})
    ref["cluster"][1].update({"case": "k-means", "median (s)": 0.5})
    ref["cluster"][0]["case"] = "k-means"
    assert check.summary(ref)["cluster"][0]["scikit-learn CPU (s)"] == 0.5
    del ref["cluster"][1]["median (s)"]  # a row the format allows: no time
    assert check.summary(ref)["cluster"][0]["scikit-learn CPU (s)"] is None
