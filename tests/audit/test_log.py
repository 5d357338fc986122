"""The decision log: recording (sync and async), reading, proofs, heads, restarts, several writers, failures."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from chamberlain.audit import Filter, LogUnavailable
from chamberlain.audit.log import DecisionLog, LogOptions
from chamberlain.audit.storage import tree as tree_module
from chamberlain.audit.storage.keys import SigningKeyError
from chamberlain.audit.tlog.merkle import leaf_hash, verify_consistency, verify_inclusion
from chamberlain.audit.tlog.note import Verifier, open_checkpoint
from chamberlain.audit.write.canonical import EncodingError
from tests.audit.support import decision, verified_size, wait_until


def _options(tmp_path, **kw) -> LogOptions:
    return LogOptions(key_file=tmp_path / "signing.key", **kw)


def test_record_search_export_and_prove(log_url, tmp_path):
    with DecisionLog.open(log_url, _options(tmp_path)) as log:
        log.record(
            [
                decision(
                    i,
                    session="s-a" if i % 2 else "s-b",
                    effect="EFFECT_DENY" if i % 3 == 0 else "EFFECT_ALLOW",
                    actors=("agent-1", "tool-x") if i < 5 else ("agent-2",),
                )
                for i in range(23)
            ]
        )
        first = log.sign_head()
        log.record([decision(i) for i in range(23, 37)])
        second = log.sign_head()
        assert (first.size, second.size) == (23, 37)
        search = lambda **kw: log.read(lambda r: r.search(Filter(**kw)))  # noqa: E731
        assert [e["seq"] for e in search(session_id="s-a", limit=3)] == [1, 3, 5]
        assert {e["effect"] for e in search(effect="deny")} == {"EFFECT_DENY"}
        assert [e["seq"] for e in search(actor="tool-x")] == [0, 1, 2, 3, 4]
        assert [e["seq"] for e in search(resource_kind="doc", resource_id="d7")] == [7]
        assert [e["seq"] for e in search(since="2026-01-01T00:00:35Z", until="2026-01-01T00:00:36Z")] == [35]
        assert [e["seq"] for e in search(principal="alice", after=30, limit=2)] == [31, 32]
        bodies = log.read(lambda r: list(r.export()))
        verifier = Verifier.parse(log.verifier_key)
        head = open_checkpoint(second.note, verifier)
        for index in (0, 17, 36):
            proof = log.read(lambda r, i=index: r.inclusion(i))
            assert proof.tree_size == 37 and proof.leaf_hash == leaf_hash(bodies[index])
            verify_inclusion(index, 37, leaf_hash(bodies[index]), proof.audit_path, head.root)
        consistency = log.read(lambda r: r.consistency(23, 37))
        verify_consistency(
            23, 37, open_checkpoint(first.note, verifier).root, head.root, consistency.consistency_path
        )
    assert verified_size(log_url) == 37


def test_restart_continues_the_same_tree(log_url, tmp_path):
    for round_ in range(3):
        with DecisionLog.open(log_url, _options(tmp_path)) as log:
            log.record([decision(i) for i in range(round_ * 19, round_ * 19 + 19)])
    assert verified_size(log_url) == 57


def test_two_writers_on_one_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    logs = [DecisionLog.open(url, _options(tmp_path)) for _ in range(2)]

    def write(log: DecisionLog, base: int) -> None:
        for i in range(60):
            log.record([decision(base + i)])

    threads = [threading.Thread(target=write, args=(log, n * 1000)) for n, log in enumerate(logs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for log in logs:
        log.close()
    assert verified_size(url) == 120


@pytest.mark.parametrize("catch_up", [4096, 0])
def test_writers_taking_turns_catch_up_on_each_others_leaves(tmp_path, monkeypatch, catch_up):
    """Each commit follows the other log's: the edge advances by the leaves written since (one query)
    instead of being read again level by level; with catching up off (0) it is read again. Either way
    the tree verifies."""
    monkeypatch.setattr(tree_module, "CATCH_UP_LEAVES", catch_up)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    logs = [DecisionLog.open(url, _options(tmp_path)) for _ in range(2)]
    reads = []
    full_read = tree_module.TreeStore.edge
    monkeypatch.setattr(
        tree_module.TreeStore, "edge", lambda self, size: reads.append(size) or full_read(self, size)
    )
    for i in range(30):
        for n, log in enumerate(logs):
            log.record([decision(n * 1000 + i), decision(n * 1000 + i + 500)])
    for log in logs:
        log.close()
    assert verified_size(url) == 120
    if catch_up:
        assert len(reads) <= 2  # at most each log's first commit after the other's
    else:
        assert len(reads) >= 59


def test_another_key_than_the_logs_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    DecisionLog.open(url, _options(tmp_path)).close()
    with pytest.raises(
        SigningKeyError, match=r"is signed with key .* but signing key file .*other.key holds"
    ):
        DecisionLog.open(url, LogOptions(key_file=tmp_path / "other.key"))


def test_heads_are_signed_at_the_interval(tmp_path):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionLog.open(url, _options(tmp_path, head_interval=0.1)) as log:
        log.record([decision(i) for i in range(5)])
        deadline = time.monotonic() + 5
        while (log.head().size != 5) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert log.head().size == 5


def test_sync_failure_raises_and_writes_nothing(tmp_path):
    # A full disk, simulated with SQLite's size limit (max_page_count) on the log's own connection.
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionLog.open(url, _options(tmp_path)) as log:
        log.record([decision(0)])
        db = log._write_db
        pages = db.value("PRAGMA page_count")
        log.writer.call(lambda: db.execute(f"PRAGMA max_page_count = {pages}"))
        with pytest.raises(LogUnavailable, match=r"decision log unavailable: database .* is full"):
            log.record([decision(i, resource_blob="x" * 5000) for i in range(1, 50)])
        assert log.writer.down  # an outage: later submissions are refused at once with its reason
        with pytest.raises(LogUnavailable, match=r"decision log unavailable since .*: database .* is full"):
            log.record([decision(98)])
        log.writer.call(lambda: db.execute("PRAGMA max_page_count = 1073741823"))
        wait_until(lambda: not log.writer.down)  # the writer's probe after its back-off finds room again
        log.record([decision(99)])
        assert log.writer.stats.entries_failed == 50 and log.writer.stats.outages == 1
    assert verified_size(url) == 2


def test_an_unencodable_entry_fails_alone(tmp_path):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with DecisionLog.open(url, _options(tmp_path)) as log:
        bad = decision(1)
        bad.public["action"] = "\ud800"  # a lone surrogate has no UTF-8 form
        with pytest.raises(EncodingError):
            log.record([bad])
        log.record([decision(2)])
    assert verified_size(url) == 1


def _hold_write_lock(path):
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_sync_wait_gives_up_only_on_entries_not_yet_taken(tmp_path):
    path = tmp_path / "d.db"
    with DecisionLog.open(
        f"sqlite:///{path}", _options(tmp_path, write_timeout=0.2, busy_timeout=1.0)
    ) as log:
        holder = _hold_write_lock(path)
        outcome: list[object] = []
        first = threading.Thread(target=lambda: outcome.append(_record(log, 1)))
        first.start()
        time.sleep(0.1)  # the writer now holds entry 1 in a transaction waiting for the lock
        with pytest.raises(LogUnavailable, match=r"did not confirm the entry within 0.2s"):
            log.record([decision(2)])  # queued behind it: withdrawn when the wait runs out
        first.join()
        assert "locked" in str(outcome[0])  # entry 1's transaction decided its fate: it failed
        holder.execute("ROLLBACK")
        holder.close()
        log.record([decision(3)])
        assert [e["request_id"] for e in log.read(lambda r: r.search(Filter()))] == ["req-3"]


def _record(log: DecisionLog, i: int) -> object:
    try:
        log.record([decision(i)])
    except LogUnavailable as exc:
        return exc
    return None


@pytest.mark.parametrize("overflow", ["deny", "block"])
def test_async_queue_overflow_is_counted_and_nothing_is_lost(tmp_path, overflow):
    path = tmp_path / "d.db"
    options = _options(
        tmp_path, durability="async", queue_size=5, overflow=overflow, overflow_timeout=0.1, busy_timeout=0.05
    )
    with DecisionLog.open(f"sqlite:///{path}", options) as log:
        holder = _hold_write_lock(path)  # the store stalls: writes fail and are retried
        accepted = 0
        try:
            with pytest.raises(LogUnavailable, match=r"queue (is|stayed) full"):
                for i in range(100):
                    log.record([decision(i)])  # async: returns once queued
                    accepted += 1
            stats = log.writer.stats
            assert stats.overflow_denied == 1
            assert (stats.overflow_blocked >= 1) == (overflow == "block")
            deadline = time.monotonic() + 10
            while stats.write_errors == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert stats.write_errors >= 1  # the queued entries wait for the store, they are not dropped
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert log.flush(10)
    assert verified_size(f"sqlite:///{path}") == accepted
