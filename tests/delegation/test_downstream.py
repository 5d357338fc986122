"""What services downstream use: ``verify(token, audience=...)`` and the ASGI middleware (RFC 6750 answers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.delegation.conftest import World
from tests.delegation.support import ISSUER, PAYMENTS, exchange, oauth_client, serve

from chamberlain.delegation import DelegationMiddleware, TokenError, Verifier, verify


@pytest.fixture(scope="module")
def token(world: World) -> str:
    first = exchange(
        oauth_client(), world.url, world.person(), world.agent("planner-agent"), audience="tool-agent"
    )
    return exchange(
        oauth_client(),
        world.url,
        first["access_token"],
        world.agent("tool-agent"),
        audience=PAYMENTS,
        scope="payments:read",
    )["access_token"]


@pytest.fixture(scope="module")
def jwks(world: World) -> dict[str, Any]:
    return httpx.get(f"{world.url}/.well-known/jwks.json").json()


def test_verify_returns_the_chain(token: str, jwks: dict[str, Any], tmp_path: Path) -> None:
    verified = verify(token, audience=PAYMENTS, issuer=ISSUER, jwks=jwks)
    assert (verified.subject, verified.chain.ids, verified.scopes) == (
        "alice",
        ("tool-agent", "planner-agent"),
        ("payments:read",),
    )
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    assert verify(token, audience=PAYMENTS, issuer=ISSUER, jwks=tmp_path / "jwks.json").jti == verified.jti


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        (
            {"audience": "https://hr.example"},
            "claim aud ['https://payments.example'] does not name https://hr.example",
        ),
        (
            {"issuer": "https://other.example"},
            "issuer 'https://chamberlain.example' (claim iss) is not trusted",
        ),
        ({"jwks": {"keys": []}}, "unknown kid"),
    ],
)
def test_verify_refuses(token: str, jwks: dict[str, Any], kwargs: dict[str, Any], problem: str) -> None:
    args: dict[str, Any] = {"audience": PAYMENTS, "issuer": ISSUER, "jwks": jwks, **kwargs}
    with pytest.raises(TokenError) as error:
        verify(token, **args)
    assert problem in str(error.value)


def echo_subject() -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = f"{scope['state']['delegation'].subject} via {','.join(scope['chamberlain.delegation'].chain.ids)}"
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": body.encode()})

    return app


def test_the_middleware_answers_as_rfc_6750_says(token: str, jwks: dict[str, Any]) -> None:
    verifier = Verifier(ISSUER, jwks)
    reads = DelegationMiddleware(
        echo_subject(), verifier=verifier, audience=PAYMENTS, scopes=["payments:read"]
    )
    writes = DelegationMiddleware(
        echo_subject(), verifier=verifier, audience=PAYMENTS, scopes=["payments:write"]
    )
    bearer = {"Authorization": f"Bearer {token}"}
    with serve(reads) as read_url, serve(writes) as write_url:
        ok = httpx.get(read_url, headers=bearer)
        missing = httpx.get(read_url)
        garbage = httpx.get(read_url, headers={"Authorization": "Bearer not.a.jwt"})
        basic = httpx.get(read_url, auth=("alice", "pw"))
        scope = httpx.get(write_url, headers=bearer)
    assert (ok.status_code, ok.text) == (200, "alice via tool-agent,planner-agent")
    assert (missing.status_code, missing.headers["www-authenticate"]) == (401, 'Bearer realm="chamberlain"')
    assert basic.status_code == 401
    assert garbage.status_code == 401
    assert garbage.headers["www-authenticate"].startswith(
        'Bearer error="invalid_token", error_description="bearer token: '
    )
    assert scope.status_code == 403
    assert scope.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="payments:write"'
