"""The GPU reference file: every GPU figure of the book, measured once on a named GPU.

``python -m lessonlib.bench gpu --out book/_data/reference_gpu.json`` writes it on a machine
with a GPU. This module holds its format, ``SCHEMA`` (a JSON Schema; every time in seconds),
checks a file against it, and makes the tables and texts through which a chapter built
anywhere else shows it: each labelled ``LABEL``, with the reference's device and date.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import _checks, _deps
from ..timing import format_ratio, format_seconds
from .claims import (
    AS_LECTURED_KERNEL,
    AS_LECTURED_TORCH,
    GPU_CLAIMS,
    GPU_MATMUL_ROWS,
    GPU_MEANSHIFT_ROWS,
    LADDER_RUNGS,
    LECTURE_GPU,
    LECTURE_LADDER,
    MATMUL_CLAIM_IDS,
    MATMUL_CPU_ROWS,
    MEANSHIFT_CPU_ROWS,
    SQUARE_ROWS,
    Verdict,
    matmul_claims,
    meanshift_claims,
)

LABEL = "Reference, not measured by this build"  # every reference figure a chapter shows carries it
FORMAT = "lessonlib-gpu-reference"
VERSION = 1
DEFAULT_PATH = "_data/reference_gpu.json"  # relative to book/, where chapters execute

_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
_TEXT = {"type": "string", "minLength": 1}
_COUNT = {"type": "integer", "minimum": 1}


def _object(properties: dict, optional: dict | None = None) -> dict:
    """An object that needs every key of ``properties``, may have ``optional``'s, and no other."""
    return {"type": "object", "required": list(properties), "additionalProperties": False,
            "properties": {**properties, **(optional or {})}}


_TIMING = _object({"median_s": _POSITIVE, "min_s": _POSITIVE, "samples": _COUNT,
                   "iqr_s": {"type": "number", "minimum": 0}},
                  {"calls_per_sample": _COUNT, "rows": _COUNT})


def _rows(required) -> dict:
    return {"type": "object", "required": list(required), "additionalProperties": _TIMING}


SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "lessonlib GPU reference figures",
    **_object({
        "format": {"const": FORMAT},
        "version": {"const": VERSION},
        "provenance": _object({
            **{k: _TEXT for k in ("gpu", "driver", "cuda", "torch", "numba", "numba_cuda", "python",
                                  "cpu", "command")},
            "date": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"},
            "seconds": _POSITIVE,
        }),
        "matmul": _object({
            "shape": {"type": "array", "minItems": 2, "maxItems": 2,
                      "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": _COUNT}},
            "data": _TEXT, "tpb": _COUNT, "host_memory": _TEXT,
            "cpu": _rows(MATMUL_CPU_ROWS), "gpu": _rows(GPU_MATMUL_ROWS),
        }),
        "meanshift": _object({"points": _COUNT, "cpu": _rows(MEANSHIFT_CPU_ROWS),
                              "gpu": _rows(GPU_MEANSHIFT_ROWS)}),
        "cluster": {"type": "array", "items": {
            "type": "object", "required": ["implementation", "device"],
            "properties": {"implementation": _TEXT, "device": _TEXT,
                           "median (s)": {"type": ["number", "null"]}}}},
        "device_copy_GBps": _POSITIVE,
        "square_matmul": _object({"n": _COUNT, "GFLOP/s": {
            "type": "object", "required": list(SQUARE_ROWS), "additionalProperties": _POSITIVE}}),
    }),
}


class ReferenceFormatError(ValueError):
    """A reference file, or report, that does not follow ``SCHEMA``; the message lists what is wrong."""


def _where(path) -> str:
    """``matmul.gpu.tiled kernel``, ``cluster[0]``: a place in the file, as the messages name it."""
    out = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return out or "the top level"


def validate(report, *, source: str = "the report") -> dict:
    """Check ``report`` against ``SCHEMA`` (with ``jsonschema``, from the ``bench`` extra).

    A ``ReferenceFormatError`` names each problem, its place, and ``source`` (a file's path).

    Returns
    -------
    dict
        ``report``, unchanged.
    """
    _checks.text("source", source)
    jsonschema = _deps.require("jsonschema", "bench", "checking a GPU reference file")
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(report),
                    key=lambda e: list(map(str, e.path)))
    problems = [f"{_where(e.path)}: {e.message}" for e in errors]
    if problems:
        more = f"; and {len(problems) - 8} more" if len(problems) > 8 else ""
        raise ReferenceFormatError(f"{source} is not a valid GPU reference file ({FORMAT} version "
                                   f"{VERSION}): {'; '.join(problems[:8])}{more}")
    return report


