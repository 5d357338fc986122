"""Checks inside sessions through the embedded PDP: binding, budgets, previews, conditions, bad references."""

from __future__ import annotations

import pytest

from chamberlain import PDP, Principal, Resource
from chamberlain.engine.wire import RequestError
from chamberlain.sessions import SessionStore
from tests.sessions.conftest import PAYMENTS, log_options, spec

AGENT = Principal("agent-7", ["agent"])


@pytest.fixture
def pdp(policies, store_url, clock, tmp_path):
    store = SessionStore.open(store_url, clock=clock)
    pdp = PDP.from_directory(policies, audit=store_url, audit_options=log_options(tmp_path), sessions=store)
    yield pdp
    pdp.close()
    store.close()


def invoice(amount: float) -> Resource:
    return Resource("invoice", "inv-1", {"amount": amount})


def test_an_allow_beyond_the_budget_becomes_a_deny_naming_it(pdp):
    s = pdp.sessions.store.open_session(spec(budgets=[PAYMENTS]), by="operator")
    assert pdp.check(AGENT, invoice(700), ["pay"], session_id=s.id).is_allowed("pay")
    result = pdp.check(AGENT, invoice(400), ["pay", "view"], session_id=s.id)
    assert not result.is_allowed("pay") and result.is_allowed("view")
    assert result[0].actions["pay"].policy == "chamberlain.session#budget:payments"
    (output,) = result[0].outputs
    assert (
        output.val
        == f"budget 'payments' of session {s.id} would be exceeded: used 700 of 1000, this action costs 400"
    )
    assert pdp.check(AGENT, invoice(300), ["pay"], session_id=s.id).is_allowed("pay")


def test_a_preview_spends_nothing(pdp):
    s = pdp.sessions.store.open_session(spec(budgets=[PAYMENTS]), by="operator")
    for _ in range(3):
        assert pdp.check(AGENT, invoice(1000), ["pay"], session_id=s.id, preview=True).is_allowed("pay")
    assert pdp.sessions.store.get(s.id).budgets[0].used == 0


def test_conditions_read_the_session(pdp):
    s = pdp.sessions.store.open_session(spec(budgets=[PAYMENTS]), by="operator")
    assert pdp.check(AGENT, invoice(900), ["approve_big"], session_id=s.id).is_allowed("approve_big")
    pdp.check(AGENT, invoice(500), ["pay"], session_id=s.id)
    assert not pdp.check(AGENT, invoice(900), ["approve_big"], session_id=s.id).is_allowed("approve_big")


def test_another_agents_session_is_denied(pdp):
    s = pdp.sessions.store.open_session(spec(), by="operator")
    result = pdp.check(Principal("agent-8", ["agent"]), invoice(1), ["view"], session_id=s.id)
    assert not result.is_allowed("view")
    assert result.session["check"] == "binding"
    assert "belongs to agent 'agent-7', not to 'agent-8'" in result.session["denied"]


def test_unknown_expired_and_revoked_sessions_deny_every_action(pdp, clock):
    unknown = pdp.check(AGENT, invoice(1), ["view", "pay"], session_id="ses_00000000000000000000000000")
    assert [e.effect for e in unknown[0].actions.values()] == ["EFFECT_DENY"] * 2
    assert unknown.session["denied"] == "unknown session ses_00000000000000000000000000"
    s = pdp.sessions.store.open_session(spec(ttl="1m"), by="operator")
    clock.advance(60)
    assert "EXPIRED" in pdp.check(AGENT, invoice(1), ["view"], session_id=s.id).session["denied"]
    s = pdp.sessions.store.open_session(spec(), by="operator")
    pdp.sessions.store.revoke(s.id, by="admin:carol")
    result = pdp.check(AGENT, invoice(1), ["view"], session_id=s.id)
    assert result[0].actions["view"].policy == "chamberlain.session#state"


