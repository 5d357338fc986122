"""An exporter: reads the log behind the writer, sends batches to a sink, advances a persisted cursor.

Delivery is at least once: the cursor (``audit_export_cursors``, in the log's database) moves past a
batch only after the sink took it, so a crash between the two sends that batch again (a receiver
deduplicates on ``seq`` or ``leaf_hash``). Checks never wait for an exporter: it has its own
connection, reads what is already committed, and keeps no queue — when the receiver is slow or away
the backlog stays in the log and shows as lag (``chamberlain_audit_export_lag_entries``), failures are
counted and logged, and it retries with back-off (1 s to 60 s, or what the receiver's Retry-After says).
On PostgreSQL one replica at a time runs each exporter (a session advisory lock per exporter name); on
SQLite one process at a time (an ``flock`` on ``<database>-export-<name hash>.lock``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chamberlain.audit.errors import AuditError
from chamberlain.audit.storage.tree import stored_size
from chamberlain.audit.tools.export.records import read_records
from chamberlain.audit.tools.export.sinks import HTTP_PROTOBUF, ExportError, JsonLinesSink, OtlpSink
from chamberlain.audit.write.entry import timestamp
from chamberlain.errors import Error
from chamberlain.store import POSTGRES, SQLITE, StoreURL
from chamberlain.store.db import Database, open_database
from chamberlain.store.sqlite import hold_exclusively

log = logging.getLogger("chamberlain.audit")
_LOCK_CLASS = 7412003
MAX_BACKOFF = 60.0


def _lock_path(url: StoreURL, name: str) -> Path:
    """The file whose lock says which process on a SQLite log runs the exporter ``name``."""
    return Path(f"{url.path}-export-{hashlib.sha256(name.encode()).hexdigest()[:16]}.lock")


@dataclass(frozen=True, slots=True)
class ExportConfig:
    """One exporter (``chamberlain.audit.export[]``): its cursor ``name`` and where records go."""

    name: str
    jsonl: str = ""  # a file path, or "-" for stdout
    otlp_endpoint: str = ""
    otlp_protocol: str = HTTP_PROTOBUF
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 10.0
    batch_size: int = 512
    interval: float = 1.0  # how often to look for new entries when caught up

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 100:
            raise AuditError("an exporter needs a name (its cursor), at most 100 characters")
        if bool(self.jsonl) == bool(self.otlp_endpoint):
            raise AuditError(
                f"exporter {self.name!r}: give exactly one of a JSON Lines path or an OTLP endpoint"
            )
        if not 1 <= self.batch_size <= 10_000:
            raise AuditError(f"exporter {self.name!r}: batch size must be between 1 and 10000")

    def sink(self) -> Any:
        if self.jsonl:
            return JsonLinesSink(self.jsonl)
        return OtlpSink(self.otlp_endpoint, self.otlp_protocol, self.headers, self.timeout)


@dataclass(slots=True)
class ExportStats:
    exported: int = 0  # records delivered (counted again when redelivered)
    rejected: int = 0  # records a collector refused in a partial success
    failures: int = 0  # batches not delivered
    lag: int = 0  # entries in the log not delivered yet
    cursor: int = 0
    active: bool = False  # this process runs the exporter (PostgreSQL: holds its lock)
    last_error: str = ""


def read_cursor(db: Database, name: str) -> int | None:
    found = db.value("SELECT next_seq FROM audit_export_cursors WHERE name = ?", (name,))
    return None if found is None else int(found)


def advance(db: Database, name: str, old: int | None, new: int, count: int) -> bool:
    """Move cursor ``name`` from ``old`` to ``new``; False when someone else moved it meanwhile."""
    now = timestamp(dt.datetime.now(dt.UTC))
    with db.transaction():
        if old is None:
            db.execute(
                "INSERT INTO audit_export_cursors (name, next_seq, exported, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (name, new, count, now),
            )
        else:
            db.execute(
                "UPDATE audit_export_cursors SET next_seq = ?, exported = exported + ?, updated_at = ? "
                "WHERE name = ? AND next_seq = ?",
                (new, count, now, name, old),
            )
        return read_cursor(db, name) == new


class Exporter:
    """One exporter's loop, on a daemon thread (:meth:`start`) or in the foreground (:meth:`run`)."""

    def __init__(
        self,
        url: StoreURL,
        config: ExportConfig,
        origin: str,
        *,
        start_at: int = 0,
        stop_at: int | None = None,
        persist: bool = True,
    ) -> None:
        """``start_at``: where a cursor that does not exist yet starts; ``stop_at``: stop before this entry;
        ``persist`` False: the cursor lives in memory only (``audit export --follow`` without ``--cursor``)."""
        self.url, self.config, self.origin = url, config, origin
        self.start_at, self.stop_at, self.persist = start_at, stop_at, persist
        self._memory: int | None = None
        self.stats = ExportStats()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._db: Database | None = None
        self._file_lock: int | None = None  # SQLite: held while this process runs the exporter
        self._sink = config.sink()
        self._backoff = 0.0

    def start(self) -> Exporter:
        self._thread = threading.Thread(
            target=self.run, name=f"chamberlain-export-{self.config.name}", daemon=True
        )
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Ask the loop to end after the batch in hand (safe from a signal handler)."""
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._close()

    def run(self, *, follow: bool = True) -> None:
        """Export until stopped (``follow``) or until caught up; errors are counted, logged and retried."""
        while not self._stop.is_set():
            try:
                moved = self.step()
            except (ExportError, Error) as exc:
                self._failed(exc, wait=follow)
                if not follow:
                    return
                continue
            if self.stop_at is not None and self.stats.cursor >= self.stop_at:
                return
            if not moved:
                if not follow:
                    return
                self._wake.wait(self.config.interval)
                self._wake.clear()

    def step(self) -> int:
        """Deliver one batch; returns how many records moved (0: caught up, or another replica exports)."""
        db = self._connect()
        if db is None:
            return 0
        name = self.config.name
        cursor = read_cursor(db, name) if self.persist else self._memory
        start = self.start_at if cursor is None else cursor
        size = stored_size(db)
        limit = (
            self.config.batch_size
            if self.stop_at is None
            else max(0, min(self.config.batch_size, self.stop_at - start))
        )
        records = read_records(db, start, limit, self.origin) if limit else []
        self.stats.cursor, self.stats.lag = start, max(0, size - start)
        if not records:
            return 0
        rejected = self._sink.send(records)
        end = records[-1].seq + 1
        if not self.persist:
            self._memory = end
        elif not advance(db, name, cursor, end, len(records)):
            log.warning(
                "decision log export %s: its cursor moved meanwhile (another exporter of that name?)", name
            )
            return 0
        if rejected:
            self.stats.rejected += rejected
            log.warning(
                "decision log export %s: the collector rejected %d of %d records (entries %d..%d)",
                name,
                rejected,
                len(records),
                start,
                end - 1,
            )
        if self.stats.last_error:
            log.warning("decision log export %s delivering again after: %s", name, self.stats.last_error)
            self.stats.last_error = ""
        self.stats.exported += len(records)
        self.stats.cursor, self.stats.lag = end, max(0, size - end)
        self._backoff = 0.0
        return len(records)

    def _connect(self) -> Database | None:
        if self._db is not None and self._db.broken:
            self._close()
        if self._db is None:
            if self.url.kind == SQLITE and self.persist and self._file_lock is None:
                self._file_lock = hold_exclusively(_lock_path(self.url, self.config.name))
                if self._file_lock is None:  # another process on this file runs this exporter
                    self.stats.active = False
                    return None
            self._db = open_database(self.url, create=False, readonly=not self.persist)
            if self._db.kind == POSTGRES:
                got = self._db.value(
                    "SELECT pg_try_advisory_lock(?, hashtext(current_schema() || ?))",
                    (_LOCK_CLASS, self.config.name),
                )
                if not got:  # another replica runs this exporter
                    self._close()
                    self.stats.active = False
                    return None
        self.stats.active = True
        return self._db

    def _failed(self, exc: Exception, wait: bool = True) -> None:
        self.stats.failures += 1
        first = not self.stats.last_error
        self.stats.last_error = str(exc)
        self._backoff = min(MAX_BACKOFF, max(1.0, self._backoff * 2))
        (log.error if first else log.warning)(
            "decision log export %s failed (%d entries behind): %s; retrying in %.0f s",
            self.config.name,
            self.stats.lag,
            exc,
            getattr(exc, "retry_after", None) or self._backoff,
        )
        if isinstance(exc, Error) and not isinstance(exc, ExportError):
            self._close()  # the database: reconnect next time
        if wait:
            self._stop.wait(getattr(exc, "retry_after", None) or self._backoff)

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()  # releases the advisory lock on PostgreSQL
            self._db = None
        if self._file_lock is not None:
            os.close(self._file_lock)
            self._file_lock = None
        if self._stop.is_set():
            self._sink.close()
        self.stats.active = False
