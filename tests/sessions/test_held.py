"""A check that reads its session and charges it in one transaction (``SessionStore.held``, ``join_held``: the
MCP gateway's way), on SQLite and PostgreSQL: concurrent callers on one session never overspend it, and each
decides with the session exactly as it is charged."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from dataclasses import fields, replace

import pytest

from chamberlain import PDP, Principal, Resource
from chamberlain.engine import AuxData, CheckInput
from chamberlain.sessions import SessionStore
from chamberlain.sessions.guard import SessionGuard, SessionRef
from chamberlain.sessions.join import join_held
from chamberlain.sessions.model import Budget, RateLimit, Session
from chamberlain.sessions.store import Item
from chamberlain.store.owned import Busy
from tests.sessions.conftest import PAYMENTS, spec

AGENT = Principal("agent-7", ["agent"])
CALLERS = 4
ATTEMPTS = 5  # each caller's checks: 20 in all, for a budget that allows 10


def _check(pdp: PDP, guard: SessionGuard, session_id: str) -> tuple[bool, bool, str]:
    """``approve_big`` (its condition reads the session's remaining budget) and ``pay`` (charged): both decided
    in the transaction that charges the session. Returns (approve_big allowed, pay allowed, pay's policy)."""
    with join_held(guard, SessionRef(session_id)) as joined:
        inputs = joined.inputs(
            [CheckInput(AGENT, Resource("invoice", "inv-1", {"amount": 100}), ("approve_big", "pay"))]
        )
        outputs = pdp.engine.check(inputs, dt.datetime.now(dt.UTC))
        joined.enforce(inputs, outputs, dt.datetime.now(dt.UTC))
    actions = outputs[0].actions
    return actions["approve_big"].allowed, actions["pay"].allowed, actions["pay"].policy


def test_concurrent_checks_never_overspend_and_decide_with_the_session_they_charge(policies, store_url):
    pdp = PDP.from_directory(policies)
    budget = {**PAYMENTS, "cost": "R.attr.amount"}  # 1000, each pay costs 100: ten fit
    owner = SessionStore.open(store_url)
    session = owner.open_session(spec(budgets=[budget]), by="test")
    stores = [SessionStore.open(store_url) for _ in range(CALLERS)]  # a connection each: real contention
    outcomes: list[tuple[bool, bool, str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(CALLERS)

    def caller(store: SessionStore) -> None:
        guard = SessionGuard(store)
        try:
            start.wait(30)
            for _ in range(ATTEMPTS):
                outcomes.append(_check(pdp, guard, session.id))
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert not errors, errors
        assert len(outcomes) == CALLERS * ATTEMPTS
        assert sum(pay for _, pay, _ in outcomes) == 10
        assert owner.get(session.id).budgets[0].used == 1000
        # the condition saw the remaining budget as the charge found it: never "enough left" and then refused
        for approve_big, pay, policy in outcomes:
            assert approve_big == pay, (approve_big, pay, policy)
            if not pay:
                assert policy == "chamberlain.session#budget:payments"
    finally:
        for s in [owner, *stores]:
            s.close()


def test_a_revoked_expired_or_locked_session_is_denied_in_the_held_transaction(store, clock):
    ended = store.open_session(spec(), by="operator")
    store.revoke(ended.id, by="operator", reason="done")
    lapsing = store.open_session(spec(ttl="1m"), by="operator")
    locked = store.open_session(spec(agent="agent-9"), by="operator")
    store.add_lock("agent", "agent-9", by="operator", reason="misbehaving")
    clock.advance(61)
    item = [Item((0, "pay"), (("x", 1.0),))]
    with store.held(ended.id) as hold:
        assert hold.session is not None and hold.session.state == "REVOKED"
        denied = hold.charge(lambda s: "", item)
    assert denied.denial == f"session {ended.id} is REVOKED by operator (done)" and denied.check == "state"
    with store.held(lapsing.id) as hold:
        assert hold.session is not None and hold.session.state == "EXPIRED"  # what the decision sees
        denied = hold.charge(lambda s: "", item)
    assert denied.denial == f"session {lapsing.id} is EXPIRED (expired (ttl))"
    assert store.get(lapsing.id).state == "EXPIRED"  # the expiry found on the way is committed
    with store.held(locked.id) as hold:
        denied = hold.charge(lambda s: "", item)
    assert denied.check == "lock" and "misbehaving" in denied.denial
    with store.held("ses_01J00000000000000000000000") as hold:
        assert hold.session is None
        assert hold.charge(lambda s: "", item).denial == "unknown session ses_01J00000000000000000000000"


def test_nothing_is_charged_when_the_decision_fails_inside(store):
    s = store.open_session(spec(budgets=[{**PAYMENTS, "cost": "1"}]), by="operator")
    try:
        with store.held(s.id) as hold:
            hold.charge(lambda _: "", [Item((0, "pay"), (("payments", 1.0),))])
            raise RuntimeError("the decision failed after the charge")
    except RuntimeError:
        pass
    after = store.get(s.id)
    assert after.budgets[0].used == 0 and after.calls == 0


def test_a_store_used_without_waiting_waits_again_when_used_otherwise(tmp_path):
    path = tmp_path / "decisions.db"
    store = SessionStore.open(f"sqlite:///{path}")
    s = store.open_session(spec(), by="operator")
    with store.without_waiting():  # on the loop: the lock was free
        assert not store.charge(s.id, lambda _: "", []).denial
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock
    try:
        with pytest.raises(Busy), store.without_waiting():
            store.charge(s.id, lambda _: "", [])
        release = threading.Timer(0.3, holder.execute, ("COMMIT",))
        release.start()
        # a worker thread's charge waits for the lock (busy_timeout is back), then charges
        assert not store.charge(s.id, lambda _: "", []).denial
        release.join()
    finally:
        holder.close()
    assert store.get(s.id).calls == 2
    store.close()


def test_an_input_joined_to_a_session_keeps_every_other_field():
    """``CheckInput.in_session`` builds the joined input field by field (cheaper than ``dataclasses.replace``):
    it must equal what ``replace`` makes, and the field lists pin it, so a field added later fails here until
    ``in_session`` carries it."""
    inp = CheckInput(
        AGENT,
        Resource("invoice", "inv-1", {"amount": 100}),
        ("pay",),
        AuxData(jwt={"sub": "sam"}, jwts={"idp": {"sub": "sam"}}, delegation={"chain": ["planner"]}),
        "req-1",
        "",
        ("planner", "agent-7"),
        "apr_1",
    )
    view = {"id": "ses_1", "budgets": {}}
    expected = replace(inp, aux_data=replace(inp.aux_data, session=view), session_id="ses_1")
    assert inp.in_session("ses_1", view) == expected
    assert inp.in_session("ses_1", None) == replace(inp, session_id="ses_1")
    assert [f.name for f in fields(CheckInput)] == [
        "principal",
        "resource",
        "actions",
        "aux_data",
        "request_id",
        "session_id",
        "actor_chain",
        "approval_id",
    ]
    assert [f.name for f in fields(AuxData) if f.init] == ["jwt", "jwts", "delegation", "session"]


def test_a_charged_session_keeps_every_other_field():
    """``Session.charged`` builds the charged session field by field: it must equal ``dataclasses.replace``'s,
    and the field list pins it (a field added later fails here until ``charged`` carries it)."""
    s = Session(
        "ses_1",
        "sam",
        "agent-7",
        ("planner",),
        "ACTIVE",
        1.0,
        99.0,
        30.0,
        2.0,
        "test",
        (Budget("eur", "invoice", ("pay",), 100.0, "R.attr.amount", 5.0),),
        (RateLimit("invoice", ("pay",), 3, 60.0),),
        4,
        {"ticket": "T-1"},
        None,
        "",
        "",
        ((1.5,),),
    )
    budgets = (Budget("eur", "invoice", ("pay",), 100.0, "R.attr.amount", 25.0),)
    hits = ((1.5, 3.0),)
    assert s.charged(budgets, 3.0, hits) == replace(
        s, budgets=budgets, last_used_at=3.0, calls=5, rate_hits=hits
    )
    assert [f.name for f in fields(Session)] == [
        "id",
        "subject",
        "agent",
        "chain",
        "state",
        "created_at",
        "expires_at",
        "idle_timeout",
        "last_used_at",
        "opened_by",
        "budgets",
        "rate_limits",
        "calls",
        "metadata",
        "ended_at",
        "ended_by",
        "end_reason",
        "rate_hits",
    ]
