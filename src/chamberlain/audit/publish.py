"""Publishing signed heads outside the database: a head file, and witness URLs.

Whoever can write the database can rewrite history and delete the heads that would show it; a head
kept elsewhere cannot be taken back. On every signing the log

- writes the head (the JSON of ``chamberlain audit head --json``) to its **head file**, atomically
  (written aside, fsynced, renamed). A copy of that file kept by someone else is a trusted head:
  ``chamberlain audit verify --trusted-head FILE``. The log also checks its own head file when it
  opens and refuses to sign over a log that no longer extends it;
- POSTs the signed checkpoint note (``text/plain``) to each **witness URL**, from a background
  thread: at most ``timeout`` seconds per request, a queue of :data:`QUEUE` heads (the oldest is
  dropped, and counted, when a witness is slower than the log), never in the way of a check.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import threading
from pathlib import Path

import orjson

from chamberlain.audit.heads import Head

QUEUE = 16
log = logging.getLogger("chamberlain.audit")


def write_head_file(path: Path, head: Head, verifier_key: str) -> None:
    """Write ``head`` to ``path`` atomically (a reader never sees a partial file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    data = orjson.dumps(head.to_json(verifier_key), option=orjson.OPT_INDENT_2) + b"\n"
    try:
        with open(temp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()


class HeadPublisher:
    """Publishes each signed head to the head file (at once) and to witnesses (in the background)."""

    def __init__(self, verifier_key: str, head_file: Path | None, witnesses: tuple[str, ...] = (),
                 timeout: float = 2.0) -> None:  # fmt: skip
        self.verifier_key = verifier_key
        self.head_file = head_file
        self.witnesses = witnesses
        self.timeout = timeout
        self.file_errors = 0
        self.posted = 0
        self.failed = 0
        self.dropped = 0
        self.last_error = ""
        self._queue: collections.deque[Head] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        if witnesses:
            self._thread = threading.Thread(target=self._run, name="chamberlain-witness", daemon=True)
            self._thread.start()

    def __call__(self, head: Head) -> None:
        """Publish ``head`` (called on the thread that signed it; never raises)."""
        if self.head_file is not None:
            try:
                write_head_file(self.head_file, head, self.verifier_key)
            except OSError as exc:
                self.file_errors += 1
                self.last_error = f"head file {self.head_file}: {exc.strerror or exc}"
                log.error("decision log: cannot write the head file: %s", self.last_error)
        if self._thread is not None:
            with self._cond:
                if len(self._queue) >= QUEUE:
                    self._queue.popleft()
                    self.dropped += 1
                self._queue.append(head)
                self._cond.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Post what is queued (within ``timeout``), then stop."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        import httpx

        with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
            while True:
                with self._cond:
                    while not self._queue and not self._closed:
                        self._cond.wait()
                    if not self._queue:
                        return
                    head = self._queue.popleft()
                for url in self.witnesses:
                    try:
                        response = client.post(url, content=head.note.encode(),
                                               headers={"Content-Type": "text/plain; charset=utf-8"})  # fmt: skip
                        if response.status_code >= 300:
                            raise httpx.HTTPError(f"answered {response.status_code}")
                        self.posted += 1
                    except httpx.HTTPError as exc:
                        self.failed += 1
                        self.last_error = f"witness {url}: {exc}"
                        log.warning("decision log: head %d not published: %s", head.size, self.last_error)
