"""SQLite write transactions hand the write lock on at once (WriteLock), across connections and processes."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from chamberlain.store import DatabaseLocked
from chamberlain.store.db import open_database


def _open(path, busy_timeout=5.0):
    db = open_database(f"sqlite:///{path}", busy_timeout=busy_timeout)
    db.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    return db


def _count(path) -> int:
    db = open_database(f"sqlite:///{path}")
    try:
        return int(db.value("SELECT count(*) FROM t"))
    finally:
        db.close()


def test_a_write_waits_for_another_connections_and_goes_on_when_it_commits(tmp_path):
    path = tmp_path / "s.db"
    first, second = _open(path), _open(path)
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with first.transaction():
            first.execute("INSERT INTO t VALUES (1)")
            entered.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert entered.wait(10)
    assert (tmp_path / "s.db-writer.lock").exists()
    done = threading.Event()

    def write() -> None:
        with second.transaction():
            second.execute("INSERT INTO t VALUES (2)")
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert not done.wait(0.2)  # waiting for the first connection's lock
    release.set()
    holder.join()
    writer.join(10)
    assert done.is_set()
    assert _count(path) == 2
    first.close()
    second.close()


@pytest.mark.parametrize("busy_timeout", [0, 0.2])
def test_a_lock_held_past_the_busy_timeout_is_a_clear_error(tmp_path, busy_timeout):
    path = tmp_path / "s.db"
    holder, waiter = _open(path), _open(path)
    waiter.set_busy_timeout(busy_timeout)
    with holder.transaction():
        holder.execute("INSERT INTO t VALUES (1)")
        with (
            # the write lock's own answer (SQLite's would not say how long)
            pytest.raises(DatabaseLocked, match=r"s.db is locked by another connection \(writing for over"),
            waiter.transaction(),
        ):
            waiter.execute("INSERT INTO t VALUES (2)")
    with waiter.transaction():  # free again
        waiter.execute("INSERT INTO t VALUES (3)")
    assert _count(path) == 2
    holder.close()
    waiter.close()


_HOLD = """
import sys, time
from chamberlain.store.db import open_database
db = open_database("sqlite:///" + sys.argv[1])
with db.transaction():
    db.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    print("held", flush=True)
    time.sleep(60)
"""


def test_the_lock_of_a_process_that_died_is_released(tmp_path):
    path = tmp_path / "s.db"
    _open(path).close()
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        db = _open(path, busy_timeout=0)
        with pytest.raises(DatabaseLocked), db.transaction():
            pass
    finally:
        proc.kill()
        proc.wait()
    with db.transaction():  # still without waiting: the kernel let go of the dead process's lock
        db.execute("INSERT INTO t VALUES (1)")
    db.close()
    assert _count(path) == 1


def test_without_a_usable_lock_file_sqlite_still_serialises_writes(tmp_path):
    path = tmp_path / "s.db"
    (tmp_path / "s.db-writer.lock").mkdir()  # cannot be opened as the lock file
    first, second = _open(path), _open(path, busy_timeout=0)
    with first.transaction():
        first.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(DatabaseLocked), second.transaction():  # SQLite's own lock
            second.execute("INSERT INTO t VALUES (2)")
    with second.transaction():
        second.execute("INSERT INTO t VALUES (3)")
    assert _count(path) == 2
    first.close()
    second.close()
