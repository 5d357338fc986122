"""The whole approval flow through the real server, approvers signing in with real JWTs of a trusted issuer,
and every binding attack answered with a DENY (HTTP 200) naming why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chamberlain.sessions import ManualClock
from tests.delegation.support import IdentityProvider
from tests.server.support import ADMIN_AUTH, ThreadServer, admin_on
from tests.server.test_admin import AUDIENCE, trusting

CHECK = "/api/check/resources"


@pytest.fixture
def idp() -> IdentityProvider:
    return IdentityProvider("https://people.example")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def server(
    policies: Path, idp: IdentityProvider, tmp_path: Path, clock: ManualClock
) -> Iterator[ThreadServer]:
    overrides = {
        "server": admin_on(),
        "chamberlain": {"delegation": trusting(tmp_path, idp), "admin": {"maxFailedLogins": 1000}},
    }
    with ThreadServer(policies, overrides) as running:
        state = running.app.state
        state.approvals.clock = clock  # expiry moves by hand
        state.sessions.clock = clock
        yield running


def person(idp: IdentityProvider, sub: str, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {idp.token(sub, aud=AUDIENCE, roles=list(roles))}"}


def pay(
    server: ThreadServer,
    amount: int,
    approval_id: str = "",
    *,
    agent: str = "agent-7",
    resource: str = "p1",
    session: str = "",
    clearance: str = "",
    memo: str = "rent",
) -> dict[str, Any]:
    """One pay check; returns the result for the resource (HTTP 200 asserted)."""
    aux: dict[str, Any] = {}
    if approval_id:
        aux["approval"] = {"id": approval_id}
    if session:
        aux["session"] = {"id": session}
    principal = {
        "id": agent,
        "roles": ["agent"],
        "attr": {"team": "ops", **({"clearance": clearance} if clearance else {})},
    }
    body = {
        "requestId": "r1",
        "principal": principal,
        "resources": [
            {
                "actions": ["pay"],
                "resource": {
                    "kind": "payment",
                    "id": resource,
                    "attr": {"amount": amount, "payee": "acme", "memo": memo},
                },
            }
        ],
        **({"auxData": aux} if aux else {}),
    }
    answer = httpx.post(server.url + CHECK, json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["results"][0]


def effect(result: dict[str, Any]) -> str:
    return result["actions"]["pay"]


def asked(result: dict[str, Any]) -> dict[str, Any]:
    """The approval request in the deciding rule's output."""
    (entry,) = [o for o in result["outputs"] if o["src"].endswith("#big-payments-need-approval")]
    return entry["val"]["approval"]


def why(result: dict[str, Any], check: str) -> str:
    (found,) = [o["val"] for o in result["outputs"] if o["src"] == f"chamberlain.approval#{check}"]
    return found


def decide(
    server: ThreadServer,
    approval_id: str,
    verdict: str,
    headers: dict[str, str] | None = None,
    auth: Any = None,
    reason: str = "checked the invoice",
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/approvals/{approval_id}/{verdict}",
        json={"reason": reason},
        headers=headers,
        auth=auth,
        timeout=30,
    )


