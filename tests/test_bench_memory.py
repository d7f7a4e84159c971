"""lessonlib.bench.memory: the peak resident memory follows an allocation and resets."""

import gc
import mmap

import numpy as np
import pytest

from lessonlib.bench.memory import peak_rss, peak_rss_reset, timed_with_memory


def _touched(mib: int) -> np.ndarray:
    # an anonymous mapping of its own: fresh pages from the kernel, returned when the array goes.
    # malloc serves even 64 MiB from a free block it already holds, resident, when it has one (the
    # mmap threshold counts only when it has none): np.ones failed both tests in combined runs so
    a = np.frombuffer(mmap.mmap(-1, mib * 2**20), dtype=np.uint8)
    a[:] = 1  # written, so resident
    return a


def test_peak_rss_rises_with_a_big_allocation_and_resets():
    gc.collect()  # no collection of earlier tests' garbage in the middle of this one
    start = peak_rss_reset()
    a = _touched(64)
    peak = peak_rss()
    assert peak >= start + 50
    del a
    # the reset follows the release: compared with the peak just seen, not with `start`, which other
    # threads' allocations or frees in a combined run may have moved
    assert peak_rss_reset() <= peak - 50


def test_timed_with_memory_returns_a_timing_and_the_peak_above_the_start():
    gc.collect()
    t, peak, grew = timed_with_memory(lambda: _touched(64).sum(), repeat=2, max_time=1.0)
    assert t.repeat <= 2 and t.median > 0
    assert grew >= 50 and peak >= grew
    with pytest.raises(TypeError, match="fn must be callable"):
        timed_with_memory(3)
