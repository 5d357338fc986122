"""The decision log's writer process (``writer: process``, SQLite): entries recorded as with the writer thread,
faults of the process failing closed and recovered from, and the settings that choose it."""

from __future__ import annotations

import os
import signal
import time

import pytest

from chamberlain import PDP, Principal, Resource
from chamberlain.audit import Filter
from chamberlain.audit.errors import AuditError, LogUnavailable
from chamberlain.audit.log import PROCESS, THREAD, DecisionLog, LogOptions, check_writer
from chamberlain.audit.tools.replay import replay_input
from chamberlain.audit.write.canonical import EncodingError
from chamberlain.audit.write.content import Limits
from chamberlain.audit.write.entry import new_entry
from chamberlain.audit.write.process import ProcessAppender
from chamberlain.store import parse_url
from chamberlain.store.errors import StoreError, StoreUnavailable
from tests.audit.support import create_log_tables, decision, verified_size, wait_until

ALICE = Principal("alice", roles={"user"}, attr={"level": 3})
DRAFT = Resource("document", "d1", attr={"owner": "alice", "status": "draft"})


def _open(tmp_path, **options) -> DecisionLog:
    return DecisionLog.open(
        f"sqlite:///{tmp_path / 'decisions.db'}",
        LogOptions(writer=PROCESS, key_file=tmp_path / "log.key", **options),
    )


def _verified(tmp_path) -> int:
    return verified_size(f"sqlite:///{tmp_path / 'decisions.db'}")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_check_is_recorded_by_the_writer_process_and_replays(policies, tmp_path):
    log = _open(tmp_path)
    child = log.process.pid
    assert child is not None and child != os.getpid()
    with PDP.from_directory(policies, audit=log) as pdp:
        result = pdp.check(ALICE, DRAFT, ["edit", "view", "delete"], request_id="r-1")
        assert [result.is_allowed(a) for a in ("edit", "view", "delete")] == [True, True, False]
        entries = pdp.log.read(lambda r: r.search(Filter(limit=10)))
        assert [(e["seq"], e["action"], e["effect"]) for e in entries] == [
            (0, "edit", "EFFECT_ALLOW"),
            (1, "view", "EFFECT_ALLOW"),
            (2, "delete", "EFFECT_DENY"),
        ]
        assert entries[0]["request_id"] == "r-1" and entries[0]["principal"]["id"] == "alice"
        replayed = pdp.log.read(lambda r: replay_input(r, entries[0]["seq"]))
        assert replayed is not None
    log.close()
    wait_until(lambda: _gone(child), what="the writer process to exit once the log closed")
    assert _verified(tmp_path) == 3


def test_entries_keep_their_order_and_the_tickets_their_index(tmp_path):
    log = _open(tmp_path)
    try:
        tickets = [log.submit([decision(i), decision(i + 100)]) for i in range(20)]
        for ticket in tickets:
            assert log.wait(ticket) is None
        assert [t.index for t in tickets] == list(range(0, 40, 2))
        entries = log.read(lambda r: r.search(Filter(limit=100)))
        assert [e["request_id"] for e in entries[:4]] == ["req-0", "req-100", "req-1", "req-101"]
    finally:
        log.close()
    assert _verified(tmp_path) == 40


def test_async_durability_writes_through_the_process(tmp_path):
    log = _open(tmp_path, durability="async")
    try:
        for i in range(50):
            assert log.submit([decision(i)]) is None
        assert log.flush(30)
        assert log.stats()["entries_written"] == 50
    finally:
        log.close()
    assert _verified(tmp_path) == 50


def test_a_killed_writer_process_denies_then_a_new_one_takes_over(tmp_path):
    log = _open(tmp_path)
    try:
        log.record([decision(0)])
        first = log.process.pid
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: not log.process.alive, what="the killed writer process to be reaped")
        with pytest.raises(LogUnavailable, match=rf"writer process \(pid {first}\) exited with status -9"):
            log.record([decision(1)])
        assert log.status()["state"] == "UNAVAILABLE"

        def recorded() -> bool:
            try:
                log.record([decision(2)])
            except LogUnavailable:
                time.sleep(0.05)
                return False
            return True

        wait_until(recorded, what="a new writer process to record again")
        assert log.process.pid != first and log.process.started == 2
        assert log.status()["state"] == "OK"
    finally:
        log.close()
    assert _verified(tmp_path) == 2  # decision 1 was refused: never an answered entry missing


def test_a_writer_process_that_stops_answering_fails_its_batch(tmp_path):
    appender = ProcessAppender(parse_url(f"sqlite:///{tmp_path / 'd.db'}"), 5.0, Limits(), reply_timeout=0.5)
    try:
        create_log_tables(tmp_path / "d.db")
        os.kill(appender.pid, signal.SIGSTOP)
        with pytest.raises(StoreUnavailable, match=r"did not answer within 0.5s"):
            appender.append([[decision(0)]])
        assert appender.pid is None  # stopped and reaped; recover starts another
        appender.recover()
        assert appender.append([[decision(1)]]) == [0]
    finally:
        appender.close()


