"""Honest timings, and the speed-up tables ("ladders") the book builds from them: :func:`bench` times
one rung (warm-up first, the GPU synchronised only when GPU work can be in flight); :func:`ladder`
puts rungs side by side with their speed-ups and a caption naming the machine and the time.
"""

from __future__ import annotations

import datetime as _dt
import functools
import gc
import itertools
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import _checks, hardware


@dataclass(frozen=True)
class Provenance:
    """Where and when a measurement was made: ``machine`` (:func:`lessonlib.hardware.label`) and ``when``,
    the UTC time to the minute (``"2026-11-28 14:05 UTC"``).
    """

    machine: str
    when: str

    def __post_init__(self):
        _checks.fields(self)

    def __str__(self) -> str:
        return f"Measured on {self.machine}, {self.when}"


def provenance() -> Provenance:
    """Now, on this machine: call it where the code measures, so a cached page keeps its own."""
    now = _dt.datetime.now(_dt.timezone.utc)
    return Provenance(hardware.label(), now.strftime("%Y-%m-%d %H:%M UTC"))


def measured_caption(text: str = "", measured: Provenance | None = None) -> str:
    """A timing table's caption: ``text``, then where and when it was ``measured`` (default: now, here),
    e.g. ``"Toy. Measured on AMD EPYC (2 cores), no GPU, torch 2.13.0, 2026-11-28 14:05 UTC."``
    """
    _checks.text("text", text, empty=True)
    measured = provenance() if measured is None else _checks.instance("measured", measured, Provenance)
    head = f"{text.rstrip('. ')}. " if text.strip() else ""
    return f"{head}{measured}."


@dataclass(frozen=True)
class Timing:
    """Timings of one function: ``times``, seconds per call, one per sample of ``number`` calls; ``name``
    labels it in tables; ``measured`` is its :class:`Provenance` (:func:`bench` fills it in).
    """

    name: str
    times: tuple[float, ...]
    number: int
    measured: Provenance | None = field(default=None, compare=False)

    def __post_init__(self):
        _checks.text("Timing name", self.name)
        _checks.sequence(f"Timing {self.name!r}: times", self.times, item=_checks.positive)
        _checks.integer("number", self.number, low=1)
        _checks.instance("measured", self.measured, (Provenance, type(None)), "a Provenance or None")

    @property
    def repeat(self) -> int:
        return len(self.times)

    @property
    def min(self) -> float:
        return float(np.min(self.times))

    @property
    def median(self) -> float:
        return float(np.median(self.times))

    @property
    def iqr(self) -> float:
        q1, q3 = np.percentile(self.times, [25, 75])
        return float(q3 - q1)

    def __str__(self) -> str:
        s = format_seconds
        return (f"{self.name}: median {s(self.median)} (min {s(self.min)}, IQR {s(self.iqr)}, "
                f"{self.repeat} samples x {self.number} calls)")


def format_seconds(s: float) -> str:
    """Seconds to three figures with a unit, ``"12.3 ms"``; whole from 1,000 s, ``"4,210 s"``."""
    s = _checks.real("s", s, low=0)
    if s >= 1000:
        return f"{s:,.0f} s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def format_ratio(x: float) -> str:
    """A speed-up, never rounded to zero: ``"153,290×"``, ``"19.6×"``, ``"0.0042×"``."""
    x = _checks.real("x", x, low=0, strict=True)
    return f"{x:,.0f}×" if x >= 100 else f"{x:.1f}×" if x >= 10 else f"{x:.2f}×" if x >= 0.1 else f"{x:.2g}×"


