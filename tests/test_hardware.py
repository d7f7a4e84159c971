import os
import sys

import numpy as np
import pytest
import torch
from numba import cuda  # conftest has already chosen the target

from lessonlib import hardware


def test_has_cuda_means_a_tensor_can_live_on_the_gpu():
    """Checked by doing it: allocating on the device works exactly when has_cuda() says so."""
    try:
        torch.zeros(1, device="cuda")
        allocated = True
    except (RuntimeError, AssertionError, AttributeError):  # torch raises one of these without a usable GPU
        allocated = False
    assert hardware.has_cuda() is allocated


def test_simulator_chosen_when_no_gpu():
    # conftest called use_cuda_simulator() before anything imported numba.cuda
    if hardware.has_cuda():
        pytest.skip("a real GPU is present")
    assert hardware.use_cuda_simulator() is True
    assert hardware.cuda_simulator_active()
    assert cuda.to_device.__module__.startswith("numba.cuda.simulator")


@cuda.jit
def add_one(a):
    i = cuda.grid(1)
    if i < a.size:  # the last block is only partly full
        a[i] += 1


def test_kernel_runs_at_an_awkward_size():
    # on the simulator here, on the device where there is a GPU
    a = np.arange(37, dtype=np.float32)
    add_one[3, 16](a)
    np.testing.assert_array_equal(a, np.arange(37, dtype=np.float32) + 1)


def test_too_late_for_simulator_raises(monkeypatch):
    monkeypatch.setattr(hardware, "has_cuda", lambda: False)
    monkeypatch.setattr(hardware, "cuda_simulator_active", lambda: False)
    monkeypatch.setitem(sys.modules, "numba.cuda", object())
    with pytest.raises(RuntimeError, match="before use_cuda_simulator"):
        hardware.use_cuda_simulator()


def test_simulator_env_is_set_before_import(monkeypatch):
    monkeypatch.setattr(hardware, "has_cuda", lambda: False)
    monkeypatch.delitem(sys.modules, "numba.cuda", raising=False)
    monkeypatch.delitem(sys.modules, "numba.cuda.core.config", raising=False)
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    assert hardware.use_cuda_simulator() is True
    assert os.environ["NUMBA_ENABLE_CUDASIM"] == "1"


def test_report_and_label_name_the_machine():
    r = hardware.report()
    for key in ("CPU", "CPU cores", "GPU", "torch", "numba", "numba-cuda"):
        assert r[key], key
    assert r["torch"] == torch.__version__
    assert int(r["CPU cores"]) >= 1
    line = hardware.label()
    assert r["CPU"] in line and torch.__version__ in line
    assert ("no GPU" in line) == (r["GPU"] == "none")


def test_broken_numba_cuda_install_is_unavailable_not_a_crash(monkeypatch):
    """numba.cuda.is_available() raising (no NVVM) is reported once and means 'no CUDA target'."""
    import types

    def broken():
        raise OSError("libnvvm.so.4: cannot open shared object file")

    fake = types.ModuleType("numba.cuda")
    fake.is_available = broken
    monkeypatch.setattr(hardware, "cuda_simulator_active", lambda: False)
    monkeypatch.setitem(sys.modules, "numba.cuda", fake)
    import numba

    monkeypatch.setattr(numba, "cuda", fake, raising=False)
    hardware.numba_cuda_available.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match=r"libnvvm.*gpu extra"):
            assert hardware.numba_cuda_available() is False
        assert hardware.numba_cuda_available() is False  # cached: warned once
    finally:
        hardware.numba_cuda_available.cache_clear()


def test_timing_survives_a_broken_numba_cuda(monkeypatch):
    from lessonlib.timing import bench

    monkeypatch.setattr(hardware, "numba_cuda_available", lambda: False)
    assert bench(sum, [1, 2], repeat=2, number=3).repeat == 2


def test_simulator_chosen_even_after_numba_was_imported():
    """numba (not numba.cuda) imported first, as lessonlib.bench does: the choice still takes."""
    import subprocess

    code = ("import numba\nfrom lessonlib import hardware\nassert hardware.use_cuda_simulator()\n"
            "from numba import cuda\nprint(cuda.to_device.__module__)")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    if hardware.has_cuda():
        pytest.skip("a real GPU is present")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().startswith("numba.cuda.simulator")


def test_nvidia_smi_queries_and_reports_failure(tmp_path, monkeypatch):
    """A stand-in nvidia-smi on PATH: its answer is passed on; a failing one is a reason, not an exception."""
    fake = tmp_path / "nvidia-smi"
    fake.write_text('#!/bin/sh\ncase "$1" in --query-gpu=driver_version) echo "580.65.06";;\n'
                    '  --query-gpu=name,driver_version) printf "NVIDIA H200, 580.65.06\\nNVIDIA H200, 580.65.06\\n";;\n'
                    '  *) exit 9;; esac\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert hardware.nvidia_smi("name", "driver_version") == (True, "NVIDIA H200, 580.65.06; NVIDIA H200, 580.65.06")
    assert hardware.driver_version() == "580.65.06"
    assert hardware.nvidia_smi("temperature.gpu") == (False, "nvidia-smi failed: exit 9")


def test_package_version_reads_installed_metadata():
    from importlib.metadata import version

    assert hardware.package_version("numpy") == version("numpy")
    assert hardware.package_version("no-such-distribution-here") == "not installed"
    with pytest.raises(TypeError, match="dist must be a str"):
        hardware.package_version(None)
