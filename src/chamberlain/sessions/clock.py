"""The time sessions are judged by: the system clock, or a clock a test moves by hand."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: Seconds since the epoch, as ``time.time()`` returns them.
Clock = Callable[[], float]


def system_clock() -> float:
    """The system's wall clock (sessions expire by wall time, shared by every replica)."""
    return time.time()


class ManualClock:
    """A clock that stands still until :meth:`advance` moves it (for expiry and idle-timeout tests)."""

    def __init__(self, start: float = 1_800_000_000.0):
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now
