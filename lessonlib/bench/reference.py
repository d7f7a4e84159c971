"""The GPU reference file: every GPU figure of the book, measured once on a named GPU.

A build without a GPU cannot measure GPU figures. ``python -m lessonlib.bench
gpu --out book/_data/reference_gpu.json`` records them on a machine that has
one, with what is needed to judge them (the GPU, its driver, the CUDA and
library versions, the date and the command). Chapters built anywhere else show
that file as a *reference*, always labelled "Reference, not measured by this
build" and never mixed with the build's own measurements.

This module owns the file's format:

- ``SCHEMA`` -- the format as a JSON Schema (draft 2020-12);
- :func:`validate` and :func:`load_reference` -- check a report against it
  (with ``jsonschema``, from the ``bench`` extra) and say exactly what is wrong;
- :func:`write_reference` -- check, then write;
- :func:`gpu_claims` -- the verdicts on the lecture's GPU claims from a report;
- :func:`caption`, :func:`reference_table`, :func:`claims_table` and
  :func:`claim_text` -- the only way a chapter shows reference figures, each
  carrying the label and the reference's device and date.

The format, in words (every time in seconds, every rate per second):

- ``format`` (``"lessonlib-gpu-reference"``) and ``version`` (1);
- ``provenance``: ``gpu``, ``driver``, ``cuda`` (torch's CUDA build),
  ``torch``, ``numba``, ``numba_cuda``, ``python``, ``cpu``, ``date``
  (``"YYYY-MM-DD HH:MM UTC"``), ``command`` and ``seconds`` (how long the run
  took);
- ``matmul``: the MNIST-shaped product, with ``shape``, ``data``, ``tpb``,
  ``host_memory`` (pageable or pinned, in words), ``cpu`` (the CPU ladder's
  rows, each with the ``rows`` it ran on) and ``gpu`` (every row of
  ``lessonlib.bench.claims.GPU_MATMUL_ROWS``);
- ``meanshift``: ``points``, ``cpu`` and ``gpu`` rows (the lecture's loop on
  the CPU, the batch sweep and all points at once on the GPU);
- ``cluster``: the clustering chapter's table, one object per row;
- ``device_copy_GBps``: a device-to-device copy's bandwidth;
- ``square_matmul``: ``n`` and the ``GFLOP/s`` of each kernel and of cuBLAS.

A timing row is an object with ``median_s``, ``min_s``, ``iqr_s`` and
``samples``, and optionally ``calls_per_sample`` and ``rows``.
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


def _rows(required) -> dict:
    return {"type": "object", "required": list(required), "additionalProperties": {"$ref": "#/$defs/timing"}}


SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "lessonlib GPU reference figures",
    "type": "object",
    "required": ["format", "version", "provenance", "matmul", "meanshift", "cluster",
                 "device_copy_GBps", "square_matmul"],
    "additionalProperties": False,
    "$defs": {
        "timing": {
            "type": "object",
            "required": ["median_s", "min_s", "iqr_s", "samples"],
            "additionalProperties": False,
            "properties": {
                "median_s": _POSITIVE,
                "min_s": _POSITIVE,
                "iqr_s": {"type": "number", "minimum": 0},
                "samples": {"type": "integer", "minimum": 1},
                "calls_per_sample": {"type": "integer", "minimum": 1},
                "rows": {"type": "integer", "minimum": 1},
            },
        },
    },
    "properties": {
        "format": {"const": FORMAT},
        "version": {"const": VERSION},
        "provenance": {
            "type": "object",
            "required": ["gpu", "driver", "cuda", "torch", "numba", "numba_cuda", "python", "cpu", "date",
                         "command", "seconds"],
            "additionalProperties": False,
            "properties": {
                **{k: _TEXT for k in ("gpu", "driver", "cuda", "torch", "numba", "numba_cuda", "python", "cpu",
                                      "command")},
                "date": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"},
                "seconds": _POSITIVE,
            },
        },
        "matmul": {
            "type": "object",
            "required": ["shape", "data", "tpb", "host_memory", "cpu", "gpu"],
            "additionalProperties": False,
            "properties": {
                "shape": {"type": "array", "minItems": 2, "maxItems": 2,
                          "items": {"type": "array", "minItems": 2, "maxItems": 2,
                                    "items": {"type": "integer", "minimum": 1}}},
                "data": _TEXT,
                "tpb": {"type": "integer", "minimum": 1},
                "host_memory": _TEXT,
                "cpu": _rows(MATMUL_CPU_ROWS),
                "gpu": _rows(GPU_MATMUL_ROWS),
            },
        },
        "meanshift": {
            "type": "object",
            "required": ["points", "cpu", "gpu"],
            "additionalProperties": False,
            "properties": {
                "points": {"type": "integer", "minimum": 1},
                "cpu": _rows(MEANSHIFT_CPU_ROWS),
                "gpu": _rows(GPU_MEANSHIFT_ROWS),
            },
        },
        "cluster": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["implementation", "device"],
                "properties": {"implementation": _TEXT, "device": _TEXT,
                               "median (s)": {"type": ["number", "null"]}},
            },
        },
        "device_copy_GBps": _POSITIVE,
        "square_matmul": {
            "type": "object",
            "required": ["n", "GFLOP/s"],
            "additionalProperties": False,
            "properties": {
                "n": {"type": "integer", "minimum": 1},
                "GFLOP/s": {"type": "object", "required": list(SQUARE_ROWS), "additionalProperties": _POSITIVE},
            },
        },
    },
}


class ReferenceFormatError(ValueError):
    """A reference file, or report, that does not follow ``SCHEMA``; the message lists what is wrong."""


def _where(path) -> str:
    """``matmul.gpu.tiled kernel``, ``cluster[0]``: a place in the file, as the messages name it."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or "the top level"