def _checked(name: str, ref) -> dict:
    """``ref``, the argument ``name``: a dict that follows ``SCHEMA``."""
    if not isinstance(ref, dict):
        raise TypeError(f"{name} must be a dict read by load_reference, got {type(ref).__name__}")
    return validate(ref, source=name)


def _medians(rows: dict) -> dict:
    return {k: v["median_s"] for k, v in rows.items()}


def _matmul_times(ref: dict) -> tuple[dict, dict, int]:
    """Seconds per row of the CPU rungs, GPU medians and rows of a checked reference's product."""
    mm = ref["matmul"]
    per_row = {k: v["median_s"] / v["rows"] for k, v in mm["cpu"].items()}
    return per_row, _medians(mm["gpu"]), mm["shape"][0][0]


def gpu_claims(report: dict) -> list[Verdict]:
    """Every GPU claim's verdict, in the order of ``GPU_CLAIMS``, from a report in ``SCHEMA``."""
    ms = _checked("report", report)["meanshift"]
    return matmul_claims(*_matmul_times(report)) + meanshift_claims(_medians(ms["cpu"]),
                                                                     _medians(ms["gpu"]))


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def load_reference(path=DEFAULT_PATH) -> dict | None:
    """A reference file (path relative to the working directory), checked; None if there is none."""
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or a pathlib.Path, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as err:
        raise ReferenceFormatError(f"{path} is not a valid GPU reference file: not JSON ({err})") from None
    return validate(report, source=str(path))


def write_reference(report: dict, path) -> Path:
    """Check ``report`` against ``SCHEMA``, then (only then) write it to ``path`` as JSON."""
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or a pathlib.Path, got {type(path).__name__}")
    validate(report)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, allow_nan=False, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
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


def _timing_frame(rows: dict, what: dict):
    """Timing rows in the order of ``what`` (what each times), each beside the lecture's figure."""
    import pandas as pd

    index = [r for r in what if r in rows] + [r for r in rows if r not in what]
    return pd.DataFrame({
        "median": [format_seconds(rows[r]["median_s"]) for r in index],
        "IQR": [format_seconds(rows[r]["iqr_s"]) for r in index],
        "what is timed": [what.get(r, "") for r in index],
        "lecture (2022, its own GPU)": [getattr(LECTURE_GPU.get(r), "value", "") for r in index],
    }, index=pd.Index(index, name="row"))


PARTS = ("matmul", "meanshift", "cluster", "square", "claims")


def reference_table(ref: dict, part: str = "matmul"):
    """One part of a reference file as a table, its caption ending with :func:`caption`.

    Parameters
    ----------
    ref : dict
        From :func:`load_reference`.
    part : {"matmul", "meanshift", "cluster", "square", "claims"}
        The MNIST-shaped product's GPU rows, mean shift, clustering, the square product's
        GFLOP/s (and the copy bandwidth), or the verdicts on the lecture's GPU claims.

    Returns
    -------
    lessonlib.book.Table
    """
    import pandas as pd

    from .. import book

    ref = _checked("ref", ref)
    part = _checks.choice("part", part, PARTS)
    if part == "matmul":
        mm = ref["matmul"]
        (m, k), (_, n) = mm["shape"]
        frame = _timing_frame(mm["gpu"], GPU_MATMUL_ROWS)
        text = (f"GPU rows, ({m:,} × {k}) @ ({k} × {n}) float32 on {mm['data']}, {mm['tpb']} × "
                f"{mm['tpb']} threads per block. {mm['host_memory']}")
    elif part == "meanshift":
        ms = ref["meanshift"]
        what = {**MEANSHIFT_CPU_ROWS, **GPU_MEANSHIFT_ROWS}
        frame = _timing_frame({**ms["cpu"], **ms["gpu"]}, what)
        text = f"Mean shift, 5 steps on the lecture's {ms['points']:,} points, on the CPU and the GPU"
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
        frame = pd.DataFrame({
            "lecture": [v.claim.lecture for v in verdicts],
            "verdict on the reference GPU": [str(v) for v in verdicts],
        }, index=pd.Index([v.claim.text for v in verdicts], name="claim"))
        text = "The lecture's GPU claims, judged on the reference figures"
    return book.table(frame, caption=caption(ref, text))


