"""Honest timings, and the speed-up tables ("ladders") the book builds from them.

The lecture's story is a ladder: the same matrix product, each rung faster than
the last. A rung's time means something only when it is measured the same way
as its neighbours, in the same run, on a named machine. :func:`bench` measures
one rung (:func:`timed` times a single long call, for reporting only);
:func:`ladder` puts rungs side by side with their speed-ups and a
caption naming the hardware and the time of the run.

Rules :func:`bench` keeps:

- the first calls are warm-up and never timed (Numba and CUDA compile then);
- whether GPU work is involved is decided once, after the warm-up and before
  any timing. On a CPU-only run the timed loop is the bare call, with nothing
  added per call, so a microsecond call is not inflated by bookkeeping;
- GPU calls return before the device has finished, so with a GPU in use the
  device is synchronised before the clock starts and before it stops, around
  each sample of ``number`` calls, as ``torch.utils.benchmark`` does
  (``sync="block"``: throughput, the queue kept full). ``sync="call"``
  synchronises after every call instead, for when the latency of one call is
  the thing being measured;
- each sample runs the function enough times to last ``min_time`` seconds, so
  the clock's resolution does not matter, and the statistics (min, median,
  inter-quartile range) come from several such samples.

Every :class:`Timing` carries its :class:`Provenance`: the machine and the UTC
time of the run that measured it. A page served from the execution cache shows
the provenance of the run that produced it, never the current build's.
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
    """Where and when a measurement was made.

    Attributes
    ----------
    machine : str
        :func:`lessonlib.hardware.label` of the machine that ran it.
    when : str
        UTC date and time of the run, to the minute: ``"2026-11-28 14:05 UTC"``.
    """

    machine: str
    when: str

    def __post_init__(self):
        _checks.text("Provenance.machine", self.machine)
        _checks.text("Provenance.when", self.when)

    def __str__(self) -> str:
        return f"Measured on {self.machine}, {self.when}"


def provenance() -> Provenance:
    """The provenance of a measurement made now, on this machine.

    Call it in the code that measures (a page's cell), so that a page restored
    from the execution cache keeps the provenance of the run that made it.
    """
    now = _dt.datetime.now(_dt.timezone.utc)
    return Provenance(hardware.label(), now.strftime("%Y-%m-%d %H:%M UTC"))


def measured_caption(text: str = "", measured: Provenance | None = None) -> str:
    """A timing table's caption: ``text``, then where and when it was measured.

    Parameters
    ----------
    text : str
        What was measured.
    measured : Provenance, optional
        Defaults to :func:`provenance` (now, this machine).

    Returns
    -------
    str
        For example ``"Toy. Measured on AMD EPYC (2 cores), no GPU, torch 2.13.0, 2026-11-28 14:05 UTC."``
    """
    _checks.text("text", text, empty=True)
    if measured is None:
        measured = provenance()
    elif not isinstance(measured, Provenance):
        raise TypeError(f"measured must be a Provenance, got {type(measured).__name__}")
    head = f"{text.rstrip('. ')}. " if text.strip() else ""
    return f"{head}{measured}."


@dataclass(frozen=True)
class Timing:
    """Timings of one function: seconds per call, one value per sample.

    Attributes
    ----------
    name : str
        Label for tables.
    times : tuple of float
        Seconds per call, one entry per sample (repeat).
    number : int
        Calls per sample.
    measured : Provenance or None
        Machine and time of the run (:func:`bench` fills it in).
    """

    name: str
    times: tuple[float, ...]
    number: int
    measured: Provenance | None = field(default=None, compare=False)

    def __post_init__(self):
        _checks.text("Timing name", self.name)
        if self.measured is not None and not isinstance(self.measured, Provenance):
            raise TypeError(f"Timing {self.name!r}: measured must be a Provenance, got {type(self.measured).__name__}")
        if not self.times:
            raise ValueError(f"Timing {self.name!r} has no samples")
        bad = [t for t in self.times if not (math.isfinite(t) and t > 0)]
        if bad:
            raise ValueError(f"Timing {self.name!r}: times must be finite and > 0, got {bad}")
        _checks.integer("number", self.number, low=1)

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
        return (
            f"{self.name}: median {format_seconds(self.median)} "
            f"(min {format_seconds(self.min)}, IQR {format_seconds(self.iqr)}, "
            f"{self.repeat} samples x {self.number} calls)"
        )


def format_seconds(s: float) -> str:
    """Seconds with a readable unit and three significant figures: ``"12.3 ms"``; whole seconds from 1,000 s on: ``"4,210 s"``."""
    s = _checks.real("s", s, low=0)
    if s >= 1000:
        return f"{s:,.0f} s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def format_ratio(x: float) -> str:
    """A speed-up with as many digits as matter, never rounded to zero: ``"153,290×"``, ``"19.6×"``, ``"0.69×"``, ``"0.0042×"``."""
    x = _checks.real("x", x, low=0, strict=True)
    return f"{x:,.0f}×" if x >= 100 else f"{x:.1f}×" if x >= 10 else f"{x:.2f}×" if x >= 0.1 else f"{x:.2g}×"


def timed(fn: Callable, *args, **kwargs):
    """Call ``fn(*args, **kwargs)`` once and return its result with the wall time it took.

    For reporting how long one long run took (a training run, say), where
    :func:`bench`'s repeated samples would cost too much. One call, no
    warm-up and no device synchronisation: use :func:`bench` to compare speeds.

    Parameters
    ----------
    fn : callable
    *args, **kwargs
        Passed to ``fn``.

    Returns
    -------
    result : object
        What ``fn`` returned.
    seconds : float
        Wall time of the call, from ``time.perf_counter``.

    Raises
    ------
    TypeError
        If ``fn`` is not callable. Whatever ``fn`` raises passes through.
    """
    _checks.callable_("fn", fn)
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def _device_sync() -> Callable[[], None] | None:
    """The function that waits for queued GPU work, or None when no GPU work can be pending.

    Asked once per :func:`bench` call, after the warm-up: by then ``fn`` has
    started whatever GPU context it uses. torch's ``synchronize`` waits for the
    whole device (numba's kernels on the same device included); numba's is used
    when only numba has touched the GPU.
    """
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return torch.cuda.synchronize
    if "numba.cuda" in sys.modules and hardware.numba_cuda_available():
        return sys.modules["numba.cuda"].synchronize
    return None


def bench(
    fn: Callable,
    *args,
    name: str | None = None,
    warmup: int = 1,
    repeat: int = 7,
    number: int | None = None,
    min_time: float = 0.02,
    max_time: float | None = 10.0,
    sync: str = "block",
    **kwargs,
) -> Timing:
    """Time ``fn(*args, **kwargs)``.

    Parameters
    ----------
    fn : callable
        What to time.
    *args, **kwargs
        Passed to ``fn`` on every call.
    name : str, optional
        Label for tables; defaults to ``fn.__name__``.
    warmup : int, default 1
        Untimed calls first (>= 1, so a compiling first call is never timed).
    repeat : int, default 7
        Samples to take.
    number : int, optional
        Calls per sample; by default enough to last ``min_time`` seconds.
    min_time : float, default 0.02
        Target seconds per sample when ``number`` is chosen automatically.
    max_time : float or None, default 10
        Time budget for all samples. When one call is so slow that ``repeat``
        samples would exceed it, fewer samples are taken (at least one); the
        result's ``repeat`` says how many. None means no budget.
    sync : {"block", "call"}, default "block"
        Only matters when GPU work is in flight. ``"block"`` waits for the
        device before and after each sample of ``number`` calls (throughput);
        ``"call"`` waits after every call (the latency of one call, launch
        included). On a CPU-only run nothing is added to the timed loop.

    Returns
    -------
    Timing
        Seconds per call for each sample, with ``min``, ``median``, ``iqr``.
    """
    _checks.callable_("fn", fn)
    if name is not None:
        _checks.text("name", name)
    _checks.integer("warmup", warmup, low=1)
    _checks.integer("repeat", repeat, low=1)
    if number is not None:
        _checks.integer("number", number, low=1)
    _checks.real("min_time", min_time, low=0, strict=True)
    if max_time is not None:
        _checks.real("max_time", max_time, low=0, strict=True)

    _checks.choice("sync", sync, ("block", "call"))
    call = functools.partial(fn, *args, **kwargs)  # a C-level call: no Python frame of ours per call

    for _ in range(warmup):
        call()
    wait = _device_sync()  # decided once: None on a CPU-only run
    if wait is not None:
        wait()
        if sync == "call":
            def call(_f=call, _wait=wait):  # noqa: E306 - per-call latency: wait after each call
                _f()
                _wait()

    def sample(n: int) -> float:
        """Seconds for ``n`` calls, the garbage collector off (as in timeit)."""
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

    # Calibrate: grow the call count until one sample lasts min_time (as timeit.autorange does).
    trial, elapsed = 1, sample(1)
    while number is None and elapsed < min_time and trial < 10**7:
        trial = min(10**7, max(2 * trial, math.ceil(1.2 * trial * min_time / max(elapsed, 1e-9))))
        elapsed = sample(trial)
    one = max(elapsed / trial, 1e-9)
    # A single slow call already lasts min_time: it is a valid sample, not wasted calibration.
    totals = [elapsed] if number is None and trial == 1 else []
    if number is None:
        number = trial
    if max_time is not None:
        repeat = max(1, min(repeat, int(max_time // (one * number))))

    totals += [sample(number) for _ in range(repeat - len(totals))]
    return Timing(
        name=name or getattr(fn, "__name__", "fn"),
        times=tuple(max(t, 1e-12) / number for t in totals),
        number=number,
        measured=provenance(),
    )


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
    """A rate (GFLOP/s, GB/s) with three significant figures, never rounded to zero: ``"1,234"``, ``"19.6"``, ``"0.00123"``."""
    x = _checks.real("x", x, low=0)
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def table_formats(columns) -> dict:
    """How the book shows each timing column: seconds with a unit, speed-ups with ×, rates to three figures.

    Parameters
    ----------
    columns : iterable of str
        Column names: ``"... (s)"`` holds seconds, ``"× ..."`` a speed-up,
        ``"GFLOP/s"`` and ``"GB/s"`` a rate; others keep pandas' format.

    Returns
    -------
    dict of str to callable
        For :func:`lessonlib.book.table`'s ``formats``.
    """
    out = {}
    for c in columns:
        if isinstance(c, str) and c.endswith(" (s)"):
            out[c] = format_seconds
        elif isinstance(c, str) and c.startswith("× "):
            out[c] = format_ratio
        elif c in ("GFLOP/s", "GB/s"):
            out[c] = format_rate
    return out


class Ladder:
    """A table of timings with speed-ups; renders as an HTML table in the book, as text elsewhere.

    Build one with :func:`ladder`. ``frame`` holds the raw numbers (seconds,
    ratios) for ``myst_nb.glue``; ``caption`` names the hardware; ``keys`` and
    ``work`` give each row's short key and the work it did (None without ``work``).
    """

    def __init__(self, frame, caption: str, basis: str = "median (s)", keys=None, work=None):
        import pandas as pd

        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
        _checks.text("caption", caption, empty=True)
        _checks.choice("basis", basis, [c for c in frame.columns if isinstance(c, str)])
        self.frame = frame
        self.caption = caption
        self.basis = basis  # the column the speed-ups compare
        self.keys = list(frame.index) if keys is None else list(keys)
        self.work = work

    def speedup(self, row: str, *, over: str | None = None) -> float:
        """How many times faster ``row`` is than ``over`` (default: the first row).

        With ``work`` given to :func:`ladder`, this compares time per unit of work.
        """
        med = self.frame[self.basis]
        for r in (row, over):
            if r is not None and r not in med.index:
                raise ValueError(f"no row named {r!r}; rows are {list(med.index)}")
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


def ladder(
    timings: Sequence[Timing],
    *,
    flops=None,
    nbytes=None,
    work=None,
    work_unit: str = "row",
    notes: dict | None = None,
    caption: str = "",
    keys=None,
) -> Ladder:
    """Put timings side by side: time, spread, speed-up vs the first and previous rows.

    Parameters
    ----------
    timings : sequence of Timing
        Rows, slowest-first by convention (the lecture's order).
    flops : float or sequence of float, optional
        Floating-point operations per call (one for all rows, or one per row);
        adds a GFLOP/s column.
    nbytes : float or sequence of float, optional
        Bytes moved per call; adds a GB/s column.
    work : float or sequence of float, optional
        Units of work each call did (e.g. output rows), when rows ran on inputs
        of different sizes. Adds a "per <work_unit>" time column, and the
        speed-ups then compare time per unit: an extrapolation, which the
        caption says.
    work_unit : str, default "row"
        Name of one unit of ``work``.
    notes : dict of str to sequence of str, optional
        Extra text columns, e.g. figures quoted from elsewhere, one entry per row.
    caption : str
        What was measured. Where and when the timings were measured (their
        :class:`Provenance`) is appended.
    keys : sequence of str, optional
        A short key per row (the function's name, say) for code that reads
        the table (``Ladder.keys``); by default the timings' names.

    Returns
    -------
    Ladder
    """
    import pandas as pd

    timings = _checks.sequence("timings", timings)
    for t in timings:
        if not isinstance(t, Timing):
            raise TypeError(f"timings must be Timing objects, got {type(t).__name__}")
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
    columns = {
        "median (s)": med,
        "min (s)": [t.min for t in timings],
        "IQR (s)": [t.iqr for t in timings],
        "samples": [t.repeat for t in timings],
    }
    basis, per, work_ = "median (s)", med, None
    if work is not None:
        work_ = [_checks.positive("work entries", w) for w in _per_row("work", work, n)]
        basis = f"per {work_unit} (s)"
        per = med / np.array(work_, dtype=float)
        columns[basis] = per
    columns["× first"] = per[0] / per
    columns["× previous"] = np.concatenate([[1.0], per[:-1] / per[1:]])
    frame = pd.DataFrame(columns, index=pd.Index(names, name="method"))
    if flops is not None:
        frame["GFLOP/s"] = [None if f is None else f / m / 1e9 for f, m in zip(flops_, med)]
    if nbytes is not None:
        frame["GB/s"] = [None if b is None else b / m / 1e9 for b, m in zip(bytes_, med)]
    for label, values in (notes or {}).items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise TypeError(f"notes[{label!r}] must be a sequence with one entry per timing, got {type(values).__name__}")
        values = list(values)
        if len(values) != n:
            raise ValueError(f"notes[{label!r}] has {len(values)} entries but there are {n} timings")
        frame[label] = values
    text = f"{caption.rstrip('. ')}. " if caption else ""
    if work is not None:
        text += f"Speed-ups compare time per {work_unit}, extrapolated across input sizes. "
    return Ladder(frame, text + _provenance_text(timings), basis, keys, work_)


def _provenance_text(timings: Sequence[Timing]) -> str:
    """Where and when the rows were measured: the earliest time for each machine, in row order."""
    first: dict[str, str] = {}
    for t in timings:
        m = t.measured
        if m is not None and (m.machine not in first or m.when < first[m.machine]):
            first[m.machine] = m.when
    if not first:  # hand-made Timing objects: measured now, here
        return measured_caption("", provenance())
    return "; ".join(measured_caption("", Provenance(machine, when)).rstrip(".") for machine, when in first.items()) + "."