def timed(fn: Callable, *args, **kwargs):
    """Call ``fn(*args, **kwargs)`` once; return its result and the wall time in seconds. For one long run
    (a training run, say): no warm-up and no device synchronisation; :func:`bench` compares speeds.
    """
    _checks.callable_("fn", fn)
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def _device_sync() -> Callable[[], None] | None:
    """What waits for queued GPU work (torch's whole-device sync, else numba's), or None."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return torch.cuda.synchronize
    if "numba.cuda" in sys.modules and hardware.numba_cuda_available():
        return sys.modules["numba.cuda"].synchronize
    return None


def bench(fn: Callable, *args, name: str | None = None, warmup: int = 1,
          repeat: int = 7, number: int | None = None, min_time: float = 0.02,
          max_time: float | None = 10.0, sync: str = "block", **kwargs) -> Timing:
    """Time ``fn(*args, **kwargs)``: ``repeat`` samples of ``number`` calls, after ``warmup``; a Timing.

    ``name`` labels it (default ``fn.__name__``); ``warmup`` untimed calls come first (at least one, so
    a compiling first call is never timed); ``number`` calls per sample, by default enough to last
    ``min_time`` seconds; ``max_time`` is the budget for all samples (a slow call gets fewer, at least
    one). With GPU work in flight, ``sync="block"`` waits for the device around each sample
    (throughput), ``"call"`` after each call (latency).
    """
    _checks.callable_("fn", fn)
    if name is not None:
        _checks.text("name", name)
    _checks.integer("warmup", warmup, low=1, high=10**4)
    _checks.integer("repeat", repeat, low=1)
    if number is not None:
        _checks.integer("number", number, low=1, high=10**7)  # the calibration's cap too
    _checks.real("min_time", min_time, low=0, strict=True)
    if max_time is not None:
        _checks.real("max_time", max_time, low=0, strict=True)
    _checks.choice("sync", sync, ("block", "call"))
    # a C-level call: no Python frame of ours per call
    call = functools.partial(fn, *args, **kwargs)

    for _ in range(warmup):
        call()
    wait = _device_sync()  # decided once: None on a CPU-only run
    if wait is not None:
        wait()
        if sync == "call":
            # per-call latency: wait after each call
            def call(_f=call, _wait=wait):  # noqa: E306
                _f()
                _wait()

    # seconds for n calls, the garbage collector off (as in timeit)
    def sample(n: int) -> float:
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            loop = itertools.repeat(None, n)
            t0 = time.perf_counter()
            for _ in loop:
                call()
            if wait is not None:
                wait()
            return time.perf_counter() - t0
        finally:
            if gc_was_on:
                gc.enable()

    # calibrate (as timeit.autorange): grow the call count until a sample lasts min_time
    trial, elapsed = 1, sample(1)
    while number is None and elapsed < min_time and trial < 10**7:
        trial = min(10**7, max(2 * trial,
                               math.ceil(1.2 * trial * min_time / max(elapsed, 1e-9))))
        elapsed = sample(trial)
    one = max(elapsed / trial, 1e-9)
    # a single call that already lasts min_time is a sample, not wasted calibration
    totals = [elapsed] if number is None and trial == 1 else []
    number = number or trial
    if max_time is not None:
        repeat = max(1, min(repeat, int(max_time // (one * number))))

    totals += [sample(number) for _ in range(repeat - len(totals))]
    times = tuple(max(t, 1e-12) / number for t in totals)
    name = name or getattr(fn, "__name__", "fn")
    return Timing(name=name, times=times, number=number, measured=provenance())


def _per_row(name: str, value, n: int) -> list[float | None]:
    if value is None:
        return [None] * n
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number or a sequence of numbers, got {type(value).__name__}")
    values = list(value) if isinstance(value, Sequence) else [value] * n
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries but there are {n} timings")
    return [None if v is None else _checks.real(f"{name} entries", v, low=0) for v in values]


def format_rate(x: float) -> str:
    """A rate (GFLOP/s, GB/s), three figures, never rounded to zero: ``"1,234"``, ``"0.00123"``."""
    x = _checks.real("x", x, low=0)
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def table_formats(columns) -> dict:
    """:func:`lessonlib.book.table`'s ``formats`` for timing columns: ``"... (s)"`` columns are seconds,
    ``"× ..."`` speed-ups, ``"GFLOP/s"`` and ``"GB/s"`` rates; other columns keep pandas' format.
    """
    out = {}
    for c in _checks.sequence("columns", columns, empty=True):
        if isinstance(c, str) and c.endswith(" (s)"):
            out[c] = format_seconds
        elif isinstance(c, str) and c.startswith("× "):
            out[c] = format_ratio
        elif isinstance(c, str) and c in ("GFLOP/s", "GB/s"):
            out[c] = format_rate
    return out


class Ladder:
    """A table of timings with speed-ups, made by :func:`ladder`; HTML in the book, text elsewhere.
    ``frame`` holds the raw numbers, ``keys`` and ``work`` each row's short key and its work (or None).
    """

    def __init__(self, frame, caption: str, basis: str = "median (s)", keys=None, work=None):
        _checks.frame("frame", frame)
        _checks.text("caption", caption, empty=True)
        _checks.choice("basis", basis, [c for c in frame.columns if isinstance(c, str)])
        self.frame, self.caption, self.basis = frame, caption, basis  # basis: the speed-ups' column
        self.keys = list(frame.index) if keys is None else _checks.sequence("keys", keys, item=_checks.text)
        self.work = None if work is None else _checks.sequence("work", work, item=_checks.positive)
        if len(self.keys) != len(frame) or (work is not None and len(self.work) != len(frame)):
            raise ValueError(f"keys and work must hold one entry per row of frame ({len(frame)})")

    def speedup(self, row: str, *, over: str | None = None) -> float:
        """How many times faster ``row`` is than ``over`` (default: the first row), per unit."""
        med = self.frame[self.basis]
        _checks.choice("row", row, list(med.index))
        if over is not None:
            _checks.choice("over", over, list(med.index))
        base = med.iloc[0] if over is None else med[over]
        return float(base / med[row])

    def table(self):
        """The ladder as a :class:`lessonlib.book.Table`: readable units, and ``min`` left out."""
        from . import book

        shown = self.frame.drop(columns="min (s)")
        return book.table(shown, caption=self.caption, formats=table_formats(shown.columns), units=True)

    def styler(self):
        """The pandas ``Styler`` of :meth:`table`."""
        return self.table().styler

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    def __repr__(self) -> str:
        return repr(self.table())


def ladder(timings: Sequence[Timing], *, flops=None, nbytes=None, work=None, work_unit: str = "row",
           notes: dict | None = None, caption: str = "", keys=None) -> Ladder:
    """Put ``timings`` (rows, slowest first) side by side: time, spread, speed-up over the first and the
    previous row; a Ladder.

    ``flops`` or ``nbytes`` per call (one number, or one per row) add a GFLOP/s or GB/s column.
    ``work``, units of work per call when rows ran on inputs of different sizes, makes the speed-ups
    compare time per ``work_unit``, as the caption says. ``notes``: extra text columns (one entry per
    row); ``caption``: what was measured, to which the timings' Provenance is appended; ``keys``: a
    short key per row (default the timings' names).
    """
    import pandas as pd

    timings = _checks.sequence("timings", timings, item=lambda n, t: _checks.instance(n, t, Timing))
    _checks.text("caption", caption, empty=True)
    _checks.text("work_unit", work_unit)
    if notes is not None and not isinstance(notes, dict):
        raise TypeError(f"notes must be a dict of column name to entries, got {type(notes).__name__}")
    names = [t.name for t in timings]
    if len(set(names)) != len(names):
        raise ValueError(f"timing names must be unique, got {names}")
    n = len(timings)
    flops_, bytes_ = _per_row("flops", flops, n), _per_row("nbytes", nbytes, n)
    if keys is not None:
        keys = [_checks.text("keys entries", k) for k in _checks.sequence("keys", keys)]
        if len(keys) != n or len(set(keys)) != n:
            raise ValueError(f"keys must be {n} distinct names, one per timing, got {keys}")

    med = np.array([t.median for t in timings])
    columns = {"median (s)": med, "min (s)": [t.min for t in timings],
               "IQR (s)": [t.iqr for t in timings], "samples": [t.repeat for t in timings]}
    basis, per, work_ = "median (s)", med, None
    if work is not None:
        work_ = [_checks.positive("work entries", w) for w in _per_row("work", work, n)]
        basis = f"per {work_unit} (s)"
        per = med / np.array(work_, dtype=float)
        columns[basis] = per
    columns["× first"] = per[0] / per
    columns["× previous"] = np.concatenate([[1.0], per[:-1] / per[1:]])
    frame = pd.DataFrame(columns, index=pd.Index(names, name="method"))
    for column, given, per_call in (("GFLOP/s", flops, flops_), ("GB/s", nbytes, bytes_)):
        if given is not None:
            frame[column] = [None if v is None else v / m / 1e9 for v, m in zip(per_call, med)]
    for label, values in (notes or {}).items():
        values = _checks.sequence(f"notes[{label!r}]", values, empty=True)
        if len(values) != n:
            raise ValueError(f"notes[{label!r}] has {len(values)} entries but there are {n} timings")
        frame[label] = values
    text = f"{caption.rstrip('. ')}. " if caption else ""
    if work is not None:
        text += f"Speed-ups compare time per {work_unit}, extrapolated across input sizes. "
    return Ladder(frame, text + _provenance_text(timings), basis, keys, work_)


def _provenance_text(timings: Sequence[Timing]) -> str:
    """Each machine that measured a row, with its earliest time, in row order."""
    first: dict[str, str] = {}
    for m in (t.measured for t in timings if t.measured is not None):
        first[m.machine] = min(m.when, first.get(m.machine, m.when))
    shown = [Provenance(machine, when) for machine, when in first.items()]
    return "; ".join(map(str, shown or [provenance()])) + "."  # hand-made rows: measured now, here
