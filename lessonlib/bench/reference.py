"""The GPU reference file: every GPU figure of the book, measured once on a named GPU, written by the GPU check
(:mod:`lessonlib.bench.check`) through :func:`write_reference`, its one writer. Here: its format, ``FORMAT_SPEC``,
checked with the standard library alone (the check runs on a GPU machine's Python as it is), and the tables and texts
through which a chapter built anywhere else shows it, each labelled ``LABEL`` with the reference's device and date.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from .. import _checks, book
from .claims import (GPU_MATMUL_ROWS, GPU_MEANSHIFT_ROWS, LADDER_CPU, LADDER_GPU, MATMUL_CPU_ROWS,
                     MEANSHIFT_CPU_ROWS, SQUARE_ROWS, Verdict, claims_frame, lecture_ladder, matmul_claims,
                     matmul_times, meanshift_claims, rows_frame)

LABEL = "Reference, not measured by this build"  # every reference figure a chapter shows carries it
FORMAT = "lessonlib-gpu-reference"
VERSION = 1
DEFAULT_PATH = "_data/reference_gpu.json"  # relative to book/, where chapters execute


def _number(low: float, strict: bool):
    """A check of a finite number (not a bool) ``> low`` (``strict``) or ``>= low``: None, or what is wrong."""
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return f"{v!r} is not a finite number"
        return f"{v!r} must be {'>' if strict else '>='} {low:g}" if (v <= low if strict else v < low) else None
    return check


_POSITIVE, _NONNEGATIVE = _number(0, True), _number(0, False)
_COUNT = lambda v: None if isinstance(v, int) and not isinstance(v, bool) and v >= 1 else f"{v!r} is not an int >= 1"  # noqa: E731
_TEXT = lambda v: None if isinstance(v, str) and v.strip() else f"{v!r} is not a non-empty string"  # noqa: E731
_DATE = lambda v: None if isinstance(v, str) and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", v) \
    else f"{v!r} is not a date like '2026-12-07 14:05 UTC'"  # noqa: E731
_TIMING = {"median_s": _POSITIVE, "min_s": _POSITIVE, "iqr_s": _NONNEGATIVE, "samples": _COUNT,
           "calls_per_sample?": _COUNT, "rows?": _COUNT}


def _shape(v):
    ok = (isinstance(v, list) and len(v) == 2 and all(isinstance(p, list) and len(p) == 2 and
                                                      all(_COUNT(n) is None for n in p) for p in v))
    if not ok:
        return f"{v!r} is not two [rows, columns] pairs of ints >= 1"
    return None if v[0][1] == v[1][0] else f"{v!r}: the inner sizes {v[0][1]} and {v[1][0]} differ"


# The file's format: a dict needs its keys (those ending in "?" are optional) and no others; a tuple
# ("rows", names) is a dict of timings that holds at least those rows; [spec] a list of them; a
# function returns what is wrong with a value, or None; anything else is a constant.
FORMAT_SPEC = {
    "format": FORMAT, "version": VERSION,
    "provenance": {**{k: _TEXT for k in ("gpu", "driver", "cuda", "torch", "numba", "numba_cuda", "python",
                                         "cpu", "command")}, "date": _DATE, "seconds": _POSITIVE},
    "matmul": {"shape": _shape, "data": _TEXT, "tpb": _COUNT, "host_memory": _TEXT,
               "cpu": ("rows", MATMUL_CPU_ROWS), "gpu": ("rows", tuple(GPU_MATMUL_ROWS))},
    "meanshift": {"points": _COUNT, "cpu": ("rows", tuple(MEANSHIFT_CPU_ROWS)),
                  "gpu": ("rows", tuple(GPU_MEANSHIFT_ROWS))},
    "cluster": [{"implementation": _TEXT, "device": _TEXT, "*": None}],
    "device_copy_GBps": _POSITIVE,
    "square_matmul": {"n": _COUNT, "GFLOP/s": ("rates", SQUARE_ROWS)},
}


class ReferenceFormatError(ValueError):
    """A reference file, or report, that does not follow ``FORMAT_SPEC``; the message lists what is wrong."""


def _problems(value, spec, where: str) -> list[str]:
    """What is wrong with ``value`` under ``spec``, each problem naming its place (``matmul.gpu.tiled kernel``)."""
    at = where or "the top level"
    if callable(spec):
        problem = spec(value)
        return [f"{at}: {problem}"] if problem else []
    if isinstance(spec, list):
        if not isinstance(value, list):
            return [f"{at}: {type(value).__name__} is not a list"]
        return [p for i, item in enumerate(value) for p in _problems(item, spec[0], f"{where}[{i}]")]
    if isinstance(spec, tuple):  # ("rows", names): timings; ("rates", names): positive numbers
        kind, names = spec
        spec = {**{n: None for n in names}, "*": _TIMING if kind == "rows" else _POSITIVE}
    if not isinstance(spec, dict):
        return [] if value == spec and type(value) is type(spec) else [f"{at}: {spec!r} was expected, got {value!r}"]
    if not isinstance(value, dict):
        return [f"{at}: {type(value).__name__} is not an object"]
    fixed = {k.rstrip("?"): s for k, s in spec.items() if k != "*"}
    required = [k.rstrip("?") for k in spec if k != "*" and not k.endswith("?")]
    out = [f"{at}: {k!r} is missing" for k in required if k not in value]
    for k, v in value.items():
        inner = fixed.get(k) or spec.get("*")
        if k not in fixed and "*" not in spec:
            out.append(f"{at}: {k!r} is not a key this format has")
        elif inner is not None:
            out += _problems(v, inner, f"{where}.{k}".lstrip("."))
        elif _NAN_FREE(v) is not None:
            out.append(f"{where}.{k}".lstrip(".") + f": {_NAN_FREE(v)}")
    return out


def _NAN_FREE(v):  # noqa: N802 - a spec, like the others
    """Anywhere in ``v``, a NaN or an infinity is refused."""
    if isinstance(v, float) and not math.isfinite(v):
        return f"{v!r} is not a finite number"
    inner = v.values() if isinstance(v, dict) else v if isinstance(v, list) else ()
    return next((p for p in map(_NAN_FREE, inner) if p), None)


def validate(report, *, source: str = "the report") -> dict:
    """Check ``report`` against ``FORMAT_SPEC`` (NaN and ±inf refused anywhere) and return it unchanged; a
    ``ReferenceFormatError`` names each problem, its place, and ``source`` (a file's path).
    """
    _checks.text("source", source)
    problems = _problems(report, FORMAT_SPEC, "")
    if problems:
        more = f"; and {len(problems) - 8} more" if len(problems) > 8 else ""
        raise ReferenceFormatError(f"{source} is not a valid GPU reference file ({FORMAT} version "
                                   f"{VERSION}): {'; '.join(problems[:8])}{more}")
    return report


def _checked(name: str, ref) -> dict:
    """``ref``, the argument ``name``: a dict that follows ``FORMAT_SPEC``."""
    if not isinstance(ref, dict):
        raise TypeError(f"{name} must be a dict read by load_reference, got {type(ref).__name__}")
    return validate(ref, source=name)


def _medians(rows: dict) -> dict:
    return {k: v["median_s"] for k, v in rows.items()}


def matmul_reference_times(ref: dict) -> tuple[dict, int, dict]:
    """A reference's ``(cpu_per_row, rows, gpu)``, as :func:`~lessonlib.bench.claims.matmul_claims` takes them."""
    mm = _checked("ref", ref)["matmul"]
    per_row = {k: v["median_s"] / v["rows"] for k, v in mm["cpu"].items()}
    return per_row, mm["shape"][0][0], _medians(mm["gpu"])


def gpu_claims(report: dict) -> list[Verdict]:
    """Every GPU claim's verdict, in the order of ``GPU_CLAIMS``, from a report in ``FORMAT_SPEC``."""
    ms = _checked("report", report)["meanshift"]
    return matmul_claims(*matmul_reference_times(report)) + meanshift_claims(_medians(ms["cpu"]),
                                                                              _medians(ms["gpu"]))


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def load_reference(path=DEFAULT_PATH) -> dict | None:
    """A reference file (path relative to the working directory), checked; None if there is none."""
    path = _checks.path("path", path)
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as err:
        raise ReferenceFormatError(f"{path} is not a valid GPU reference file: not JSON ({err})") from None
    return validate(report, source=str(path))


def write_reference(report: dict, path) -> Path:
    """Check ``report`` against ``FORMAT_SPEC``, then (only then) write it to ``path`` as JSON."""
    path = _checks.path("path", path)
    validate(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, allow_nan=False, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def caption(ref: dict, text: str = "") -> str:
    """``text``, then ``LABEL`` with the reference's device, driver, versions, date and command."""
    p = _checked("ref", ref)["provenance"]
    _checks.text("text", text, empty=True)
    head = f"{text.rstrip('. ')}. " if text.strip() else ""
    return (f"{head}{LABEL}: {p['gpu']}, driver {p['driver']}, CUDA {p['cuda']}, torch {p['torch']}, "
            f"numba-cuda {p['numba_cuda']}, {p['date']}; produced by `{p['command']}`.")


def short_label(ref: dict) -> str:
    """``"Reference, not measured by this build: <GPU>, <date>"``, for text beside a figure."""
    p = _checked("ref", ref)["provenance"]
    return f"{LABEL}: {p['gpu']}, {p['date']}"


PARTS = ("matmul", "meanshift", "cluster", "square", "claims")


def reference_table(ref: dict, part: str = "matmul"):
    """One ``part`` of a reference file ``ref`` as a captioned Table (the caption ends with
    :func:`caption`): "matmul" (the MNIST-shaped product's GPU rows), "meanshift", "cluster", "square"
    (the square product's GFLOP/s and the copy bandwidth) or "claims" (the lecture's GPU claims).
    """
    import pandas as pd

    ref = _checked("ref", ref)
    part = _checks.choice("part", part, PARTS)
    if part in ("matmul", "meanshift"):
        rows = ref["matmul"]["gpu"] if part == "matmul" else {**ref["meanshift"]["cpu"], **ref["meanshift"]["gpu"]}
        what = GPU_MATMUL_ROWS if part == "matmul" else {**MEANSHIFT_CPU_ROWS, **GPU_MEANSHIFT_ROWS}
        frame = rows_frame(_medians(rows), what, iqr={k: v["iqr_s"] for k, v in rows.items()},
                           lecture_column="lecture (2022, its own GPU)")
        mm, ms = ref["matmul"], ref["meanshift"]
        (m, k), (_, n) = mm["shape"]
        text = (f"GPU rows, ({m:,} × {k}) @ ({k} × {n}) float32 on {mm['data']}, {mm['tpb']} × {mm['tpb']} threads "
                f"per block. {mm['host_memory']}" if part == "matmul" else
                f"Mean shift, 5 steps on the lecture's {ms['points']:,} points, on the CPU and the GPU")
    elif part == "cluster":
        text = "Clustering: lessonlib on the GPU beside scikit-learn on the same machine's CPU"
        return book.table(pd.DataFrame(ref["cluster"]), hide_index=True, caption=caption(ref, text))
    elif part == "square":
        sq = ref["square_matmul"]
        rates = [sq["GFLOP/s"][r] for r in SQUARE_ROWS]
        frame = pd.DataFrame({
            "rate": [f"{v:,.0f} GFLOP/s" for v in rates] + [f"{ref['device_copy_GBps']:,.0f} GB/s"],
            "share of cuBLAS": [f"{100 * v / rates[-1]:.1f}%" for v in rates] + [""],
        }, index=pd.Index([*SQUARE_ROWS, "device-to-device copy"], name="row"))
        text = (f"{sq['n']:,}² float32 product, each kernel and cuBLAS (TF32 off); copy bandwidth "
                "is read + write")
    else:
        verdicts = gpu_claims(ref)
        frame = claims_frame([v.claim.id for v in verdicts], reference=verdicts)
        text = "The lecture's GPU claims, judged on the reference figures"
    return book.table(frame, caption=caption(ref, text))


def ladder_series(cpu_per_row: dict, rows: int, *, gpu: dict | None = None,
                  reference: dict | None = None) -> dict:
    """The whole product's ladder from each source, for :func:`lessonlib.kernels.plot_ladder`: the lecture,
    this build (``cpu_per_row``, ``rows`` and ``gpu`` as :func:`~lessonlib.bench.claims.matmul_claims`
    takes them; ``gpu`` None without a GPU) and a ``reference`` file, each ``{rung: seconds}``.
    """
    def one(per_row, n, gpu_rows):
        out = {rung: per_row[key] * n for rung, key in LADDER_CPU.items()}
        out.update({rung: gpu_rows[row] for rung, row in LADDER_GPU.items()} if gpu_rows is not None else {})
        return out

    series = {"lecture (2022)": lecture_ladder(), "this build": one(*matmul_times(cpu_per_row, rows, gpu))}
    if reference is not None and _checked("reference", reference):
        series[short_label(_checked("reference", reference)).replace(LABEL, "reference")] = one(
            *matmul_reference_times(reference))
    return series
