"""A downstream service behind DelegationMiddleware and AuthorizationMiddleware: the bearer token the first
verified goes with the second's check, and the chamberlain server attenuates by its actor chain."""

from __future__ import annotations

import warnings
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from chamberlain import Client, Principal, Resource
from chamberlain.delegation import DelegationMiddleware, Verifier
from chamberlain.integrations.starlette import AuthorizationMiddleware
from tests.delegation.support import (
    ISSUER,
    PAYMENTS,
    IdentityProvider,
    exchange,
    oauth_client,
    policy_folder,
    settings,
)
from tests.server.support import ThreadServer

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("delegated-routes")
    idp = IdentityProvider()
    with ThreadServer(policy_folder(tmp), {"chamberlain": {"delegation": settings(tmp, idp)}}) as server:
        person = idp.token("alice", roles=["finance_clerk"], scope="payments:write payments:read")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            first = exchange(
                oauth_client(), server.url, person, idp.token("planner-agent"), audience="tool-agent"
            )
            second = exchange(
                oauth_client(),
                server.url,
                first["access_token"],
                idp.token("tool-agent"),
                audience=PAYMENTS,
                scope="payments:write",
            )
        jwks = tmp / "jwks.json"
        jwks.write_text(httpx.get(f"{server.url}/.well-known/jwks.json").text)
        yield server, second["access_token"], jwks


def payments_service(url: str, jwks: Path) -> object:
    async def pay(request: Request) -> JSONResponse:
        return JSONResponse({"paid": request.path_params["pid"]})

    def what(request: Request) -> tuple[Principal, Resource, str]:
        # A middleware runs before routing: the payment id comes from the path itself.
        token, pid = request.state.delegation, request.url.path.rsplit("/", 1)[-1]
        resource = Resource("payment", pid, {"amount": int(request.query_params["amount"])})
        return Principal(token.subject, ["finance_clerk"]), resource, "pay"

    app = AuthorizationMiddleware(
        Starlette(routes=[Route("/payments/{pid}", pay, methods=["POST"])]), pdp=Client(url), decide=what
    )
    return DelegationMiddleware(app, verifier=Verifier(ISSUER, jwks), audience=PAYMENTS)


def test_the_verified_token_is_checked_with_its_actor_chain(world) -> None:
    server, token, jwks = world
    with TestClient(payments_service(server.url, jwks)) as http:
        ok = http.post("/payments/pay-1?amount=800", headers={"authorization": f"Bearer {token}"})
        big = http.post("/payments/pay-2?amount=90000", headers={"authorization": f"Bearer {token}"})
        anonymous = http.post("/payments/pay-1?amount=800")
    assert ok.status_code == 200 and ok.json() == {"paid": "pay-1"}
    assert big.status_code == 403
    denied = big.json()
    assert denied["deniedBy"] == "subject alice (resource.payment.vdefault no rule matched)"
    assert {o["agent"] for o in denied["outputs"]} == {"planner-agent", "tool-agent"}  # the chain was checked
    assert anonymous.status_code == 401


def test_a_websocket_handshake_needs_a_verified_token(world) -> None:
    """The middleware let every scope that was not plain HTTP through: a WebSocket endpoint behind it
    was open to anyone, without a token."""
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    _server, token, jwks = world

    async def feed(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"subject": websocket.state.delegation.subject})
        await websocket.close()

    app = DelegationMiddleware(
        Starlette(routes=[WebSocketRoute("/feed", feed)]), verifier=Verifier(ISSUER, jwks), audience=PAYMENTS
    )
    with TestClient(app) as http:
        for headers, why in (({}, "a delegation token is required"), ({"authorization": "Bearer a.b.c"}, "")):
            with (
                pytest.raises(WebSocketDisconnect) as refused,
                http.websocket_connect("/feed", headers=headers),
            ):
                pass  # closed before it was accepted: a server answers the handshake 403
            assert refused.value.code == 1008 and why in refused.value.reason
        with http.websocket_connect("/feed", headers={"authorization": f"Bearer {token}"}) as ws:
            assert ws.receive_json() == {"subject": "alice"}


def test_two_authorization_headers_are_refused(world) -> None:
    """The middleware verified the last Authorization header, and the app (Starlette reads the first) sent
    the first to the PDP: a token never verified for this service's audience was the one checked."""
    from tests.client.scripted import ScriptedPDP, allow_all

    _server, token, jwks = world
    request = {"resources": [{"resource": {"kind": "payment", "id": "pay-1"}, "actions": ["pay"]}]}
    with ScriptedPDP((200, allow_all(request))) as pdp, TestClient(payments_service(pdp.url, jwks)) as http:
        other = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2ln"
        twice = [("authorization", f"Bearer {other}"), ("authorization", f"Bearer {token}")]
        reply = http.post("/payments/pay-1?amount=800", headers=twice)
        assert reply.status_code == 401, (reply.status_code, [r["auxData"] for r in pdp.received])
        assert reply.text == "two Authorization headers: send one bearer token"
        assert 'error="invalid_request"' in reply.headers["www-authenticate"]
        assert pdp.received == []


@pytest.mark.parametrize("audience", [None, "", [], [""]])
def test_the_middleware_needs_an_audience(world, audience) -> None:
    """``audience=None`` (say, an unset setting) reached ``Verifier.verify`` as "do not check the audience":
    a token issued for any other service was accepted here."""
    from chamberlain.delegation import DelegationConfigError

    _server, _token, jwks = world
    with pytest.raises(DelegationConfigError, match="audience must name this service"):
        DelegationMiddleware(Starlette(), verifier=Verifier(ISSUER, jwks), audience=audience)
