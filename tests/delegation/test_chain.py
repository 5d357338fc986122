"""The three-hop chain with real clients: alice -> planner agent -> tool agent -> payments service.

Authlib's OAuth 2 client performs each exchange over HTTP; PyJWT verifies every issued token from the
JWKS endpoint on its own; the payments service (behind DelegationMiddleware) asks for the attenuated
check, whose explanation shows the whole chain.
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt as pyjwt
import orjson
import pytest
from tests.delegation.conftest import World
from tests.delegation.support import ISSUER, PAYMENTS, exchange, oauth_client, serve

from chamberlain.delegation import DelegationMiddleware, Verifier, check_resources


def independently_verified(world: World, token: str, audience: str) -> dict[str, Any]:
    """PyJWT, keys from the JWKS endpoint: signature, typ, iss, aud, exp."""
    signing_key = pyjwt.PyJWKClient(f"{world.url}/.well-known/jwks.json").get_signing_key_from_jwt(token)
    assert pyjwt.get_unverified_header(token)["typ"] == "at+jwt"
    return pyjwt.decode(
        token,
        signing_key.key,
        algorithms=["EdDSA"],
        audience=audience,
        issuer=ISSUER,
        options={"require": ["exp", "iat", "jti", "sub", "aud", "client_id"]},
    )


def payments_service(world: World) -> DelegationMiddleware:
    """A downstream service: verifies the bearer token itself, then asks chamberlain for the check."""
    jwks = httpx.get(f"{world.url}/.well-known/jwks.json").json()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = orjson.loads((await receive())["body"])
        token = scope["chamberlain.delegation"]
        request = {
            "requestId": "pay-call",
            "includeMeta": True,
            "principal": {"id": token.subject, "roles": ["finance_clerk"]},
            "resources": [
                {
                    "actions": ["pay"],
                    "resource": {"kind": "payment", "id": body["id"], "attr": {"amount": body["amount"]}},
                }
            ],
            "auxData": {"jwt": {"token": dict(scope["headers"])[b"authorization"].decode().split()[1]}},
        }
        payload = orjson.dumps(check_resources(world.service, request))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return DelegationMiddleware(
        app, verifier=Verifier(ISSUER, jwks), audience=PAYMENTS, scopes=["payments:write"]
    )


@pytest.fixture(scope="module")
def chain(world: World) -> dict[str, Any]:
    client = oauth_client()
    person = world.person("alice", sid="session-42")
    first = exchange(
        client,
        world.url,
        person,
        world.agent("planner-agent"),
        audience="tool-agent",
        scope="payments:write payments:read",
    )
    second = exchange(
        client,
        world.url,
        first["access_token"],
        world.agent("tool-agent"),
        audience=PAYMENTS,
        scope="payments:write",
    )
    return {"person": person, "first": first, "second": second}


def test_each_hop_narrows_audience_and_scope(world: World, chain: dict[str, Any]) -> None:
    first = independently_verified(world, chain["first"]["access_token"], "tool-agent")
    second = independently_verified(world, chain["second"]["access_token"], PAYMENTS)
    assert (first["sub"], first["aud"], first["scope"]) == (
        "alice",
        "tool-agent",
        "payments:write payments:read",
    )
    assert (second["sub"], second["aud"], second["scope"]) == ("alice", PAYMENTS, "payments:write")
    assert first["act"]["sub"] == "planner-agent" and "act" not in first["act"]
    assert second["act"]["sub"] == "tool-agent" and second["act"]["act"]["sub"] == "planner-agent"
    assert second["act"]["roles"] == ["tool_agent"] and second["act"]["act"]["roles"] == ["planner_agent"]
    assert first["client_id"] == "planner-agent" and second["client_id"] == "tool-agent"
    assert first["sid"] == second["sid"] == "session-42"
    assert first["jti"] != second["jti"]
    assert second["exp"] <= pyjwt.decode(chain["person"], options={"verify_signature": False})["exp"]


def test_responses_follow_rfc_8693(chain: dict[str, Any]) -> None:
    response = chain["second"]
    assert response["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert response["token_type"] == "Bearer"
    assert response["scope"] == "payments:write"
    assert 0 < response["expires_in"] <= 15 * 60


def test_payments_service_check_shows_the_whole_chain(world: World, chain: dict[str, Any]) -> None:
    token = chain["second"]["access_token"]
    with serve(payments_service(world)) as url:
        small = httpx.post(
            f"{url}/pay", json={"id": "pay-1", "amount": 800}, headers={"Authorization": f"Bearer {token}"}
        )
        large = httpx.post(
            f"{url}/pay", json={"id": "pay-2", "amount": 4200}, headers={"Authorization": f"Bearer {token}"}
        )
    assert small.status_code == 200, small.text
    allowed, denied = small.json(), large.json()
    assert allowed["results"][0]["actions"] == {"pay": "EFFECT_ALLOW"}
    explanation = allowed["delegation"]["explanation"]
    assert "pay: EFFECT_ALLOW for alice -> planner-agent -> tool-agent" in explanation
    for party in (
        "subject alice (roles finance_clerk)",
        "actor 1 planner-agent (roles planner_agent)",
        "actor 2 tool-agent (current; roles tool_agent)",
    ):
        assert f"{party}: EFFECT_ALLOW by resource.payment.vdefault" in explanation
    assert allowed["delegation"]["actors"] == ["tool-agent", "planner-agent"]
    # agents acting for finance staff pay up to 1,000: the first delegate is named as the one that denied
    assert denied["results"][0]["actions"] == {"pay": "EFFECT_DENY"}
    assert denied["delegation"]["results"][0]["actions"]["pay"]["deniedBy"] == (
        "actor 1 planner-agent (resource.payment.vdefault no rule matched)"
    )


def test_payments_service_refuses_a_token_for_another_audience(world: World, chain: dict[str, Any]) -> None:
    with serve(payments_service(world)) as url:
        response = httpx.post(
            f"{url}/pay",
            json={"id": "pay-1", "amount": 1},
            headers={"Authorization": f"Bearer {chain['first']['access_token']}"},
        )
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "does not name https://payments.example" in response.text


def test_metadata_and_jwks(world: World) -> None:
    metadata = httpx.get(f"{world.url}/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == ISSUER
    assert metadata["token_endpoint"] == f"{ISSUER}/oauth2/token"
    assert metadata["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert metadata["grant_types_supported"] == ["urn:ietf:params:oauth:grant-type:token-exchange"]
    keys = httpx.get(f"{world.url}/.well-known/jwks.json").json()["keys"]
    assert [(k["kty"], k["crv"], k["alg"], k["use"]) for k in keys] == [("OKP", "Ed25519", "EdDSA", "sig")]
    assert all("d" not in k for k in keys)
