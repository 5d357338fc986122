"""Delegation through `chamberlain serve`'s own app: the token endpoints, a three-hop chain, the
attenuated check over the Cerbos API, and every decision of it in the decision log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from tests.delegation.support import (
    ISSUER,
    PAYMENTS,
    IdentityProvider,
    OAuthError,
    example_pdp,
    exchange,
    form,
    oauth_client,
    policy_folder,
    settings,
)
from tests.server.support import ADMIN_AUTH, ThreadServer, admin_on

from chamberlain.delegation import ExchangeError, TokenService, parse_config

CHECK = "/api/check/resources"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadServer, IdentityProvider]]:
    tmp = tmp_path_factory.mktemp("delegation-server")
    idp = IdentityProvider()
    overrides = {"chamberlain": {"delegation": settings(tmp, idp), "logLevel": "error"}, "server": admin_on()}
    with ThreadServer(policy_folder(tmp), overrides) as srv:
        yield srv, idp


def _person(idp: IdentityProvider) -> str:
    return idp.token("alice", roles=["finance_clerk"], scope="payments:write payments:read")


def _chain(srv: ThreadServer, idp: IdentityProvider) -> str:
    """person -> planner-agent -> tool-agent, each hop narrowing the audience; the tool's token."""
    first = exchange(oauth_client(), srv.url, _person(idp), idp.token("planner-agent"), audience="tool-agent")
    second = exchange(
        oauth_client(),
        srv.url,
        first["access_token"],
        idp.token("tool-agent"),
        audience=PAYMENTS,
        scope="payments:write",
    )
    return second["access_token"]


def _check(srv: ThreadServer, token: str, amount: int) -> dict[str, Any]:
    body = {
        "requestId": "pay",
        "includeMeta": True,
        "principal": {"id": "alice", "roles": ["finance_clerk"]},
        "resources": [
            {
                "actions": ["pay"],
                "resource": {"kind": "payment", "id": f"pay-{amount}", "attr": {"amount": amount}},
            }
        ],
        "auxData": {"jwt": {"token": token}},
    }
    reply = httpx.post(srv.url + CHECK, json=body, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_metadata_and_keys_are_served(server) -> None:
    srv, _ = server
    meta = httpx.get(f"{srv.url}/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == ISSUER and meta["token_endpoint"] == f"{ISSUER}/oauth2/token"
    keys = httpx.get(f"{srv.url}/.well-known/jwks.json").json()["keys"]
    assert keys and all("kid" in k and "d" not in k for k in keys)  # public keys only


def test_a_three_hop_chain_decides_and_is_logged(server) -> None:
    srv, idp = server
    token = _chain(srv, idp)
    jwks = pyjwt.PyJWKSet.from_dict(httpx.get(f"{srv.url}/.well-known/jwks.json").json())
    kid = pyjwt.get_unverified_header(token)["kid"]
    claims = pyjwt.decode(token, jwks[kid].key, algorithms=["EdDSA", "ES256"], audience=PAYMENTS)
    assert claims["sub"] == "alice" and claims["act"]["sub"] == "tool-agent"
    assert claims["act"]["act"]["sub"] == "planner-agent" and claims["scope"] == "payments:write"

    allowed, refused = _check(srv, token, 800), _check(srv, token, 5000)
    assert allowed["results"][0]["actions"] == {"pay": "EFFECT_ALLOW"}
    assert refused["results"][0]["actions"] == {"pay": "EFFECT_DENY"}
    chain = allowed["delegation"]
    assert chain["subject"] == "alice" and chain["actors"] == ["tool-agent", "planner-agent"]
    assert "alice -> planner-agent -> tool-agent" in chain["explanation"]
    assert refused["delegation"]["results"][0]["actions"]["pay"]["deniedBy"]

    log = httpx.get(
        f"{srv.url}/api/audit/entries", params={"resource_kind": "payment"}, auth=ADMIN_AUTH
    ).json()["entries"]
    payments = {
        e["resource"]["id"]: e
        for e in log
        if e["call_id"] in {allowed["cerbosCallId"], refused["cerbosCallId"]}
    }
    assert payments["pay-800"]["effect"] == "EFFECT_ALLOW" and payments["pay-5000"]["effect"] == "EFFECT_DENY"
    assert payments["pay-800"]["actor_chain"] == ["tool-agent", "planner-agent"]
    exchanges = httpx.get(
        f"{srv.url}/api/audit/entries", params={"resource_kind": "delegation"}, auth=ADMIN_AUTH
    ).json()["entries"]
    assert {(e["principal"]["id"], e["action"], e["effect"]) for e in exchanges} >= {
        ("planner-agent", "exchange", "EFFECT_ALLOW"),
        ("tool-agent", "exchange", "EFFECT_ALLOW"),
    }
    assert all(e["point"] == "oauth2:token-exchange" for e in exchanges)


def test_a_refused_exchange_is_logged_with_its_rule(server) -> None:
    srv, idp = server
    with pytest.raises(OAuthError) as refused:
        exchange(
            oauth_client(), srv.url, _person(idp), idp.token("stranger", roles=["visitor"]), audience=PAYMENTS
        )
    assert refused.value.error == "invalid_request"
    entries = httpx.get(
        f"{srv.url}/api/audit/entries", params={"principal": "stranger"}, auth=ADMIN_AUTH
    ).json()["entries"]
    assert (
        entries and entries[-1]["effect"] == "EFFECT_DENY" and entries[-1]["resource"]["kind"] == "delegation"
    )


def test_plain_checks_are_untouched(server, tmp_path: Path) -> None:
    srv, _ = server
    body = {
        "principal": {"id": "alice", "roles": ["finance_clerk"]},
        "resources": [{"actions": ["view"], "resource": {"kind": "invoice", "id": "i1", "attr": {}}}],
    }
    answer = httpx.post(srv.url + CHECK, json=body).json()
    assert "delegation" not in answer and answer["results"][0]["actions"]["view"] == "EFFECT_ALLOW"


def test_an_exchange_the_log_cannot_record_is_refused(tmp_path: Path) -> None:

    idp = IdentityProvider()
    config = parse_config(
        settings(tmp_path, idp), state_dir=tmp_path / "state", base_url="http://unused.example"
    )
    recorded: list[Any] = []

    def broken_log(inputs, outputs) -> str:
        recorded.append((inputs, outputs))
        return "decision log unavailable: database is full"

    service = TokenService(config, example_pdp(tmp_path), record=broken_log)
    with pytest.raises(ExchangeError) as refused:
        service.exchange(form(_person(idp), idp.token("planner-agent"), "tool-agent"))
    assert refused.value.status == 503 and "database is full" in refused.value.description
    assert recorded and recorded[0][0][0].resource.kind == "delegation"
