"""Budgets that span sessions: per agent or per subject, per window (``chamberlain.sessions.standingBudgets``).

An agent that opens a new session gets a fresh session budget, but not a fresh standing one: every
session of the same agent (or acting for the same subject) spends from one budget per window, atomically
across processes, and the next window starts again from zero.
"""

from __future__ import annotations

import multiprocessing

import pytest
import yaml

from chamberlain import PDP, Principal, Resource
from chamberlain.sessions import SessionStore, parse_settings, parse_spec
from chamberlain.sessions.errors import InvalidSession
from chamberlain.sessions.store import Item
from tests.sessions.conftest import log_options

DAILY = {
    "name": "daily-payments",
    "per": "agent",
    "kind": "invoice",
    "actions": ["pay"],
    "limit": 1000,
    "cost": "R.attr.amount",
}


def _standing(*budgets: dict):
    return parse_settings({"standingBudgets": list(budgets)}).standing_budgets


def _open(store: SessionStore, agent: str = "agent-7", subject: str = "alice"):
    return store.open_session(
        parse_spec({"subject": subject, "agent": agent}, parse_settings(None)), by="test"
    )


@pytest.fixture
def pdp_for(policies, store_url, clock, tmp_path):
    opened = []

    def build(*budgets: dict) -> PDP:
        store = SessionStore.open(store_url, clock=clock, standing=_standing(*budgets))
        pdp = PDP.from_directory(
            policies, audit=store_url, audit_options=log_options(tmp_path), sessions=store
        )
        opened.append((pdp, store))
        return pdp

    yield build
    for pdp, store in opened:
        pdp.close()
        store.close()


def _pay(pdp: PDP, agent: str, session_id: str, amount: float):
    return pdp.check(
        Principal(agent, ["agent"]),
        Resource("invoice", "inv", {"amount": amount}),
        ["pay"],
        session_id=session_id,
    )


def test_every_session_of_an_agent_spends_from_one_budget(pdp_for):
    pdp = pdp_for(DAILY)
    first, second = _open(pdp.sessions.store), _open(pdp.sessions.store)
    assert _pay(pdp, "agent-7", first.id, 600).is_allowed("pay")
    result = _pay(pdp, "agent-7", second.id, 500)
    assert not result.is_allowed("pay")
    assert result[0].actions["pay"].policy == "chamberlain.session#standing:daily-payments"
    (output,) = result[0].outputs
    assert output.val == (
        "budget 'daily-payments' of agent 'agent-7' (across sessions, per 86400s) would be "
        "exceeded: used 600 of 1000, this action costs 500"
    )
    assert _pay(pdp, "agent-7", second.id, 400).is_allowed("pay")
    assert result.session["standingBudgets"] == {"daily-payments": {"limit": 1000, "used": 600}}
    assert pdp.sessions.store.standing_use(second) == {"daily-payments": 1000}


def test_another_agent_has_its_own_budget_and_the_next_window_starts_from_zero(pdp_for, clock):
    pdp = pdp_for(DAILY)
    mine, theirs = _open(pdp.sessions.store), _open(pdp.sessions.store, agent="agent-8")
    assert _pay(pdp, "agent-7", mine.id, 1000).is_allowed("pay")
    assert _pay(pdp, "agent-8", theirs.id, 1000).is_allowed("pay")
    assert not _pay(pdp, "agent-7", mine.id, 1).is_allowed("pay")
    clock.advance(86400)
    later = _open(pdp.sessions.store)  # the first session expired (its ttl is 1h)
    assert _pay(pdp, "agent-7", later.id, 1000).is_allowed("pay")


