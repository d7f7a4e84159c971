"""What the CUDA compiler says about the kernels, on a machine with no GPU.

Taught by the section "What the compiler says" of the chapter "GPU kernels".
Numba's CUDA simulator runs each thread as Python, so it checks that a kernel
is right but never what the real target checks: types, shared-memory sizes and
register use. This module compiles every kernel in :mod:`lessonlib.kernels` for
the real target instead, with NVVM (the compiler numba-cuda uses) to PTX, then
with ``ptxas`` to machine code, and reads what ``ptxas -v`` reports:

- :func:`compile_kernels` -- PTX and ``ptxas`` figures for each kernel and
  architecture (``sm_80``, the A100; ``sm_90``, the H100 and H200);
- :func:`occupancy` -- the theoretical occupancy those figures allow, by
  NVIDIA's rules;
- :func:`f64_count` and :func:`inner_loop` -- float64 instructions in a
  kernel's PTX, and the float instructions of its inner loop;
- :func:`problems` -- what would make a kernel unfit to ship (spills, a stack
  frame, a launch that cannot fit on the chip, a compiler error);
- :func:`resource_table` -- one row per kernel, for the book;
- :func:`roofline` -- a model (not a measurement) of the least time a product
  can take on an H200, from its published bandwidth and float32 peak.

A process without a GPU runs :mod:`lessonlib.kernels` on the simulator, so the
compiling is done in a separate Python process, started with
``NUMBA_ENABLE_CUDASIM`` unset and ``LESSONLIB_CUDA_COMPILE_ONLY=1``
(``lessonlib.hardware.COMPILE_ONLY_ENV``); it imports the same kernels, so
each kernel has one source. Compiling needs the
``nvidia-nvvm`` wheel (NVVM), ``nvidia-cuda-nvrtc`` (which numba-cuda loads
too) and ``ptxas`` from ``nvidia-cuda-nvcc``; ``requirements.txt`` installs
them. No GPU and no driver are needed.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from . import _checks, kernels
from .hardware import COMPILE_ONLY_ENV

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


# Sources:
# - per-SM limits: NVIDIA, CUDA C++ Programming Guide, "Compute Capabilities", table
#   "Technical Specifications per Compute Capability" (columns 8.0 and 9.0): 2048
#   threads, 32 blocks and 64 K 32-bit registers per SM, 64 K registers per block,
#   255 registers per thread; shared memory 164 KB per SM on 8.0 and 228 KB on 9.0,
#   48 KB per block without opt-in; 1 KB per block reserved by the driver.
# - the rules (per-warp register allocation in units of 256, four register-file
#   sub-partitions, shared memory in units of 128 bytes): cuda_occupancy.h, which
#   NVIDIA ships with the CUDA runtime (nvidia-cuda-runtime wheel,
#   nvidia/cu13/include/cuda_occupancy.h) and which cudaOccupancyMaxActiveBlocksPerMultiprocessor
#   and the CUDA Occupancy Calculator follow.
SM_LIMITS = {
    "sm_80": SMLimits("sm_80", "A100", 2048, 32, 65536, 65536, 255, 164 * 1024, 48 * 1024, 1024),
    "sm_90": SMLimits("sm_90", "H100/H200", 2048, 32, 65536, 65536, 255, 228 * 1024, 48 * 1024, 1024),
}

# The H200 SXM's published figures, for the roofline model only. Source: NVIDIA,
# "NVIDIA H200 Tensor Core GPU" datasheet (H200 SXM column): GPU memory bandwidth
# 4.8 TB/s; FP32 67 TFLOPS (plain float32, not TF32 Tensor Core).
H200_BANDWIDTH_BYTES_S = 4.8e12
H200_FP32_FLOPS = 67e12


@dataclass(frozen=True)
class KernelSpec:
    """One kernel to compile: a name :func:`lessonlib.kernels.get_kernel` knows, and its parameters.

    ``tm`` is used only by the register-blocked kernel (None: its default).
    ``fast_fp32`` marks a kernel the book presents as a float32 kernel, which
    must contain no float64 instruction.
    """

    label: str
    kernel: str
    tpb: int = kernels.TPB
    dtype: str = "float32"
    tm: int | None = None
    fast_fp32: bool = True

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


@dataclass(frozen=True)
class Compiled:
    """One kernel compiled for one architecture: its PTX, the ``ptxas`` figures, or the error."""

    spec: KernelSpec
    arch: str
    ptx: str | None
    ptxas_log: str
    info: PtxasInfo | None
    error: str | None


_PTXAS_PATTERNS = {
    "stack_frame": r"(\d+) bytes stack frame",
    "spill_stores": r"(\d+) bytes spill stores",
    "spill_loads": r"(\d+) bytes spill loads",
    "registers": r"Used (\d+) registers",
    "barriers": r"used (\d+) barriers",
    "shared_bytes": r"(\d+) bytes smem",
}


def parse_ptxas(log: str) -> PtxasInfo:
    """Read registers, shared memory, spills, stack frame and barriers from ``ptxas -v`` output.

    Parameters
    ----------
    log : str
        What ``ptxas -v`` printed for a PTX file holding one kernel.

    Returns
    -------
    PtxasInfo
        Missing figures (``ptxas`` leaves out shared memory and barriers when
        there are none) are 0.

    Raises
    ------
    TypeError
        If ``log`` is not a string.
    ValueError
        If ``log`` reports no register count, so it is not ``ptxas -v`` output.
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
    """The ``ptxas`` binary that the ``nvidia-cuda-nvcc`` wheel installed (or one on ``PATH``).

    Raises
    ------
    FileNotFoundError
        Naming the package to install.
    """
    import importlib.util
    import shutil

    spec = importlib.util.find_spec("nvidia")
    for base in (spec.submodule_search_locations or []) if spec else []:
        for rel in ("cu13/bin/ptxas", "cuda_nvcc/bin/ptxas"):  # CUDA 13 wheels; CUDA 12 wheels
            path = Path(base) / rel
            if path.is_file() and os.access(path, os.X_OK):
                return path
    on_path = shutil.which("ptxas")
    if on_path:
        return Path(on_path)
    raise FileNotFoundError(
        f"ptxas not found: install the nvidia-cuda-nvcc wheel (requirements.txt pins it as {REQUIREMENT})"
    )


