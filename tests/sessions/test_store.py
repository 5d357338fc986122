"""The session store on SQLite and PostgreSQL: lifecycle, expiry by a controlled clock, locks, settling."""

from __future__ import annotations

import pytest

from chamberlain.sessions import ACTIVE, EXPIRED, REVOKED, InvalidSession, SessionLocked, SessionNotFound
from chamberlain.sessions.store import Item
from tests.sessions.conftest import PAYMENTS, spec


def _bound(_session):
    return ""


def test_open_get_and_list_in_pages(store):
    opened = [store.open_session(spec(agent=f"agent-{i}"), by="operator") for i in range(5)]
    assert store.get(opened[0].id).state == ACTIVE
    page, cursor = store.list(ACTIVE, limit=2)
    assert [s.id for s in page] == [opened[0].id, opened[1].id]
    seen = [s.id for s in page]
    while cursor:
        page, cursor = store.list(ACTIVE, after=cursor, limit=2)
        seen += [s.id for s in page]
    assert seen == [s.id for s in opened]
    with pytest.raises(SessionNotFound):
        store.get("ses_00000000000000000000000000")


def test_ttl_and_idle_timeout_follow_the_clock(store, clock):
    short = store.open_session(spec(ttl="10m", idleTimeout="0s"), by="operator")
    idle = store.open_session(spec(ttl="1h", idleTimeout="2m"), by="operator")
    clock.advance(90)
    assert store.charge(idle.id, _bound, []).denial == ""  # activity restarts the idle timeout
    clock.advance(90)
    assert store.get(idle.id).state == ACTIVE
    clock.advance(121)
    found = store.get(idle.id)
    assert (found.state, found.ended_by, found.end_reason) == (
        EXPIRED,
        "chamberlain:timeout",
        "expired (idle timeout)",
    )
    assert store.get(short.id).state == ACTIVE
    clock.advance(600)
    charged = store.charge(short.id, _bound, [])
    assert charged.check == "state" and "EXPIRED" in charged.denial and "ttl" in charged.denial


def test_revoke_one_and_all_of_an_agent(store):
    a = store.open_session(spec(agent="agent-a"), by="operator")
    b1 = store.open_session(spec(agent="agent-b"), by="operator")
    b2 = store.open_session(spec(agent="agent-b", subject="bob"), by="operator")
    revoked = store.revoke(a.id, by="admin:carol", reason="leaked")
    assert (revoked.state, revoked.ended_by, revoked.end_reason) == (REVOKED, "admin:carol", "leaked")
    assert sorted(store.revoke_all(by="admin:carol", agent="agent-b")) == sorted([b1.id, b2.id])
    assert {s.state for s in store.list()[0]} == {REVOKED}
    denial = store.charge(b1.id, _bound, [])
    assert denial.check == "state" and "REVOKED by admin:carol" in denial.denial
    with pytest.raises(InvalidSession):
        store.revoke_all(by="x")


def test_budget_is_spent_in_order_and_an_overspend_is_refused(store):
    s = store.open_session(spec(budgets=[PAYMENTS]), by="operator")
    items = [
        Item((0, "pay"), (("payments", 600.0),)),
        Item((1, "pay"), (("payments", 600.0),)),
        Item((2, "pay"), (("payments", 400.0),)),
    ]
    charged = store.charge(s.id, _bound, items)
    assert list(charged.refused) == [(1, "pay")]
    check, reason = charged.refused[(1, "pay")]
    assert check == "budget:payments"
    assert "used 600 of 1000, this action costs 600" in reason
    assert store.get(s.id).budgets[0].used == 1000


def test_preview_spends_nothing(store):
    s = store.open_session(spec(budgets=[PAYMENTS]), by="operator")
    assert store.charge(s.id, _bound, [Item((0, "pay"), (("payments", 999.0),))], preview=True).refused == {}
    assert store.get(s.id).budgets[0].used == 0


def test_rate_limit_slides(store, clock):
    s = store.open_session(spec(rateLimits=[{"kind": "*", "actions": ["*"], "max": 2, "per": "1m"}]), by="op")
    hit = [Item((0, "view"), (), (0,))]
    assert store.charge(s.id, _bound, hit).refused == {}
    clock.advance(30)
    assert store.charge(s.id, _bound, hit).refused == {}
    assert store.charge(s.id, _bound, hit).refused[(0, "view")][0] == "rate"
    clock.advance(31)  # the first call left the window
    assert store.charge(s.id, _bound, hit).refused == {}


def test_settle_records_the_actual_cost(store):
    s = store.open_session(spec(budgets=[PAYMENTS]), by="operator")
    assert store.settle(s.id, "payments", 1200, by="gateway").budgets[0].used == 1200
    charged = store.charge(s.id, _bound, [Item((0, "pay"), (("payments", 1.0),))])
    assert charged.refused[(0, "pay")][0] == "budget:payments"
    with pytest.raises(InvalidSession, match="no budget 'tokens'"):
        store.settle(s.id, "tokens", 1, by="gateway")
    with pytest.raises(InvalidSession, match="non-negative"):
        store.settle(s.id, "payments", -5, by="gateway")


def test_locks_refuse_sessions_and_checks_until_lifted_or_expired(store, clock):
    s = store.open_session(spec(agent="agent-9"), by="operator")
    lock = store.add_lock("agent", "agent-9", by="admin:carol", reason="misbehaving")
    with pytest.raises(SessionLocked, match="agent 'agent-9' is locked"):
        store.open_session(spec(agent="agent-9"), by="operator")
    denial = store.charge(s.id, _bound, [])
    assert denial.check == "lock" and "misbehaving" in denial.denial
    store.remove_lock(lock.id, by="admin:carol")
    assert store.charge(s.id, _bound, []).denial == ""
    store.add_lock("tool", "send_email", by="admin:carol", ttl=60)
    assert store.charge(s.id, _bound, [], tools=["send_email"]).check == "lock"
    clock.advance(61)
    assert store.charge(s.id, _bound, [], tools=["send_email"]).denial == ""
    assert store.locks() == []


def test_binding_is_checked(store):
    s = store.open_session(spec(), by="operator")
    charged = store.charge(s.id, lambda found: f"not {found.agent}", [])
    assert (charged.check, charged.denial) == ("binding", "not agent-7")


def test_transitions_name_who_caused_them(store, clock):
    seen = []
    store.on_transition = seen.append
    s = store.open_session(spec(ttl="1m"), by="operator")
    clock.advance(61)
    store.get(s.id)
    lock = store.add_lock("subject", "alice", by="admin:carol")
    store.remove_lock(lock.id, by="admin:dave")
    assert [(t.action, t.by) for t in seen] == [
        ("session:open", "operator"),
        ("session:expire", "chamberlain:timeout"),
        ("lock:create", "admin:carol"),
        ("lock:remove", "admin:dave"),
    ]
