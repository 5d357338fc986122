"""An event loop's own connection to the writer process (``chamberlain.audit.write.relay``): the loop's
batches written without the writer thread, and every fault of the writer process failing the checks it
did not write (never an answered ALLOW without its entry), then recovered from."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import time

import pytest

from chamberlain.audit import Filter
from chamberlain.audit.errors import LogUnavailable
from chamberlain.audit.log import PROCESS, DecisionLog, LogOptions
from chamberlain.audit.write.content import Limits
from chamberlain.audit.write.process import ProcessAppender
from chamberlain.audit.write.relay import LoopRelay
from chamberlain.store import parse_url
from tests.audit.support import create_log_tables, decision, verified_size


def _open(tmp_path, **options) -> DecisionLog:
    return DecisionLog.open(
        f"sqlite:///{tmp_path / 'decisions.db'}",
        LogOptions(writer=PROCESS, key_file=tmp_path / "log.key", **options),
    )


async def _until(predicate, what: str, timeout: float = 10.0) -> None:
    """Yield to the loop until ``predicate`` holds (no timing asserted)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def _connected(log: DecisionLog) -> LoopRelay:
    """The running loop's relay, once connected (the submission that starts connecting goes the thread's way)."""
    loop = asyncio.get_running_loop()
    assert await log.wait_async(log.submit([decision(9000)], loop)) is None
    relay = log._relays[loop]
    await _until(lambda: relay.state == "open", "the relay to connect")
    return relay


def test_an_event_loops_checks_are_written_by_its_relay_not_the_writer_thread(tmp_path):
    log = _open(tmp_path)
    try:

        async def run() -> list:
            loop = asyncio.get_running_loop()
            relay = await _connected(log)
            by_thread = log.writer.stats.entries_written
            tickets = [log.submit([decision(i), decision(i + 100)], loop) for i in range(40)]
            errors = await asyncio.gather(*(log.wait_async(t) for t in tickets))
            assert errors == [None] * 40
            assert log.writer.stats.entries_written == by_thread  # the writer thread wrote none of them
            assert relay.stats.entries_written == 80 and 1 <= relay.stats.batches < 40  # batched
            assert log.stats()["entries_written"] == by_thread + 80
            return [t.index for t in tickets]

        indexes = asyncio.run(run())
        assert indexes == list(range(1, 81, 2))  # each group's two entries together, in submission order
        entries = log.read(lambda r: r.search(Filter(limit=3)))
        assert [e["request_id"] for e in entries] == ["req-9000", "req-0", "req-100"]
    finally:
        log.close()
    assert verified_size(f"sqlite:///{tmp_path / 'decisions.db'}") == 81


def test_a_killed_writer_process_fails_the_relays_checks_then_the_relay_reconnects(tmp_path):
    log = _open(tmp_path)
    answered_ok = 1  # the entry that started the relay's connection
    try:

        async def run() -> int:
            nonlocal answered_ok
            loop = asyncio.get_running_loop()
            relay = await _connected(log)
            first = log.process.pid
            os.kill(first, signal.SIGKILL)
            await _until(lambda: relay.state == "down", "the relay to see its writer process gone")
            assert log.status()["state"] == "UNAVAILABLE"  # the writer thread probes and restarts it
            # meanwhile every check is answered at once, ALLOW only with its entry written
            deadline = loop.time() + 20
            while relay.state != "open":
                assert loop.time() < deadline, "timed out waiting for the relay to reconnect"
                error = await log.wait_async(log.submit([decision(1)], loop))
                if error is None:
                    answered_ok += 1
                else:
                    assert isinstance(error, LogUnavailable)
                await asyncio.sleep(0.02)
            assert log.process.pid != first and log.process.started == 2
            before = relay.stats.entries_written
            errors = await asyncio.gather(
                *(log.wait_async(log.submit([decision(i)], loop)) for i in range(10))
            )
            assert errors == [None] * 10
            answered_ok += 10
            return relay.stats.entries_written - before

        assert asyncio.run(run()) == 10  # written by the reconnected relay
        assert log.status()["state"] == "OK"
    finally:
        log.close()
    assert verified_size(f"sqlite:///{tmp_path / 'decisions.db'}") == answered_ok


