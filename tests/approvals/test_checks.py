"""Approvals in the embedded PDP: the denied check opens a request, the approved retry is allowed once."""

from __future__ import annotations

import pytest

from chamberlain import Principal, RequestError, Resource
from chamberlain.approvals import ApprovalClosed, Decision
from chamberlain.engine.request import CheckInput
from chamberlain.sessions import SessionStore
from chamberlain.sessions.model import RateLimit
from chamberlain.sessions.settings import SessionSpec

AGENT = Principal("agent-7", roles={"agent"}, attr={"team": "ops"})


def pay(pdp, amount, approval_id="", payee="acme", resource_id="p1", principal=AGENT, chain=()):
    result = pdp.check(
        principal,
        Resource("payment", resource_id, attr={"amount": amount, "payee": payee}),
        ["pay"],
        approval_id=approval_id,
        actor_chain=chain,
    )
    return result[0]


def approval_of(out):
    """The approval request in the deciding rule's output."""
    (entry,) = [o for o in out.outputs if o.src.endswith("#big-payments-need-approval")]
    return entry.val["approval"]


def approve(store, approval_id, who="bob"):
    return store.decide(
        approval_id, Decision(f"{who} (https://idp)", "APPROVE", 0, "ok", who, "https://idp"), lambda a: ""
    )


def test_a_rule_asking_for_approval_denies_and_opens_one_request_per_action(pdp):
    out = pay(pdp, 5000)
    assert out.actions["pay"].effect == "EFFECT_DENY"
    asked = approval_of(out)
    assert asked["state"] == "PENDING" and asked["id"].startswith("apr_")
    assert asked["approvers"] == ["finance_manager"] and asked["reason"] == "payment over 5000"
    assert approval_of(pay(pdp, 5000))["id"] == asked["id"]  # the same action: the same request
    assert approval_of(pay(pdp, 5001))["id"] != asked["id"]  # another amount: another request
    assert pay(pdp, 10).actions["pay"].effect == "EFFECT_ALLOW"


def test_the_policy_test_view_keeps_the_policys_own_output(pdp):
    inp = CheckInput(AGENT, Resource("payment", "p1", attr={"amount": 5000, "payee": "acme"}), ("pay",))
    (out,) = pdp.engine.check([inp])
    (entry,) = out.outputs
    assert entry.val == {
        "approval": {"approvers": ["finance_manager"], "ttl": "15m", "reason": "payment over 5000"}
    }


def test_the_approved_action_is_allowed_once_and_only_that_action(pdp, store):
    approval_id = approval_of(pay(pdp, 5000))["id"]
    denied = pay(pdp, 5000, approval_id)
    assert denied.actions["pay"].effect == "EFFECT_DENY"
    assert any(o.src == "chamberlain.approval#state" and "PENDING" in o.val for o in denied.outputs)
    assert approve(store, approval_id).state == "APPROVED"
    other_amount = pay(pdp, 5001, approval_id)
    assert other_amount.actions["pay"].effect == "EFFECT_DENY"
    (why,) = [o.val for o in other_amount.outputs if o.src == "chamberlain.approval#binding"]
    assert "resource.attr.amount" in why
    assert pay(pdp, 5000, approval_id, resource_id="p2").actions["pay"].effect == "EFFECT_DENY"
    other_agent = Principal("agent-8", roles={"agent"}, attr={"team": "ops"})
    assert pay(pdp, 5000, approval_id, principal=other_agent).actions["pay"].effect == "EFFECT_DENY"
    assert pay(pdp, 5000, approval_id, chain=("agent-9",)).actions["pay"].effect == "EFFECT_DENY"
    allowed = pay(pdp, 5000, approval_id)
    assert allowed.actions["pay"].effect == "EFFECT_ALLOW" and allowed.approval_id == approval_id
    assert any(o.src == "chamberlain.approval#used" and "bob (https://idp)" in o.val for o in allowed.outputs)
    assert store.get(approval_id).state == "USED"
    replay = pay(pdp, 5000, approval_id)
    assert replay.actions["pay"].effect == "EFFECT_DENY"
    assert any(o.src == "chamberlain.approval#state" and "USED" in o.val for o in replay.outputs)


