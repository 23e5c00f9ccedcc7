"""Measuring memory: the peak resident memory while something runs, and handing freed memory back.

Role: course machinery (notebook 10's comparison and the Binder memory benchmark use it).
"""

from __future__ import annotations

import os
import threading
import time


def _rss_bytes() -> int:
    try:
        import psutil

        return int(psutil.Process(os.getpid()).memory_info().rss)
    except ImportError:  # Linux without psutil
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """``with PeakMemory() as peak: ...`` then ``peak.megabytes``: the highest resident memory of this
    process while the block ran (sampled every 20 ms)."""

    def __init__(self, interval: float = 0.02):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    def _watch(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(self.interval)

    def __enter__(self):
        self.peak = self.start = _rss_bytes()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())

    @property
    def megabytes(self) -> float:
        return self.peak / 2**20

    @property
    def growth_megabytes(self) -> float:
        return (self.peak - self.start) / 2**20


def release_freed_memory() -> None:
    """Collect garbage and hand memory the process freed back to the system (glibc's ``malloc_trim``, where
    there is one): freed memory otherwise stays in the process's resident size, which counts against Binder's memory limit."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to trim
        pass