def test_a_budget_per_subject_is_shared_by_every_agent_acting_for_that_person(pdp_for):
    pdp = pdp_for({**DAILY, "per": "subject"})
    one, other = _open(pdp.sessions.store), _open(pdp.sessions.store, agent="agent-8")
    assert _pay(pdp, "agent-7", one.id, 700).is_allowed("pay")
    result = _pay(pdp, "agent-8", other.id, 700)
    assert not result.is_allowed("pay") and "of subject 'alice'" in result[0].outputs[0].val
    bob = _open(pdp.sessions.store, agent="agent-8", subject="bob")
    assert _pay(pdp, "agent-8", bob.id, 700).is_allowed("pay")


def test_a_preview_spends_nothing_and_settling_adds_the_actual_cost(pdp_for):
    pdp = pdp_for({**DAILY, "cost": "1", "limit": 10})
    s = _open(pdp.sessions.store)
    pdp.check(
        Principal("agent-7", ["agent"]),
        Resource("invoice", "inv", {"amount": 1}),
        ["pay"],
        session_id=s.id,
        preview=True,
    )
    assert pdp.sessions.store.standing_use(s) == {"daily-payments": 0}
    pdp.sessions.store.settle(s.id, "daily-payments", 9.5, by="gateway")
    assert _pay(pdp, "agent-7", s.id, 1).is_allowed("pay") is False  # 9.5 + 1 > 10
    assert pdp.sessions.store.standing_use(s) == {"daily-payments": 9.5}


def _spend(url: str, session_id: str, start, out) -> None:
    store = SessionStore.open(
        url, standing=_standing({**DAILY, "actions": ["send"], "kind": "*", "cost": "1", "limit": 10})
    )
    start.wait(60)
    allowed = 0
    for i in range(10):
        charged = store.charge(
            session_id, lambda s: "", [Item((i, "send"), standing=(("daily-payments", 1.0),))]
        )
        allowed += not charged.denial and not charged.refused
    store.close()
    out.put(allowed)


def test_concurrent_sessions_of_one_agent_never_overspend_it(store_url):
    store = SessionStore.open(store_url)
    sessions = [_open(store) for _ in range(4)]
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_spend, args=(store_url, s.id, start, out)) for s in sessions]
    for w in workers:
        w.start()
    start.set()
    allowed = [out.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(60)
    assert sum(allowed) == 10
    store.close()


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ({**DAILY, "per": "team"}, r"standingBudgets\[0\]\.per: expected one of agent, subject, got 'team'"),
        ({**DAILY, "period": "400d"}, r"standingBudgets\[0\]\.period"),
        ({**DAILY, "limit": -1}, r"standingBudgets\[0\]\.limit: must not be negative"),
        ({**DAILY, "cost": "R.attr.("}, r"standingBudgets\[0\]\.cost: .* is not a valid CEL expression"),
        ({**DAILY, "window": "1d"}, r"standingBudgets\[0\]: unknown field 'window'"),
    ],
)
def test_malformed_standing_budgets_are_refused_naming_the_key(budget, message):
    with pytest.raises(InvalidSession, match=message):
        _standing(budget)


def test_two_standing_budgets_with_one_name_are_refused():
    with pytest.raises(
        InvalidSession, match=r"standingBudgets\[1\]\.name: budget 'daily-payments' is named twice"
    ):
        _standing(DAILY, {**DAILY, "per": "subject"})


def test_the_configuration_file_reaches_the_store(policies, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "storage": {"driver": "disk", "disk": {"directory": str(policies)}},
                "chamberlain": {
                    "stateDir": str(tmp_path / "state"),
                    "sessions": {"standingBudgets": [DAILY]},
                },
            }
        )
    )
    pdp = PDP.from_config(config)
    try:
        assert [b.name for b in pdp.sessions.store.standing] == ["daily-payments"]
        s = _open(pdp.sessions.store)
        assert _pay(pdp, "agent-7", s.id, 1000).is_allowed("pay")
        assert not _pay(pdp, "agent-7", _open(pdp.sessions.store).id, 1).is_allowed("pay")
    finally:
        pdp.sessions.store.close()
        pdp.close()
