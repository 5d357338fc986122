"""The decision log as a whole: open a store, record entries with group commit, sign heads, read.

>>> log = DecisionLog.open("sqlite:///decisions.db")
>>> log.record(entries)          # sync: returns once durable; raises LogUnavailable otherwise
>>> log.head().to_json(log.verifier_key)
>>> log.close()                  # writes what is queued, signs a final head

On SQLite the writer thread is also the sequencer and signs heads every ``head_interval``. On
PostgreSQL every replica's writer makes entries durable in ``audit_pending`` and a
:class:`~chamberlain.audit.write.sequencer.Sequencer` (one replica at a time) orders them into the log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from chamberlain.audit.errors import AuditError, LogUnavailable
from chamberlain.audit.storage import heads, keys, tables
from chamberlain.audit.storage.heads import Head
from chamberlain.audit.storage.keys import KeyRing
from chamberlain.audit.storage.reader import AuditReader
from chamberlain.audit.tlog.merkle import EMPTY_ROOT
from chamberlain.audit.tools import erase as erasing
from chamberlain.audit.tools.export import ExportConfig, Exporter
from chamberlain.audit.tools.publish import HeadPublisher
from chamberlain.audit.tools.verify import TrustedHead, check_extends
from chamberlain.audit.tools.witness.client import WitnessConfig
from chamberlain.audit.write.append import LocalAppender, PendingAppender
from chamberlain.audit.write.content import Limits
from chamberlain.audit.write.process import ProcessAppender
from chamberlain.audit.write.relay import LoopRelay
from chamberlain.audit.write.sequencer import Sequencer, SequencerOptions
from chamberlain.audit.write.writer import ASYNC, SYNC, Ticket, Writer, WriterOptions
from chamberlain.errors import Error
from chamberlain.store import POSTGRES, SQLITE, StoreURL, parse_url
from chamberlain.store.db import Database, open_database
from chamberlain.store.errors import StoreUnavailable

THREAD, PROCESS = "thread", "process"
DEFAULT_PG_KEY_FILE = Path(".chamberlain") / "decision-log.key"
log = logging.getLogger("chamberlain.audit")


@dataclass(frozen=True, slots=True)
class LogOptions:
    """Everything that tunes a decision log (the server's ``chamberlain.audit`` section)."""

    durability: str = SYNC
    queue_size: int = 100_000
    overflow: str = "block"
    overflow_timeout: float = 1.0
    write_timeout: float = 10.0
    batch_size: int = 4096
    commit_delay: float = 0.002  # under load, how long a batch may wait for more callers (writer thread only)
    head_interval: float = 10.0
    sequencer_interval: float = 0.05
    key_file: Path | None = None
    key_name: str = ""
    busy_timeout: float = 5.0  # SQLite: how long a write waits for another connection's lock
    create_key: bool = True  # generate the key file when it is missing (not for tools opening a log)
    max_request_bytes: int = 1 << 20  # a call's request record (stored once per call)
    max_entry_bytes: int = 64 << 10  # an entry's own content (conditions, outputs, errors)
    redact: tuple[str, ...] = ()  # attribute paths stored as salted digests only (R.attr.iban, ...)
    head_file: Path | None = None  # where each signed head is published (default: default_head_file)
    publish_head_file: bool = True
    witnesses: tuple[WitnessConfig, ...] = ()  # C2SP tlog-witness witnesses each signed head is sent to
    witness_timeout: float = 2.0
    retention: float | None = None  # seconds: erase the content of older entries (None: keep)
    exports: tuple[ExportConfig, ...] = ()  # exporters reading the log behind the writer (SIEM, OTLP)
    retention_interval: float = 3600.0
    #: ``thread``: the writer thread writes; ``process`` (SQLite): a writer process of its own numbers, hashes
    #: and commits, building each call's entries from its plain data (see chamberlain.audit.write.process).
    writer: str = THREAD
    #: ``process`` under ``chamberlain.processes``: the Unix socket of the writer process the supervisor
    #: started for all serving processes ("": start one of its own).
    writer_socket: str = ""

    def writer_options(self) -> WriterOptions:
        names = {f.name for f in fields(WriterOptions)}
        found = {n: getattr(self, n) for n in names}
        if self.writer == PROCESS:
            # The writer thread only relays to the writer process, which batches by itself: what is queued
            # goes whenever the process is free. Waiting for as many callers as the last batch (commitDelay)
            # kept the event loop idle while the process committed: measured 10-20 % fewer checks/s.
            found["commit_delay"] = 0.0
        return WriterOptions(**found)

    def limits(self) -> Limits:
        return Limits(self.max_request_bytes, self.max_entry_bytes, tuple(self.redact))


#: The state directory's layout (``chamberlain.stateDir``, ``--state-dir``; docs/reference/state-directory.md):
#: every command that opens the default log finds the same key beside the same database.
STATE_DB = "decisions.db"
STATE_KEY = "decision-log.key"
LEGACY_STATE_KEY = "decisions.db.key"  # written by mcp-proxy and `audit head --sign` before 0.2


def default_key_file(url: StoreURL, state_dir: Path = DEFAULT_PG_KEY_FILE.parent) -> Path:
    """Where a log's signing key lives when none is configured.

    A SQLite log named ``decisions.db`` is a state directory's: its key is ``decision-log.key`` beside it
    (a key left there under the old name ``decisions.db.key`` is renamed). Another SQLite file ``X``
    has ``X.key``; a PostgreSQL log has ``<state_dir>/decision-log.key``.
    """
    if url.kind == SQLITE and url.path is not None:
        if url.path.name != STATE_DB:
            return url.path.with_name(url.path.name + ".key")
        key, legacy = url.path.with_name(STATE_KEY), url.path.with_name(LEGACY_STATE_KEY)
        if legacy.exists() and not key.exists():
            legacy.rename(key)
            log.warning(
                "moved the decision log's signing key %s to %s (the state directory's layout)", legacy, key
            )
        return key
    return state_dir / STATE_KEY


def default_head_file(key_file: Path) -> Path:
    """Beside the signing key: ``decisions.db.key`` -> ``decisions.db.head`` (the JSON of ``audit head --json``)."""
    return key_file.with_name(key_file.name.removesuffix(".key") + ".head")


def read_head_file(path: Path) -> TrustedHead | None:
    """The head published in ``path``, or None when there is none yet; raises AuditError for a bad file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuditError(f"cannot read the head file {path}: {exc.strerror or exc}") from None
    return TrustedHead.parse(text)


def check_writer(writer: str, url: StoreURL) -> None:
    """Raise :class:`AuditError` unless ``writer`` (``LogOptions.writer``) can write the log at ``url``."""
    if writer not in (THREAD, PROCESS):
        raise AuditError(f"the decision log's writer must be {THREAD} or {PROCESS}, got {writer!r}")
    if writer == PROCESS and url.kind != SQLITE:
        raise AuditError(
            "a writer process is supported for a decision log on SQLite only; on PostgreSQL every replica "
            "writes with its writer thread (writer: thread)"
        )


class _Retention:
    """Erases the content of entries older than ``retention`` seconds, every ``interval`` seconds."""

    def __init__(self, retention: float, interval: float):
        self.retention, self.interval = retention, interval
        self.next = time.monotonic() + min(interval, 60.0)
        self.erased = 0
        self.last_error = ""

    def run(self, db: Database) -> None:
        self.next = time.monotonic() + self.interval
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.retention)
        try:
            result = erasing.erase(db, before=cutoff.isoformat(), by="retention")
        except Error as exc:
            self.last_error = f"retention: {exc}"
            log.error("decision log: %s", self.last_error)
            return
        self.erased += len(result.erased)


class _HeadTicker:
    """Signs a head on the SQLite writer thread every ``interval`` seconds (when the tree grew), and
    runs retention when it is due."""

    def __init__(self, appender: LocalAppender, keys: KeyRing, interval: float, retention: _Retention | None):
        self.appender, self.keys, self.interval = appender, keys, interval
        self.retention = retention
        self.next = time.monotonic() + interval
        self.signed = 0
        self.last: Head | None = None

    def due_in(self) -> float:
        due = self.next - time.monotonic()
        return min(due, self.retention.next - time.monotonic()) if self.retention is not None else due

    def run(self) -> None:
        now = time.monotonic()
        if self.retention is not None and now >= self.retention.next:
            self.retention.run(self.appender.db)
        if now >= self.next:
            self.next = now + self.interval
            self.sign()

    def sign(self) -> Head:
        head = self.appender.sign_head(self.keys)
        if self.last is None or head.size != self.last.size:
            self.signed += 1
        self.last = head
        return head


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running on this thread (a check decided on a worker thread for a loop has none)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class DecisionLog:
    """A decision log open for writing. Thread-safe; readers share one connection under a lock."""

    def __init__(
        self,
        url: StoreURL,
        options: LogOptions,
        keys: KeyRing,
        meta: dict[str, str],
        write_db: Database,
        read_db: Database,
        publisher: HeadPublisher,
    ) -> None:
        self.url = url
        self.options = options
        self.keys = keys
        self.verifier_key = meta["verifier_key"]  # the log's first key (see active_key for the current one)
        self.origin = meta["origin"]
        self._read_db = read_db
        self._read_lock = threading.Lock()
        self._reader = AuditReader(read_db)
        self.sequencer: Sequencer | None = None
        self._ticker: _HeadTicker | None = None
        self.publisher = publisher
        self.limits = limits = options.limits()
        retention = _Retention(options.retention, options.retention_interval) if options.retention else None
        self.retention = retention
        if url.kind == POSTGRES:
            sink = PendingAppender(write_db, limits).append
            self.sequencer = Sequencer(
                url,
                keys,
                SequencerOptions(options.sequencer_interval, options.head_interval, options.batch_size),
                on_head=publisher,
                retention=retention,
            )
        else:
            appender = LocalAppender(write_db, limits, publisher)
            self._ticker = _HeadTicker(appender, keys, options.head_interval, retention)
            self._ticker.sign()  # a crashed log gets a head over its tail (checked first: see open)
            sink = appender.append
        recover = write_db.probe
        self.process: ProcessAppender | None = None
        here = None  # what write_here writes with: the writer's sink, unless that is the writer process
        if options.writer == PROCESS:
            here = appender.append  # the lone caller's entries, from this process (see write_here)
            self.process = ProcessAppender(
                url, options.busy_timeout, limits, options.write_timeout + 60, shared=options.writer_socket
            )
            sink, recover = self.process.append, self._recover_process
        self._write_db = write_db
        #: per event loop, its own connection to the writer process (see chamberlain.audit.write.relay)
        self._relays: dict[asyncio.AbstractEventLoop, LoopRelay] = {}
        self.writer = Writer(
            self._sink_then_wake(sink),
            options.writer_options(),
            ticker=self._ticker,
            recover=recover,
            here=here,
        )
        self.exporters = [Exporter(url, config, self.origin).start() for config in options.exports]
        self._closed = False

    @classmethod
    def open(cls, url: str | StoreURL, options: LogOptions | None = None) -> DecisionLog:
        """Open (creating when missing) the log at ``url``; raises a chamberlain ``Error`` saying what is wrong.

        The signing key is ``options.key_file`` (default :func:`default_key_file`), generated there on
        first start; it must be the key the log was created with.
        """
        options = options or LogOptions()
        options.limits()  # raises for bad limits or redact paths
        parsed = parse_url(url) if isinstance(url, str) else url
        check_writer(options.writer, parsed)
        key_file = options.key_file or default_key_file(parsed)
        write_db = open_database(parsed, busy_timeout=options.busy_timeout)
        read_db: Database | None = None
        publisher: HeadPublisher | None = None
        try:
            ring = keys.KeyRing.open(key_file, create=options.create_key, name=options.key_name)
            first = ring.newest
            meta = tables.create(
                write_db,
                origin=first.name,
                verifier_key=str(first.verifier),
                first_head=lambda: heads.sign(write_db, first, 0, EMPTY_ROOT),
            )
            active = keys.active_key(write_db)
            if ring.get(active) is None:
                raise keys.SigningKeyError(
                    f"the decision log at {parsed.display} is signed with key {active}, but signing key file "
                    f"{key_file} holds {', '.join(map(str, ring.verifiers()))}: use the log's key file or a new log"
                )
            head_file = (
                (options.head_file or default_head_file(key_file)) if options.publish_head_file else None
            )
            published = read_head_file(head_file) if head_file is not None else None
            if head_file is not None and published is None and int(meta.get("tree_size", "0")):
                log.warning(
                    "decision log %s: no head file at %s yet; it is written at the next signing",
                    parsed.display,
                    head_file,
                )
            check_extends(
                write_db, keys.log_keys(tables.read_meta(write_db)), published
            )  # never sign over a rewrite
            publisher = HeadPublisher(
                ring,
                head_file,
                tuple(options.witnesses),
                options.witness_timeout,
                connect=lambda: open_database(parsed, busy_timeout=options.busy_timeout),
            )
            read_db = open_database(parsed, busy_timeout=options.busy_timeout)
            return cls(parsed, options, ring, meta, write_db, read_db, publisher)
        except BaseException:
            write_db.close()
            if read_db is not None:
                read_db.close()
            if publisher is not None:
                publisher.close(0)
            raise

    def _recover_process(self) -> None:
        assert self.process is not None
        self._write_db.probe()
        self.process.recover()

    @property
    def describes_on_submit(self) -> bool:
        """Whether a call is taken apart into plain data as it is submitted (a writer process builds its record)."""
        return self.process is not None

    def _sink_then_wake(self, sink: Any) -> Any:
        sequencer = self.sequencer
        if sequencer is None:
            return sink

        def write(groups: list[Any]) -> list[Any]:
            errors = sink(groups)
            sequencer.wake()
            return errors

        return write

    # -- recording --------------------------------------------------------------------------------

    @property
    def durability(self) -> str:
        return self.options.durability

    def submit(self, entries: Any, loop: asyncio.AbstractEventLoop | None = None) -> Ticket | None:
        """Queue ``entries`` (a list of entries, or a Call); the ticket to wait for in ``sync`` mode, ``None``
        in ``async`` mode.

        Raises :class:`LogUnavailable` when they cannot even be queued (closed, queue full).
        """
        if self.options.durability == ASYNC:
            self.writer.submit(entries)
            return None
        if loop is not None and self.process is not None and _running_loop() is loop:
            relay = self._relays.get(loop)
            if relay is None:
                for gone in [other for other in self._relays if other.is_closed()]:
                    self._relays.pop(gone).close()
                relay = self._relays[loop] = self._relay(loop)
            ticket = relay.submit(entries)
            if ticket is not None:
                return ticket
        return self.writer.submit(entries, loop)

    def _relay(self, loop: asyncio.AbstractEventLoop) -> LoopRelay:
        assert self.process is not None
        writer = self.writer
        options = self.options
        return LoopRelay(
            loop,
            self.process,
            self.limits,
            batch_size=options.batch_size,
            write_timeout=options.write_timeout,
            reply_timeout=options.write_timeout + 60,
            up=lambda: not writer.down,
            outage=writer.report_outage,
        )

    def write_here(self, entries: Any) -> Ticket | None:
        """``sync`` entries written on the calling thread when the writer is idle (see
        :meth:`Writer.write_here`: the caller's thread blocks for the commit); None: :meth:`submit` them.
        SQLite only (PostgreSQL's sequencer goes the writer's way). With a writer process, only while this
        thread's loop has nothing on its way to it: the entries are then written from this process, on
        its own connection, taking the file's write lock as any process appending to it does."""
        if self.options.durability != SYNC or self.sequencer is not None:
            return None
        if self.process is not None:
            relay = self._relays.get(_running_loop())  # type: ignore[arg-type]
            if relay is not None and relay.busy:
                return None
        return self.writer.write_here(entries, self._waitless)

    def appender_for(self, db: Database) -> LocalAppender | None:
        """An appender of this log's entries on ``db``, another connection to the log's SQLite file, whose
        entries commit in ``db``'s own transactions: an MCP gateway's lone call then commits its session's
        charge and its entry together (one commit, one fsync, and no second connection finding its page
        cache stale: see docs/benchmarks.md). The caller makes those commits durable (``synchronous =
        FULL`` when they begin, as the log's own connection is) and reports each outcome with
        :meth:`written_with_charge` or :meth:`failed_with_charge`. None where entries cannot be written
        so: ``async`` durability, PostgreSQL (its sequencer numbers every entry), another file."""
        if (
            self.options.durability != SYNC
            or self.sequencer is not None
            or db.kind != self.url.kind
            or db.url.path is None
            or self.url.path is None
            or db.url.path.resolve() != self.url.path.resolve()
        ):
            return None
        return LocalAppender(db, self.limits)

    def written_with_charge(self, entries: int) -> None:
        """``entries`` committed on an :meth:`appender_for` connection (counted as the writer's are)."""
        stats = self.writer.stats
        stats.entries_written += entries
        stats.with_charge += entries
        stats.batches += 1

    def failed_with_charge(self, error: Error) -> None:
        """An :meth:`appender_for` transaction failed to commit (not for a lock): the log is down, as after
        a failed write of its own (refusing, probing, reported by health)."""
        self.writer.stats.write_errors += 1
        self.writer.report_outage(error)

    def _waitless(self) -> Callable[[], None]:
        """The writer's connection answers a lock held elsewhere at once (an erasure, another process
        appending): an event loop writing here never waits up to the busy timeout; undone before the writer
        thread next uses the connection (lone writes in a row keep it)."""
        db = self._write_db
        db.set_busy_timeout(0)
        waits = self.options.busy_timeout
        return lambda: db.set_busy_timeout(waits)

    def record(self, entries: Any) -> None:
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
        deadline = time.monotonic() + timeout
        if not self.writer.flush(timeout):
            return False
        return self._relays_idle(deadline)

    def _relays_idle(self, deadline: float) -> bool:
        """Until the relays of other threads' running loops have nothing waiting or in flight (the calling
        thread's own loop cannot answer while it waits here)."""
        mine = _running_loop()
        for loop, relay in list(self._relays.items()):
            while relay.busy and loop is not mine and loop.is_running():
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.005)
        return True

    # -- heads ------------------------------------------------------------------------------------

    def sign_head(self) -> Head | None:
        """Sign a head over everything in the log now (on PostgreSQL only the sequencer can: else ``None``)."""
        if self._ticker is not None:
            return self.writer.call(self._ticker.sign)
        assert self.sequencer is not None
        return self.sequencer.sign_head()

    def head(self) -> Head | None:
        return self.read(AuditReader.head)

    @property
    def active_key(self) -> str:
        """The verifier key that signs this log's heads now."""
        return self.read(lambda reader: reader.verifier_key)

    def signed_by(self, head: Head) -> str:
        """The verifier key of the newest of this log's keys that signed ``head``."""
        from chamberlain.audit.tools.publish import signed_by

        return signed_by(head.note, self.keys.verifiers()) or self.active_key

    def rotate_key(self, *, by: str = "", reason: str = "") -> Any:
        """Rotate the signing key (:func:`chamberlain.audit.tools.rotation.rotate`), on the writer's connection."""
        from chamberlain.audit.tools.rotation import rotate

        result = self.writer.call(lambda: rotate(self._write_db, self.keys, by=by, reason=reason))
        if self._ticker is not None:
            self._ticker.appender.edge = None  # the rotation appended on this connection: read the tree again
            self._ticker.last = result.head
        self.publisher(result.head)
        return result

    # -- erasure ----------------------------------------------------------------------------------

    def erase(self, **selector: Any) -> erasing.ErasureResult:
        """Erase the content of the selected entries (:func:`chamberlain.audit.tools.erase.erase`), on the
        writer's connection between batches; then sign a head over the erasure entry."""
        result = self.writer.call(lambda: erasing.erase(self._write_db, **selector), timeout=300)
        if result.entry is not None:
            if self.sequencer is not None:
                self.sequencer.wake()
            self.sign_head()
        return result

    # -- reading ----------------------------------------------------------------------------------

    def read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call ``fn(reader, *args, **kwargs)`` with this log's :class:`AuditReader`, one reader at a time."""
        with self._read_lock:
            if self._read_db.broken:  # PostgreSQL went away since: a new connection (or StoreUnavailable)
                self._read_db.reconnect()
            try:
                return fn(self._reader, *args, **kwargs)
            except StoreUnavailable:
                if not self._read_db.broken:
                    raise
                self._read_db.reconnect()  # the connection was found lost just now: once more on a new one
                return fn(self._reader, *args, **kwargs)

    def stats(self) -> dict[str, Any]:
        """Counters and gauges for metrics."""
        s = self.writer.stats
        relays = [r.stats for r in list(self._relays.values())]
        out = {
            "entries_written": s.entries_written + sum(r.entries_written for r in relays),
            "entries_failed": s.entries_failed + sum(r.entries_failed for r in relays),
            "batches": s.batches + sum(r.batches for r in relays),
            "write_errors": s.write_errors + sum(r.write_errors for r in relays),
            "overflow_blocked": s.overflow_blocked,
            "overflow_denied": s.overflow_denied,
            "retries": s.retries,
            "queue_depth": self.writer.queue_depth,
            "last_error": s.last_error or next((r.last_error for r in relays if r.last_error), ""),
            "is_sequencer": True,
            "heads_signed": 0,
            "outages": s.outages,
            "refused": s.refused,
            "entries_with_charge": s.with_charge,
            "available": not self.writer.down,
        }
        if self._ticker is not None:
            out["heads_signed"] = self._ticker.signed
        p = self.publisher
        out.update(
            witness_posted=p.posted,
            witness_failed=p.failed,
            witness_dropped=p.dropped,
            head_file_errors=p.file_errors,
        )
        if self.retention is not None:
            out["retention_erased"] = self.retention.erased
        out["exporters"] = {e.config.name: e.stats for e in self.exporters}
        if self.sequencer is not None:
            out["is_sequencer"] = self.sequencer.is_leader
            out["heads_signed"] = self.sequencer.heads_signed
            if self.sequencer.last_error:
                out["last_error"] = self.sequencer.last_error
        return out

    def status(self) -> dict[str, Any]:
        """The log's state for health checks: ``{"state": "OK"}``, or ``"UNAVAILABLE"`` with ``since`` and
        ``reason`` (``denying`` when every check is being denied for it: ``sync`` durability)."""
        writer = self.writer
        if not writer.down:
            return {"state": "OK"}
        since = dt.datetime.fromtimestamp(writer.down_since or 0, dt.UTC).isoformat().replace("+00:00", "Z")
        return {
            "state": "UNAVAILABLE",
            "since": since,
            "reason": writer.down_reason,
            "denying": self.options.durability == SYNC,
        }

    # -- closing ----------------------------------------------------------------------------------

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, sign a final head, release the store; raises if entries were left unwritten."""
        if self._closed:
            return
        self._closed = True
        for exporter in self.exporters:
            exporter.stop()
        deadline = time.monotonic() + timeout
        left = self.writer.close(timeout)
        self._relays_idle(deadline)
        for relay in list(self._relays.values()):
            relay.close()
        if self.process is not None:
            self.process.close()
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
            self.publisher.close()
        if problems:
            raise LogUnavailable(f"decision log {self.url.display}: " + "; ".join(problems))

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["ASYNC", "SYNC", "AuditError", "DecisionLog", "LogOptions", "LogUnavailable"]
