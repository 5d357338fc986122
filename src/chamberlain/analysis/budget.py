"""Bounded analysis: a deadline and a ceiling on the units of work, and progress reports.

Every analysis (a map, a usage report, a replay) takes a :class:`Budget`; it calls :meth:`Budget.step`
per unit of work, which reports progress and says when to stop. A stopped analysis returns what it
has with ``complete: false`` and the reason, never a result that pretends to be whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

Progress = Callable[[int, int], None]


@dataclass
class Budget:
    """``seconds``: wall-clock time allowed (None: no limit); ``max_units``: work units allowed."""

    seconds: float | None = None
    max_units: int | None = None
    progress: Progress | None = None
    clock: Callable[[], float] = time.monotonic
    done: int = 0
    total: int = 0
    stopped: str = ""
    _start: float = field(default=0.0, init=False)

    def start(self, total: int) -> None:
        self._start = self.clock()
        self.total = total
        self.done = 0
        self.stopped = ""
        if self.progress is not None:
            self.progress(0, total)

    def step(self, units: int = 1) -> bool:
        """Count ``units`` done; False (with :attr:`stopped` saying why) once the budget is spent."""
        self.done += units
        if self.progress is not None:
            self.progress(self.done, self.total)
        if self.max_units is not None and self.done >= self.max_units and self.done < self.total:
            self.stopped = f"stopped after {self.done} of {self.total} units: the limit is {self.max_units}"
            return False
        if self.seconds is not None and self.clock() - self._start > self.seconds and self.done < self.total:
            self.stopped = f"stopped after {self.done} of {self.total} units: the time budget of {self.seconds:g} s is spent"
            return False
        return True