def validate(report, *, source: str = "the report") -> dict:
    """Check that ``report`` follows ``SCHEMA``.

    Parameters
    ----------
    report : dict
        A parsed reference file, or what :func:`lessonlib.bench.gpu.gpu_report` returns.
    source : str, default "the report"
        How to name it in the error message (a file's path).

    Returns
    -------
    dict
        ``report`` itself, unchanged.

    Raises
    ------
    ReferenceFormatError
        A ``ValueError`` that lists each problem with its place in the file, in
        ``jsonschema``'s words (``matmul.gpu: 'tiled kernel' is a required property``).
    """
    _checks.text("source", source)
    jsonschema = _deps.require("jsonschema", "bench", "checking a GPU reference file")
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(report), key=lambda e: list(map(str, e.path)))
    problems = [f"{_where(e.path)}: {e.message}" for e in errors]
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise ReferenceFormatError(f"{source} is not a valid GPU reference file ({FORMAT} version {VERSION}): {shown}")
    return report


def gpu_claims(report: dict) -> list[Verdict]:
    """Every GPU claim's verdict from a report in the reference file's format.

    Parameters
    ----------
    report : dict
        As :func:`lessonlib.bench.gpu.gpu_report` returns it, or :func:`load_reference` reads it.

    Returns
    -------
    list of Verdict
        In the order of ``GPU_CLAIMS``.

    Raises
    ------
    ReferenceFormatError
        A ``ValueError``, when ``report`` does not follow ``SCHEMA``.
    """
    if not isinstance(report, dict):
        raise TypeError(f"report must be a dict in the reference file's format, got {type(report).__name__}")
    validate(report)
    mm, ms = report["matmul"], report["meanshift"]
    per_row = {k: v["median_s"] / v["rows"] for k, v in mm["cpu"].items()}
    med = lambda rows: {k: v["median_s"] for k, v in rows.items()}  # noqa: E731
    return matmul_claims(per_row, med(mm["gpu"]), mm["shape"][0][0]) + meanshift_claims(med(ms["cpu"]), med(ms["gpu"]))


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def load_reference(path=DEFAULT_PATH) -> dict | None:
    """Read and check a reference file written by ``python -m lessonlib.bench gpu``.

    Parameters
    ----------
    path : str or pathlib.Path, default "_data/reference_gpu.json"
        Relative paths are relative to the working directory (``book/`` when a
        chapter executes).

    Returns
    -------
    dict or None
        The report, or None when there is no such file.

    Raises
    ------
    ReferenceFormatError
        When the file is not JSON or does not follow ``SCHEMA``; the
        message names the file and what is wrong.
    """
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
    """Check ``report`` against ``SCHEMA``, then write it to ``path`` as JSON.

    Returns
    -------
    pathlib.Path
        Where it was written. Nothing is written when the check fails.
    """
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or a pathlib.Path, got {type(path).__name__}")
    validate(report)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, allow_nan=False, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- showing it


