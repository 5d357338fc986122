"""Publishing signed heads outside the database: a head file, and witness URLs.

Whoever can write the database can rewrite history and delete the heads that would show it; a head
kept elsewhere cannot be taken back. On every signing the log

- writes the head (the JSON of ``chamberlain audit head --json``) to its **head file**, atomically
  (written aside, fsynced, renamed). A copy of that file kept by someone else is a trusted head:
  ``chamberlain audit verify --trusted-head FILE``. The log also checks its own head file when it
  opens and refuses to sign over a log that no longer extends it;
- submits it to each configured **witness** (C2SP tlog-witness ``add-checkpoint``, see
  :mod:`chamberlain.audit.tools.witness.client`) from a background thread with its own database
  connection, and keeps their cosignatures: at most ``timeout`` seconds per request, a queue of
  :data:`QUEUE` heads (the oldest is dropped, and counted, when a witness is slower than the log;
  the next head carries a consistency proof over the gap), never in the way of a check.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import orjson

from chamberlain.audit.storage.heads import Head
from chamberlain.audit.storage.keys import KeyRing
from chamberlain.audit.tlog.note import NoteError, Verifier, split_note
from chamberlain.audit.tools.witness.client import WitnessClient, WitnessConfig, WitnessError
from chamberlain.errors import Error
from chamberlain.store.db import Database

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


def signed_by(note: str, verifiers: list[Verifier]) -> str:
    """The verifier key of the last signature on ``note`` among ``verifiers`` (the newest key that signed it)."""
    try:
        _, signatures = split_note(note)
    except NoteError:
        return ""
    known = {(v.name, v.id): str(v) for v in verifiers}
    found = [known[(s.name, s.id)] for s in signatures if (s.name, s.id) in known]
    return found[-1] if found else ""


class HeadPublisher:
    """Publishes each signed head to the head file (at once) and to witnesses (in the background)."""

    def __init__(
        self,
        keys: KeyRing,
        head_file: Path | None,
        witnesses: tuple[WitnessConfig, ...] = (),
        timeout: float = 2.0,
        connect: Callable[[], Database] | None = None,
    ) -> None:
        """``keys``: the log's keys (a head names the one that signed it); ``connect`` opens the database
        connection the witness thread reads proofs from and stores cosignatures in."""
        self.keys = keys
        self.connect = connect
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
                write_head_file(self.head_file, head, signed_by(head.note, self.keys.verifiers()))
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

        db: Database | None = None
        with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
            witnesses = [WitnessClient(w, client) for w in self.witnesses]
            while True:
                with self._cond:
                    while not self._queue and not self._closed:
                        self._cond.wait()
                    if not self._queue:
                        break
                    head = self._queue.popleft()
                try:
                    if db is None or db.broken:
                        if db is not None:
                            db.close()
                        assert self.connect is not None, "witnesses need a database connection"
                        db = self.connect()
                except Error as exc:
                    db = None
                    self._fail(head, f"cannot open the log's database: {exc}", len(witnesses))
                    continue
                for witness in witnesses:
                    try:
                        witness.submit(db, head)
                        self.posted += 1
                    except (WitnessError, Error) as exc:
                        witness.known = None  # read it again next time
                        self._fail(head, str(exc), 1)
        if db is not None:
            db.close()

    def _fail(self, head: Head, message: str, count: int) -> None:
        self.failed += count
        self.last_error = message
        log.warning("decision log: head %d not cosigned: %s", head.size, message)