def _appender(tmp_path) -> ProcessAppender:
    path = tmp_path / "d.db"
    create_log_tables(path)
    return ProcessAppender(parse_url(f"sqlite:///{path}"), 5.0, Limits(), reply_timeout=30)


def _relay(appender: ProcessAppender, outages: list, up=lambda: True, **options) -> LoopRelay:
    return LoopRelay(
        asyncio.get_running_loop(),
        appender,
        Limits(),
        batch_size=options.get("batch_size", 4096),
        write_timeout=options.get("write_timeout", 10.0),
        reply_timeout=options.get("reply_timeout", 30.0),
        up=up,
        outage=outages.append,
    )


async def _open_relay(relay: LoopRelay) -> None:
    assert relay.submit([decision(0)]) is None  # connecting: a log would submit it the writer thread's way
    await _until(lambda: relay.state == "open", "the relay to connect")


def test_a_writer_process_that_stops_answering_fails_the_relays_batch_and_is_stopped(tmp_path):
    appender = _appender(tmp_path)
    pid = appender.pid
    try:

        async def run() -> None:
            outages: list = []
            relay = _relay(appender, outages, reply_timeout=0.5)
            await _open_relay(relay)
            os.kill(pid, signal.SIGSTOP)
            error = await relay.submit([decision(1)])._future
            assert isinstance(error, LogUnavailable)
            assert f"(pid {pid}) did not answer within 0.5s" in str(error)
            assert relay.state == "down" and len(outages) == 1
            await _until(lambda: appender.pid is None, "the hung writer process to be stopped")
            assert relay.submit([decision(2)]) is None  # no new writer process yet: the thread's way

        asyncio.run(run())
    finally:
        appender.close()
        if appender.pid is None:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


def test_a_batch_the_store_fails_rests_the_relay_until_the_log_is_up(tmp_path):
    appender = _appender(tmp_path)
    db = sqlite3.connect(tmp_path / "d.db")
    db.execute(
        "CREATE TRIGGER on_fire BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
    )
    db.commit()
    up = [True]
    try:

        async def run() -> None:
            outages: list = []
            relay = _relay(appender, outages, up=lambda: up[0])
            await _open_relay(relay)
            error = await relay.submit([decision(1)])._future
            assert isinstance(error, LogUnavailable) and "disk on fire" in str(error)
            assert relay.state == "resting" and "disk on fire" in str(outages[0])
            up[0] = False  # the log's writer thread took the outage: it refuses, and probes
            assert relay.submit([decision(2)]) is None
            db.execute("DROP TRIGGER on_fire")
            db.commit()
            up[0] = True  # its probe succeeded
            ticket = relay.submit([decision(3)])
            assert ticket is not None and await ticket._future is None
            assert ticket.index == 0 and relay.state == "open"
            assert relay.stats.entries_written == 1 and relay.stats.entries_failed == 1

        asyncio.run(run())
    finally:
        db.close()
        appender.close()


def test_a_group_that_cannot_be_encoded_fails_alone_on_the_relay(tmp_path):
    import time

    from chamberlain.audit.write.canonical import EncodingError
    from chamberlain.audit.write.entry import new_entry

    appender = _appender(tmp_path)
    try:

        async def run() -> None:
            relay = _relay(appender, [])
            await _open_relay(relay)
            bad = new_entry("decision", time=time.time_ns(), public={"odd": {1, 2}})  # a set: no JSON form
            tickets = [relay.submit([decision(1)]), relay.submit([bad]), relay.submit([decision(2)])]
            errors = [await t._future for t in tickets]
            assert errors[0] is None and errors[2] is None
            assert isinstance(errors[1], EncodingError) and "cannot encode" in str(errors[1])
            assert [tickets[0].index, tickets[2].index] == [0, 1]

        asyncio.run(run())
    finally:
        appender.close()