def _checked(ref) -> dict:
    if not isinstance(ref, dict):
        raise TypeError(f"ref must be a dict read by load_reference, got {type(ref).__name__}")
    return validate(ref, source="ref")


def caption(ref: dict, text: str = "") -> str:
    """The label every reference figure carries: ``text``, then the device, driver, versions, date and command.

    Returns
    -------
    str
        ``"<text>. Reference, not measured by this build: <GPU>, driver <d>, CUDA <c>, torch <t>,
        numba-cuda <n>, <date>; produced by `<command>`."``
    """
    p = _checked(ref)["provenance"]
    _checks.text("text", text, empty=True)
    head = f"{text.rstrip('. ')}. " if text.strip() else ""
    return (f"{head}{LABEL}: {p['gpu']}, driver {p['driver']}, CUDA {p['cuda']}, torch {p['torch']}, "
            f"numba-cuda {p['numba_cuda']}, {p['date']}; produced by `{p['command']}`.")


def short_label(ref: dict) -> str:
    """``"Reference, not measured by this build: <GPU>, <date>"``, for text beside a figure."""
    p = _checked(ref)["provenance"]
    return f"{LABEL}: {p['gpu']}, {p['date']}"


def _timing_frame(rows: dict, order, lecture: dict, what: dict):
    import pandas as pd

    index = [r for r in order if r in rows] + [r for r in rows if r not in order]
    return pd.DataFrame({
        "median": [format_seconds(rows[r]["median_s"]) for r in index],
        "IQR": [format_seconds(rows[r]["iqr_s"]) for r in index],
        "what is timed": [what.get(r, "") for r in index],
        "lecture (2022, its own GPU)": [lecture.get(r, "") for r in index],
    }, index=pd.Index(index, name="row"))


PARTS = ("matmul", "meanshift", "cluster", "square", "claims")