def test_the_whole_flow_denied_approved_used_once(server, idp):
    first = pay(server, 5000)
    assert effect(first) == "EFFECT_DENY"
    request = asked(first)
    assert request["state"] == "PENDING" and request["approvers"] == ["finance_manager"]
    approval_id = request["id"]
    assert asked(pay(server, 5000))["id"] == approval_id  # one request per action
    manager = person(idp, "bob", "finance_manager")
    pending = httpx.get(
        f"{server.url}/api/approvals", params={"state": "PENDING"}, headers=manager, timeout=30
    )
    assert [a["id"] for a in pending.json()["approvals"]] == [approval_id]
    shown = httpx.get(f"{server.url}/api/approvals/{approval_id}", auth=ADMIN_AUTH, timeout=30).json()
    assert shown["action"]["resource"]["attr"]["amount"] == 5000 and shown["action"]["action"] == "pay"
    assert set(shown) >= {"id", "state", "action", "digest", "decisions"}
    approved = decide(server, approval_id, "approve", manager)
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["state"] == "APPROVED"
    (decision,) = body["decisions"]
    assert decision["approver"] == "bob (https://people.example)" and decision["decision"] == "APPROVE"
    assert decision["reason"] == "checked the invoice" and decision["at"].endswith("Z")
    allowed = pay(server, 5000, approval_id)
    assert effect(allowed) == "EFFECT_ALLOW"
    assert "bob (https://people.example)" in why(allowed, "used")
    assert (
        httpx.get(f"{server.url}/api/approvals/{approval_id}", auth=ADMIN_AUTH, timeout=30).json()["state"]
        == "USED"
    )
    replay = pay(server, 5000, approval_id)
    assert effect(replay) == "EFFECT_DENY" and "USED" in why(replay, "state")


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 5001},
        {"memo": "other"},
        {"resource": "p2"},
        {"agent": "agent-8"},
        {"clearance": "high"},
    ],
)
def test_an_approval_binds_the_exact_action(server, idp, change):
    approval_id = asked(pay(server, 5000))["id"]
    assert decide(server, approval_id, "approve", person(idp, "bob", "finance_manager")).status_code == 200
    amount = change.pop("amount", 5000)
    changed = pay(server, amount, approval_id, **change)
    assert effect(changed) == "EFFECT_DENY"
    assert "was given for another action" in why(changed, "binding")
    assert effect(pay(server, 5000, approval_id)) == "EFFECT_ALLOW"  # the approved action still goes, once


def test_expired_before_decision_and_after_the_execution_window(server, idp, clock):
    manager = person(idp, "bob", "finance_manager")
    first = asked(pay(server, 5000))["id"]
    clock.advance(15 * 60)
    late = decide(server, first, "approve", manager)
    assert late.status_code == 409 and "EXPIRED" in late.json()["message"]
    second = asked(pay(server, 5000))["id"]
    assert second != first
    assert decide(server, second, "approve", manager).status_code == 200
    clock.advance(15 * 60)  # chamberlain.approvals.executionWindow
    result = pay(server, 5000, second)
    assert effect(result) == "EFFECT_DENY" and "EXPIRED" in why(result, "state")


def test_a_revoked_session_ends_its_approvals(server, idp):
    opened = httpx.post(
        f"{server.url}/api/sessions",
        json={"subject": "agent-7", "agent": "agent-7"},
        auth=ADMIN_AUTH,
        timeout=30,
    )
    sid = opened.json()["id"]
    approval_id = asked(pay(server, 5000, session=sid))["id"]
    assert decide(server, approval_id, "approve", person(idp, "bob", "finance_manager")).status_code == 200
    revoked = httpx.post(
        f"{server.url}/api/sessions/{sid}/revoke", json={"reason": "done"}, auth=ADMIN_AUTH, timeout=30
    )
    assert revoked.status_code == 200
    result = pay(server, 5000, approval_id, session=sid)
    (reason,) = [o["val"] for o in result["outputs"] if o["src"] == "chamberlain.session#state"]
    assert effect(result) == "EFFECT_DENY" and "REVOKED" in reason
    outside = pay(server, 5000, approval_id)  # the same action outside the session is another action
    assert effect(outside) == "EFFECT_DENY" and "another action" in why(outside, "binding")
    assert (
        httpx.get(f"{server.url}/api/approvals/{approval_id}", auth=ADMIN_AUTH, timeout=30).json()["state"]
        == "APPROVED"
    )


