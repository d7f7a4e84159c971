"""Peak resident memory of this process, for the tables that report what a method held while it ran."""

from __future__ import annotations

import sys

from .. import _checks
from ..timing import Timing, bench


def _status_hwm() -> float | None:
    """VmHWM from /proc/self/status in MiB (Linux), or None where there is no such file."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def peak_rss() -> float:
    """Peak resident memory of this process since the last :func:`peak_rss_reset`, in MiB.

    On Linux this is the kernel's high-water mark of the process's resident
    set (``VmHWM``), which :func:`peak_rss_reset` can reset. Elsewhere it is
    ``resource.getrusage``'s ``ru_maxrss``: the whole life's peak.

    Returns
    -------
    float
    """
    hwm = _status_hwm()
    if hwm is not None:
        return hwm
    import resource

    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / (1024 * 1024) if sys.platform == "darwin" else kib / 1024


def peak_rss_reset() -> float:
    """Reset this process's peak resident memory to what it holds now (Linux), and return that, in MiB.

    ``getrusage``'s ``ru_maxrss`` is not used on Linux: it also keeps the
    high-water mark of every thread that has exited (a thread pool's worker,
    say), which no reset clears, so after one such exit it stops following
    the reset.

    Returns
    -------
    float
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # elsewhere the peak cannot be reset: peak_rss() then reports the process's whole peak
    return peak_rss()


def timed_with_memory(fn, *, repeat: int = 3, max_time: float = 30.0) -> tuple[Timing, float, float]:
    """Time ``fn()`` (:func:`lessonlib.timing.bench`, warm-up first) and watch the memory it holds.

    Parameters
    ----------
    fn : callable
        Called with no arguments.
    repeat : int, default 3
        Timed samples.
    max_time : float, default 30
        Passed to :func:`lessonlib.timing.bench`.

    Returns
    -------
    tuple of (Timing, float, float)
        The timing, the peak resident memory of the whole run (MiB) and how
        far it rose above the memory held when it started (never below 0).
    """
    _checks.callable_("fn", fn)
    start = peak_rss_reset()
    t = bench(fn, repeat=repeat, max_time=max_time)
    peak = peak_rss()
    # the kernel's per-CPU RSS counters are summed approximately: a run that held nothing new can read a few
    # KiB below its start
    return t, peak, max(0.0, peak - start)
