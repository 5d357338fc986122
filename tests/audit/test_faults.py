"""Faults of the decision log's store: denied with a reason, reported by health and metrics, recovered from.

- PostgreSQL: the connection cut by a proxy on loopback, and ended by ``pg_terminate_backend``;
- SQLite: a full disk (a size-limited tmpfs in a mount namespace of its own), and files that become
  unwritable (``chattr +i``: immutable, refused even to root).

Each test sends checks through a real server, sees them denied with the log's reason, health
NOT_SERVING (503) and the metrics, then gives the store back and sees the server recover on its
own; afterwards every check that was answered ALLOW is in the log, which verifies.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from chamberlain.audit.storage.reader import AuditReader, Filter
from chamberlain.audit.tools.verify import verify
from chamberlain.store import parse_url
from chamberlain.store.db import open_database
from tests.audit.support import POSTGRES, fresh_schema_url
from tests.server.support import REPO, ThreadServer, _wait_healthy
from tests.support.cerbos_server import free_port
from tests.support.tcp_proxy import TcpProxy


def _check(url: str, rid: str) -> tuple[str, dict]:
    body = {
        "requestId": rid,
        "principal": {"id": "alice", "roles": ["user"], "attr": {"level": 3}},
        "resources": [{"actions": ["view"], "resource": {"kind": "document", "id": rid, "attr": {}}}],
    }
    answer = httpx.post(f"{url}/api/check/resources", json=body, timeout=30).json()
    return answer["results"][0]["actions"]["view"], answer


class Traffic:
    """Checks sent one at a time; ``allowed`` holds the request ids answered ALLOW."""

    def __init__(self, url: str):
        self.url = url
        self.allowed: set[str] = set()
        self.n = 0

    def send(self) -> tuple[str, dict]:
        self.n += 1
        rid = f"r-{self.n}"
        effect, answer = _check(self.url, rid)
        if effect == "EFFECT_ALLOW":
            self.allowed.add(rid)
        return effect, answer

    def until_denied(self, limit: float = 30) -> dict:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            effect, answer = self.send()
            if effect == "EFFECT_DENY":
                return answer
        raise AssertionError("checks were never denied after the store went away")

    def until_allowed(self, limit: float = 30) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.send()[0] == "EFFECT_ALLOW":
                return
            time.sleep(0.1)
        raise AssertionError(f"the server did not recover within {limit} s")


def _health(url: str) -> tuple[int, dict]:
    response = httpx.get(f"{url}/_cerbos/health", timeout=10)
    return response.status_code, response.json()


def _metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def _wait_for(predicate, limit: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _assert_outage_reported(url: str, answer: dict, needle: str) -> None:
    assert needle in answer["chamberlain"]["decisionLog"], answer
    status, body = _health(url)
    assert status == 503 and body["status"] == "NOT_SERVING", body
    assert body["chamberlain"]["decisionLog"]["state"] == "UNAVAILABLE"
    assert body["chamberlain"]["decisionLog"]["reason"]
    assert _metric(url, "chamberlain_audit_log_up") == 0
    assert _metric(url, "chamberlain_audit_denied_checks_total") >= 1
    assert _metric(url, "chamberlain_audit_outages_total") >= 1


def _assert_all_allowed_logged(url: str, allowed: set[str]) -> None:
    db = open_database(url)
    try:
        report = verify(db)
        assert report.ok, report.problem
        logged = {e["request_id"] for e in AuditReader(db).search(Filter(limit=10_000))}
    finally:
        db.close()
    assert allowed <= logged, f"answered ALLOW but not in the log: {sorted(allowed - logged)[:5]}"


# -- PostgreSQL --------------------------------------------------------------------------------------


@pytest.fixture
def pg_schema_url():
    yield from fresh_schema_url()


def _pg_through(proxy: TcpProxy, url: str) -> str:
    return url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")


def test_postgres_cut_by_a_proxy_denies_reports_and_recovers(policies, pg_schema_url, caplog):
    assert "127.0.0.1:5432" in POSTGRES, "the test proxies the default test database"
    proxy = TcpProxy(("127.0.0.1", 5432))
    overrides = {"chamberlain": {"audit": {"db": _pg_through(proxy, pg_schema_url), "writeTimeout": "5s"}}}
    caplog.set_level(logging.WARNING, logger="chamberlain.audit")
    try:
        with ThreadServer(policies, overrides) as server:
            traffic = Traffic(server.url)
            for _ in range(5):
                assert traffic.send()[0] == "EFFECT_ALLOW"
            assert _health(server.url)[0] == 200 and _metric(server.url, "chamberlain_audit_log_up") == 1
            proxy.cut()
            answer = traffic.until_denied()
            _assert_outage_reported(server.url, answer, "decision log unavailable")
            time.sleep(1.0)  # still down a while later: still reported, still denied
            assert traffic.send()[0] == "EFFECT_DENY" and _health(server.url)[0] == 503
            assert any(
                r.levelno >= logging.ERROR and "decision log unavailable" in r.getMessage()
                for r in caplog.records
            ), [r.getMessage() for r in caplog.records]
            proxy.restore()
            _wait_for(lambda: _health(server.url)[0] == 200, what="health to come back")
            traffic.until_allowed()
            assert _metric(server.url, "chamberlain_audit_log_up") == 1
            assert any("available again" in r.getMessage() for r in caplog.records)
            for _ in range(5):
                assert traffic.send()[0] == "EFFECT_ALLOW"
    finally:
        proxy.close()
    _assert_all_allowed_logged(pg_schema_url, traffic.allowed)


def test_postgres_backends_terminated_denies_then_recovers(policies, pg_schema_url):
    app = f"chamberlain-fault-{os.getpid()}-{time.monotonic_ns()}"
    url = f"{pg_schema_url}&application_name={app}"
    with ThreadServer(policies, {"chamberlain": {"audit": {"db": url}}}) as server:
        traffic = Traffic(server.url)
        for _ in range(3):
            assert traffic.send()[0] == "EFFECT_ALLOW"
        admin = open_database(parse_url(POSTGRES))
        try:
            ended = admin.value(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = ?",
                (app,),
            )
        finally:
            admin.close()
        assert ended >= 2  # the writer's, the reader's and the sequencer's connections
        # the database is back at once: the writer notices on its next write, reconnects, and goes on
        effect, answer = traffic.send()
        if effect == "EFFECT_DENY":
            assert "decision log unavailable" in answer["chamberlain"]["decisionLog"]
        traffic.until_allowed()
        _wait_for(lambda: _health(server.url)[0] == 200, what="health")
        assert (
            httpx.get(f"{server.url}/api/audit/head", timeout=10).status_code == 200
        )  # the reader reconnected
    _assert_all_allowed_logged(pg_schema_url, traffic.allowed)


# -- SQLite --------------------------------------------------------------------------------------------


def _chattr(flag: str, *paths: Path) -> None:
    subprocess.run(["chattr", flag, *map(str, paths)], check=True, capture_output=True)


def test_sqlite_files_made_read_only_deny_then_recover(policies, tmp_path):
    if shutil.which("chattr") is None:
        pytest.fail("chattr (e2fsprogs) is needed to make the log's files immutable")
    db = tmp_path / "decisions.db"
    with ThreadServer(policies, {"chamberlain": {"audit": {"db": f"sqlite:///{db}"}}}) as server:
        traffic = Traffic(server.url)
        for _ in range(3):
            assert traffic.send()[0] == "EFFECT_ALLOW"
        files = [p for p in (db, db.with_name("decisions.db-wal")) if p.exists()]
        try:
            _chattr("+i", *files)
        except subprocess.CalledProcessError as exc:
            pytest.fail(f"cannot make the files immutable on this file system: {exc.stderr}")
        try:
            answer = traffic.until_denied()
            _assert_outage_reported(server.url, answer, "decision log unavailable")
        finally:
            _chattr("-i", *files)
        _wait_for(lambda: _health(server.url)[0] == 200, what="health to come back")
        traffic.until_allowed()
    _assert_all_allowed_logged(f"sqlite:///{db}", traffic.allowed)


def test_sqlite_disk_full_denies_then_recovers(policies, tmp_path):
    """The log on a 2 MiB tmpfs filled by a ballast file; removing the ballast frees the disk."""
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to mount a size-limited tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    chamberlain = Path(sys.executable).parent / "chamberlain"
    script = (
        f"mount -t tmpfs -o size=2m tmpfs {disk} && head -c 1800k /dev/zero > {disk}/ballast && "
        f"exec {chamberlain} serve --policies {policies} --state-dir {disk} --http 127.0.0.1:{port}"
    )
    proc = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    inside = Path(f"/proc/{proc.pid}/root") / str(disk).lstrip(
        "/"
    )  # the tmpfs, seen through the server's namespace
    try:
        try:
            _wait_healthy(url, proc=proc)
        except RuntimeError:
            pytest.fail(
                f"server on a tmpfs did not start: {proc.stderr.read().decode()[-2000:] if proc.poll() is not None else ''}"
            )
        traffic = Traffic(url)
        answer = traffic.until_denied(limit=120)
        _assert_outage_reported(url, answer, "full")
        (inside / "ballast").unlink()
        _wait_for(lambda: _health(url)[0] == 200, what="health after freeing the disk")
        traffic.until_allowed()
        assert traffic.allowed
        with contextlib.suppress(FileNotFoundError):
            shutil.copy(inside / "decisions.db", tmp_path / "copy.db")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert re.search(rb'"level":"error","logger":"chamberlain.audit","msg":"decision log unavailable', err), (
        err[-3000:]
    )
