"""Pausing Python's cyclic garbage collector while a policy set is loaded and compiled.

Loading 10,000 policies allocates millions of objects and keeps a few hundred thousand (positions,
rules, compiled conditions). With the collector on, every few thousand surviving objects trigger a
collection, and the full ones walk every live object of the process: a third to a half of the load
time went there, and more in a process holding more objects. Nothing a load allocates needs the
collector (what it drops is freed by reference counting when it is dropped), so :func:`paused`
turns it off for the load and back on after; the next collection then visits what the load kept once.

The collector is process-wide: pauses nest and overlap across threads (a counter under a lock), and
it is turned back on by the last pause to end, only if it was on when the first began. Cyclic garbage
that other threads make meanwhile waits until then (a load takes seconds at most).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_resume = False


@contextmanager
def paused() -> Iterator[None]:
    """Run the body with the cyclic garbage collector off (see the module's docstring)."""
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()
