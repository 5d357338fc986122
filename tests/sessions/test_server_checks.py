"""Sessions through the real server: CheckResources and AuthZEN answer 200 with denials and reasons, 400 only for
a malformed reference; health shows a session store that cannot be read."""

from __future__ import annotations

import httpx
import pytest

from tests.server.support import ThreadServer
from tests.sessions.conftest import PAYMENTS, spec


@pytest.fixture
def server(policies):
    with ThreadServer(policies) as running:
        yield running


def check(server, session, amount=1, actions=("pay",), principal="agent-7", **extra):
    body = {
        "principal": {"id": principal, "roles": ["agent"]},
        "resources": [
            {
                "actions": list(actions),
                "resource": {"kind": "invoice", "id": "inv-1", "attr": {"amount": amount}},
            }
        ],
        "auxData": {"session": session, **extra},
    }
    return httpx.post(f"{server.url}/api/check/resources", json=body, timeout=10)


def test_budget_and_revocation_over_http(server):
    store = server.app.state.sessions
    s = store.open_session(spec(budgets=[PAYMENTS]), by="operator")
    assert check(server, {"id": s.id}, 600).json()["results"][0]["actions"] == {"pay": "EFFECT_ALLOW"}
    answer = check(server, {"id": s.id}, 600)
    assert answer.status_code == 200
    result = answer.json()["results"][0]
    assert result["actions"] == {"pay": "EFFECT_DENY"}
    assert result["outputs"] == [
        {
            "src": "chamberlain.session#budget:payments",
            "action": "pay",
            "val": f"budget 'payments' of session {s.id} would be exceeded: used 600 of 1000, "
            "this action costs 600",
        }
    ]
    preview = check(server, {"id": s.id, "preview": True}, 400).json()
    assert (
        preview["results"][0]["actions"] == {"pay": "EFFECT_ALLOW"}
        and preview["chamberlain"]["session"]["preview"]
    )
    assert store.get(s.id).budgets[0].used == 600
    store.revoke(s.id, by="admin:carol", reason="enough")
    denied = check(server, {"id": s.id}, 1, actions=("pay", "view")).json()
    assert denied["results"][0]["actions"] == {"pay": "EFFECT_DENY", "view": "EFFECT_DENY"}
    assert denied["chamberlain"]["session"]["denied"] == f"session {s.id} is REVOKED by admin:carol (enough)"


def test_another_agent_and_unknown_sessions_are_denied_not_rejected(server):
    s = server.app.state.sessions.open_session(spec(), by="operator")
    other = check(server, {"id": s.id}, principal="agent-8")
    assert other.status_code == 200 and other.json()["chamberlain"]["session"]["check"] == "binding"
    unknown = check(server, {"id": "ses_00000000000000000000000000"})
    assert unknown.status_code == 200 and unknown.json()["results"][0]["actions"] == {"pay": "EFFECT_DENY"}


@pytest.mark.parametrize(
    ("session", "message"),
    [
        ({"id": "nope"}, "invalid request: auxData.session.id: expected a session id"),
        (
            {"id": "ses_00000000000000000000000000", "why": 1},
            "invalid request: auxData.session.why: unknown field",
        ),
        ([1], "invalid request: auxData.session: expected an object"),
    ],
)
def test_a_malformed_reference_is_a_400(server, session, message):
    answer = check(server, session)
    assert answer.status_code == 400 and answer.json()["message"].startswith(message)


def test_authzen_names_the_session_that_denied(server):
    s = server.app.state.sessions.open_session(spec(), by="operator")
    server.app.state.sessions.revoke(s.id, by="admin:carol")
    body = {
        "subject": {"type": "agent", "id": "agent-7", "properties": {"roles": ["agent"]}},
        "resource": {"type": "invoice", "id": "inv-1"},
        "action": {"name": "view"},
        "context": {"cerbos.auxData": {"session": {"id": s.id}}},
    }
    answer = httpx.post(f"{server.url}/access/v1/evaluation", json=body, timeout=10).json()
    assert answer == {
        "decision": False,
        "context": {"reason_admin": {"en": f"session {s.id} is REVOKED by admin:carol"}},
    }


def test_health_shows_an_unreadable_store_and_checks_fail_closed(server):
    store = server.app.state.sessions
    s = store.open_session(spec(), by="operator")
    with store._using() as db:
        db.execute("ALTER TABLE chamberlain_sessions RENAME TO moved_away")
    denied = check(server, {"id": s.id}).json()
    assert denied["results"][0]["actions"] == {"pay": "EFFECT_DENY"}
    assert denied["chamberlain"]["session"]["check"] == "store"
    health = httpx.get(f"{server.url}/_cerbos/health", timeout=10).json()
    assert health["status"] == "SERVING" and health["chamberlain"]["sessions"]["state"] == "UNAVAILABLE"
    assert "chamberlain_sessions" in health["chamberlain"]["sessions"]["reason"]
    with store._using() as db:
        db.execute("ALTER TABLE moved_away RENAME TO chamberlain_sessions")
    assert "chamberlain" not in httpx.get(f"{server.url}/_cerbos/health", timeout=10).json()
    assert check(server, {"id": s.id}).json()["results"][0]["actions"] == {"pay": "EFFECT_ALLOW"}


def test_a_plan_spends_nothing_and_is_denied_once_the_session_is_over(server):
    store = server.app.state.sessions
    s = store.open_session(spec(budgets=[PAYMENTS]), by="operator")
    body = {
        "action": "pay",
        "principal": {"id": "agent-7", "roles": ["agent"]},
        "resource": {"kind": "invoice"},
        "auxData": {"session": {"id": s.id}},
    }
    plan = httpx.post(f"{server.url}/api/plan/resources", json=body, timeout=10).json()
    assert plan["filter"]["kind"] == "KIND_ALWAYS_ALLOWED" and store.get(s.id).budgets[0].used == 0
    store.revoke(s.id, by="admin:carol")
    plan = httpx.post(f"{server.url}/api/plan/resources", json=body, timeout=10).json()
    assert plan["filter"]["kind"] == "KIND_ALWAYS_DENIED"
    assert plan["chamberlain"]["session"]["denied"] == f"session {s.id} is REVOKED by admin:carol"


def test_a_check_naming_a_session_is_charged_off_the_event_loop(server):
    """The charge is a database transaction: the server decides such checks on a worker thread (counted)."""
    store = server.app.state.sessions
    s = store.open_session(spec(budgets=[PAYMENTS]), by="operator")
    moved = server.app.state.metrics.moved.labels("session")
    before = moved._value.get()
    assert check(server, {"id": s.id}, 10).json()["results"][0]["actions"] == {"pay": "EFFECT_ALLOW"}
    assert moved._value.get() == before + 1
    plain = {
        "principal": {"id": "agent-7", "roles": ["agent"]},
        "resources": [
            {"actions": ["pay"], "resource": {"kind": "invoice", "id": "i", "attr": {"amount": 1}}}
        ],
    }
    httpx.post(f"{server.url}/api/check/resources", json=plain, timeout=10)
    assert moved._value.get() == before + 1  # a check that names no session stays on the loop
