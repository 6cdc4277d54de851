"""Peak resident memory of a block of work, sampled from /proc (includes C/C++ allocations)."""

from __future__ import annotations

import os
import resource
import threading
import time

__all__ = ["PeakMemory", "rss_mb"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakMemory:
    """``with PeakMemory() as pm: ...`` then ``pm.peak_mb``: highest RSS seen (sampled every
    ``interval`` s) minus RSS at entry — what the block added at its worst."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peak_mb = 0.0

    def __enter__(self) -> PeakMemory:
        self._base = rss_mb()
        self._max = self._base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self._max = max(self._max, rss_mb())
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._max = max(self._max, rss_mb())
        self.peak_mb = self._max - self._base