def claim_text(measured: Verdict | None, ref: dict | None, claim: str) -> str:
    """What a chapter says of one lecture GPU claim: this build's verdict, then the reference's.

    Parameters
    ----------
    measured : Verdict or None
        This build's verdict; None without a GPU.
    ref : dict or None
    claim : str
        A key of ``GPU_CLAIMS``.

    Returns
    -------
    str
    """
    _checks.choice("claim", claim, GPU_CLAIMS)
    if measured is not None and not isinstance(measured, Verdict):
        raise TypeError(f"measured must be a Verdict or None, got {type(measured).__name__}")
    if measured is not None and measured.claim.id != claim:
        raise ValueError(f"measured is the verdict on {measured.claim.id!r}, not on {claim!r}")
    own = str(measured) if measured is not None else "not measured on this build"
    if ref is None:
        return own
    theirs = {v.claim.id: v for v in gpu_claims(_checked("ref", ref))}[claim]
    return f"{own} ({short_label(ref)}: {theirs})"


def claims_table(measured, ref: dict | None, claims=None, *, text: str = "The lecture's GPU claims"):
    """The lecture's GPU claims with this build's verdicts and, given a reference, its verdicts.

    Parameters
    ----------
    measured : list of Verdict, or None
        This build's verdicts; None without a GPU.
    ref : dict or None
    claims : list of str, optional
        Keys of ``GPU_CLAIMS``; by default those of ``measured``, or all.
    text : str
        The caption's first sentence.

    Returns
    -------
    lessonlib.book.Table
    """
    import pandas as pd

    from .. import book
    from ..timing import measured_caption

    if measured is not None and not (isinstance(measured, (list, tuple))
                                     and all(isinstance(v, Verdict) for v in measured)):
        raise TypeError("measured must be a list of Verdict objects, or None")
    ids = [v.claim.id for v in measured] if measured else list(GPU_CLAIMS)
    if claims is not None:
        ids = _checks.sequence("claims", claims, item=lambda n, c: _checks.choice(n, c, GPU_CLAIMS))
    own = {v.claim.id: str(v) for v in measured or []}
    columns = {
        "lecture": [GPU_CLAIMS[c].lecture for c in ids],
        "this build": [own.get(c, "not measured on this build") for c in ids],
    }
    cap = measured_caption(text)
    if ref is not None:
        theirs = {v.claim.id: str(v) for v in gpu_claims(_checked("ref", ref))}
        columns["reference GPU"] = [theirs[c] for c in ids]
        cap += " " + caption(ref, "The last column")
    frame = pd.DataFrame(columns, index=pd.Index([GPU_CLAIMS[c].text for c in ids], name="claim"))
    return book.table(frame, caption=cap)


_LADDER_CPU = dict(zip(LADDER_RUNGS[:4], MATMUL_CPU_ROWS))  # rung -> matmul_ladder's function name
_LADDER_GPU = {LADDER_RUNGS[4]: AS_LECTURED_KERNEL, LADDER_RUNGS[5]: AS_LECTURED_TORCH}
_LECTURE_COMPARED = {
    "kernel_beats_cpu": "kernel 3.61 ms; einsum 15.1 ms, @ 15.2 ms",
    "cuda_vs_broadcast": "broadcasting 663 ms; (m1c @ m2c).cpu() 458 µs: 1,448×",
    "five_million": "loops 4,210 s (421 ms for 5 rows); 458 µs: 9.2 million×",
}


