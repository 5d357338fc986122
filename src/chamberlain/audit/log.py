"""The decision log as a whole: open a store, record entries with group commit, sign heads, read.

>>> log = DecisionLog.open("sqlite:///decisions.db")
>>> log.record(entries)          # sync: returns once durable; raises LogUnavailable otherwise
>>> log.head().to_json(log.verifier_key)
>>> log.close()                  # writes what is queued, signs a final head

On SQLite the writer thread is also the sequencer and signs heads every ``head_interval``. On
PostgreSQL every replica's writer makes entries durable in ``audit_pending`` and a
:class:`~chamberlain.audit.sequencer.Sequencer` (one replica at a time) orders them into the log.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from chamberlain.audit import keys, schema
from chamberlain.audit.append import LocalAppender, PendingAppender
from chamberlain.audit.entry import Entry
from chamberlain.audit.errors import AuditError, LogUnavailable
from chamberlain.audit.heads import Head
from chamberlain.audit.note import Signer
from chamberlain.audit.reader import AuditReader
from chamberlain.audit.sequencer import Sequencer, SequencerOptions
from chamberlain.audit.writer import ASYNC, SYNC, Ticket, Writer, WriterOptions
from chamberlain.errors import Error
from chamberlain.store import POSTGRES, SQLITE, StoreURL, parse_url
from chamberlain.store.db import Database, open_database

DEFAULT_PG_KEY_FILE = Path(".chamberlain") / "decision-log.key"


@dataclass(frozen=True, slots=True)
class LogOptions:
    """Everything that tunes a decision log (the server's ``chamberlain.audit`` section)."""

    durability: str = SYNC
    queue_size: int = 100_000
    overflow: str = "block"
    overflow_timeout: float = 1.0
    write_timeout: float = 10.0
    batch_size: int = 4096
    head_interval: float = 10.0
    sequencer_interval: float = 0.05
    key_file: Path | None = None
    key_name: str = ""
    busy_timeout: float = 5.0  # SQLite: how long a write waits for another connection's lock
    create_key: bool = True  # generate the key file when it is missing (not for tools opening a log)

    def writer_options(self) -> WriterOptions:
        names = {f.name for f in fields(WriterOptions)}
        return WriterOptions(**{n: getattr(self, n) for n in names})


def default_key_file(url: StoreURL) -> Path:
    """``<database file>.key`` for SQLite, ``./.chamberlain/decision-log.key`` for PostgreSQL."""
    if url.kind == SQLITE and url.path is not None:
        return url.path.with_name(url.path.name + ".key")
    return DEFAULT_PG_KEY_FILE


class _HeadTicker:
    """Signs a head on the SQLite writer thread every ``interval`` seconds (when the tree grew)."""

    def __init__(self, appender: LocalAppender, signer: Signer, interval: float):
        self.appender, self.signer, self.interval = appender, signer, interval
        self.next = time.monotonic() + interval
        self.signed = 0
        self.last: Head | None = None

    def due_in(self) -> float:
        return self.next - time.monotonic()

    def run(self) -> None:
        self.next = time.monotonic() + self.interval
        self.sign()

    def sign(self) -> Head:
        head = self.appender.sign_head(self.signer)
        if self.last is None or head.size != self.last.size:
            self.signed += 1
        self.last = head
        return head


class DecisionLog:
    """A decision log open for writing. Thread-safe; readers share one connection under a lock."""

    def __init__(self, url: StoreURL, options: LogOptions, signer: Signer, meta: dict[str, str],
                 write_db: Database, read_db: Database) -> None:  # fmt: skip
        self.url = url
        self.options = options
        self.signer = signer
        self.verifier_key = meta["verifier_key"]
        self.origin = meta["origin"]
        self._read_db = read_db
        self._read_lock = threading.Lock()
        self._reader = AuditReader(read_db)
        self.sequencer: Sequencer | None = None
        self._ticker: _HeadTicker | None = None
        if url.kind == POSTGRES:
            sink = PendingAppender(write_db).append
            self.sequencer = Sequencer(url, signer, SequencerOptions(options.sequencer_interval, options.head_interval,
                                                                     options.batch_size))  # fmt: skip
        else:
            appender = LocalAppender(write_db)
            self._ticker = _HeadTicker(appender, signer, options.head_interval)
            self._ticker.sign()  # an empty log gets its size-0 head; a crashed one a head over its tail
            sink = appender.append
        self._write_db = write_db
        self.writer = Writer(self._sink_then_wake(sink), options.writer_options(), ticker=self._ticker)
        self._closed = False

    @classmethod
    def open(cls, url: str | StoreURL, options: LogOptions | None = None) -> DecisionLog:
        """Open (creating when missing) the log at ``url``; raises a chamberlain ``Error`` saying what is wrong.

        The signing key is ``options.key_file`` (default :func:`default_key_file`), generated there on
        first start; it must be the key the log was created with.
        """
        options = options or LogOptions()
        parsed = parse_url(url) if isinstance(url, str) else url
        key_file = options.key_file or default_key_file(parsed)
        write_db = open_database(parsed, busy_timeout=options.busy_timeout)
        read_db: Database | None = None
        try:
            signer = (
                keys.load_or_create(key_file, options.key_name) if options.create_key else keys.load(key_file)
            )
            meta = schema.create(write_db, origin=signer.name, verifier_key=str(signer.verifier))
            if meta["verifier_key"] != str(signer.verifier):
                raise keys.SigningKeyError(
                    f"the decision log at {parsed.display} was created with key {meta['verifier_key']}, but "
                    f"signing key file {key_file} holds {signer.verifier}: use the log's key file or a new log"
                )
            read_db = open_database(parsed, busy_timeout=options.busy_timeout)
            return cls(parsed, options, signer, meta, write_db, read_db)
        except BaseException:
            write_db.close()
            if read_db is not None:
                read_db.close()
            raise

    def _sink_then_wake(self, sink: Any) -> Any:
        sequencer = self.sequencer
        if sequencer is None:
            return sink

        def write(groups: list[list[Entry]]) -> list[Any]:
            errors = sink(groups)
            sequencer.wake()
            return errors

        return write

    # -- recording --------------------------------------------------------------------------------

    @property
    def durability(self) -> str:
        return self.options.durability

    def submit(self, entries: list[Entry], loop: asyncio.AbstractEventLoop | None = None) -> Ticket | None:
        """Queue ``entries``; the ticket to wait for in ``sync`` mode, ``None`` in ``async`` mode.

        Raises :class:`LogUnavailable` when they cannot even be queued (closed, queue full).
        """
        if self.options.durability == ASYNC:
            self.writer.submit(entries)
            return None
        return self.writer.submit(entries, loop)

    def record(self, entries: list[Entry]) -> None:
        """Record ``entries``: in ``sync`` mode return once they are durable; raises :class:`LogUnavailable`."""
        if not entries:
            return
        ticket = self.submit(entries)
        if ticket is not None:
            error = self.writer.wait(ticket)
            if error is not None:
                raise error

    def wait(self, ticket: Ticket) -> Error | None:
        return self.writer.wait(ticket)

    async def wait_async(self, ticket: Ticket) -> Error | None:
        return await self.writer.wait_async(ticket)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued entry has been written (PostgreSQL: made durable, maybe not yet sequenced)."""
        return self.writer.flush(timeout)

    # -- heads ------------------------------------------------------------------------------------

    def sign_head(self) -> Head | None:
        """Sign a head over everything in the log now (on PostgreSQL only the sequencer can: else ``None``)."""
        if self._ticker is not None:
            return self.writer.call(self._ticker.sign)
        assert self.sequencer is not None
        return self.sequencer.sign_head()

    def head(self) -> Head | None:
        with self._read_lock:
            return self._reader.head()

    # -- reading ----------------------------------------------------------------------------------

    def read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call ``fn(reader, *args, **kwargs)`` with this log's :class:`AuditReader`, one reader at a time."""
        with self._read_lock:
            return fn(self._reader, *args, **kwargs)

    def stats(self) -> dict[str, Any]:
        """Counters and gauges for metrics."""
        s = self.writer.stats
        out = {"entries_written": s.entries_written, "entries_failed": s.entries_failed, "batches": s.batches,
               "write_errors": s.write_errors, "overflow_blocked": s.overflow_blocked,
               "overflow_denied": s.overflow_denied, "retries": s.retries, "queue_depth": self.writer.queue_depth,
               "last_error": s.last_error, "is_sequencer": True, "heads_signed": 0}  # fmt: skip
        if self._ticker is not None:
            out["heads_signed"] = self._ticker.signed
        if self.sequencer is not None:
            out["is_sequencer"] = self.sequencer.is_leader
            out["heads_signed"] = self.sequencer.heads_signed
            if self.sequencer.last_error:
                out["last_error"] = self.sequencer.last_error
        return out

    # -- closing ----------------------------------------------------------------------------------

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, sign a final head, release the store; raises if entries were left unwritten."""
        if self._closed:
            return
        self._closed = True
        left = self.writer.close(timeout)
        problems = []
        if left:
            problems.append(f"{left} queued entries could not be written ({self.writer.stats.last_error})")
        try:
            if self._ticker is not None:
                self._ticker.sign()
            if self.sequencer is not None:
                self.sequencer.stop(timeout)
        except Error as exc:
            problems.append(f"final tree head not signed: {exc}")
        finally:
            self._write_db.close()
            self._read_db.close()
        if problems:
            raise LogUnavailable(f"decision log {self.url.display}: " + "; ".join(problems))

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["ASYNC", "SYNC", "AuditError", "DecisionLog", "LogOptions", "LogUnavailable"]
