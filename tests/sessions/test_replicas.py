"""Several `chamberlain serve` replicas on one PostgreSQL share sessions: a revoke reaches every replica's next
decision, and a budget of 10 under 100 concurrent checks spread over the replicas allows exactly 10."""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from chamberlain.sessions import SessionStore
from tests.audit.support import fresh_schema_url
from tests.server.support import ADMIN_AUTH, ADMIN_HASH, serve_process
from tests.sessions.conftest import POLICY, TOOLS, spec


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    """Three replicas on one PostgreSQL schema (one decision log, shared signing key), and the store URL."""
    tmp = tmp_path_factory.mktemp("replicas")
    policies = tmp / "policies"
    policies.mkdir()
    (policies / "invoice.yaml").write_text(POLICY)
    (policies / "tools.yaml").write_text(TOOLS)
    urls = fresh_schema_url()
    pg_url = next(urls)
    args = (
        "--policies",
        str(policies),
        "--audit-db",
        pg_url,
        "--set",
        f"chamberlain.audit.signingKeyFile={tmp / 'log.key'}",
        "--set",
        "server.adminAPI.enabled=true",
        "--set",
        f"server.adminAPI.adminCredentials.username={ADMIN_AUTH[0]}",
        "--set",
        f"server.adminAPI.adminCredentials.passwordHash={ADMIN_HASH}",
    )
    with contextlib.ExitStack() as stack:
        found = [stack.enter_context(serve_process(*args))[1] for _ in range(3)]
        yield pg_url, found
    with contextlib.suppress(StopIteration):
        next(urls)


def _check(url: str, session_id: str, client: httpx.Client, action: str = "tools/call::send_email") -> str:
    body = {
        "principal": {"id": "agent-7", "roles": ["agent"]},
        "resources": [{"actions": [action], "resource": {"kind": "mcp_tool", "id": "mail"}}],
        "auxData": {"session": {"id": session_id}},
    }
    answer = client.post(f"{url}/api/check/resources", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["results"][0]["actions"][action]


@pytest.mark.parametrize("count", [2, 3])
def test_a_revoke_on_one_replica_reaches_the_next_check_of_every_other(replicas, count):
    _, urls = replicas
    with httpx.Client(timeout=30) as client:
        opened = client.post(
            f"{urls[0]}/api/sessions", json={"subject": "alice", "agent": "agent-7"}, auth=ADMIN_AUTH
        )
        assert opened.status_code == 201, opened.text
        sid = opened.json()["id"]
        assert [_check(u, sid, client) for u in urls[:count]] == ["EFFECT_ALLOW"] * count
        revoked = client.post(
            f"{urls[0]}/api/sessions/{sid}/revoke", json={"reason": "kill switch"}, auth=ADMIN_AUTH
        )
        assert revoked.json()["state"] == "REVOKED"
        revoked_at = time.monotonic()
        seen = [_check(u, sid, client) for u in urls[1:count]]
        elapsed = time.monotonic() - revoked_at
    assert seen == ["EFFECT_DENY"] * (count - 1)  # the very next check on each other replica, no waiting
    print(
        f"revoke on one replica -> denied on the {count - 1} others: {elapsed * 1000:.1f} ms for those checks"
    )


def test_a_budget_of_ten_allows_exactly_ten_of_a_hundred_concurrent_checks(replicas):
    pg_url, urls = replicas
    store = SessionStore.open(pg_url)
    budget = {"name": "mail", "kind": "mcp_tool", "actions": ["tools/call::send_email"], "limit": 10}
    session = store.open_session(spec(budgets=[budget]), by="operator")
    with httpx.Client(limits=httpx.Limits(max_connections=60)) as client, ThreadPoolExecutor(30) as pool:
        effects = list(pool.map(lambda i: _check(urls[i % len(urls)], session.id, client), range(100)))
    assert effects.count("EFFECT_ALLOW") == 10
    assert store.get(session.id).budgets[0].used == 10
    store.close()