def f64_count(ptx: str) -> int:
    """How many float64 instructions a PTX text holds (declarations of f64 registers not counted).

    Every instruction whose type includes ``.f64`` counts: ``add.f64``,
    ``cvt.f64.f32``, ``cvt.rn.f32.f64``, ``mov.f64``, ``fma.rn.f64`` ...

    Raises
    ------
    TypeError
        If ``ptx`` is not a string.
    """
    _checks.text("ptx", ptx, empty=True)
    count = 0
    for line in ptx.splitlines():
        s = line.strip()
        if not s or s.startswith(("//", ".reg", ".param", ".local", ".shared", ".global", ".const")):
            continue
        opcode = s.split()[0] if not s.startswith("@") else (s.split()[1] if len(s.split()) > 1 else "")
        if ".f64" in opcode:
            count += 1
    return count


_FLOAT_OP = re.compile(r"^\s*(@\S+\s+)?(ld\.\S*f(32|64)|mul\.\S*f(32|64)|add\.\S*f(32|64)|fma\.\S*f(32|64)|cvt\.\S*f(32|64)\S*)\s")


def inner_loop(ptx: str) -> list[str]:
    """The float instructions of the first pass through a kernel's innermost loop.

    Starting at the first floating-point load, the lines up to and including
    the first add or fused multiply-add that ends a multiply-accumulate; the
    address arithmetic between them (integer instructions) is left out.

    Raises
    ------
    TypeError
        If ``ptx`` is not a string.
    ValueError
        If the PTX holds no floating-point multiply-accumulate.
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
    """Theoretical occupancy of a kernel on one architecture, by NVIDIA's rules.

    Follows ``cuda_occupancy.h`` (the rules ``cudaOccupancyMaxActiveBlocksPerMultiprocessor``
    uses) with the default shared-memory carve-out and no dynamic shared
    memory: blocks per SM are limited by warps, by the block count, by
    registers (allocated per warp in units of 256, within four register-file
    sub-partitions) and by shared memory (in units of 128 bytes, plus 1 KB the
    driver reserves per block).

    Parameters
    ----------
    registers : int
        Registers per thread (``ptxas -v``).
    shared_bytes : int
        Static shared memory per block, in bytes.
    threads_per_block : int
    arch : {"sm_80", "sm_90"}

    Returns
    -------
    dict
        ``blocks_per_sm``, ``warps_per_sm``, ``occupancy`` (active warps over
        the SM's maximum, 0 to 1) and ``limit`` (what stops more blocks).

    Raises
    ------
    TypeError
        If a count is not an int.
    ValueError
        For a negative count, a block of more than 1024 threads, or an unknown ``arch``.
    """
    _checks.integer("registers", registers, low=0)
    _checks.integer("shared_bytes", shared_bytes, low=0)
    _checks.integer("threads_per_block", threads_per_block, low=1, high=1024)
    _checks.choice("arch", arch, tuple(SM_LIMITS))
    lim = SM_LIMITS[arch]
    max_warps = lim.max_threads_per_sm // lim.warp_size
    warps = math.ceil(threads_per_block / lim.warp_size)
    limits = {"warps": max_warps // warps, "blocks": lim.max_blocks_per_sm}
    # registers
    regs_per_warp = math.ceil(registers * lim.warp_size / lim.register_granularity) * lim.register_granularity
    regs_assumed = regs_per_warp * math.ceil(warps / lim.sub_partitions) * lim.sub_partitions
    if registers > lim.max_registers_per_thread or regs_assumed > lim.registers_per_block \
            or regs_per_warp * warps > lim.registers_per_block:
        limits["registers"] = 0
    elif regs_per_warp:
        per_partition = (lim.registers_per_sm // lim.sub_partitions) // regs_per_warp
        limits["registers"] = per_partition * lim.sub_partitions // warps
    # shared memory
    smem = math.ceil((shared_bytes + lim.reserved_shared_per_block) / lim.shared_granularity) * lim.shared_granularity
    if smem > lim.shared_per_block + lim.reserved_shared_per_block:
        limits["shared memory"] = 0
    else:
        limits["shared memory"] = lim.shared_per_sm // smem
    limit = min(limits, key=limits.get)
    blocks = limits[limit]
    return {"blocks_per_sm": blocks, "warps_per_sm": blocks * warps,
            "occupancy": blocks * warps / max_warps, "limit": limit}


def problems(c: Compiled) -> list[str]:
    """What makes a compiled kernel unfit to ship; an empty list if nothing does.

    A compiler error; any spill to local memory; a stack frame (a local array
    that did not stay in registers); or a block that cannot fit on an SM at all
    (zero occupancy) at the spec's block size.

    Raises
    ------
    TypeError
        If ``c`` is not a :class:`Compiled`.
    """
    if not isinstance(c, Compiled):
        raise TypeError(f"c must be a Compiled, got {type(c).__name__}")
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


def _check_specs(specs, archs) -> tuple[tuple[KernelSpec, ...], tuple[str, ...]]:
    if isinstance(specs, KernelSpec):
        raise TypeError("specs must be a sequence of KernelSpec, got a single KernelSpec")
    specs = tuple(specs)
    for s in specs:
        if not isinstance(s, KernelSpec):
            raise TypeError(f"specs must hold KernelSpec objects, got {type(s).__name__}")
    if not specs:
        raise ValueError("specs must not be empty")
    if len({s.label for s in specs}) != len(specs):
        raise ValueError("specs must have distinct labels")
    if isinstance(archs, str):
        archs = (archs,)
    archs = tuple(_checks.sequence("archs", archs, item=lambda n, v: _checks.choice(n, v, tuple(SM_LIMITS))))
    return specs, archs


def compile_kernels(specs=BOOK_KERNELS, archs=ARCHS, *, timeout: float = 600) -> dict[tuple[str, str], Compiled]:
    """Compile kernels to PTX and run ``ptxas -v`` on each, for each architecture.

    The work is done in a fresh Python process that keeps Numba's real CUDA
    target (this one may be using the simulator). Results are cached per
    (specs, archs) for the life of this process.

    Parameters
    ----------
    specs : sequence of KernelSpec, default BOOK_KERNELS
    archs : sequence of str, default ("sm_80", "sm_90")
    timeout : float, default 600
        Seconds to wait for the compiler process.

    Returns
    -------
    dict
        ``(label, arch)`` to :class:`Compiled`. A kernel the compiler rejects
        (``ptxas`` refusing too much shared memory, say) has ``error`` set.

    Raises
    ------
    TypeError, ValueError
        For bad ``specs`` or ``archs``.
    RuntimeError
        If NVVM or ``ptxas`` is missing (the message names the package to
        install) or the compiler process fails.
    """
    specs, archs = _check_specs(specs, archs)
    return dict(_compile_cached(specs, archs, float(timeout)))


@lru_cache(maxsize=8)
def _compile_cached(specs, archs, timeout):
    ptxas = find_ptxas()  # fail early, naming the package
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env[COMPILE_ONLY_ENV] = "1"
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    job = {"specs": [asdict(s) for s in specs], "archs": list(archs), "ptxas": str(ptxas)}
    proc = subprocess.run([sys.executable, "-m", "lessonlib.ptx"], input=json.dumps(job), capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=root)
    if proc.returncode != 0:
        raise RuntimeError(f"the kernel compiler process failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    results = json.loads(proc.stdout)
    if results.get("fatal"):
        raise RuntimeError(results["fatal"])
    out = {}
    for s in specs:
        for a in archs:
            r = results["kernels"][f"{s.label}|{a}"]
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
    """One row per kernel: registers, shared memory, spills, stack and occupancy per architecture.

    Registers, shared memory, spills and stack frame are ``ptxas``'s figures
    for the last architecture in ``archs``; occupancy is given for each.

    Parameters
    ----------
    compiled : dict
        What :func:`compile_kernels` returned.
    archs : sequence of str, default ("sm_80", "sm_90")

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    TypeError
        If ``compiled`` is not a dict of :class:`Compiled`.
    ValueError
        If an architecture is missing for a kernel, or a kernel did not compile.
    """
    import pandas as pd

    if not isinstance(compiled, dict) or not all(isinstance(v, Compiled) for v in compiled.values()):
        raise TypeError("compiled must be the dict compile_kernels returned")
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
               f"registers ({archs[-1]})": info.registers,
               "shared memory (bytes)": info.shared_bytes,
               "spills (bytes)": info.spill_stores + info.spill_loads,
               "stack frame (bytes)": info.stack_frame,
               "float64 instructions": f64_count(last.ptx)}
        for a in archs:
            c = compiled[(label, a)]
            occ = occupancy(c.info.registers, c.info.shared_bytes, spec.threads_per_block, a)
            row[f"occupancy {SM_LIMITS[a].gpu} ({a})"] = f"{occ['occupancy']:.0%} ({occ['limit']})"
        rows.append(row)
    return pd.DataFrame(rows).set_index("kernel")


def roofline(m: int, k: int, n: int, *, itemsize: int = 4,
             bandwidth: float = H200_BANDWIDTH_BYTES_S, flops_peak: float = H200_FP32_FLOPS) -> dict:
    """A model of the least time an ``(m×k) @ (k×n)`` product can take: not a measurement.

    The product must read both inputs and write the output at least once, and
    do ``2·m·k·n`` floating-point operations; at the published bandwidth and
    float32 peak (by default the H200 SXM's) neither can take less than
    bytes / bandwidth or FLOPs / peak, so the product takes at least the larger.

    Parameters
    ----------
    m, k, n : int
        The shapes.
    itemsize : int, default 4
        Bytes per element.
    bandwidth : float
        Memory bandwidth, bytes per second.
    flops_peak : float
        FLOP per second.

    Returns
    -------
    dict
        ``bytes``, ``flops``, ``memory_s``, ``compute_s``, ``lower_bound_s``
        and ``bound`` (``"memory"`` or ``"compute"``).

    Raises
    ------
    TypeError
        If a shape or ``itemsize`` is not an int.
    ValueError
        If a shape, ``itemsize``, ``bandwidth`` or ``flops_peak`` is not positive.
    """
    for name, v in (("m", m), ("k", k), ("n", n), ("itemsize", itemsize)):
        _checks.integer(name, v, low=1)
    for name, v in (("bandwidth", bandwidth), ("flops_peak", flops_peak)):
        _checks.real(name, v, low=0, strict=True)
    nbytes = (m * k + k * n + m * n) * itemsize
    flops = 2 * m * k * n
    memory_s, compute_s = nbytes / bandwidth, flops / flops_peak
    return {"bytes": nbytes, "flops": flops, "memory_s": memory_s, "compute_s": compute_s,
            "lower_bound_s": max(memory_s, compute_s), "bound": "memory" if memory_s >= compute_s else "compute"}


if __name__ == "__main__":
    sys.exit(_worker())
