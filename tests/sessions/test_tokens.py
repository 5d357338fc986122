"""Sessions and tokens: the exchange opens or continues a session (sid), locks refuse exchanges, RFC 7662
introspection says active:false once the session is revoked, RFC 7009 revocation revokes it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import jwt as pyjwt
import pytest

from tests.delegation.support import (
    ISSUER,
    PAYMENTS,
    IdentityProvider,
    OAuthError,
    exchange,
    oauth_client,
    policy_folder,
    settings,
)
from tests.server.support import ThreadServer


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[ThreadServer, IdentityProvider]]:
    idp = IdentityProvider()
    overrides = {"chamberlain": {"delegation": settings(tmp_path, idp), "logLevel": "error"}}
    with ThreadServer(policy_folder(tmp_path), overrides) as srv:
        yield srv, idp


def _claims(token: str) -> dict[str, Any]:
    return pyjwt.decode(token, options={"verify_signature": False})


def _tokens(srv: ThreadServer, idp: IdentityProvider) -> tuple[str, str]:
    person = idp.token(
        "alice", roles=["finance_clerk"], scope="payments:write payments:read", sid="idp-login-1"
    )
    first = exchange(oauth_client(), srv.url, person, idp.token("planner-agent"), audience="tool-agent")
    second = exchange(
        oauth_client(),
        srv.url,
        first["access_token"],
        idp.token("tool-agent"),
        audience=PAYMENTS,
        scope="payments:write",
    )
    return first["access_token"], second["access_token"]


def _pay(srv: ThreadServer, token: str) -> dict[str, Any]:
    body = {
        "principal": {"id": "alice", "roles": ["finance_clerk"]},
        "resources": [
            {"actions": ["pay"], "resource": {"kind": "payment", "id": "p1", "attr": {"amount": 100}}}
        ],
        "auxData": {"jwt": {"token": token}},
    }
    reply = httpx.post(f"{srv.url}/api/check/resources", json=body, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()


def _post(srv: ThreadServer, path: str, token: str, bearer: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
    return httpx.post(f"{srv.url}{path}", data={"token": token}, headers=headers, timeout=10)


def test_the_exchange_opens_a_session_and_the_next_hop_continues_it(server):
    srv, idp = server
    first, second = _tokens(srv, idp)
    sid = _claims(first)["sid"]
    assert sid.startswith("ses_") and _claims(second)["sid"] == sid
    assert _claims(first)["idp_sid"] == "idp-login-1"  # the IdP's login session: information only
    session = srv.app.state.sessions.get(sid)
    assert (session.subject, session.agent, session.opened_by) == ("alice", "planner-agent", "token-exchange")
    assert _pay(srv, second)["results"][0]["actions"] == {"pay": "EFFECT_ALLOW"}


def test_a_revoked_session_stops_its_tokens_everywhere(server):
    srv, idp = server
    first, second = _tokens(srv, idp)
    sid = _claims(second)["sid"]
    caller = idp.token("payments-service")
    assert _post(srv, "/oauth2/introspect", second, caller).json()["active"] is True
    srv.app.state.sessions.revoke(sid, by="admin:carol", reason="kill switch")
    denied = _pay(srv, second)
    assert denied["results"][0]["actions"] == {"pay": "EFFECT_DENY"}
    assert (
        denied["chamberlain"]["session"]["denied"] == f"session {sid} is REVOKED by admin:carol (kill switch)"
    )
    assert _post(srv, "/oauth2/introspect", second, caller).json() == {"active": False}
    with pytest.raises(OAuthError, match=f"session {sid} is REVOKED"):
        exchange(oauth_client(), srv.url, first, idp.token("tool-agent"), audience=PAYMENTS)


def test_a_lock_refuses_the_exchange(server):
    srv, idp = server
    srv.app.state.sessions.add_lock("agent", "planner-agent", by="admin:carol", reason="misbehaving")
    person = idp.token("alice", roles=["finance_clerk"], scope="payments:write")
    with pytest.raises(OAuthError, match="agent 'planner-agent' is locked"):
        exchange(oauth_client(), srv.url, person, idp.token("planner-agent"), audience="tool-agent")


def test_revocation_by_the_tokens_holder(server):
    srv, idp = server
    _, second = _tokens(srv, idp)
    sid = _claims(second)["sid"]
    refused = _post(srv, "/oauth2/revoke", second, idp.token("mallory"))
    assert refused.status_code == 403 and refused.json()["error"] == "unauthorized_client"
    assert _post(srv, "/oauth2/revoke", "not-a-token", idp.token("tool-agent")).status_code == 200
    assert _post(srv, "/oauth2/revoke", second, idp.token("tool-agent")).status_code == 200
    found = srv.app.state.sessions.get(sid)
    assert (found.state, found.ended_by) == ("REVOKED", "token-revocation:tool-agent")


def test_introspection_and_revocation_need_an_authenticated_caller(server):
    srv, idp = server
    _, second = _tokens(srv, idp)
    for path in ("/oauth2/introspect", "/oauth2/revoke"):
        for bearer in (None, "garbage", IdentityProvider().token("stranger")):
            answer = _post(srv, path, second, bearer)
            assert answer.status_code == 401 and answer.json()["error"] == "invalid_client", (path, bearer)
    meta = httpx.get(f"{srv.url}/.well-known/oauth-authorization-server").json()
    assert meta["introspection_endpoint"].endswith("/oauth2/introspect")
    assert meta["revocation_endpoint"].endswith("/oauth2/revoke")


def test_a_chamberlain_token_does_not_authenticate_its_holder_as_its_subject(server):
    """tool-agent holds a token whose sub is alice: presenting it as its credential must not let it revoke
    another session of alice's (nor anything else): callers authenticate with their own credential."""
    srv, idp = server
    first, _ = _tokens(srv, idp)
    _, other = _tokens(srv, idp)  # alice's second session
    other_sid = _claims(other)["sid"]
    assert other_sid != _claims(first)["sid"]
    for path in ("/oauth2/revoke", "/oauth2/introspect"):
        refused = _post(srv, path, other, first)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client", refused.text
        assert "cannot authenticate" in refused.json()["error_description"]
    assert srv.app.state.sessions.get(other_sid).state == "ACTIVE"


def test_only_the_subjects_own_issuer_may_revoke_for_the_subject(tmp_path):
    """Identities are (issuer, subject) pairs: another trusted issuer's alice is not alice."""
    idp, other = IdentityProvider(), IdentityProvider("https://other-idp.example")
    delegation = settings(tmp_path, idp)
    (tmp_path / "other-jwks.json").write_text(json.dumps(other.jwks()))
    delegation["trustedIssuers"].append(
        {"issuer": other.issuer, "jwksFile": str(tmp_path / "other-jwks.json"), "audience": ISSUER}
    )
    overrides = {"chamberlain": {"delegation": delegation, "logLevel": "error"}}
    with ThreadServer(policy_folder(tmp_path), overrides) as srv:
        _, second = _tokens(srv, idp)
        sid = _claims(second)["sid"]
        refused = _post(srv, "/oauth2/revoke", second, other.token("alice"))
        assert refused.status_code == 403 and refused.json()["error"] == "unauthorized_client", refused.text
        assert srv.app.state.sessions.get(sid).state == "ACTIVE"
        refused = _post(srv, "/oauth2/revoke", second, other.token("tool-agent"))
        assert refused.status_code == 403, refused.text
        assert _post(srv, "/oauth2/revoke", second, idp.token("alice")).status_code == 200
        assert srv.app.state.sessions.get(sid).state == "REVOKED"
