"""Suspending a session: its checks are denied until it is resumed; its ttl runs on, its idle timeout does not."""

from __future__ import annotations

import httpx
import pytest

from chamberlain.sessions import ACTIVE, EXPIRED, REVOKED
from chamberlain.sessions.errors import SessionStateConflict
from chamberlain.sessions.model import SUSPENDED
from tests.server.support import ADMIN_AUTH, ThreadServer, admin_on
from tests.sessions.conftest import spec


def _bound(_session):
    return ""


def test_a_suspended_session_is_denied_until_resumed(store):
    seen = []
    store.on_transition = seen.append
    s = store.open_session(spec(), by="operator")
    suspended = store.suspend(s.id, by="admin:carol", reason="looks odd")
    assert (suspended.state, suspended.ended_by, suspended.end_reason) == (
        SUSPENDED,
        "admin:carol",
        "looks odd",
    )
    charged = store.charge(s.id, _bound, [])
    assert charged.check == "state"
    assert charged.denial == f"session {s.id} is SUSPENDED by admin:carol (looks odd)"
    assert [x.id for x in store.list(SUSPENDED)[0]] == [s.id]
    resumed = store.resume(s.id, by="admin:dave")
    assert (resumed.state, resumed.ended_by, resumed.end_reason) == (ACTIVE, "", "")
    assert not store.charge(s.id, _bound, []).denial
    assert [(t.action, t.by, t.reason) for t in seen[1:]] == [
        ("session:suspend", "admin:carol", "looks odd"),
        ("session:resume", "admin:dave", ""),
    ]


def test_the_ttl_runs_while_suspended_and_the_idle_timeout_does_not(store, clock):
    s = store.open_session(spec(ttl="1h", idleTimeout="2m"), by="operator")
    store.suspend(s.id, by="op")
    clock.advance(600)  # past the idle timeout: still suspended, not expired
    assert store.get(s.id).state == SUSPENDED
    assert store.resume(s.id, by="op").state == ACTIVE  # the idle timeout starts again now
    assert store.get(s.id).state == ACTIVE
    store.suspend(s.id, by="op")
    clock.advance(3600)
    assert store.sweep() == [s.id]
    assert store.get(s.id).state == EXPIRED


def test_changes_that_do_not_fit_the_state_are_refused(store, clock):
    s = store.open_session(spec(ttl="1m"), by="operator")
    with pytest.raises(SessionStateConflict, match=f"session {s.id} is ACTIVE, not SUSPENDED"):
        store.resume(s.id, by="op")
    store.suspend(s.id, by="op")
    with pytest.raises(SessionStateConflict, match="is SUSPENDED, not ACTIVE"):
        store.suspend(s.id, by="op")
    clock.advance(61)
    with pytest.raises(SessionStateConflict, match="is EXPIRED, not SUSPENDED"):
        store.resume(s.id, by="op")
    assert store.get(s.id).state == EXPIRED  # the expiry found on the way stays


def test_revoking_a_suspended_session_and_every_session_of_its_agent(store):
    one, two = store.open_session(spec(), by="op"), store.open_session(spec(), by="op")
    store.suspend(one.id, by="op")
    assert store.revoke(one.id, by="op").state == REVOKED
    store.suspend(two.id, by="op")
    assert store.revoke_all(by="op", agent="agent-7") == [two.id]


def test_suspend_and_resume_over_http(policies):
    body = {
        "principal": {"id": "agent-7", "roles": ["agent"]},
        "resources": [
            {"actions": ["view"], "resource": {"kind": "invoice", "id": "i", "attr": {"amount": 1}}}
        ],
    }
    with (
        ThreadServer(policies, {"server": admin_on()}) as server,
        httpx.Client(base_url=server.url, auth=ADMIN_AUTH, timeout=10) as admin,
    ):
        sid = admin.post("/api/sessions", json={"subject": "alice", "agent": "agent-7"}).json()["id"]

        def effect() -> str:
            answer = httpx.post(
                f"{server.url}/api/check/resources",
                json={**body, "auxData": {"session": {"id": sid}}},
                timeout=10,
            ).json()
            return answer["results"][0]["actions"]["view"]

        assert effect() == "EFFECT_ALLOW"
        suspended = admin.post(f"/api/sessions/{sid}/suspend", json={"reason": "investigating"})
        assert (suspended.status_code, suspended.json()["state"]) == (200, "SUSPENDED")
        assert effect() == "EFFECT_DENY"
        again = admin.post(f"/api/sessions/{sid}/suspend", json={})
        assert again.status_code == 409 and "is SUSPENDED, not ACTIVE" in again.json()["message"]
        assert admin.post(f"/api/sessions/{sid}/resume", json={"bogus": 1}).status_code == 400
        assert admin.post(f"/api/sessions/{sid}/resume", json={}).json()["state"] == "ACTIVE"
        assert effect() == "EFFECT_ALLOW"
        assert httpx.post(f"{server.url}/api/sessions/{sid}/suspend", json={}, timeout=10).status_code == 401
