"""``write_here``: a lone ``sync`` submission written on the caller's thread when the writer thread is idle
(the MCP gateway's event loop, one call in flight), and left to the writer's group commit otherwise."""

from __future__ import annotations

import shutil
import subprocess
import threading

import pytest

from chamberlain.audit.errors import LogUnavailable
from chamberlain.audit.log import DecisionLog, LogOptions
from chamberlain.audit.storage.reader import Filter
from tests.audit.support import decision, verified_size, wait_until, writer_held


def _open(tmp_path, **kw) -> DecisionLog:
    return DecisionLog.open(
        f"sqlite:///{tmp_path / 'decisions.db'}",
        LogOptions(key_file=tmp_path / "log.key", head_interval=3600, **kw),
    )


def _here(log: DecisionLog, entries):
    """``log.write_here(entries)`` once the writer thread is idle (just after opening it may still be busy)."""
    done = []

    def attempt() -> bool:
        done.append(log.write_here(entries))
        return done[-1] is not None

    wait_until(attempt, what="an idle writer to let the caller write")
    return done[-1]


def _ids(log: DecisionLog) -> list[str]:
    return sorted(e["request_id"] for e in log.read(lambda r: r.search(Filter(limit=1000))))


def _verified(tmp_path) -> int:
    return verified_size(f"sqlite:///{tmp_path / 'decisions.db'}")


def test_a_lone_entry_is_written_on_the_calling_thread(tmp_path):
    with _open(tmp_path) as log:
        sink, threads = log.writer.sink, []

        def watched(groups):
            threads.append(threading.get_ident())
            return sink(groups)

        log.writer.sink = watched
        ticket = _here(log, [decision(1)])
        assert ticket.done and ticket.error is None
        assert threads == [threading.get_ident()]
        assert ticket.index is not None
        assert _ids(log) == ["req-1"]  # durable when write_here returned: no wait
        log.record([decision(2)])  # the writer thread still writes what is submitted
        assert threads[-1] != threading.get_ident()
        assert _ids(log) == ["req-1", "req-2"]
    assert _verified(tmp_path) >= 2


def test_a_busy_writer_is_left_to_its_group_commit(tmp_path):
    with _open(tmp_path) as log:
        with writer_held(log):
            assert log.write_here([decision(1)]) is None  # the writer thread is not idle
            queued = log.submit([decision(2)])
            assert log.write_here([decision(3)]) is None  # and something is queued
        assert log.wait(queued) is None
        assert _ids(log) == ["req-2"]


def test_only_sync_entries_are_written_here(tmp_path):
    with _open(tmp_path, durability="async") as log:
        assert log.write_here([decision(1)]) is None


def test_callers_writing_here_and_submitters_share_one_chain(tmp_path):
    """Threads submitting while one caller writes here whenever it may: every entry once, the chain verified."""
    with _open(tmp_path) as log:
        assert _here(log, [decision(999)]).error is None

        def submitter(base: int) -> None:
            for i in range(40):
                log.record([decision(base + i)])

        workers = [threading.Thread(target=submitter, args=(1000 * (k + 1),)) for k in range(3)]
        for w in workers:
            w.start()
        for i in range(40):
            ticket = log.write_here([decision(i)])
            if ticket is None:  # the writer is busy with the others' entries
                log.record([decision(i)])
            else:
                assert ticket.error is None
        for w in workers:
            w.join()
        ids = _ids(log)
        assert len(ids) == len(set(ids)) == 161
    assert _verified(tmp_path) >= 161


def test_callers_writing_here_at_once_take_turns(tmp_path):
    """Several threads each writing here when they may (else through the writer): never two at once."""
    with _open(tmp_path) as log:
        failures: list[object] = []

        def caller(base: int) -> None:
            for i in range(60):
                ticket = log.write_here([decision(base + i)])
                if ticket is None:
                    log.record([decision(base + i)])
                elif ticket.error is not None:
                    failures.append(ticket.error)

        workers = [threading.Thread(target=caller, args=(1000 * (k + 1),)) for k in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert failures == []
        ids = _ids(log)
        assert len(ids) == len(set(ids)) == 240
    assert _verified(tmp_path) >= 240


def test_a_failed_write_here_answers_the_error_and_the_writer_goes_down(tmp_path):
    if shutil.which("chattr") is None:
        pytest.fail("chattr (e2fsprogs) is needed to make the log's files immutable")
    db = tmp_path / "decisions.db"
    with _open(tmp_path) as log:
        _here(log, [decision(1)])
        files = [p for p in (db, db.with_name("decisions.db-wal")) if p.exists()]
        try:
            subprocess.run(["chattr", "+i", *map(str, files)], check=True, capture_output=True)
        except subprocess.CalledProcessError as exc:
            pytest.fail(f"cannot make the files immutable on this file system: {exc.stderr}")
        try:
            ticket = _here(log, [decision(2)])
            assert isinstance(ticket.error, LogUnavailable)
            assert ticket.index is None
            assert log.writer.down
            assert log.write_here([decision(3)]) is None  # down: the writer refuses or probes, not the caller
        finally:
            subprocess.run(["chattr", "-i", *map(str, files)], check=True, capture_output=True)
        wait_until(lambda: log.write_here([decision(4)]) is not None, what="the log to recover")
        assert _ids(log) == ["req-1", "req-4"]


def test_a_store_locked_elsewhere_makes_it_give_way_at_once(tmp_path):
    """Another connection holding the write lock (an erasure, another process appending): write_here
    answers None without waiting out the busy timeout (nothing written, nothing failed), the entries then
    go the writer's way and are written once the lock is released; the connection waits again after."""
    import sqlite3
    import time

    with _open(tmp_path, busy_timeout=30.0) as log:
        assert _here(log, [decision(1)]).error is None
        other = sqlite3.connect(tmp_path / "decisions.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # holds SQLite's write lock
        try:
            started = time.monotonic()
            assert log.write_here([decision(2)]) is None
            assert time.monotonic() - started < 25  # not the 30 s busy timeout (a bound, not a timing goal)
            assert log.writer.down_since is None and log.writer.stats.write_errors == 0  # not a failure
            ticket = log.submit([decision(2)])
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert log.wait(ticket) is None
        assert int(log._write_db.value("PRAGMA busy_timeout")) == 30000  # waits again for the writer thread
        assert _ids(log) == ["req-1", "req-2"]
    assert _verified(tmp_path) == 2


def test_the_writer_thread_waits_for_a_lock_again_after_lone_writes(tmp_path):
    """Lone writes leave the connection answering a held lock at once (no statement per call to undo it);
    the writer thread's next batch still waits for a lock another connection holds, as its busy timeout says."""
    import sqlite3

    with _open(tmp_path, busy_timeout=30.0) as log:
        assert _here(log, [decision(1)]).error is None
        assert log.write_here([decision(2)]).error is None  # in a row: the connection is left as it is
        assert int(log._write_db.value("PRAGMA busy_timeout")) == 0
        other = sqlite3.connect(tmp_path / "decisions.db", isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # holds SQLite's write lock
        released = threading.Timer(0.5, lambda: (other.execute("ROLLBACK"), other.close()))
        try:
            with writer_held(log):  # the entry goes the writer thread's way
                ticket = log.submit([decision(3)])
            released.start()
            assert log.wait(ticket) is None  # waited for the lock rather than failing at once
        finally:
            released.join()
        assert log.writer.stats.write_errors == 0
        assert int(log._write_db.value("PRAGMA busy_timeout")) == 30000
        assert _ids(log) == ["req-1", "req-2", "req-3"]
    assert _verified(tmp_path) == 3