def _compared(claim: str, per_row: dict, gpu: dict | None, rows: int) -> str:
    """The figures one machine measured of what ``claim`` compares."""
    s = format_seconds
    full = {k: per_row[k] * rows for k in MATMUL_CPU_ROWS}
    cpu = {"kernel_beats_cpu": f"einsum {s(full['matmul_einsum'])}, @ {s(full['matmul'])} (CPU)",
           "cuda_vs_broadcast": f"broadcasting {s(full['matmul_broadcast'])}",
           "five_million": f"loops {s(full['matmul_loops'])} (extrapolated)"}[claim]
    if gpu is None:
        return cpu
    if claim == "kernel_beats_cpu":
        return f"{cpu}; kernel {s(gpu[AS_LECTURED_KERNEL])}"
    return f"{cpu}; (m1c @ m2c).cpu() {s(gpu[AS_LECTURED_TORCH])}"


def _short(v: Verdict) -> str:
    return f"{'held' if v.held else 'did not hold'}: {format_ratio(v.ratio)}"


def matmul_claims_frame(cpu_per_row: dict, rows: int, *, gpu: dict | None = None,
                        reference: dict | None = None):
    """The lecture's three matrix-product GPU claims: what each compares, and the verdict.

    Parameters
    ----------
    cpu_per_row : dict of str to float
        Seconds per output row of the CPU rungs (:func:`lessonlib.bench.matmul.ladder_per_row`).
    rows : int
        Rows of the whole product, to which the CPU rungs are scaled.
    gpu : dict of str to float, optional
        Medians of the GPU rows (at least the two "as lectured"); None without a GPU.
    reference : dict, optional
        Adds a column; without ``gpu``, its verdicts stand in, labelled.

    Returns
    -------
    pandas.DataFrame
        Indexed by the claim.
    """
    import pandas as pd

    _checks.seconds("cpu_per_row", cpu_per_row, MATMUL_CPU_ROWS)
    rows = _checks.integer("rows", rows, low=1)
    if gpu is not None:
        _checks.seconds("gpu", gpu, (AS_LECTURED_KERNEL, AS_LECTURED_TORCH))
    ids = MATMUL_CLAIM_IDS
    columns = {"lecture": [_LECTURE_COMPARED[c] for c in ids],
               "this build": [_compared(c, cpu_per_row, gpu, rows) for c in ids]}
    verdicts = {c: "not measured: no GPU in this build" for c in ids}
    if reference is not None:
        times = _matmul_times(_checked("reference", reference))
        theirs = {v.claim.id: _short(v) for v in matmul_claims(*times)}
        columns["reference GPU"] = [f"{_compared(c, *times)}; {theirs[c]}" for c in ids]
        verdicts = {c: f"not measured here; on the reference GPU it {v.replace(':', ',', 1)}"
                    for c, v in theirs.items()}
    if gpu is not None:
        verdicts = {v.claim.id: _short(v) for v in matmul_claims(cpu_per_row, gpu, rows)}
    columns["verdict"] = [verdicts[c] for c in ids]
    return pd.DataFrame(columns, index=pd.Index([GPU_CLAIMS[c].text for c in ids], name="claim"))


def ladder_series(cpu_per_row: dict, rows: int, *, gpu: dict | None = None,
                  reference: dict | None = None) -> dict:
    """The whole product's ladder from each source, for :func:`lessonlib.kernels.plot_ladder`.

    Parameters
    ----------
    cpu_per_row, rows, gpu, reference
        As in :func:`matmul_claims_frame`.

    Returns
    -------
    dict of str to dict of str to float
        Each source (the lecture, this build, the reference) to ``{rung: seconds}``.
    """
    _checks.seconds("cpu_per_row", cpu_per_row, MATMUL_CPU_ROWS)
    rows = _checks.integer("rows", rows, low=1)
    if gpu is not None:
        _checks.seconds("gpu", gpu, (AS_LECTURED_KERNEL, AS_LECTURED_TORCH))

    def one(per_row, gpu_rows, n):
        out = {rung: per_row[fn] * n for rung, fn in _LADDER_CPU.items()}
        if gpu_rows is not None:
            out.update({rung: gpu_rows[row] for rung, row in _LADDER_GPU.items()})
        return out

    series = {"lecture (2022)": {rung: s for rung, (s, _) in LECTURE_LADDER.items()},
              "this build": one(cpu_per_row, gpu, rows)}
    if reference is not None:
        name = short_label(_checked("reference", reference)).replace(LABEL, "reference")
        series[name] = one(*_matmul_times(reference))
    return series
