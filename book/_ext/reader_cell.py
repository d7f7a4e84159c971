"""The first cell of every downloaded notebook, put there by ``lessonlib_book.py`` with a call to :func:`prepare`
(the HTML page never shows it). It runs before lessonlib can be imported, so it needs only the standard library (and
no ``from __future__`` import, which would stay on).

In a checkout of the book it does nothing. Elsewhere (Colab, a course server) it installs lessonlib at the commit that
built the notebook, unless it is there already, keeping the environment's torch (``--no-deps``, then the other
dependencies under a torch constraint); with an NVIDIA driver, also numba-cuda's ``cu13`` or ``cu12`` extra.
"""

import ctypes
import importlib
import importlib.metadata as metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path


def in_checkout(start: str | os.PathLike | None = None) -> bool:
    """True when ``start`` (default: the working folder) is inside a checkout of the book."""
    here = Path(start or os.getcwd()).resolve()
    return any((d / "_toc.yml").is_file() and (d / "pyproject.toml").is_file() and (d / "lessonlib").is_dir()
               for d in (here, *here.parents))


def driver_cuda_version() -> tuple[int, int] | None:
    """The newest CUDA version the NVIDIA driver supports, or None without a driver."""
    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        version = ctypes.c_int(0)
        if lib.cuDriverGetVersion(ctypes.byref(version)) == 0 and version.value > 0:
            return version.value // 1000, version.value % 1000 // 10
    try:
        out = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"CUDA Version:\s*(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def gpu_extra(cuda: tuple[int, int] | None) -> str | None:
    """lessonlib's extra for a driver's CUDA version: ``gpu`` (cu13), ``gpu-cu12``, or None."""
    return None if cuda is None or cuda[0] < 12 else "gpu" if cuda[0] >= 13 else "gpu-cu12"


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def installed_commit() -> str | None:
    """The commit an installed lessonlib came from (pip records it for a git install)."""
    try:
        text = metadata.distribution("lessonlib").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    return (json.loads(text or "{}").get("vcs_info") or {}).get("commit_id")


def dependencies(requires: list[str], extra: str | None, keep_torch: bool) -> list[str]:
    """lessonlib's requirements to install after it: the core ones, those of ``extra``, torch only if absent."""
    picked = []
    for text in requires:
        req, _, marker = text.partition(";")
        wanted = re.search(r"""extra\s*==\s*["']([^"']+)["']""", marker)
        if wanted and wanted.group(1) != extra:
            continue
        name = re.match(r"\s*([A-Za-z0-9._-]+)", req).group(1)
        if keep_torch and name.lower() == "torch":
            continue
        picked.append(req.strip() if wanted else text.strip())
    return picked


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version.split("+")[0])[:3])


def outside_range(requires: list[str], name: str, version: str) -> str | None:
    """The range ``name`` must lie in (``">=2.11,<3"``) if ``version`` is outside it, else None (only ``>=``
    and ``<`` are read: the forms lessonlib's core dependencies use).
    """
    for text in requires:
        req = text.partition(";")[0]
        if "extra" in text.partition(";")[2] or not re.match(rf"\s*{re.escape(name)}\s*[<>=!~]", req, re.I):
            continue
        spec = req.strip()[len(name):].strip()
        for op, bound in re.findall(r"(>=|<)\s*([\w.]+)", spec):
            if (op == ">=" and _release(version) < _release(bound)) or (op == "<" and _release(version) >= _release(bound)):
                return spec
    return None


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *args], check=True)


def prepare(source: str | None, commit: str | None = None) -> str:
    """Make ``import lessonlib`` work here, as built, and return what was done, in one line: ``source`` is
    what pip installs lessonlib from (``git+https://github.com/OWNER/REPO@COMMIT``; None for a build that
    knew no repository), ``commit`` the commit that built the notebook (another is replaced).
    """
    if in_checkout():
        return "in a checkout of the book: nothing to install"
    present = importlib.util.find_spec("lessonlib") is not None
    if present and (commit is None or installed_commit() in (None, commit)):
        return f"lessonlib {_version('lessonlib')} is already installed"
    if source is None:
        raise RuntimeError("lessonlib is not installed, and this notebook was built with no repository to "
                           "install it from: pip install lessonlib from a checkout of the book")
    cuda, torch = driver_cuda_version(), _version("torch")
    extra = gpu_extra(cuda)
    _pip("--no-deps", "--force-reinstall", source)
    importlib.invalidate_caches()
    needed = dependencies(metadata.requires("lessonlib") or [], extra, keep_torch=torch is not None)
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text(f"torch=={torch}\n" if torch else "")
        _pip("-c", str(constraints), *needed)
    importlib.invalidate_caches()
    gpu = f"numba-cuda for CUDA {cuda[0]}.{cuda[1]} ({extra} extra)" if extra else "no NVIDIA GPU: CUDA simulator"
    kept = f"torch {torch} kept" if torch else f"torch {_version('torch')} installed"
    untested = torch and outside_range(metadata.requires("lessonlib") or [], "torch", torch)
    if untested:
        kept += f" (lessonlib is tested with torch{untested}; this one may not work)"
    return f"lessonlib {_version('lessonlib')} installed from {source}; {kept}; {gpu}"
