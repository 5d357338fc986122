"""Opening SQLite files: missing, corrupt, foreign, a folder, locked, full — each a clear error."""

from __future__ import annotations

import sqlite3

import pytest

from chamberlain.store import DatabaseLocked, ForeignDatabase, NotADatabase, StoreFull, StoreUnavailable
from chamberlain.store.db import open_database
from chamberlain.store.sqlite import APPLICATION_ID, connect


def test_new_file_is_created_marked_and_in_wal_mode(tmp_path):
    path = tmp_path / "sub" / "state.db"
    conn = connect(path)
    assert path.exists()
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    connect(path).close()  # ours: opens again


def test_missing_file_is_not_created_when_reading(tmp_path):
    with pytest.raises(StoreUnavailable, match=r"no database at .*missing.db: the file does not exist"):
        connect(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()


def test_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"this is not a database at all, just text" * 100)
    with pytest.raises(NotADatabase, match=r"corrupt.db is not a valid database"):
        connect(path)


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(NotADatabase, match=r"is a folder"):
        connect(tmp_path)


def test_foreign_database_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "theirs.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE invoices (id INTEGER)")
    other.commit()
    other.close()
    before = path.read_bytes()
    with pytest.raises(ForeignDatabase, match=r"not a chamberlain database .*tables invoices"):
        connect(path)
    assert path.read_bytes() == before
    marked = tmp_path / "marked.db"
    other = sqlite3.connect(marked)
    other.execute("PRAGMA application_id = 1234")
    other.commit()
    other.close()
    with pytest.raises(ForeignDatabase, match=r"application id 0x000004d2"):
        connect(marked)


def test_locked_database_says_so(tmp_path):
    path = tmp_path / "locked.db"
    db = open_database(f"sqlite:///{path}", busy_timeout=0.1)
    db.execute("CREATE TABLE t (x INTEGER)")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with (
            pytest.raises(DatabaseLocked, match=r"locked.db is locked by another connection"),
            db.transaction(),
        ):
            db.execute("INSERT INTO t VALUES (1)")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    db.close()


def test_full_database_says_so(tmp_path):
    # A full disk is simulated with SQLite's own size limit (max_page_count): the same SQLITE_FULL error.
    db = open_database(f"sqlite:///{tmp_path / 'full.db'}")
    db.execute("CREATE TABLE t (x BLOB)")
    pages = db.value("PRAGMA page_count")
    db.execute(f"PRAGMA max_page_count = {pages + 1}")
    with pytest.raises(StoreFull, match=r"full.db is full"), db.transaction():
        for _ in range(10):
            db.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    db.close()


def test_readonly_open_of_an_empty_database(tmp_path):
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    with pytest.raises(StoreUnavailable, match=r"empty database"):
        connect(path, readonly=True)
