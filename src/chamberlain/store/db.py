"""One small interface over a SQLite or PostgreSQL connection: statements, transactions, errors.

SQL is written with ``?`` placeholders (translated to ``%s`` for psycopg). Every driver error
comes out as a :class:`~chamberlain.store.errors.StoreError` that names the database. A
``Database`` is used by one thread at a time.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from chamberlain.store import sqlite as sqlite_store
from chamberlain.store.errors import StoreError, StoreFull, StoreUnavailable
from chamberlain.store.url import POSTGRES, SQLITE, StoreURL, parse_url

Row = tuple[Any, ...]
PROBE_FREE_BYTES = 1 << 20  # free space a SQLite log's disk needs before an outage is over
_SQLITE_MAX_PARAMS = 32766  # SQLITE_MAX_VARIABLE_NUMBER since SQLite 3.32


class Database:
    """A connection to the store ``url`` names (see :func:`open_database`)."""

    def __init__(
        self,
        url: StoreURL,
        conn: Any,
        busy_timeout: float = sqlite_store.DEFAULT_BUSY_TIMEOUT,
        write_lock: sqlite_store.WriteLock | None = None,
    ):
        self.url = url
        self.kind = url.kind
        self.conn = conn
        self.busy_timeout = busy_timeout
        self._write_lock = write_lock
        self._sql: dict[str, str] = {}
        self._errors: tuple[type[BaseException], ...] = (
            (sqlite3.Error,) if self.kind == SQLITE else (_psycopg().Error,)
        )

    # -- statements --------------------------------------------------------------------------------

    def sql(self, text: str) -> str:
        """``text`` with placeholders in this driver's style."""
        if self.kind == SQLITE:
            return text
        found = self._sql.get(text)
        if found is None:
            found = self._sql[text] = text.replace("?", "%s")
        return found

    # The statements below catch driver errors themselves rather than through :meth:`errors`: a context
    # manager per statement was a tenth of the MCP gateway's SQL time (eleven statements a call).
    def execute(self, text: str, params: Sequence[Any] = ()) -> None:
        try:
            self.conn.execute(self.sql(text), params)
        except self._errors as exc:
            raise self.translate(exc) from None

    def executemany(self, text: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.errors():
            if self.kind == SQLITE:
                self.conn.executemany(text, rows)
            else:
                with self.conn.cursor() as cur:
                    cur.executemany(self.sql(text), rows)

    def copy_rows(self, table: str, names: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Insert many rows at once (PostgreSQL ``COPY``; SQLite ``executemany``)."""
        if self.kind == SQLITE:
            # One multi-row INSERT per chunk: sqlite3 releases the GIL around every statement step,
            # and each hand-over is dear when other threads are waiting for it.
            rows = rows if isinstance(rows, list) else list(rows)
            width = len(names)
            per = max(1, _SQLITE_MAX_PARAMS // width)
            try:
                for i in range(0, len(rows), per):
                    part = rows[i : i + per]
                    self.conn.execute(
                        self._multi_insert(table, names, len(part)), [v for row in part for v in row]
                    )
            except self._errors as exc:
                raise self.translate(exc) from None
            return
        with (
            self.errors(),
            self.conn.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def _multi_insert(self, table: str, names: Sequence[str], count: int) -> str:
        key = f"{table}|{','.join(names)}|{count}"
        found = self._sql.get(key)
        if found is None:
            one = "(" + ", ".join("?" * len(names)) + ")"
            found = self._sql[key] = (
                f"INSERT INTO {table} ({', '.join(names)}) VALUES {', '.join([one] * count)}"
            )
        return found

    def rows(self, text: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return list(self.conn.execute(self.sql(text), params).fetchall())
        except self._errors as exc:
            raise self.translate(exc) from None

    def row(self, text: str, params: Sequence[Any] = ()) -> Row | None:
        try:
            return self.conn.execute(self.sql(text), params).fetchone()
        except self._errors as exc:
            raise self.translate(exc) from None

    def value(self, text: str, params: Sequence[Any] = (), default: Any = None) -> Any:
        found = self.row(text, params)
        return default if found is None or found[0] is None else found[0]

    def stream(self, text: str, params: Sequence[Any] = (), chunk: int = 10000) -> Iterator[list[Row]]:
        """The rows of a query in chunks, without holding them all (a server-side cursor on PostgreSQL)."""
        with self.errors():
            if self.kind == SQLITE:
                cur = self.conn.execute(text, params)
                while batch := cur.fetchmany(chunk):
                    yield batch
                return
            with self.conn.transaction(), self.conn.cursor(name="chamberlain_stream") as cur:
                cur.itersize = chunk
                cur.execute(self.sql(text), params)
                while batch := cur.fetchmany(chunk):
                    yield batch

    # -- transactions ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction (SQLite: ``BEGIN IMMEDIATE``, taking the write lock at once)."""
        if self.kind == SQLITE:
            lock = self._write_lock
            held = lock is not None and lock.acquire(self.busy_timeout)
            try:
                self.execute("BEGIN IMMEDIATE")
                try:
                    yield
                    self.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        self.conn.execute("ROLLBACK")
                    raise
            finally:
                if held:
                    lock.release()  # type: ignore[union-attr]
            return
        with self.errors(), self.conn.transaction():
            yield

    @contextlib.contextmanager
    def creating(self, lock: int) -> Iterator[None]:
        """The transaction a store creates or upgrades its tables in. Several replicas may race there:
        on PostgreSQL, whose ``CREATE TABLE IF NOT EXISTS`` races in its catalog, one creator at a time
        per schema (an advisory lock, ``lock`` naming the store's tables)."""
        with self.transaction():
            if self.kind == POSTGRES:
                self.execute(f"SELECT pg_advisory_xact_lock({int(lock)}, hashtext(current_schema()))")
            yield

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read-only transaction: every read inside sees the database as of its first read."""
        if self.kind == SQLITE:
            with self.errors():
                self.conn.execute("BEGIN")
            try:
                yield
            finally:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
            return
        with self.errors(), self.conn.transaction():
            self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Turn driver errors raised inside into :class:`StoreError`."""
        try:
            yield
        except StoreError:
            raise
        except self._errors as exc:
            raise self.translate(exc) from None

    def translate(self, exc: BaseException) -> StoreError:
        if self.kind == SQLITE:
            return sqlite_store.translate(exc, self.url.path or self.url.display)  # type: ignore[arg-type]
        from chamberlain.store import postgres

        return postgres.translate(exc, self.url)

    @property
    def broken(self) -> bool:
        """PostgreSQL: the connection was lost (the server went away or ended it); see :meth:`reconnect`."""
        return self.kind == POSTGRES and bool(self.conn.closed)

    def reconnect(self) -> None:
        """PostgreSQL: replace a lost connection with a new one; raises StoreUnavailable while the server is away.

        SQLite connections are never reopened: a file that moved or vanished must not be recreated empty.
        """
        if self.kind != POSTGRES:
            return
        from chamberlain.store import postgres

        with contextlib.suppress(Exception):
            self.conn.close()
        self.conn = postgres.connect(self.url)

    def probe(self) -> None:
        """Check the store can take a write now (reconnecting a lost PostgreSQL connection first).

        SQLite: the disk must also have :data:`PROBE_FREE_BYTES` free, since one small write fitting
        says little about the next batch after the disk was full.
        """
        import time

        if self.broken:
            self.reconnect()
        if self.kind == SQLITE and self.url.path is not None:
            try:
                st = os.statvfs(self.url.path.resolve().parent)
            except OSError as exc:
                raise StoreUnavailable(f"database {self.url.path}: {exc.strerror or exc}") from None
            if st.f_bavail * st.f_frsize < PROBE_FREE_BYTES:
                raise StoreFull(
                    f"database {self.url.path} is full: {st.f_bavail * st.f_frsize:,} bytes free on its disk"
                )
        with self.transaction():  # a value that changes: an unchanged row is not written at all
            self.execute(
                "INSERT INTO audit_meta (key, value) VALUES ('probed_at', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(time.time_ns()),),
            )

    def set_busy_timeout(self, seconds: float) -> None:
        """SQLite: how long a write waits for a lock held by another connection (0: not at all)."""
        if self.kind == SQLITE:
            self.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
            self.busy_timeout = seconds

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        if self._write_lock is not None:
            self._write_lock.close()


def as_bytes(value: Any) -> bytes:
    """A stored body or hash as bytes (also when someone rewrote the column as text with SQL)."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if value is None or isinstance(value, int | float):
        return str(value).encode()
    return bytes(value)


def has_column(db: Database, table: str, column: str) -> bool:
    """Whether ``table`` has ``column`` (a table created before the column was added has not)."""
    if db.kind == POSTGRES:
        return (
            db.row(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND "
                "table_name = ? AND column_name = ?",
                (table, column),
            )
            is not None
        )
    return any(row[1] == column for row in db.rows(f"PRAGMA table_info({table})"))


def open_database(
    url: str | StoreURL,
    *,
    create: bool = True,
    readonly: bool = False,
    busy_timeout: float = sqlite_store.DEFAULT_BUSY_TIMEOUT,
) -> Database:
    """Connect to the store ``url`` names; raises :class:`StoreError` saying what is wrong.

    ``create`` and ``readonly`` (never write, not even to create) and ``busy_timeout`` apply to SQLite.
    """
    parsed = parse_url(url) if isinstance(url, str) else url
    if parsed.kind == SQLITE:
        assert parsed.path is not None
        conn = sqlite_store.connect(parsed.path, create=create, readonly=readonly, busy_timeout=busy_timeout)
        lock = None if readonly else sqlite_store.WriteLock(parsed.path)
        return Database(parsed, conn, busy_timeout, lock)
    if parsed.kind == POSTGRES:
        from chamberlain.store import postgres  # psycopg is imported only when PostgreSQL is used

        return Database(parsed, postgres.connect(parsed))
    raise StoreError(f"unsupported store {parsed.display}")


def _psycopg() -> Any:
    import psycopg

    return psycopg
