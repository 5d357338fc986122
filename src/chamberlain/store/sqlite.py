"""SQLite connections for chamberlain's state: WAL, a busy timeout, and a check that the file is ours.

A chamberlain database carries ``PRAGMA application_id`` = :data:`APPLICATION_ID`. Opening refuses a
file that is not a database, a corrupt one, or another application's database, with an error
naming the file; it never writes into a file it did not create.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from pathlib import Path

from chamberlain.store.errors import (
    DatabaseLocked,
    ForeignDatabase,
    NotADatabase,
    StoreError,
    StoreFull,
    StoreUnavailable,
)

APPLICATION_ID = 0x43484D42  # "CHMB"
DEFAULT_BUSY_TIMEOUT = 5.0
#: Sleeps between tries for a write lock held elsewhere (then the last one, until the busy timeout).
_LOCK_WAITS = (0.00005, 0.0001, 0.0002, 0.0005)


def connect(
    path: Path, *, create: bool = True, readonly: bool = False, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
) -> sqlite3.Connection:
    """Open ``path`` (creating it and its folder when ``create``) in autocommit mode, checked as ours.

    Transactions are explicit (``BEGIN IMMEDIATE`` ... ``COMMIT``). The connection may be used from
    another thread than the one that opened it, one thread at a time.
    """
    path = Path(path)
    if not path.exists():
        if not create or readonly:
            raise StoreUnavailable(f"no database at {path}: the file does not exist")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the folder of {path}: {exc.strerror or exc}") from None
    elif path.is_dir():
        raise NotADatabase(f"{path} is a folder, not a database file")
    target = f"file:{path}?mode=ro" if readonly else str(path)
    try:
        conn = sqlite3.connect(
            target, uri=readonly, isolation_level=None, check_same_thread=False, timeout=busy_timeout
        )
    except sqlite3.Error as exc:
        raise translate(exc, path) from None
    try:
        _claim(conn, path, readonly)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            # Multi-row INSERTs inside a transaction keep a statement journal (to undo that statement
            # alone on a constraint error); past 64 KiB SQLite spills it to a temporary file: measured
            # with the decision log, ~3 such page writes per entry. In memory it is bounded by one
            # statement's pages (at most a few MiB for the log's largest multi-row INSERT).
            conn.execute("PRAGMA temp_store = MEMORY")
    except StoreError:
        conn.close()
        raise
    except sqlite3.Error as exc:
        conn.close()
        raise translate(exc, path) from None
    return conn


def _claim(conn: sqlite3.Connection, path: Path, readonly: bool) -> None:
    """Check the file is a chamberlain database; mark a new, empty one as ours."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id == APPLICATION_ID:
        return
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' LIMIT 5")]
    if app_id != 0 or tables:
        owner = f"application id {app_id:#010x}" if app_id else f"tables {', '.join(tables)}"
        raise ForeignDatabase(
            f"{path} is not a chamberlain database ({owner}); refusing to use it: name a new file"
        )
    if readonly:
        raise StoreUnavailable(f"{path} is an empty database: nothing has been recorded in it yet")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")


def translate(exc: sqlite3.Error, path: Path | str) -> StoreError:
    """A :class:`StoreError` for a SQLite error, naming the file and what to do."""
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return DatabaseLocked(f"database {path} is locked by another connection ({text}); try again later")
    if "full" in lowered:
        return StoreFull(f"database {path} is full ({text}): free disk space or raise its size limit")
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return NotADatabase(f"{path} is not a valid database ({text}): it is corrupt or another kind of file")
    if "unable to open" in lowered or "readonly" in lowered or "read-only" in lowered:
        return StoreUnavailable(f"cannot write database {path} ({text}): check that the file is writable")
    if "disk i/o" in lowered:
        return StoreUnavailable(f"database {path}: disk I/O error ({text})")
    return StoreError(f"database {path}: {text}")


class WriteLock:
    """Hands the database's write lock from one connection to the next at once, across processes.

    Why: SQLite's own busy handler sleeps 1, 2, 5, 10 ... up to 100 ms between tries for a lock
    held by another connection. Measured with two ``chamberlain serve`` processes on one file (sync
    decision log, 16 connections): together 1,099 checks/s, fewer than one process alone (1,206),
    p99 80 ms; taking this lock first (an ``flock`` on ``<database>-writer.lock``, polled every
    50-500 µs) they served 1,746 with p99 20 ms. The lock only shortens waits: correctness rests on
    SQLite's lock, taken after it (a connection without this lock, such as the ``sqlite3`` shell,
    still waits and is waited for as before). The kernel releases it when its process dies.
    """

    def __init__(self, path: Path):
        self.database = path
        self.path = Path(f"{path}-writer.lock")
        self._fd: int | None = None
        self._broken = False  # the file cannot be opened here: SQLite's own waiting alone

    def acquire(self, timeout: float) -> bool:
        """Take the lock within ``timeout`` seconds (0: now or never); False when this process cannot use
        the lock file (go on with SQLite's waiting). Raises :class:`DatabaseLocked` when held past it."""
        fd = self._fd if self._fd is not None else self._open()
        if fd is None:
            return False
        deadline = None
        tries = 0
        while not _try_flock(fd):
            now = time.monotonic()
            deadline = now + timeout if deadline is None else deadline
            if now >= deadline:
                raise DatabaseLocked(
                    f"database {self.database} is locked by another connection "
                    f"(writing for over {timeout:g}s); try again later"
                )
            time.sleep(min(deadline - now, _LOCK_WAITS[min(tries, len(_LOCK_WAITS) - 1)]))
            tries += 1
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _open(self) -> int | None:
        if self._broken:
            return None
        try:
            self._fd = _open_lock_file(self.path)
        except OSError:
            self._broken = True
        return self._fd

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _open_lock_file(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def hold_exclusively(path: Path) -> int | None:
    """A descriptor holding an exclusive ``flock`` on ``path`` (created if missing) until it is closed or
    this process ends; None when another holds it. Raises :class:`StoreUnavailable` when the file cannot
    be opened. One process at a time does the work it guards (SQLite's stand-in for an advisory lock)."""
    try:
        fd = _open_lock_file(path)
    except OSError as exc:
        raise StoreUnavailable(f"cannot open lock file {path}: {exc.strerror or exc}") from None
    if _try_flock(fd):
        return fd
    os.close(fd)
    return None
