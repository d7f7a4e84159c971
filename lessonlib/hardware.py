"""Which machine runs this code (the label on every timing), and the CUDA target: Numba chooses the
real target or its simulator once, when ``numba.cuda`` is first imported, so
:func:`use_cuda_simulator` must run before that (too late, it raises).
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import sys
import warnings
from importlib import metadata

from . import _checks

_SIM_ENV = "NUMBA_ENABLE_CUDASIM"
COMPILE_ONLY_ENV = "LESSONLIB_CUDA_COMPILE_ONLY"  # "1" in lessonlib.ptx's compiler: the real target, no launches


def has_cuda() -> bool:
    """True when PyTorch sees a CUDA GPU on this machine."""
    import torch

    return bool(torch.cuda.is_available())


@functools.lru_cache(maxsize=1)
def numba_cuda_available() -> bool:
    """True when Numba's real CUDA target can run kernels here; never raises. False on the simulator and
    without a GPU; a broken CUDA install (no NVVM, say) is False too, with a ``RuntimeWarning`` naming
    the fix.
    """
    if cuda_simulator_active():
        return False
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception as exc:  # noqa: BLE001 - any failure here means "no usable CUDA target"
        warnings.warn(f"Numba's CUDA target is unusable ({type(exc).__name__}: {exc}); treating it as unavailable. "
                      "On a GPU machine, install lessonlib's gpu extra (pip install -e '.[gpu]'), which brings NVVM "
                      "matching torch's CUDA.", RuntimeWarning, stacklevel=2)
        return False


def cuda_simulator_active() -> bool:
    """True when ``numba.cuda`` is (or, once imported, will be) the simulator."""
    config = sys.modules.get("numba.cuda.core.config")
    if config is not None:
        return bool(getattr(config, "ENABLE_CUDASIM", False))
    return os.environ.get(_SIM_ENV, "0") not in ("", "0")


def use_cuda_simulator() -> bool:
    """Send ``numba.cuda`` to Numba's CUDA simulator when there is no GPU, before its first import; with a
    GPU nothing changes. Returns True if kernels will run on the simulator; ``RuntimeError`` if
    ``numba.cuda`` was already imported for the real target without a GPU.
    """
    if has_cuda():
        return cuda_simulator_active()
    if "numba.cuda" in sys.modules:
        if cuda_simulator_active():
            return True
        raise RuntimeError("numba.cuda was imported before use_cuda_simulator() on a machine without a GPU; "
                           f"call lessonlib.hardware.use_cuda_simulator() first (or set {_SIM_ENV}=1 before starting "
                           "Python)")
    os.environ[_SIM_ENV] = "1"
    config = sys.modules.get("numba.core.config")
    if config is not None:  # numba already read its settings (numba imported, numba.cuda not yet)
        config.reload_config()
    return True


def numba_cuda():
    """``numba.cuda`` for this machine: the real GPU, or the simulator when there is none (every module with
    kernels imports it here); with ``LESSONLIB_CUDA_COMPILE_ONLY=1`` (:mod:`lessonlib.ptx`'s compiler)
    the real target is kept without a GPU, to compile only.
    """
    if os.environ.get(COMPILE_ONLY_ENV) != "1":
        use_cuda_simulator()
    from numba import cuda

    return cuda


def cpu_model() -> str:
    """The CPU's model name, as the operating system reports it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_cores() -> int:
    """Cores this process may run on (not the whole host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def gpu_name() -> str:
    """Name of CUDA device 0, or ``"none"``."""
    if not has_cuda():
        return "none"
    import torch

    return torch.cuda.get_device_name(0)


def nvidia_smi(*fields: str) -> tuple[bool, str]:
    """Ask ``nvidia-smi`` for ``fields`` (``"name"``, ``"driver_version"`` ...), one GPU a part: ``(True,
    output)``, or ``(False, why not)``.
    """
    fields = _checks.sequence("fields", fields, item=_checks.text)
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False, "nvidia-smi not found"
    try:
        out = subprocess.run([smi, f"--query-gpu={','.join(fields)}", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"nvidia-smi failed: {type(exc).__name__}"
    if out.returncode != 0:
        return False, f"nvidia-smi failed: exit {out.returncode}"
    return True, "; ".join(line.strip() for line in out.stdout.splitlines() if line.strip())


def driver_version() -> str:
    """The NVIDIA driver's version from ``nvidia-smi``, or a short reason it is unknown."""
    ok, text = nvidia_smi("driver_version")
    return text.split(";")[0] if ok and text else f"unknown ({text})" if not ok else "unknown"


def package_version(dist: str) -> str:
    """The installed version of the distribution ``dist``, or ``"not installed"``."""
    dist = _checks.text("dist", dist)
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def report() -> dict[str, str]:
    """What a reader needs to judge a timing: CPU and cores, GPU, Numba's CUDA target, versions."""
    import torch

    target = "simulator" if cuda_simulator_active() else "real GPU" if has_cuda() and numba_cuda_available() else "none"
    return {"CPU": cpu_model(), "CPU cores": str(cpu_cores()), "GPU": gpu_name(), "Numba CUDA target": target,
            "Python": platform.python_version(), "torch": torch.__version__,
            "torch CUDA": torch.version.cuda or "none (CPU build)",
            **{dist: package_version(dist) for dist in ("numba", "numba-cuda", "numpy")},
            "OS": f"{platform.system()} {platform.release()}"}


def label() -> str:
    """One line for captions, e.g. ``"Intel Xeon … (2 cores), no GPU, torch 2.13.0"``."""
    r = report()
    gpu = "no GPU" if r["GPU"] == "none" else f"GPU {r['GPU']}"
    return f"{r['CPU']} ({r['CPU cores']} cores), {gpu}, torch {r['torch']}"