def test_a_malformed_reference_is_a_request_error(pdp):
    with pytest.raises(RequestError, match="session_id: expected a session id"):
        pdp.check(AGENT, invoice(1), ["view"], session_id="not-a-session")
    request = {
        "principal": {"id": "agent-7", "roles": ["agent"]},
        "resources": [{"actions": ["view"], "resource": {"kind": "invoice", "id": "i"}}],
    }
    for bad, field in (
        ({"id": 7}, "auxData.session.id"),
        ("ses", "auxData.session"),
        ({"id": "ses_00000000000000000000000000", "extra": 1}, "auxData.session.extra"),
        ({"id": "ses_00000000000000000000000000", "preview": "yes"}, "auxData.session.preview"),
    ):
        with pytest.raises(RequestError, match=field.replace(".", r"\.")):
            pdp.check_resources({**request, "auxData": {"session": bad}})


def test_without_a_store_a_session_reference_is_denied_and_a_label_stays_a_label(policies):
    pdp = PDP.from_directory(policies)
    result = pdp.check(AGENT, invoice(1), ["view"], session_id="ses_00000000000000000000000000")
    assert not result.is_allowed("view") and result.session["check"] == "store"
    assert pdp.check(AGENT, invoice(1), ["view"], session_id="conversation-42").is_allowed("view")


def test_a_cost_that_cannot_be_computed_denies_the_action(pdp):
    bad = {**PAYMENTS, "cost": "R.attr.missing * 2"}
    s = pdp.sessions.store.open_session(spec(budgets=[bad]), by="operator")
    result = pdp.check(AGENT, invoice(1), ["pay"], session_id=s.id)
    assert result[0].actions["pay"].policy == "chamberlain.session#cost"
    assert "the cost of budget 'payments' (R.attr.missing * 2) failed to evaluate" in result[0].outputs[0].val


def test_a_store_failure_denies_with_the_reason(policies, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = SessionStore.open(url)
    pdp = PDP.from_directory(policies, sessions=store)
    s = store.open_session(spec(), by="operator")
    store.db.execute("DROP TABLE chamberlain_sessions")
    result = pdp.check(AGENT, invoice(1), ["view"], session_id=s.id)
    assert not result.is_allowed("view") and result.session["check"] == "store"
    assert "session store unavailable" in result.session["denied"]
    assert "chamberlain_sessions" in store.problem
    assert "chamberlain_sessions" in store.probe()


def test_the_log_holds_the_session_from_open_to_revoke(pdp, store_url, tmp_path):
    from chamberlain.audit.log import DecisionLog
    from chamberlain.audit.storage.reader import Filter

    s = pdp.sessions.store.open_session(spec(), by="operator")
    pdp.check(AGENT, invoice(1), ["view"], session_id=s.id)
    pdp.sessions.store.revoke(s.id, by="admin:carol", reason="done")
    pdp.check(AGENT, invoice(1), ["view"], session_id=s.id)
    pdp.close()
    with DecisionLog.open(store_url, log_options(tmp_path)) as log:
        entries = log.read(lambda r: r.search(Filter(session_id=s.id)))
    assert [(e["principal"]["id"], e["action"], e["effect"]) for e in entries] == [
        ("operator", "session:open", "EFFECT_ALLOW"),
        ("agent-7", "view", "EFFECT_ALLOW"),
        ("admin:carol", "session:revoke", "EFFECT_ALLOW"),
        ("agent-7", "view", "EFFECT_DENY"),
    ]


def test_a_session_id_does_not_tell_the_next_one(pdp):
    """Whoever names a session id in a check spends that session's budget (its binding is to the principal
    the caller states). Ids made within one millisecond (sessions opened at once by concurrent token
    exchanges, approvals) were the last plus one (ULID's monotonic rule): an agent reading its own session's
    id knew the next one."""
    import itertools
    from concurrent.futures import ThreadPoolExecutor

    from chamberlain.sessions.store import new_id

    crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

    def number(session_id: str) -> int:
        n = 0
        for c in session_id[4:]:
            n = n * 32 + crockford.index(c)
        return n

    with ThreadPoolExecutor(8) as pool:
        opened = list(
            pool.map(lambda _: pdp.sessions.store.open_session(spec(), by="operator").id, range(64))
        )
    numbers = sorted(number(i) for i in [*opened, *(new_id("ses_") for _ in range(2000))])
    assert len(set(numbers)) == len(numbers)
    steps = [b - a for a, b in itertools.pairwise(numbers)]
    assert min(steps) > 2**16, f"an id is {min(steps)} past another"