def test_a_lone_caller_on_the_loop_writes_its_entries_here_while_the_relay_is_idle(tmp_path):
    log = _open(tmp_path)
    try:

        async def run() -> None:
            relay = await _connected(log)
            relayed = relay.stats.entries_written
            tickets: list = []

            def written_here() -> bool:  # from this process, on its own connection, once the writer is idle
                tickets.append(log.write_here([decision(1)]))
                return tickets[-1] is not None

            await _until(written_here, "the writer thread to be idle (it wrote the first entry)")
            ticket = tickets[-1]
            assert ticket.error is None and ticket.index == 1
            assert relay.stats.entries_written == relayed
            loop = asyncio.get_running_loop()
            waiting = log.submit([decision(2)], loop)  # now something is on its way to the writer process
            assert relay.busy and log.write_here([decision(3)]) is None  # so the caller submits instead
            assert await log.wait_async(waiting) is None and waiting.index == 2  # the tree is one

        asyncio.run(run())
    finally:
        log.close()
    assert verified_size(f"sqlite:///{tmp_path / 'decisions.db'}") == 3


def test_a_check_decided_on_a_worker_thread_for_a_loop_goes_the_writer_threads_way(tmp_path):
    log = _open(tmp_path)
    try:

        async def run() -> None:
            loop = asyncio.get_running_loop()
            await _connected(log)
            # the server decides large checks on worker threads, for the loop that awaits them
            ticket = await loop.run_in_executor(None, lambda: log.submit([decision(1)], loop))
            assert await log.wait_async(ticket) is None
            assert log._relays[loop].stats.entries_written == 0 and list(log._relays) == [loop]

        asyncio.run(run())
    finally:
        log.close()
    assert verified_size(f"sqlite:///{tmp_path / 'decisions.db'}") == 2


def test_a_wait_that_runs_out_withdraws_what_was_not_sent_and_waits_for_what_was(tmp_path):
    log = _open(tmp_path, write_timeout=0.3)
    pid = log.process.pid
    try:

        async def run() -> None:
            loop = asyncio.get_running_loop()
            relay = await _connected(log)
            os.kill(pid, signal.SIGSTOP)  # the batch sent next is never answered
            sent = log.submit([decision(1)], loop)
            await asyncio.sleep(0)  # sent in the next iteration
            waiting = log.submit([decision(2)], loop)  # behind it, not sent
            error = await log.wait_async(waiting)
            assert isinstance(error, LogUnavailable) and "did not confirm the entry within 0.3s" in str(error)
            assert not sent.done and relay.stats.entries_failed == 1  # taken: its outcome decides
            os.kill(pid, signal.SIGCONT)
            assert await log.wait_async(sent) is None and sent.index == 1

        asyncio.run(run())
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
        log.close()
    assert verified_size(f"sqlite:///{tmp_path / 'decisions.db'}") == 2  # the withdrawn one is not in it


def test_a_batch_refused_for_a_lock_held_elsewhere_fails_alone_and_the_next_is_sent(tmp_path):
    path = tmp_path / "d.db"
    create_log_tables(path)
    appender = ProcessAppender(parse_url(f"sqlite:///{path}"), 0.2, Limits(), reply_timeout=30)
    holder = sqlite3.connect(path, isolation_level=None)
    try:

        async def run() -> None:
            outages: list = []
            relay = _relay(appender, outages)
            await _open_relay(relay)
            holder.execute("BEGIN IMMEDIATE")  # another process writing, past the writer's busy timeout
            first = relay.submit([decision(1)])
            await asyncio.sleep(0)  # sent
            second = relay.submit([decision(2)])  # waits behind it
            error = await first._future
            assert isinstance(error, LogUnavailable) and "locked" in str(error)
            holder.execute("ROLLBACK")
            # sent without another submission (not left waiting: a hang fails here)
            assert await asyncio.wait_for(second._future, 10) is None and second.index == 0
            assert relay.state == "open" and outages == []  # contention is not an outage

        asyncio.run(run())
    finally:
        holder.close()
        appender.close()


