"""Crashes under load: ``kill -9`` of a server in sync mode, and of the PostgreSQL sequencer.

Clients keep sending checks; every answered check (its requestId) must be in the log afterwards,
exactly once per action, and the log must verify.
"""

from __future__ import annotations

import collections
import threading
import time

import httpx

from chamberlain.audit.storage.reader import AuditReader, Filter
from chamberlain.audit.tools.verify import verify
from chamberlain.store.db import open_database
from tests.server.support import serve_process


def _request(rid: str) -> dict:
    return {
        "requestId": rid,
        "principal": {"id": "alice", "roles": ["user"], "attr": {"level": 3}},
        "resources": [
            {
                "actions": ["edit", "view"],
                "resource": {"kind": "document", "id": rid, "attr": {"owner": "alice", "status": "draft"}},
            }
        ],
    }


class Load:
    """Client threads sending checks to some servers until stopped; ``acked``: requestIds answered."""

    def __init__(self, name: str, url: str, threads: int = 4):
        self.acked: set[str] = set()
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._client, args=(f"{name}{n}", url), daemon=True)
            for n in range(threads)
        ]
        for t in self.threads:
            t.start()

    def _client(self, name: str, url: str) -> None:
        with httpx.Client(timeout=10) as client:
            i = 0
            while not self.stop.is_set():
                rid = f"{name}-{i}"
                i += 1
                try:
                    response = client.post(f"{url}/api/check/resources", json=_request(rid))
                except httpx.HTTPError:
                    return  # the server is gone
                if (
                    response.status_code == 200
                    and response.json()["results"][0]["actions"]["edit"] == "EFFECT_ALLOW"
                ):
                    self.acked.add(rid)

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.acked) >= count, f"only {len(self.acked)} checks answered"

    def end(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)


def _logged(url: str) -> collections.Counter[str]:
    db = open_database(url)
    try:
        report = verify(db)
        assert report.ok, report.problem
        entries = AuditReader(db).search(Filter(limit=10_000))
        assert report.pending == 0
    finally:
        db.close()
    return collections.Counter(e["request_id"] for e in entries)


def test_kill_9_in_sync_mode_loses_no_answered_decision(tmp_path, policies):
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    with serve_process("--policies", str(policies), "--audit-db", url) as (proc, server):
        load = Load("c", server)
        load.wait_for(300)
        proc.kill()  # SIGKILL, mid-stream
        proc.wait()
        load.end()
    logged = _logged(url)
    missing = [rid for rid in load.acked if logged[rid] != 2]
    assert not missing, f"{len(missing)} answered checks lack their entries, e.g. {missing[:3]}"


def _is_sequencer(url: str) -> bool:
    metrics = httpx.get(f"{url}/metrics", timeout=5).text
    return "chamberlain_audit_sequencer 1.0" in metrics


def _wait(predicate, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_postgres_sequencer_killed_another_replica_takes_over(tmp_path, policies, pg_url):
    shared_key = ("--set", f"chamberlain.audit.signingKeyFile={tmp_path / 'log.key'}")
    args = ("--policies", str(policies), "--audit-db", pg_url, *shared_key)
    with serve_process(*args) as (first, first_url):
        _wait(lambda: _is_sequencer(first_url))
        with serve_process(*args) as (_second, second_url):
            assert not _is_sequencer(second_url)
            load_first, load_second = Load("a", first_url), Load("b", second_url)
            load_first.wait_for(150)
            load_second.wait_for(150)
            first.kill()  # the sequencer dies mid-stream
            first.wait()
            load_first.end()
            _wait(lambda: _is_sequencer(second_url))  # the other replica took the role
            answered = len(load_second.acked)
            load_second.wait_for(answered + 150)
            load_second.end()
    logged = _logged(pg_url)  # the second replica closed cleanly: everything is sequenced
    for rid in load_first.acked | load_second.acked:
        assert logged[rid] == 2, f"{rid}: {logged[rid]} entries"
    assert all(n == 2 for n in logged.values())  # nothing duplicated
