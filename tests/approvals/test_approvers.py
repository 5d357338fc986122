"""Who may decide a request: people with an approver role, never a party to the action, never an operator."""

from __future__ import annotations

import dataclasses

from chamberlain.approvals import Approval, Spec
from chamberlain.server.admin import Caller
from chamberlain.server.approvals_api import why_not_approver

ISSUER = "https://people.example"


def request(*approvers: str, chain: tuple[str, ...] = ("agent-7",)) -> Approval:
    action = {"principal": {"id": "alice"}, "actorChain": list(chain), "resource": {"kind": "payment"}}
    return Approval(
        "apr_01J00000000000000000000000",
        "d",
        "PENDING",
        "r",
        "h",
        action,
        Spec(tuple(approvers), 1, 60.0),
        "",
        0.0,
        60.0,
    )


def person(sub: str, *roles: str, issuer: str = ISSUER) -> Caller:
    return Caller(sub, roles, via="jwt", issuer=issuer)


def test_a_person_holding_an_approver_role_may_decide():
    assert why_not_approver(person("bob", "finance_manager"), request("finance_manager")) == ""


def test_the_subject_and_every_actor_of_the_chain_are_refused():
    assert "subject of this action" in why_not_approver(
        person("alice", "finance_manager"), request("finance_manager")
    )
    refused = why_not_approver(person("agent-7", "finance_manager"), request("finance_manager"))
    assert "actor of this action's chain" in refused
    deeper = request("finance_manager", chain=("agent-7", "agent-9"))
    assert "actor" in why_not_approver(person("agent-9", "finance_manager"), deeper)


def test_the_subject_confirms_only_where_the_rule_opts_into_consent():
    assert why_not_approver(person("alice"), request("$subject")) == ""
    assert "actor" in why_not_approver(person("agent-7"), request("$subject"))  # an agent never confirms
    assert "none of the approver roles" in why_not_approver(person("carol"), request("$subject"))


def test_the_subjects_consent_is_given_signed_in_at_the_console_not_with_a_bearer_token():
    # A bearer token naming alice may be the one she handed her agent for its token exchange.
    assert "is given in the console" in why_not_approver(person("alice"), request("$subject"), approving=True)
    console = dataclasses.replace(person("alice"), interactive=True)
    assert why_not_approver(console, request("$subject"), approving=True) == ""
    assert why_not_approver(person("alice"), request("$subject")) == ""  # she sees it, and may say no


def test_operators_never_decide_and_roles_must_match():
    operator = Caller("operator", ("admin",), via="basic")
    assert "never decide" in why_not_approver(operator, request("admin"))
    assert "none of the approver roles" in why_not_approver(
        person("bob", "clerk"), request("finance_manager")
    )
