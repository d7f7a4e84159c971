"""Peak resident memory of this process, for the tables that report what a method held while it ran."""

from __future__ import annotations

import sys

from .. import _checks
from ..timing import Timing, bench


def peak_rss() -> float:
    """Peak resident memory of this process, in MiB, since the last :func:`peak_rss_reset`: on Linux the
    kernel's resettable high-water mark, ``VmHWM``; elsewhere ``ru_maxrss``, the peak of the whole life.
    """
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):  # no /proc/self/status: not Linux
        import resource

        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return kib / (1024 * 1024) if sys.platform == "darwin" else kib / 1024


def peak_rss_reset() -> float:
    """Reset the peak resident memory to what the process holds now (Linux); return that, in MiB.
    (Not ``ru_maxrss``: it keeps the peak of every exited thread, which no reset clears.)
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # elsewhere the peak cannot be reset: peak_rss() then reports the process's whole peak
    return peak_rss()


def timed_with_memory(fn, *, repeat: int = 3, max_time: float = 30.0) -> tuple[Timing, float, float]:
    """Time ``fn()`` with :func:`lessonlib.timing.bench`; return the Timing, the run's peak resident memory
    (MiB) and how far it rose above the memory held at the start (never below 0).
    """
    _checks.callable_("fn", fn)
    _checks.positive("max_time", max_time)
    start = peak_rss_reset()
    t = bench(fn, repeat=repeat, max_time=max_time)
    peak = peak_rss()
    # per-CPU RSS counters are summed approximately: a run that held nothing new can read a few KiB below its start
    return t, peak, max(0.0, peak - start)
