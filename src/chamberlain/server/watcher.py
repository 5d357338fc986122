"""Reload the policies when their directory changes (``storage.disk.watchForChanges``).

Uses ``watchfiles`` (inotify on Linux, already a dependency of ``uvicorn[standard]``): changes are
seen at once and batched (``chamberlain.watchInterval`` debounce), with no polling cost while idle.

Nothing ends the thread but :meth:`PolicyWatcher.stop`: an exception from a reload or from the
watch itself is logged and the watch resumes (after a pause, when the watch failed), so a bad
file never leaves a server that stops loading changes while it says it is serving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from watchfiles import watch

LOGGER = logging.getLogger("chamberlain.server")
_RETRY_SECONDS = 1.0


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
        while not self._stop.is_set():
            try:
                for _changes in watch(
                    self.directory,
                    stop_event=self._stop,
                    debounce=self.debounce_ms,
                    step=50,
                    rust_timeout=1000,
                    yield_on_timeout=False,
                ):
                    self._changed()
            except Exception as exc:  # the directory vanished, the OS watch failed: look again shortly
                LOGGER.error(
                    "watching the policy directory failed; retrying",
                    extra={"directory": str(self.directory), "error": repr(exc)},
                )
                self._changed()  # say what the directory looks like now (STALE while it is missing)
                self._stop.wait(_RETRY_SECONDS)

    def _changed(self) -> None:
        try:
            self.on_change()
        except Exception:  # on_change reports its own failures; this keeps the watch alive regardless
            LOGGER.exception("policy reload raised", extra={"directory": str(self.directory)})
