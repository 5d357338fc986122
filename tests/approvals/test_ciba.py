"""OpenID CIBA, poll mode, for a rule asking the subject's consent, through the real server: the agent's client
asks alice (bc-authorize with the approval as RFC 9396 authorization_details), polls the token endpoint while
she has not decided, and gets the grant once she approves in the console (signed in through the dev IdP's
login page: her bearer token, which her agent may hold, consents to nothing); the retried action is then
allowed once. Every mismatch (another person, another agent, a rule without $subject, a denial, a forged
auth_req_id) is refused with CIBA's error codes."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pytest
import yaml

from chamberlain.devidp import DevIdp, init_directory
from chamberlain.devidp.oidc import create_app
from tests.approvals.test_delegated import pay, requested
from tests.approvals.test_http import decide, person
from tests.delegation.support import IdentityProvider, serve
from tests.devidp.support import log_in, open_login
from tests.server.support import ADMIN_AUTH, ThreadServer, admin_on
from tests.server.test_admin import AUDIENCE, trusting
from tests.support.cerbos_server import free_port

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


@contextlib.contextmanager
def consenting(
    tmp: Path, policy: str, *also: IdentityProvider, exchange: str = ""
) -> Iterator[tuple[ThreadServer, IdentityProvider]]:
    """A server on ``policy`` with the admin surface and the console, trusting a people's IdP (tokens), a
    dev IdP the console signs people in with, and the issuers ``also``; ``exchange``: a delegation policy."""
    folder = tmp / "policies"
    folder.mkdir()
    (folder / "payment.yaml").write_text(policy)
    if exchange:
        (folder / "delegation.yaml").write_text(exchange)
    idp = IdentityProvider("https://people.example")
    idp_port = free_port()
    init_directory(tmp / "dev-idp", issuer=f"http://127.0.0.1:{idp_port}")
    settings = yaml.safe_load((tmp / "dev-idp" / "idp.yaml").read_text())
    delegation = trusting(
        tmp, idp, DevIdp.load(tmp / "dev-idp"), *also
    )  # the dev IdP's keys, as any issuer's
    console = {"oidc": {"issuer": settings["issuer"]}}
    server = ThreadServer(
        folder, {"server": admin_on(), "chamberlain": {"delegation": delegation, "console": console}}
    )
    settings["audience"] = AUDIENCE
    settings["clients"].append(
        {"clientId": "chamberlain-console", "redirectUris": [f"{server.url}/console/oidc/callback"]}
    )
    (tmp / "dev-idp" / "idp.yaml").write_text(yaml.safe_dump(settings))
    with serve(create_app(DevIdp.load(tmp / "dev-idp")), idp_port), server:
        yield server, idp


def in_console(
    server: ThreadServer, person: str, approval_id: str, verdict: str, *, listed: bool = True
) -> httpx.Response:
    """``person`` signs in at the console through the dev IdP's login page and says ``verdict``, as in a browser
    (``listed``: whether the approvals page shows them the request)."""
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        start = browser.get("/console/oidc/start", params={"next": "/console/approvals"})
        assert start.status_code == 303, start.text
        authorize = start.headers["location"]
        issuer = authorize.split("/authorize", 1)[0]
        signed_in = log_in(browser, issuer, open_login(browser, authorize), person)
        assert signed_in.status_code == 303, signed_in.text
        assert (
            browser.get(signed_in.headers["location"]).status_code == 200
        )  # the callback: the login's cookie
        page = browser.get("/console/approvals")
        assert page.status_code == 200 and (approval_id in page.text) == listed, page.text[:500]
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        return browser.post(
            f"/console/approvals/{approval_id}/decide",
            data={"csrf": csrf.group(1), "verdict": verdict, "reason": "my own payment"},
            headers={"origin": server.url},
        )


@pytest.fixture
def server(tmp_path):
    with consenting(tmp_path, POLICY) as running:
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
    """Poll for ``auth_req_id`` as ``client`` of the issuer ``idp``."""
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
    # Her own token, which her agent may hold, consents to nothing; she consents in the console.
    refused = decide(server, approval_id, "approve", person(idp, "alice", "user"))
    assert refused.status_code == 403 and "is given in the console" in refused.json()["message"]
    assert _error(_poll(server, idp, auth_req_id)) == "authorization_pending"
    consented = in_console(server, "alice", approval_id, "approve")
    assert consented.status_code == 303 and "APPROVED" in consented.headers["location"], consented.text
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


def test_a_backchannel_request_is_bound_to_its_clients_issuer(tmp_path):
    """Identities are (issuer, subject) pairs: another trusted issuer's ``agent-7`` cannot poll the request
    people.example's ``agent-7`` started, and the grant's ``act`` names the client's issuer."""
    other = IdentityProvider("https://other.example")
    with consenting(tmp_path, POLICY, other) as (server, idp):
        approval_id = requested(pay(server, "agent-7"))
        auth_req_id = _ask(server, idp, approval_id).json()["auth_req_id"]
        assert in_console(server, "alice", approval_id, "approve").status_code == 303
        assert _error(_poll(server, other, auth_req_id)) == "invalid_grant"
        granted = _poll(server, idp, auth_req_id)
    assert granted.status_code == 200, granted.text
    claims = pyjwt.decode(granted.json()["access_token"], options={"verify_signature": False})
    assert claims["act"] == {"sub": "agent-7", "iss": idp.issuer}


AGENTS_FOR_USERS = f"""apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: delegation
  version: default
  rules:
    - name: agents-for-users
      actions: ["exchange"]
      effect: EFFECT_ALLOW
      roles: ["agent"]
      output:
        when:
          ruleActivated: '{{"audiences": ["{AUDIENCE}"], "scopes": ["payment:pay"]}}'
"""


def test_the_subjects_consent_comes_from_the_subjects_own_issuer(tmp_path):
    """An action made with a token records whose subject it is, (issuer, subject): people.example's alice
    asked, so the dev IdP's alice (another person of the same name) cannot consent in the console; the
    subject herself, signed in at her own issuer, could (refused here only for want of a console login)."""
    with consenting(tmp_path, POLICY, exchange=AGENTS_FOR_USERS) as (server, idp):
        form = {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": idp.token("alice", aud=AUDIENCE, roles=["user"], scope="payment:pay"),
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "actor_token": idp.token("agent-7", aud=AUDIENCE, roles=["agent"]),
            "actor_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "audience": AUDIENCE,
        }
        issued = httpx.post(f"{server.url}/oauth2/token", data=form, timeout=30)
        assert issued.status_code == 200, issued.text
        body = {
            "principal": {"id": "alice", "roles": ["user"]},
            "auxData": {"jwt": {"token": issued.json()["access_token"]}},
            "resources": [
                {"actions": ["pay"], "resource": {"kind": "payment", "id": "p1", "attr": {"amount": 5000}}}
            ],
        }
        checked = httpx.post(f"{server.url}/api/check/resources", json=body, timeout=30)
        assert checked.status_code == 200, checked.text
        approval_id = requested(checked.json()["results"][0])
        shown = httpx.get(f"{server.url}/api/approvals/{approval_id}", auth=ADMIN_AUTH, timeout=30).json()
        assert shown["action"]["principal"]["issuer"] == idp.issuer
        refused = in_console(server, "alice", approval_id, "approve", listed=False)  # the dev IdP's alice
        assert refused.status_code == 403, refused.text
        assert "APPROVED" not in refused.headers.get("location", "")
        assert (
            httpx.get(f"{server.url}/api/approvals/{approval_id}", auth=ADMIN_AUTH, timeout=30).json()[
                "state"
            ]
            == "PENDING"
        )
