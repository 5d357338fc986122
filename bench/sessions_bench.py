"""Benchmark what a session adds to a check: in process (the embedded PDP) and through the server, on
SQLite and PostgreSQL, and checks per second with sessions from several replicas on one PostgreSQL.

Run: ``python bench/sessions_bench.py [--seconds S]`` (``make bench``).

Every figure is measured in this run beside its peer: the same check without a session. A session
check reads the session (one query, for conditions), then charges it in one transaction holding the
session's row (``BEGIN IMMEDIATE`` / ``SELECT ... FOR UPDATE``): that transaction is the cost. A
check that names no session pays for looking up ``auxData.session`` only (``request_ref``).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
from tests.audit.support import postgres_available  # noqa: E402
from tests.server.support import serve_process  # noqa: E402
from tests.sessions.conftest import POLICY  # noqa: E402

from audit_bench import pg_schema  # noqa: E402
from chamberlain import PDP  # noqa: E402
from chamberlain.sessions import SessionStore, parse_settings, parse_spec  # noqa: E402
from chamberlain.sessions.join import request_ref  # noqa: E402

BUDGET = {"name": "payments", "kind": "invoice", "actions": ["pay"], "limit": 1e12, "cost": "R.attr.amount"}


def request(session_id: str = "") -> dict:
    body = {
        "principal": {"id": "agent-7", "roles": ["agent"]},
        "resources": [
            {
                "actions": ["pay", "view"],
                "resource": {"kind": "invoice", "id": "inv-1", "attr": {"amount": 5}},
            }
        ],
    }
    if session_id:
        body["auxData"] = {"session": {"id": session_id}}
    return body


def per_call(fn: Callable[[], object], seconds: float) -> float:
    """Median µs per call over five rounds."""
    rounds = []
    for _ in range(5):
        n, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 5:
            fn()
            n += 1
        rounds.append(elapsed / n * 1e6)
    return statistics.median(rounds)


def open_session(store: SessionStore, budget: bool) -> str:
    body = {"subject": "alice", "agent": "agent-7", "ttl": "1h", **({"budgets": [BUDGET]} if budget else {})}
    return store.open_session(parse_spec(body, parse_settings(None)), by="bench").id


def in_process(policies: Path, url: str, label: str, seconds: float) -> list[tuple[str, float]]:
    store = SessionStore.open(url)
    pdp = PDP.from_directory(policies, sessions=store)
    plain = request()
    rows = [(f"{label}: no session", per_call(lambda: pdp.check_resources(plain), seconds))]
    for budget in (False, True):
        named = request(open_session(store, budget))
        what = "session with a budget" if budget else "session, no budget"
        rows.append((f"{label}: {what}", per_call(lambda named=named: pdp.check_resources(named), seconds)))
    store.close()
    return rows


def through_server(
    policies: Path, args: tuple[str, ...], store_url: str, label: str, seconds: float
) -> list[tuple[str, float]]:
    rows = []
    with serve_process("--policies", str(policies), "--set", "chamberlain.audit.enabled=false", *args) as (
        _,
        url,
    ):
        store = SessionStore.open(store_url)
        session = open_session(store, True)
        store.close()
        with httpx.Client() as client:
            for what, body in (("no session", request()), ("session with a budget", request(session))):
                rows.append(
                    (
                        f"{label}: {what}",
                        per_call(
                            lambda body=body: client.post(f"{url}/api/check/resources", json=body), seconds
                        ),
                    )
                )
    return rows


def replicas(
    policies: Path, url: str, seconds: float, count: int = 3, threads: int = 12
) -> list[tuple[str, float]]:
    """Checks per second from ``threads`` clients spread over ``count`` replicas on one PostgreSQL."""
    rows = []
    args = (
        "--policies",
        str(policies),
        "--audit-db",
        url,
        "--set",
        "chamberlain.audit.enabled=false",
        "--set",
        f"chamberlain.sessions.db={url}",
    )
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(serve_process(*args))[1] for _ in range(count)]
        store = SessionStore.open(url)
        sessions = [open_session(store, True) for _ in range(threads)]
        store.close()
        for what, bodies in (
            ("no session", [request()] * threads),
            ("a session each, with a budget", [request(s) for s in sessions]),
        ):
            done = [0] * threads
            stop = time.perf_counter() + seconds

            def run(i: int, bodies=bodies, done=done, stop=stop) -> None:
                with httpx.Client() as client:
                    while time.perf_counter() < stop:
                        client.post(f"{urls[i % count]}/api/check/resources", json=bodies[i])
                        done[i] += 1

            workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            rows.append((f"{count} replicas, {threads} clients: {what}", sum(done) / seconds))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    opts = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sessions-bench-"))
    policies = tmp / "policies"
    policies.mkdir()
    (policies / "invoice.yaml").write_text(POLICY)
    body = request()
    lookup = per_call(lambda: request_ref(body), opts.seconds / 3)
    print(f"looking for auxData.session in a request that names none: {lookup * 1000:.0f} ns\n")
    sqlite = f"sqlite:///{tmp / 'decisions.db'}"
    rows = in_process(policies, sqlite, "embedded, SQLite", opts.seconds)
    pg_problem = postgres_available()
    if pg_problem:
        print(f"PostgreSQL skipped: {pg_problem}")
    else:
        with pg_schema() as url:
            rows += in_process(policies, url, "embedded, PostgreSQL", opts.seconds)
    state = tmp / "state"
    rows += through_server(
        policies,
        ("--state-dir", str(state)),
        f"sqlite:///{state / 'decisions.db'}",
        "server, SQLite",
        opts.seconds,
    )
    print("| check | µs per check | ÷ no session |\n|---|---:|---:|")
    base = 0.0
    for name, micros in rows:
        base = micros if name.endswith("no session") else base
        print(f"| {name} | {micros:,.1f} | {micros / base:.2f}x |")
    if not pg_problem:
        with pg_schema() as url:
            found = replicas(policies, url, opts.seconds)
        print("\n| replicas on one PostgreSQL | checks/s | ÷ no session |\n|---|---:|---:|")
        for name, rate in found:
            print(f"| {name} | {rate:,.0f} | {rate / found[0][1]:.2f}x |")


if __name__ == "__main__":
    main()