def test_who_may_decide(server, idp):
    approval_id = asked(pay(server, 5000))["id"]
    operator = decide(server, approval_id, "approve", auth=ADMIN_AUTH)
    assert (
        operator.status_code == 403
        and "operators can list and read approvals, never decide" in operator.json()["message"]
    )
    agent = decide(server, approval_id, "approve", person(idp, "agent-7", "finance_manager"))
    assert agent.status_code == 403 and "subject of this action" in agent.json()["message"]
    clerk = decide(server, approval_id, "approve", person(idp, "carol", "clerk"))
    assert clerk.status_code == 403 and "none of the approver roles" in clerk.json()["message"]
    unsigned = httpx.post(f"{server.url}/api/approvals/{approval_id}/approve", json={}, timeout=30)
    assert unsigned.status_code == 401
    shown = httpx.get(f"{server.url}/api/approvals/{approval_id}", auth=ADMIN_AUTH, timeout=30).json()
    assert shown["state"] == "PENDING" and shown["decisions"] == []  # nothing changed state
    no = decide(server, approval_id, "deny", person(idp, "dave", "finance_manager"), reason="not this vendor")
    assert no.status_code == 200 and no.json()["state"] == "DENIED"
    again = decide(server, approval_id, "approve", person(idp, "bob", "finance_manager"))
    assert again.status_code == 409
    result = pay(server, 5000, approval_id)
    assert effect(result) == "EFFECT_DENY" and "DENIED" in why(result, "state")


def test_the_person_a_session_acts_for_does_not_approve_its_agents_action(server, idp):
    """agent-7 acts for alice in her session (no token: the agent is the principal); alice holding an approver
    role is still a party to the action, as she is when her token names her the subject."""
    opened = httpx.post(
        f"{server.url}/api/sessions",
        json={"subject": "alice", "agent": "agent-7"},
        auth=ADMIN_AUTH,
        timeout=30,
    )
    sid = opened.json()["id"]
    approval_id = asked(pay(server, 5000, session=sid))["id"]
    alice = decide(server, approval_id, "approve", person(idp, "alice", "finance_manager"))
    assert alice.status_code == 403, alice.text
    assert "session " + sid + " acts for 'alice'" in alice.json()["message"]
    assert decide(server, approval_id, "approve", person(idp, "bob", "finance_manager")).status_code == 200


def test_bad_input_is_a_clear_4xx(server, idp):
    manager = person(idp, "bob", "finance_manager")
    malformed = httpx.post(
        server.url + CHECK,
        json={
            "principal": {"id": "agent-7", "roles": ["agent"]},
            "auxData": {"approval": {"id": "nope"}},
            "resources": [
                {"actions": ["pay"], "resource": {"kind": "payment", "id": "p1", "attr": {"amount": 1}}}
            ],
        },
        timeout=30,
    )
    assert malformed.status_code == 400 and "auxData.approval.id" in malformed.json()["message"]
    assert httpx.get(f"{server.url}/api/approvals/apr_nope", headers=manager, timeout=30).status_code == 400
    unknown = httpx.get(
        f"{server.url}/api/approvals/apr_01J00000000000000000000000", auth=ADMIN_AUTH, timeout=30
    )
    assert unknown.status_code == 404
    assert (
        httpx.get(
            f"{server.url}/api/approvals", params={"state": "MAYBE"}, auth=ADMIN_AUTH, timeout=30
        ).status_code
        == 400
    )
    approval_id = asked(pay(server, 5000))["id"]
    extra = httpx.post(
        f"{server.url}/api/approvals/{approval_id}/approve",
        json={"approver": "bob"},
        headers=manager,
        timeout=30,
    )
    assert extra.status_code == 400 and "unknown field 'approver'" in extra.json()["message"]


