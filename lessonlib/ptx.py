"""What the CUDA compiler says about the kernels, on a machine with no GPU (the page "GPU kernels, going further"):
every kernel of :mod:`lessonlib.kernels`, one source, is compiled with NVVM to PTX and by ``ptxas -v`` to machine
code, in a separate process on the real CUDA target; it needs the wheels of ``REQUIREMENT``, no GPU or driver.
:func:`roofline` models the least time a product can take on a named GPU (``PEAKS``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from . import _checks, kernels
from .hardware import COMPILE_ONLY_ENV, package_version

ARCHS = ("sm_80", "sm_90")  # the A100 and the H100/H200
REQUIREMENT = "cuda-toolkit[nvcc,nvrtc,nvvm]==13.0.3"  # as in requirements.txt: NVVM, NVRTC and ptxas


@dataclass(frozen=True)
class SMLimits:
    """Published per-SM limits of one GPU architecture, as the occupancy rules use them."""

    arch: str
    gpu: str
    max_threads_per_sm: int
    max_blocks_per_sm: int
    registers_per_sm: int
    registers_per_block: int
    max_registers_per_thread: int
    shared_per_sm: int  # bytes, the largest shared-memory carve-out
    shared_per_block: int  # bytes a block may declare statically (more only by opting in, dynamically)
    reserved_shared_per_block: int  # bytes the driver keeps per block (Ampere and later)
    shared_granularity: int = 128  # bytes
    register_granularity: int = 256  # registers, allocated per warp
    sub_partitions: int = 4  # register files per SM
    warp_size: int = 32

    def __post_init__(self):
        _checks.fields(self, zero=("reserved_shared_per_block",))


# Sources: the limits, NVIDIA's CUDA C++ Programming Guide, table "Technical Specifications per
# Compute Capability" (columns 8.0 and 9.0); the rules, cuda_occupancy.h, shipped with the CUDA
# runtime (nvidia-cuda-runtime wheel, nvidia/cu13/include/) and followed by NVIDIA's calculator.
SM_LIMITS = {
    "sm_80": SMLimits("sm_80", "A100", 2048, 32, 65536, 65536, 255, 164 * 1024, 48 * 1024, 1024),
    "sm_90": SMLimits("sm_90", "H100/H200", 2048, 32, 65536, 65536, 255, 228 * 1024, 48 * 1024, 1024),
}

# For the roofline model only, from NVIDIA's datasheets: memory bandwidth (bytes/s) and the FP32 peak
# (plain float32, not TF32; FLOP/s). A GPU's name as torch reports it ("NVIDIA H100 80GB HBM3")
# picks the first entry whose key it contains; a build without a GPU models DEFAULT_GPU, the kind
# the project's GPU check runs on.
PEAKS = {"H200": ("H200 SXM", 4.8e12, 67e12), "H100 NVL": ("H100 NVL", 3.9e12, 60e12),
         "H100 PCIe": ("H100 PCIe", 2.0e12, 51e12), "H100": ("H100 SXM", 3.35e12, 67e12),
         "A100": ("A100 SXM 80GB", 2.039e12, 19.5e12)}
DEFAULT_GPU = "H100"


def peaks(gpu: str = DEFAULT_GPU) -> tuple[str, float, float]:
    """``(datasheet name, bytes/s, float32 FLOP/s)`` of the GPU named ``gpu`` (from ``PEAKS``)."""
    _checks.text("gpu", gpu)
    key = next((k for k in PEAKS if k in gpu), None)
    if key is None:
        raise ValueError(f"gpu {gpu!r} has no published peaks here; known: {', '.join(PEAKS)}")
    return PEAKS[key]


@dataclass(frozen=True)
class KernelSpec:
    """One kernel to compile: a name :func:`lessonlib.kernels.get_kernel` knows, and its parameters
    (``tm`` for the register-blocked kernel only; ``fast_fp32``: it must hold no float64 instruction).
    """

    label: str
    kernel: str
    tpb: int = kernels.TPB
    dtype: str = "float32"
    tm: int | None = None
    fast_fp32: bool = True

    def __post_init__(self):
        _checks.fields(self, choices={"kernel": tuple(kernels.KERNELS), "dtype": ("float32", "float64")})

    @property
    def threads_per_block(self) -> int:
        return self.tpb * self.tpb


# Every kernel, labelled as in kernels.KERNELS, at every (tpb, dtype) the book launches it with;
# only the lecture's kernel keeps a float64 sum.
BOOK_KERNELS = (
    *(KernelSpec(label, name, fast_fp32=name != "naive") for name, label in kernels.KERNELS.items()),
    KernelSpec(f"{kernels.KERNELS['tiled']}, TPB 8", "tiled", tpb=8),
)


@dataclass(frozen=True)
class PtxasInfo:
    """What ``ptxas -v`` reports for one kernel."""

    registers: int
    shared_bytes: int
    spill_stores: int
    spill_loads: int
    stack_frame: int
    barriers: int

    def __post_init__(self):
        _checks.fields(self, zero=True)


@dataclass(frozen=True)
class Compiled:
    """One kernel compiled for one architecture: its PTX, the ``ptxas`` figures, or the error."""

    spec: KernelSpec
    arch: str
    ptx: str | None
    ptxas_log: str
    info: PtxasInfo | None
    error: str | None

    def __post_init__(self):
        _checks.fields(self, empty=("ptxas_log",), choices={"arch": tuple(SM_LIMITS)})


_PTXAS_PATTERNS = {"stack_frame": r"(\d+) bytes stack frame", "spill_stores": r"(\d+) bytes spill stores",
                   "spill_loads": r"(\d+) bytes spill loads", "registers": r"Used (\d+) registers",
                   "barriers": r"used (\d+) barriers", "shared_bytes": r"(\d+) bytes smem"}


def parse_ptxas(log: str) -> PtxasInfo:
    """Registers, shared memory, spills, stack frame and barriers from ``ptxas -v`` output (those it leaves
    out are 0); a ``log`` with no register count is not such output (ValueError).
    """
    _checks.text("log", log, empty=True)
    if not re.search(_PTXAS_PATTERNS["registers"], log):
        raise ValueError(f"log has no 'Used N registers' line; is it ptxas -v output? {log[:200]!r}")
    values = {}
    for key, pattern in _PTXAS_PATTERNS.items():
        found = re.findall(pattern, log)
        values[key] = sum(int(v) for v in found) if key != "registers" else max(int(v) for v in found)
    return PtxasInfo(**values)


def find_ptxas() -> Path:
    """The ``ptxas`` of the ``nvidia-cuda-nvcc`` wheel (or on ``PATH``); else FileNotFoundError."""
    spec = importlib.util.find_spec("nvidia")
    for base in (spec.submodule_search_locations or []) if spec else []:
        for rel in ("cu13/bin/ptxas", "cuda_nvcc/bin/ptxas"):  # CUDA 13 wheels; CUDA 12 wheels
            path = Path(base) / rel
            if path.is_file() and os.access(path, os.X_OK):
                return path
    on_path = shutil.which("ptxas")
    if on_path:
        return Path(on_path)
    raise FileNotFoundError(f"ptxas not found: install the nvidia-cuda-nvcc wheel "
                            f"(requirements.txt pins it as {REQUIREMENT})")


def f64_count(ptx: str) -> int:
    """How many float64 instructions (``add.f64``, ``cvt.f64.f32`` ...) a PTX text holds (not declarations)."""
    _checks.text("ptx", ptx, empty=True)
    return len(_F64_OP.findall(ptx))


# An instruction (a directive starts with ".", a label with "$"), maybe predicated (@%p1), on f64.
_F64_OP = re.compile(r"^\s*(?:@\S+\s+)?[a-z][\w.]*\.f64", re.MULTILINE)
_FLOAT_OP = re.compile(r"^\s*(@\S+\s+)?(ld\.\S*f(32|64)|mul\.\S*f(32|64)|add\.\S*f(32|64)|fma\.\S*f(32|64)|cvt\.\S*f(32|64)\S*)\s")


def inner_loop(ptx: str) -> list[str]:
    """The float instructions of the first pass through a kernel's innermost loop: from the first
    floating-point load to the add or fused multiply-add that ends a multiply-accumulate, without the
    integer address arithmetic between; ValueError if there is none.
    """
    _checks.text("ptx", ptx, empty=True)
    out: list[str] = []
    seen_mul = False
    for line in ptx.splitlines():
        m = _FLOAT_OP.match(line)
        if not m:
            continue
        op = m.group(2)
        if not out and not op.startswith("ld."):
            continue
        out.append(" ".join(line.split()))
        if op.startswith("mul."):
            seen_mul = True
        elif op.startswith("fma.") or (op.startswith("add.") and seen_mul):
            return out
    raise ValueError("ptx holds no floating-point multiply-accumulate")


def occupancy(registers: int, shared_bytes: int, threads_per_block: int, arch: str) -> dict:
    """Theoretical occupancy of a kernel on ``arch`` ("sm_80" or "sm_90") by NVIDIA's rules (``SM_LIMITS``),
    from ``ptxas -v``'s ``registers`` per thread and ``shared_bytes`` per block: a dict of
    ``blocks_per_sm``, ``warps_per_sm``, ``occupancy`` (active warps over the SM's maximum) and
    ``limit`` (what stops more blocks).
    """
    _checks.integer("registers", registers, low=0)
    _checks.integer("shared_bytes", shared_bytes, low=0)
    _checks.integer("threads_per_block", threads_per_block, low=1, high=1024)
    _checks.choice("arch", arch, tuple(SM_LIMITS))
    lim = SM_LIMITS[arch]
    max_warps = lim.max_threads_per_sm // lim.warp_size
    warps = math.ceil(threads_per_block / lim.warp_size)
    limits = {"warps": max_warps // warps, "blocks": lim.max_blocks_per_sm}
    regs_per_warp = math.ceil(registers * lim.warp_size / lim.register_granularity) * lim.register_granularity
    regs_assumed = regs_per_warp * math.ceil(warps / lim.sub_partitions) * lim.sub_partitions
    if registers > lim.max_registers_per_thread or regs_assumed > lim.registers_per_block \
            or regs_per_warp * warps > lim.registers_per_block:
        limits["registers"] = 0
    elif regs_per_warp:
        per_partition = (lim.registers_per_sm // lim.sub_partitions) // regs_per_warp
        limits["registers"] = per_partition * lim.sub_partitions // warps
    smem = math.ceil((shared_bytes + lim.reserved_shared_per_block) / lim.shared_granularity) * lim.shared_granularity
    fits = smem <= lim.shared_per_block + lim.reserved_shared_per_block
    limits["shared memory"] = lim.shared_per_sm // smem if fits else 0
    limit = min(limits, key=limits.get)
    blocks = limits[limit]
    return {"blocks_per_sm": blocks, "warps_per_sm": blocks * warps,
            "occupancy": blocks * warps / max_warps, "limit": limit}


def problems(c: Compiled) -> list[str]:
    """What makes a compiled kernel unfit to ship (none: an empty list): a compiler error, a spill, a stack
    frame (a local array that did not stay in registers), or a block that cannot fit on an SM.
    """
    _checks.instance("c", c, Compiled)
    where = f"{c.spec.label} on {c.arch}"
    if c.error:
        return [f"{where}: {c.error}"]
    info = c.info
    found = []
    if info.spill_stores or info.spill_loads:
        found.append(f"{where}: spills {info.spill_stores} bytes stored, {info.spill_loads} loaded")
    if info.stack_frame:
        found.append(f"{where}: {info.stack_frame}-byte stack frame (local memory)")
    occ = occupancy(info.registers, info.shared_bytes, c.spec.threads_per_block, c.arch)
    if occ["blocks_per_sm"] == 0:
        found.append(f"{where}: a block of {c.spec.threads_per_block} threads cannot fit on an SM "
                     f"({info.registers} registers per thread, {info.shared_bytes} bytes of shared memory; "
                     f"limited by {occ['limit']})")
    return found


def _check_archs(archs) -> tuple[str, ...]:
    archs = (archs,) if isinstance(archs, str) else archs
    return tuple(_checks.sequence("archs", archs, item=lambda n, v: _checks.choice(n, v, tuple(SM_LIMITS))))


def compile_kernels(specs=BOOK_KERNELS, archs=ARCHS, *, timeout: float = 600) -> dict[tuple[str, str], Compiled]:
    """Compile ``specs`` to PTX and run ``ptxas -v`` on each, for each of ``archs``: a dict of
    ``(label, arch)`` to :class:`Compiled` (``error`` set where the compiler rejects a kernel).

    The work runs in a fresh Python process on Numba's real CUDA target, for at most ``timeout``
    seconds; results are kept for the process's life, and on disk in ``CACHE_DIR`` keyed on the spec,
    the architecture, the kernels' and this module's source and the compilers' versions.
    RuntimeError if NVVM or ``ptxas`` is missing (naming the package) or the compiler process fails.
    """
    specs = tuple(_checks.sequence("specs", specs, item=lambda n, s: _checks.instance(n, s, KernelSpec)))
    if len({s.label for s in specs}) != len(specs):
        raise ValueError("specs must have distinct labels")
    return dict(_compile_cached(specs, _check_archs(archs), _checks.positive("timeout", timeout)))


CACHE_DIR = Path(__file__).resolve().parent / "__pycache__" / "ptx"


def _cache_file(spec: KernelSpec, arch: str, ptxas: Path) -> Path:
    """Where the result for ``spec`` on ``arch`` is kept: named by a hash of everything it depends on."""
    h = hashlib.sha256(json.dumps([asdict(spec), arch, str(ptxas), ptxas.stat().st_size]).encode())
    for source in (kernels.__file__, __file__):
        h.update(Path(source).read_bytes())
    for dist in ("numba", "numba-cuda", "nvidia-nvvm", "nvidia-cuda-nvcc", "nvidia-cuda-nvrtc"):
        h.update(package_version(dist).encode())
    return CACHE_DIR / f"{h.hexdigest()[:32]}.json"


@lru_cache(maxsize=8)
def _compile_cached(specs, archs, timeout):
    ptxas = find_ptxas()  # fail early, naming the package
    files = {(s.label, a): _cache_file(s, a, ptxas) for s in specs for a in archs}
    results = {key: json.loads(f.read_text()) for key, f in files.items() if f.is_file()}
    todo = [s for s in specs if any((s.label, a) not in results for a in archs)]
    if todo:
        root = str(Path(__file__).resolve().parents[1])
        env = {**{k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}, COMPILE_ONLY_ENV: "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        job = {"specs": [asdict(s) for s in todo], "archs": list(archs), "ptxas": str(ptxas)}
        proc = subprocess.run([sys.executable, "-m", "lessonlib.ptx"], input=json.dumps(job), capture_output=True,
                              text=True, timeout=timeout, env=env, cwd=root)
        if proc.returncode != 0:
            raise RuntimeError(f"the kernel compiler process failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        new = json.loads(proc.stdout)
        if new.get("fatal"):
            raise RuntimeError(new["fatal"])
        for s in todo:
            for a in archs:
                results[(s.label, a)] = r = new["kernels"][f"{s.label}|{a}"]
                try:  # written whole, then renamed: a reader never sees half a file
                    CACHE_DIR.mkdir(parents=True, exist_ok=True)
                    tmp = files[(s.label, a)].with_suffix(f".{os.getpid()}.tmp")
                    tmp.write_text(json.dumps(r))
                    os.replace(tmp, files[(s.label, a)])
                except OSError:  # a read-only install: no disk cache, the results still stand
                    pass
    out = {}
    for s in specs:
        for a in archs:
            r = results[(s.label, a)]
            info = PtxasInfo(**r["info"]) if r["info"] else None
            out[(s.label, a)] = Compiled(s, a, r["ptx"], r["log"], info, r["error"])
    return tuple(out.items())


def _worker() -> int:
    """The compiler process: read a job (JSON) on stdin, write results (JSON) on stdout."""
    job = json.loads(sys.stdin.read())
    import numpy as np
    from numba import typeof

    cuda = kernels.cuda
    if cuda.config.ENABLE_CUDASIM:
        print(json.dumps({"fatal": "the compiler process is on the CUDA simulator; unset NUMBA_ENABLE_CUDASIM"}))
        return 0
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for raw in job["specs"]:
            spec = KernelSpec(**raw)
            dtype = np.dtype(spec.dtype).type
            if spec.kernel == "blocked":  # any tpb and tm, even those get_kernel would refuse
                fn = kernels.blocked_kernel(spec.tpb, spec.tm or kernels.TM, dtype)
            elif spec.kernel == "tiled":
                fn = kernels.tiled_kernel(spec.tpb, dtype)
            else:
                fn = kernels.get_kernel(spec.kernel, spec.tpb, dtype)
            argty = typeof(np.zeros((2, 2), dtype=dtype))
            for arch in job["archs"]:
                key, cc = f"{spec.label}|{arch}", (int(arch[3]), int(arch[4]))
                try:
                    ptx, _ = cuda.compile_ptx(fn.py_func, (argty,) * 3, cc=cc)
                except Exception as e:  # noqa: BLE001
                    text = f"{type(e).__name__}: {e}"
                    if any(w in text.lower() for w in ("nvvm", "nvrtc", "dynamiclibnotfound")):
                        print(json.dumps({"fatal": "a CUDA compiler library could not be loaded: numba-cuda needs "
                                          "NVVM (the nvidia-nvvm wheel) and NVRTC (nvidia-cuda-nvrtc); "
                                          f"requirements.txt installs both as {REQUIREMENT}. Cause: {text}"}))
                        return 0
                    results[key] = {"ptx": None, "log": "", "info": None, "error": f"NVVM: {text}"}
                    continue
                path = Path(tmp) / f"k{len(results)}.ptx"
                path.write_text(ptx)
                p = subprocess.run([job["ptxas"], f"-arch={arch}", "-v", "-o", os.devnull, str(path)],
                                   capture_output=True, text=True, timeout=300)
                log = p.stdout + p.stderr
                if p.returncode != 0:
                    errors = [re.sub(r"'_Z\w+'", "(this kernel)", " ".join(line.split()))
                              for line in log.splitlines() if "error" in line.lower()]
                    results[key] = {"ptx": ptx, "log": log, "info": None,
                                    "error": "; ".join(errors) or " ".join(log.split())[-500:]}
                else:
                    results[key] = {"ptx": ptx, "log": log, "info": asdict(parse_ptxas(log)), "error": None}
    print(json.dumps({"kernels": results}))
    return 0


def resource_table(compiled: dict[tuple[str, str], Compiled], archs=ARCHS):
    """One row per kernel of ``compiled`` (from :func:`compile_kernels`): registers, shared memory,
    spills and stack for the last of ``archs``, occupancy for each; a DataFrame.
    """
    import pandas as pd

    _checks.mapping("compiled", compiled, empty=False, of="(label, arch) to Compiled, from compile_kernels",
                    item=lambda n, v: _checks.instance(n, v, Compiled))
    archs = _check_archs(archs)
    labels = list(dict.fromkeys(label for label, _ in compiled))
    rows = []
    for label in labels:
        for a in archs:
            if (label, a) not in compiled:
                raise ValueError(f"compiled has no entry for {label!r} on {a}")
            if compiled[(label, a)].info is None:
                raise ValueError(f"{label!r} did not compile for {a}: {compiled[(label, a)].error}")
        last = compiled[(label, archs[-1])]
        info, spec = last.info, last.spec
        row = {"kernel": label, "threads per block": spec.threads_per_block,
               f"registers ({archs[-1]})": info.registers, "shared memory (bytes)": info.shared_bytes,
               "spills (bytes)": info.spill_stores + info.spill_loads, "stack frame (bytes)": info.stack_frame,
               "float64 instructions": f64_count(last.ptx)}
        for a in archs:
            c = compiled[(label, a)]
            occ = occupancy(c.info.registers, c.info.shared_bytes, spec.threads_per_block, a)
            row[f"occupancy {SM_LIMITS[a].gpu} ({a})"] = f"{occ['occupancy']:.0%} ({occ['limit']})"
        rows.append(row)
    return pd.DataFrame(rows).set_index("kernel")


def roofline(m: int, k: int, n: int, *, itemsize: int = 4,
             bandwidth: float = PEAKS[DEFAULT_GPU][1], flops_peak: float = PEAKS[DEFAULT_GPU][2]) -> dict:
    """A model, not a measurement, of the least time an ``(m×k) @ (k×n)`` product of ``itemsize``-byte
    numbers can take at ``bandwidth`` bytes/s and ``flops_peak`` FLOP/s (by default ``DEFAULT_GPU``'s):
    a dict of ``bytes``, ``flops``, ``memory_s``, ``compute_s``, ``lower_bound_s`` (the larger) and
    ``bound`` (``"memory"`` or ``"compute"``).
    """
    for name, v in (("m", m), ("k", k), ("n", n), ("itemsize", itemsize)):
        _checks.integer(name, v, low=1)
    _checks.positive("bandwidth", bandwidth)
    _checks.positive("flops_peak", flops_peak)
    nbytes = (m * k + k * n + m * n) * itemsize
    flops = 2 * m * k * n
    memory_s, compute_s = nbytes / bandwidth, flops / flops_peak
    return {"bytes": nbytes, "flops": flops, "memory_s": memory_s, "compute_s": compute_s,
            "lower_bound_s": max(memory_s, compute_s), "bound": "memory" if memory_s >= compute_s else "compute"}


if __name__ == "__main__":
    sys.exit(_worker())
