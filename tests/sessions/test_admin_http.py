"""The sessions' admin API over real HTTP, through the admin surface (basic auth, the shipped admin policy)."""

from __future__ import annotations

import httpx
import pytest

from tests.server.support import ADMIN_AUTH, ThreadServer, admin_on
from tests.sessions.conftest import PAYMENTS


@pytest.fixture
def server(policies):
    with ThreadServer(policies, {"server": admin_on()}) as running:
        yield running


def check(server, session_id, amount):
    body = {
        "principal": {"id": "agent-7", "roles": ["agent"]},
        "resources": [
            {"actions": ["pay"], "resource": {"kind": "invoice", "id": "i", "attr": {"amount": amount}}}
        ],
        "auxData": {"session": {"id": session_id}},
    }
    return httpx.post(f"{server.url}/api/check/resources", json=body, timeout=10).json()["results"][0][
        "actions"
    ]["pay"]


def test_open_read_list_settle_revoke_and_lock_over_http(server):
    with httpx.Client(base_url=server.url, auth=ADMIN_AUTH, timeout=10) as admin:
        opened = admin.post(
            "/api/sessions",
            json={
                "subject": "alice",
                "agent": "agent-7",
                "ttl": "10m",
                "idleTimeout": "2m",
                "budgets": [PAYMENTS],
            },
        )
        assert opened.status_code == 201, opened.text
        sid = opened.json()["id"]
        assert check(server, sid, 700) == "EFFECT_ALLOW"
        shown = admin.get(f"/api/sessions/{sid}").json()
        assert (shown["state"], shown["budgets"][0]["used"], shown["openedBy"]) == ("ACTIVE", 700, "operator")
        assert [
            s["id"] for s in admin.get("/api/sessions", params={"state": "ACTIVE"}).json()["sessions"]
        ] == [sid]
        assert (
            admin.post(f"/api/sessions/{sid}/settle", json={"budget": "payments", "amount": 250}).status_code
            == 200
        )
        assert check(server, sid, 100) == "EFFECT_DENY"  # 950 used: the next 100 does not fit
        revoked = admin.post(f"/api/sessions/{sid}/revoke", json={"reason": "done"})
        assert (revoked.status_code, revoked.json()["state"]) == (200, "REVOKED")
        assert check(server, sid, 1) == "EFFECT_DENY"
        lock = admin.post("/api/locks", json={"target": "agent", "value": "agent-7", "reason": "review"})
        assert lock.status_code == 201
        refused = admin.post("/api/sessions", json={"subject": "alice", "agent": "agent-7"})
        assert refused.status_code == 409 and "agent 'agent-7' is locked" in refused.json()["message"]
        assert admin.delete(f"/api/locks/{lock.json()['id']}").status_code == 200
        everyone = admin.post("/api/sessions/revoke", json={"agent": "agent-7"})
        assert everyone.status_code == 200 and everyone.json() == {"revoked": []}


def test_the_admin_surface_guards_the_sessions_api(server):
    assert (
        httpx.post(f"{server.url}/api/sessions", json={"subject": "a", "agent": "b"}, timeout=10).status_code
        == 401
    )
    wrong = httpx.get(f"{server.url}/api/sessions", auth=(ADMIN_AUTH[0], "wrong"), timeout=10)
    assert wrong.status_code == 401
    bad = httpx.post(
        f"{server.url}/api/sessions",
        auth=ADMIN_AUTH,
        json={"subject": "a", "agent": "b", "ttl": "99h"},
        timeout=10,
    )
    assert (
        bad.status_code == 400
        and bad.json()["message"] == "ttl: '99h' is longer than the allowed maximum of 86400s"
    )
