"""OpenID CIBA, poll mode, for a rule asking the subject's consent, through the real server: the agent's client
asks alice (bc-authorize with the approval as RFC 9396 authorization_details), polls the token endpoint while
she has not decided, and gets the grant once she approves; the retried action is then allowed once. Every
mismatch (another person, another agent, a rule without $subject, a denial, a forged auth_req_id) is refused
with CIBA's error codes."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.approvals.test_delegated import pay, requested, serving
from tests.approvals.test_http import decide, person
from tests.delegation.support import IdentityProvider
from tests.server.support import ThreadServer
from tests.server.test_admin import AUDIENCE

POLICY = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: payment
  version: default
  rules:
    - actions: ["pay"]
      effect: EFFECT_ALLOW
      roles: ["user", "agent"]
    - name: alice-confirms-big-payments
      actions: ["pay"]
      effect: EFFECT_DENY
      roles: ["user", "agent"]
      condition:
        match:
          expr: R.attr.amount > 1000 && R.id == "p1"
      output:
        when:
          ruleActivated: '{"approval": {"approvers": ["$subject"], "reason": "a big payment"}}'
    - name: managers-approve-other-payments
      actions: ["pay"]
      effect: EFFECT_DENY
      roles: ["user", "agent"]
      condition:
        match:
          expr: R.attr.amount > 1000 && R.id != "p1"
      output:
        when:
          ruleActivated: '{"approval": {"approvers": ["finance_manager"]}}'
"""
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def server(tmp_path):
    with serving(tmp_path, POLICY) as running:
        yield running


def _as(idp: IdentityProvider, sub: str) -> dict[str, str]:
    return {**FORM, "Authorization": f"Bearer {idp.token(sub, aud=AUDIENCE)}"}


def _ask(
    server: ThreadServer,
    idp: IdentityProvider,
    approval_id: str,
    *,
    client: str = "agent-7",
    login_hint: str = "alice",
) -> httpx.Response:
    details = json.dumps([{"type": "chamberlain_action", "approval_id": approval_id}])
    form = {
        "scope": "openid",
        "login_hint": login_hint,
        "binding_message": "pay 5000 to acme",
        "authorization_details": details,
    }
    return httpx.post(f"{server.url}/oauth2/bc-authorize", data=form, headers=_as(idp, client), timeout=30)


def _poll(
    server: ThreadServer, idp: IdentityProvider, auth_req_id: str, client: str = "agent-7"
) -> httpx.Response:
    form = {"grant_type": "urn:openid:params:grant-type:ciba", "auth_req_id": auth_req_id}
    return httpx.post(f"{server.url}/oauth2/token", data=form, headers=_as(idp, client), timeout=30)


def _error(answer: httpx.Response) -> str:
    assert answer.status_code in (400, 401), answer.text
    return answer.json()["error"]


def _pay(server: ThreadServer, resource: str, approval_id: str = "") -> dict[str, Any]:
    aux: dict[str, Any] = {"delegation": {"actors": [{"id": "agent-7", "roles": ["agent"]}]}}
    if approval_id:
        aux["approval"] = {"id": approval_id}
    body = {
        "principal": {"id": "alice", "roles": ["user"]},
        "auxData": aux,
        "resources": [
            {"actions": ["pay"], "resource": {"kind": "payment", "id": resource, "attr": {"amount": 5000}}}
        ],
    }
    answer = httpx.post(f"{server.url}/api/check/resources", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["results"][0]


def test_the_subject_consents_through_ciba_and_the_action_is_allowed_once(server):
    server, idp = server
    metadata = httpx.get(f"{server.url}/.well-known/oauth-authorization-server", timeout=30).json()
    assert metadata["backchannel_authentication_endpoint"].endswith("/oauth2/bc-authorize")
    assert metadata["backchannel_token_delivery_modes_supported"] == ["poll"]
    assert "urn:openid:params:grant-type:ciba" in metadata["grant_types_supported"]
    approval_id = requested(pay(server, "agent-7"))
    asked = _ask(server, idp, approval_id)
    assert asked.status_code == 200, asked.text
    started = asked.json()
    assert started["interval"] == 5 and 0 < started["expires_in"] <= 900
    auth_req_id = started["auth_req_id"]
    assert _error(_poll(server, idp, auth_req_id)) == "authorization_pending"
    assert _error(_poll(server, idp, auth_req_id, client="agent-8")) == "invalid_grant"  # bound to its client
    assert (
        decide(server, approval_id, "approve", person(idp, "alice", "user")).status_code == 200
    )  # her consent
    granted = _poll(server, idp, auth_req_id)
    assert granted.status_code == 200, granted.text
    (detail,) = granted.json()["authorization_details"]
    assert detail["type"] == "chamberlain_action" and detail["approval_id"] == approval_id
    assert detail["action"]["resource"]["attr"]["amount"] == 5000 and detail["action"]["actorChain"] == [
        "agent-7"
    ]
    assert granted.json()["token_type"] == "Bearer" and granted.json()["access_token"].count(".") == 2
    assert pay(server, "agent-7", approval_id)["actions"]["pay"] == "EFFECT_ALLOW"
    assert pay(server, "agent-7", approval_id)["actions"]["pay"] == "EFFECT_DENY"  # once
    assert _error(_poll(server, idp, auth_req_id)) == "invalid_grant"  # the approval is USED


def test_mismatches_are_refused_with_ciba_s_errors(server):
    server, idp = server
    approval_id = requested(pay(server, "agent-7"))
    assert _error(_ask(server, idp, approval_id, login_hint="bob")) == "unknown_user_id"
    assert _error(_ask(server, idp, approval_id, client="agent-8")) == "unauthorized_client"
    others = requested(_pay(server, "p2"))  # a rule whose approvers are managers, not the subject
    assert _error(_ask(server, idp, others)) == "invalid_request"
    assert _error(_ask(server, idp, "apr_00000000000000000000000000")) == "invalid_authorization_details"
    bad = httpx.post(
        f"{server.url}/oauth2/bc-authorize",
        data={"scope": "openid", "login_hint": "alice", "authorization_details": "[]"},
        headers=_as(idp, "agent-7"),
        timeout=30,
    )
    assert _error(bad) == "invalid_authorization_details"
    deep = httpx.post(
        f"{server.url}/oauth2/bc-authorize",
        data={"scope": "openid", "login_hint": "alice", "authorization_details": "[" * 20000},
        headers=_as(idp, "agent-7"),
        timeout=30,
    )
    assert _error(deep) == "invalid_authorization_details"  # bounded depth: a 400, never a 500
    unauthenticated = httpx.post(
        f"{server.url}/oauth2/bc-authorize", data={"scope": "openid"}, headers=FORM, timeout=30
    )
    assert unauthenticated.status_code == 401 and unauthenticated.json()["error"] == "invalid_client"
    forged = IdentityProvider("https://people.example").token("agent-7", aud=AUDIENCE)
    assert _error(_poll(server, idp, forged)) == "invalid_grant"


def test_a_denial_ends_the_backchannel_request(server):
    server, idp = server
    approval_id = requested(pay(server, "agent-7"))
    auth_req_id = _ask(server, idp, approval_id).json()["auth_req_id"]
    assert decide(server, approval_id, "deny", person(idp, "alice", "user")).status_code == 200
    assert _error(_poll(server, idp, auth_req_id)) == "access_denied"
