"""Reload the policies when their directory changes (``storage.disk.watchForChanges``).

Uses ``watchfiles`` (inotify on Linux, already a dependency of ``uvicorn[standard]``): changes are
seen at once and batched (``chamberlain.watchInterval`` debounce), with no polling cost while idle.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from watchfiles import watch


class PolicyWatcher:
    """A daemon thread that calls ``on_change()`` after each batch of changes under ``directory``."""

    def __init__(self, directory: Path, on_change: Callable[[], None], debounce: float = 0.5):
        self.directory = directory
        self.on_change = on_change
        self.debounce_ms = max(1, int(debounce * 1000))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chamberlain-policy-watcher", daemon=True)

    def start(self) -> PolicyWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        for _changes in watch(self.directory, stop_event=self._stop, debounce=self.debounce_ms,
                              step=50, rust_timeout=1000, yield_on_timeout=False):  # fmt: skip
            self.on_change()