def reference_table(ref: dict, part: str = "matmul"):
    """One part of a reference file as a captioned table, labelled as a reference.

    Parameters
    ----------
    ref : dict
        From :func:`load_reference`.
    part : {"matmul", "meanshift", "cluster", "square", "claims"}
        ``matmul``: the GPU rows of the MNIST-shaped product, each with what it
        times and the lecture's figure; ``meanshift``: the CPU loop and the GPU
        batch sweep; ``cluster``: the clustering table; ``square``: the square
        product's GFLOP/s and the device's copy bandwidth; ``claims``: the
        verdict on each of the lecture's GPU claims.

    Returns
    -------
    lessonlib.book.Table
        Its caption starts with what the part is and ends with :func:`caption`.
    """
    import pandas as pd

    from .. import book

    ref = _checked(ref)
    if not isinstance(part, str):
        raise TypeError(f"part must be a str, got {type(part).__name__}")
    if part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(map(repr, PARTS))}; got {part!r}")
    lecture = {row: fig.value for row, fig in LECTURE_GPU.items()}
    if part == "matmul":
        mm = ref["matmul"]
        (m, k), (_, n) = mm["shape"]
        frame = _timing_frame(mm["gpu"], list(GPU_MATMUL_ROWS), lecture, GPU_MATMUL_ROWS)
        text = (f"GPU rows, ({m:,} × {k}) @ ({k} × {n}) float32 on {mm['data']}, {mm['tpb']} × {mm['tpb']} "
                f"threads per block. {mm['host_memory']}")
    elif part == "meanshift":
        ms = ref["meanshift"]
        rows = {**ms["cpu"], **ms["gpu"]}
        frame = _timing_frame(rows, [*MEANSHIFT_CPU_ROWS, *GPU_MEANSHIFT_ROWS], lecture,
                              {**MEANSHIFT_CPU_ROWS, **GPU_MEANSHIFT_ROWS})
        text = f"Mean shift, 5 steps on the lecture's {ms['points']:,} points, on the CPU and the GPU"
    elif part == "cluster":
        frame = pd.DataFrame(ref["cluster"])
        text = "Clustering: lessonlib on the GPU beside scikit-learn on the same machine's CPU"
        return book.table(frame, hide_index=True, caption=caption(ref, text))
    elif part == "square":
        sq = ref["square_matmul"]
        cublas = sq["GFLOP/s"]["cuBLAS (TF32 off)"]
        index = [*[r for r in SQUARE_ROWS if r in sq["GFLOP/s"]], "device-to-device copy"]
        frame = pd.DataFrame({
            "rate": [f"{sq['GFLOP/s'][r]:,.0f} GFLOP/s" for r in index[:-1]]
                    + [f"{ref['device_copy_GBps']:,.0f} GB/s"],
            "share of cuBLAS": [f"{100 * sq['GFLOP/s'][r] / cublas:.1f}%" for r in index[:-1]] + [""],
        }, index=pd.Index(index, name="row"))
        text = f"{sq['n']:,}² float32 product, each kernel and cuBLAS (TF32 off); copy bandwidth is read + write"
    else:
        verdicts = gpu_claims(ref)
        frame = pd.DataFrame({
            "lecture": [v.claim.lecture for v in verdicts],
            "verdict on the reference GPU": [str(v) for v in verdicts],
        }, index=pd.Index([v.claim.text for v in verdicts], name="claim"))
        text = "The lecture's GPU claims, judged on the reference figures"
    return book.table(frame, caption=caption(ref, text))


def claim_text(measured: Verdict | None, ref: dict | None, claim: str) -> str:
    """What a chapter says about one lecture GPU claim: this build's verdict, then the reference's.

    Parameters
    ----------
    measured : Verdict or None
        This build's verdict (None when this build has no GPU).
    ref : dict or None
        A reference file, or None when there is none.
    claim : str
        A key of ``lessonlib.bench.claims.GPU_CLAIMS``.

    Returns
    -------
    str
        For example ``"not measured on this build (Reference, not measured by this build: NVIDIA H200,
        2026-11-28 15:04 UTC: held, 4.6× ...)"``.
    """
    if claim not in GPU_CLAIMS:
        raise ValueError(f"claim must be one of {', '.join(map(repr, GPU_CLAIMS))}; got {claim!r}")
    if measured is not None and not isinstance(measured, Verdict):
        raise TypeError(f"measured must be a Verdict or None, got {type(measured).__name__}")
    if measured is not None and measured.claim.id != claim:
        raise ValueError(f"measured is the verdict on {measured.claim.id!r}, not on {claim!r}")
    own = str(measured) if measured is not None else "not measured on this build"
    if ref is None:
        return own
    theirs = {v.claim.id: v for v in gpu_claims(_checked(ref))}[claim]
    return f"{own} ({short_label(ref)}: {theirs})"