def test_every_step_is_in_the_decision_log(server, idp):
    from tests.server.test_admin import entries

    approval_id = asked(pay(server, 5000))["id"]
    assert decide(server, approval_id, "approve", person(idp, "bob", "finance_manager")).status_code == 200
    assert effect(pay(server, 5000, approval_id)) == "EFFECT_ALLOW"
    steps = entries(server, resource_kind="chamberlain:approval", resource_id=approval_id)
    # the admin surface's own check (approval:decide) comes before the decision it let through
    assert [e["action"] for e in steps] == [
        "approval:request",
        "approval:decide",
        "approval:approve",
        "approval:use",
    ]
    assert steps[2]["principal"]["id"] == "bob (https://people.example)"
    (allowed,) = [e for e in entries(server, resource_kind="payment", effect="EFFECT_ALLOW")]
    assert allowed["approval"]["id"] == approval_id


APPROVAL_POLICY = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: approval
  version: default
  rules:
    - name: managers-approve-up-to-their-limit
      actions: ["approve"]
      effect: EFFECT_ALLOW
      roles: ["finance_manager"]
      condition:
        match:
          expr: R.attr.action.resource.attr.amount <= P.attr.limit
"""


def test_the_users_approval_policy_must_allow_the_approver_too(policies, idp, tmp_path):
    (policies / "approval.yaml").write_text(APPROVAL_POLICY)
    overrides = {"server": admin_on(), "chamberlain": {"delegation": trusting(tmp_path, idp)}}
    with ThreadServer(policies, overrides) as running:
        approval_id = asked(pay(running, 5000))["id"]
        small = {
            "Authorization": f"Bearer {idp.token('bob', aud=AUDIENCE, roles=['finance_manager'], limit=1000)}"
        }
        refused = decide(running, approval_id, "approve", small)
        assert refused.status_code == 403
        assert (
            "rule 'managers-approve-up-to-their-limit'" not in refused.json()["message"]
        )  # no rule allowed it
        assert "does not let 'bob' approve" in refused.json()["message"]
        large = {
            "Authorization": f"Bearer {idp.token('eve', aud=AUDIENCE, roles=['finance_manager'], limit=9000)}"
        }
        assert decide(running, approval_id, "approve", large).json()["state"] == "APPROVED"


def test_the_outcome_of_the_approved_action_is_recorded_once(server, idp):
    approval_id = asked(pay(server, 5000))["id"]
    url = f"{server.url}/api/approvals/{approval_id}/outcome"
    early = httpx.post(url, json={"outcome": "SUCCEEDED"}, auth=ADMIN_AUTH, timeout=30)
    assert early.status_code == 409 and "is PENDING, not USED" in early.json()["message"]
    decide(server, approval_id, "approve", person(idp, "bob", "finance_manager"))
    assert effect(pay(server, 5000, approval_id)) == "EFFECT_ALLOW"
    manager = person(idp, "bob", "finance_manager")
    assert httpx.post(url, json={"outcome": "SUCCEEDED"}, headers=manager, timeout=30).status_code == 403
    bad = httpx.post(url, json={"outcome": "DONE"}, auth=ADMIN_AUTH, timeout=30)
    assert bad.status_code == 400 and "outcome: expected one of SUCCEEDED, FAILED" in bad.json()["message"]
    extra = httpx.post(url, json={"outcome": "FAILED", "why": "x"}, auth=ADMIN_AUTH, timeout=30)
    assert extra.status_code == 400 and "unknown field 'why'" in extra.json()["message"]
    done = httpx.post(url, json={"outcome": "FAILED", "detail": "bank refused"}, auth=ADMIN_AUTH, timeout=30)
    assert done.status_code == 200, done.text
    assert done.json()["outcome"]["result"] == "FAILED" and done.json()["outcome"]["detail"] == "bank refused"
    again = httpx.post(url, json={"outcome": "SUCCEEDED"}, auth=ADMIN_AUTH, timeout=30)
    assert again.status_code == 409 and "already has an outcome (FAILED)" in again.json()["message"]
    shown = httpx.get(f"{server.url}/api/approvals/{approval_id}", auth=ADMIN_AUTH, timeout=30).json()
    assert shown["state"] == "USED" and shown["outcome"]["result"] == "FAILED"