def test_an_approval_spent_on_an_action_its_session_denies_is_given_back(pdp, store, store_url, clock):
    """The rate limit denies the approved payment after the approval lifted its rule: the payment did not
    happen, so the approval stands for the retry once the window has passed."""
    sessions = SessionStore.open(store_url, clock=clock)
    try:
        pdp.use_sessions(sessions)
        once_a_minute = RateLimit("payment", ("pay",), 1, 60.0)
        session = sessions.open_session(
            SessionSpec("alice", "agent-7", (), 3600.0, 0.0, (), (once_a_minute,), {}), by="test"
        )

        def pay_in_session(amount, approval_id=""):
            resource = Resource("payment", "p1", attr={"amount": amount, "payee": "acme"})
            return pdp.check(AGENT, resource, ["pay"], session_id=session.id, approval_id=approval_id)[0]

        approval_id = approval_of(pay_in_session(5000))["id"]
        approve(store, approval_id)
        assert pay_in_session(10).actions["pay"].effect == "EFFECT_ALLOW"  # the minute's one payment
        limited = pay_in_session(5000, approval_id)
        assert limited.actions["pay"].effect == "EFFECT_DENY"
        (kept,) = [o.val for o in limited.outputs if o.src == "chamberlain.approval#kept"]
        assert kept.startswith(f"approval {approval_id} not spent"), kept
        assert store.get(approval_id).state == "APPROVED"
        clock.advance(61)
        allowed = pay_in_session(5000, approval_id)
        assert allowed.actions["pay"].effect == "EFFECT_ALLOW"
        assert not any(o.src == "chamberlain.approval#kept" for o in allowed.outputs)
        assert store.get(approval_id).state == "USED"
        assert pay_in_session(5000, approval_id).actions["pay"].effect == "EFFECT_DENY"  # once, still
    finally:
        sessions.close()


def test_an_approval_for_an_integer_beyond_2_53_does_not_lift_a_neighbouring_one(pdp, store):
    """RFC 8785 prints numbers as doubles, so 2**60 and 2**60 + 1 have one canonical form: the digest must
    still tell the two amounts apart."""
    approval_id = approval_of(pay(pdp, 2**60))["id"]
    approve(store, approval_id)
    other = pay(pdp, 2**60 + 1, approval_id)
    assert other.actions["pay"].effect == "EFFECT_DENY"
    assert any(o.src == "chamberlain.approval#binding" for o in other.outputs)
    assert store.get(approval_id).state == "APPROVED"
    assert pay(pdp, 2**60, approval_id).actions["pay"].effect == "EFFECT_ALLOW"


def test_only_the_approval_rule_is_lifted(pdp, store):
    out = pay(pdp, 5000, payee="blocked")  # the first DENY to hold decides: the approval rule comes first
    approval_id = approval_of(out)["id"]
    approve(store, approval_id)
    retried = pay(pdp, 5000, approval_id, payee="blocked")
    assert retried.actions["pay"].effect == "EFFECT_DENY"
    assert retried.actions["pay"].rule == "never-to-blocked"
    assert store.get(approval_id).state == "APPROVED"  # not spent on an action still denied


def test_expiry_to_decide_and_to_use(pdp, store, clock):
    first = approval_of(pay(pdp, 5000))["id"]
    clock.advance(15 * 60)
    assert store.get(first).state == "EXPIRED"
    with pytest.raises(ApprovalClosed):
        approve(store, first)
    second = approval_of(pay(pdp, 5000))["id"]
    assert second != first
    approve(store, second)
    clock.advance(600)  # the execution window
    late = pay(pdp, 5000, second)
    assert late.actions["pay"].effect == "EFFECT_DENY"
    assert any(o.src == "chamberlain.approval#state" and "EXPIRED" in o.val for o in late.outputs)


def test_a_malformed_approval_id_is_a_request_error(pdp):
    with pytest.raises(RequestError, match="approval_id"):
        pay(pdp, 5000, "apr_nope")
    unknown = pay(pdp, 5000, "apr_01J00000000000000000000000")
    assert any(o.src == "chamberlain.approval#unknown" for o in unknown.outputs)