def test_a_server_whose_writer_process_is_killed_mid_stream_keeps_every_allowed_checks_entries(tmp_path):
    """``chamberlain serve`` as shipped (its event loop sending batches to a writer process of its own):
    four clients check without pause, the writer process is killed; every check answered ALLOW has its
    entries in the log, which verifies, and checks are allowed again once a new one serves."""
    import threading
    from pathlib import Path

    import httpx

    from tests.server.support import STORE, STORE_CHECK, serve_process

    state = tmp_path / "state"
    answers: list[tuple[str, bool]] = []
    stop = threading.Event()

    def client(n: int, url: str) -> None:
        with httpx.Client(timeout=30) as http:  # keep-alive: the server's loop serves it throughout
            for i in range(100_000):
                if stop.is_set():
                    return
                request_id = f"c{n}-{i}"
                body = http.post(
                    f"{url}/api/check/resources", json={**STORE_CHECK, "requestId": request_id}
                ).json()
                answers.append((request_id, body["results"][0]["actions"]["view:public"] == "EFFECT_ALLOW"))

    def allowed() -> int:
        return sum(ok for _, ok in list(answers))

    with serve_process("--policies", str(STORE), "--state-dir", str(state)) as (proc, url):
        [writer] = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        assert "chamberlain.audit.write.process import main" in Path(f"/proc/{writer}/cmdline").read_text()
        clients = [threading.Thread(target=client, args=(n, url)) for n in range(4)]
        for t in clients:
            t.start()
        try:
            deadline = time.monotonic() + 60
            while allowed() < 40:
                assert time.monotonic() < deadline, "timed out waiting for the first checks"
                time.sleep(0.02)
            os.kill(writer, signal.SIGKILL)
            before = allowed()
            while allowed() < before + 40:  # denied (fail closed) until a new writer process serves
                assert time.monotonic() < deadline + 60, "timed out waiting for checks allowed again"
                time.sleep(0.02)
        finally:
            stop.set()
            for t in clients:
                t.join(60)
    assert any(not ok for _, ok in answers)  # some were denied while it was away
    url_db = f"sqlite:///{state / 'decisions.db'}"
    size = verified_size(url_db)
    logged: set[str] = set()
    with DecisionLog.open(url_db, LogOptions(key_file=state / "decision-log.key")) as log:
        after = -1
        while True:
            page = log.read(lambda r, a=after: r.search(Filter(after=a, limit=10_000)))
            if not page:
                break
            logged.update(e["request_id"] for e in page)
            after = page[-1]["seq"]
    assert len(logged) * 2 <= size
    missing = [rid for rid, ok in answers if ok and rid not in logged]
    assert missing == []  # never an answered ALLOW without its entries


class _Peer:
    """Stands where the writer process would (its side of a socket pair): for replies no writer sends."""

    def __init__(self) -> None:
        import socket

        self.ours, self.theirs = socket.socketpair()
        self.started, self.pid = 1, None

    def loop_connection(self):
        return self.theirs

    def gone(self) -> str:
        return "the peer closed its connection"

    def abandon(self) -> None:
        pass


@pytest.mark.parametrize(
    "reply",
    [
        b"\xff\xff\xff\xf0",  # a negative length
        (100 << 20).to_bytes(4, "big"),  # longer than any reply (64 MiB at most)
        (11).to_bytes(4, "big") + b"not pickled",
    ],
    ids=["negative-length", "oversized", "not-a-pickle"],
)
def test_a_malformed_reply_denies_the_batch_and_stands_the_relay_down(reply):
    peer = _Peer()
    try:

        async def run() -> None:
            outages: list = []
            relay = _relay(peer, outages)
            await _open_relay(relay)
            ticket = relay.submit([decision(1)])
            await asyncio.sleep(0)  # sent
            peer.ours.sendall(reply)
            error = await asyncio.wait_for(ticket._future, 10)
            assert isinstance(error, LogUnavailable) and "malformed reply" in str(error)
            assert relay.state == "down" and len(outages) == 1 and relay.stats.entries_written == 0

        asyncio.run(run())
    finally:
        peer.ours.close()