def claims_table(measured, ref: dict | None, claims=None, *, text: str = "The lecture's GPU claims"):
    """The lecture's GPU claims with this build's verdicts and, when there is one, the reference's.

    Parameters
    ----------
    measured : list of Verdict, or None
        This build's verdicts (None on a build without a GPU: each then reads
        "not measured on this build").
    ref : dict or None
        A reference file; adds a column, and the reference label to the caption.
    claims : list of str, optional
        Keys of ``lessonlib.bench.claims.GPU_CLAIMS``; by default every claim in ``measured``, or all.
    text : str
        The caption's first sentence.

    Returns
    -------
    lessonlib.book.Table
        Its caption says where and when this build ran (:func:`lessonlib.timing.measured_caption`),
        then, with a reference, :func:`caption`.
    """
    import pandas as pd

    from .. import book
    from ..timing import measured_caption

    if measured is not None:
        if not isinstance(measured, (list, tuple)) or not all(isinstance(v, Verdict) for v in measured):
            raise TypeError("measured must be a list of Verdict objects, or None")
    ids = list(claims) if claims is not None else (
        [v.claim.id for v in measured] if measured else list(GPU_CLAIMS))
    unknown = [c for c in ids if c not in GPU_CLAIMS]
    if unknown:
        raise ValueError(f"claims must be keys of GPU_CLAIMS ({', '.join(GPU_CLAIMS)}); got {unknown}")
    own = {v.claim.id: str(v) for v in measured or []}
    columns = {
        "lecture": [GPU_CLAIMS[c].lecture for c in ids],
        "this build": [own.get(c, "not measured on this build") for c in ids],
    }
    cap = measured_caption(text)
    if ref is not None:
        theirs = {v.claim.id: str(v) for v in gpu_claims(_checked(ref))}
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


def _reference_rows(reference) -> tuple[dict, dict, int]:
    """Per-row CPU seconds, GPU medians and row count of a reference file's matrix product."""
    if not isinstance(reference, dict):
        raise TypeError(f"reference must be a dict read by load_reference, or None, got {type(reference).__name__}")
    mm = validate(reference, source="reference")["matmul"]
    return ({k: v["median_s"] / v["rows"] for k, v in mm["cpu"].items()},
            {k: v["median_s"] for k, v in mm["gpu"].items()}, mm["shape"][0][0])


def _compared(claim: str, full: dict, gpu: dict | None) -> str:
    """The figures one machine measured of what ``claim`` compares."""
    s = format_seconds
    cpu = {"kernel_beats_cpu": f"einsum {s(full['matmul_einsum'])}, @ {s(full['matmul'])} (CPU)",
           "cuda_vs_broadcast": f"broadcasting {s(full['matmul_broadcast'])}",
           "five_million": f"loops {s(full['matmul_loops'])} (extrapolated)"}[claim]
    if gpu is None:
        return cpu
    row = AS_LECTURED_KERNEL if claim == "kernel_beats_cpu" else AS_LECTURED_TORCH
    return f"{cpu}; {'kernel' if claim == 'kernel_beats_cpu' else '(m1c @ m2c).cpu()'} {s(gpu[row])}"


def _short(v: Verdict) -> str:
    return f"{'held' if v.held else 'did not hold'}: {format_ratio(v.ratio)}"