def test_a_group_that_cannot_be_encoded_fails_alone(tmp_path):
    create_log_tables(tmp_path / "d.db")
    appender = ProcessAppender(parse_url(f"sqlite:///{tmp_path / 'd.db'}"), 5.0, Limits(), reply_timeout=30)
    try:
        bad = new_entry("decision", time=time.time_ns(), public={"odd": {1, 2}})  # a set: no JSON form
        results = appender.append([[decision(0)], [bad], [decision(1), decision(2)]])
        assert results[0] == 0 and results[2] == 1
        assert isinstance(results[1], EncodingError) and "cannot encode" in str(results[1])
    finally:
        appender.close()


def test_terminal_signals_do_not_stop_the_writer_process(tmp_path):
    log = _open(tmp_path)
    try:
        os.kill(log.process.pid, signal.SIGINT)
        os.kill(log.process.pid, signal.SIGTERM)
        log.record([decision(0)])  # still there: the log decides when it closes
        assert log.process.alive and log.process.started == 1
    finally:
        log.close()


def test_the_writer_setting_is_checked():
    sqlite, pg = parse_url("sqlite:///x.db"), parse_url("postgresql://u@127.0.0.1:5432/db")
    check_writer(THREAD, sqlite)
    check_writer(PROCESS, sqlite)
    check_writer(THREAD, pg)
    with pytest.raises(AuditError, match="supported for a decision log on SQLite only"):
        check_writer(PROCESS, pg)
    with pytest.raises(AuditError, match="must be thread or process, got 'fork'"):
        check_writer("fork", sqlite)


# -- one writer process shared by several serving processes (chamberlain.processes) ------------------


_SHARED_MAIN = "from chamberlain.audit.write.process import shared_main; shared_main()"


class _SharedWriter:
    """``chamberlain.audit.write.process.shared_main`` in a process of its own, as the supervisor starts it."""

    def __init__(self, tmp_path, limits: Limits):
        import pickle
        import socket
        import subprocess
        import sys

        self.url = parse_url(f"sqlite:///{tmp_path / 'shared.db'}")
        DecisionLog.open(self.url, LogOptions(key_file=tmp_path / "log.key")).close()  # tables and key
        self.path = str(tmp_path / "writer.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(8)
        self.alive_r, self.alive_w = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SHARED_MAIN, str(self.listener.fileno()), str(self.alive_r)],
            pass_fds=(self.listener.fileno(), self.alive_r),
            stdin=subprocess.PIPE,
        )
        self.proc.stdin.write(pickle.dumps((self.url, 5.0, limits)))
        self.proc.stdin.close()

    def appender(self, limits: Limits) -> ProcessAppender:
        return ProcessAppender(self.url, 5.0, limits, 30.0, shared=self.path)

    def close(self) -> None:
        os.close(self.alive_w)  # the supervisor is gone: the writer ends
        self.proc.wait(30)
        os.close(self.alive_r)
        self.listener.close()


def test_a_shared_writer_process_writes_for_several_processes_in_one_tree(tmp_path):
    import threading

    writer = _SharedWriter(tmp_path, Limits())
    try:
        appenders = [writer.appender(Limits()) for _ in range(3)]
        assert {a.pid for a in appenders} == {writer.proc.pid}  # one writer, no process of their own
        firsts: list[int] = []

        def write(appender: ProcessAppender, base: int) -> None:
            for i in range(20):
                [index] = appender.append([[decision(base + i), decision(base + i + 500)]])
                firsts.append(index)

        threads = [threading.Thread(target=write, args=(a, n * 1000)) for n, a in enumerate(appenders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(firsts) == list(range(0, 120, 2))  # each group's two entries kept together
        for a in appenders:
            a.close()
    finally:
        writer.close()
    assert writer.proc.returncode == 0
    DecisionLog.open(writer.url, LogOptions(key_file=tmp_path / "log.key")).close()  # signs a head over them
    assert verified_size(f"sqlite:///{tmp_path / 'shared.db'}") == 120


def test_a_shared_writer_process_refuses_a_log_configured_otherwise(tmp_path):
    writer = _SharedWriter(tmp_path, Limits())
    try:
        with pytest.raises(StoreError, match=r"configurations differ"):
            writer.appender(Limits(max_entry_bytes=1024))
        ok = writer.appender(Limits())  # the refusal did not end it
        assert ok.append([[decision(1)]]) == [0]
        ok.close()
    finally:
        writer.close()


def test_a_shared_writer_process_drops_a_peer_that_sends_garbage(tmp_path):
    import socket
    from multiprocessing.connection import Connection

    writer = _SharedWriter(tmp_path, Limits())
    try:
        stranger = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stranger.connect(writer.path)
        peer = Connection(stranger.detach())
        peer.send_bytes(b"\x80\x05not a pickle at all")
        with pytest.raises(EOFError):  # closed without an answer
            peer.recv_bytes()
        ok = writer.appender(Limits())  # the others are served as before
        assert ok.append([[decision(1)]]) == [0]
        ok.close()
    finally:
        writer.close()
    assert writer.proc.returncode == 0