def matmul_claims_frame(cpu_per_row: dict, rows: int, *, gpu: dict | None = None, reference: dict | None = None):
    """The lecture's three matrix-product GPU claims, one row each: what was compared, and the verdict.

    Every row holds only what its claim compares: the lecture's figures, this
    build's (its CPU rungs always, its GPU rows when it has a GPU), the
    reference GPU's when a reference file is given, and the verdict. Without a
    GPU the verdict is the reference's, labelled as such, or "not measured".

    Parameters
    ----------
    cpu_per_row : dict of str to float
        This build's seconds per output row of the CPU rungs (:func:`lessonlib.bench.matmul.ladder_per_row`).
    rows : int
        Rows of the full product (50,000): the CPU rungs are scaled to it.
    gpu : dict of str to float, optional
        This build's median seconds of the GPU rows (at least the two "as lectured" ones); None without a GPU.
    reference : dict, optional
        A reference file (:func:`lessonlib.bench.reference.load_reference`).

    Returns
    -------
    pandas.DataFrame
        Indexed by the claim; columns ``lecture``, ``this build``, ``reference GPU`` (with a reference
        only) and ``verdict``.
    """
    import pandas as pd

    _checks.seconds("cpu_per_row", cpu_per_row, MATMUL_CPU_ROWS)
    rows = _checks.integer("rows", rows, low=1)
    if gpu is not None:
        _checks.seconds("gpu", gpu, (AS_LECTURED_KERNEL, AS_LECTURED_TORCH))
    full = {k: cpu_per_row[k] * rows for k in MATMUL_CPU_ROWS}
    mine = {v.claim.id: v for v in matmul_claims(cpu_per_row, gpu, rows)} if gpu is not None else {}
    columns = {"lecture": [_LECTURE_COMPARED[c] for c in MATMUL_CLAIM_IDS],
               "this build": [_compared(c, full, gpu) for c in MATMUL_CLAIM_IDS]}
    theirs = {}
    if reference is not None:
        ref_cpu, ref_gpu, ref_rows = _reference_rows(reference)
        theirs = {v.claim.id: v for v in matmul_claims(ref_cpu, ref_gpu, ref_rows)}
        ref_full = {k: ref_cpu[k] * ref_rows for k in MATMUL_CPU_ROWS}
        columns["reference GPU"] = [f"{_compared(c, ref_full, ref_gpu)}; {_short(theirs[c])}" for c in MATMUL_CLAIM_IDS]
    verdicts = []
    for c in MATMUL_CLAIM_IDS:
        if c in mine:
            verdicts.append(_short(mine[c]))
        elif c in theirs:
            verdicts.append(f"not measured here; on the reference GPU it {_short(theirs[c]).replace(':', ',', 1)}")
        else:
            verdicts.append("not measured: no GPU in this build")
    columns["verdict"] = verdicts
    return pd.DataFrame(columns, index=pd.Index([GPU_CLAIMS[c].text for c in MATMUL_CLAIM_IDS], name="claim"))


def ladder_series(cpu_per_row: dict, rows: int, *, gpu: dict | None = None, reference: dict | None = None) -> dict:
    """The ladder of the whole matrix product from each source, for :func:`lessonlib.kernels.plot_ladder`.

    Parameters
    ----------
    cpu_per_row, rows, gpu, reference
        As in :func:`matmul_claims_frame`.

    Returns
    -------
    dict of str to dict of str to float
        ``"lecture (2022)"``, ``"this build"`` and, with a reference, its short label, each
        ``{rung: seconds}`` over the rungs of ``LADDER_RUNGS`` that source has.
    """
    _checks.seconds("cpu_per_row", cpu_per_row, MATMUL_CPU_ROWS)
    rows = _checks.integer("rows", rows, low=1)
    if gpu is not None:
        _checks.seconds("gpu", gpu, (AS_LECTURED_KERNEL, AS_LECTURED_TORCH))

    def one(per_row, n, gpu_rows):
        out = {rung: per_row[fn] * n for rung, fn in _LADDER_CPU.items()}
        if gpu_rows is not None:
            out.update({rung: gpu_rows[row] for rung, row in _LADDER_GPU.items()})
        return out

    series = {"lecture (2022)": {rung: s for rung, (s, _) in LECTURE_LADDER.items()},
              "this build": one(cpu_per_row, rows, gpu)}
    if reference is not None:
        ref_cpu, ref_gpu, ref_rows = _reference_rows(reference)
        series[short_label(reference).replace("Reference, not measured by this build", "reference")] = one(
            ref_cpu, ref_rows, ref_gpu)
    return series
