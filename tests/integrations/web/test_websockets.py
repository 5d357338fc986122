"""The Starlette middleware decides a WebSocket handshake as the GET request it is: an agent the policy
refuses cannot open a socket on a governed path (closed before it is accepted: HTTP 403), through a
real uvicorn on loopback and a real WebSocket client."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from chamberlain import PDP, Principal, Resource
from chamberlain.integrations.starlette import AuthorizationMiddleware
from tests.delegation.support import serve
from tests.support.cerbos_server import REPO_ROOT

PDP_ = PDP.from_directory(REPO_ROOT / "examples" / "policies")
INVOICES = {"inv-1": {"amount": 1200, "status": "APPROVED", "submittedBy": "bob", "currency": "EUR"}}


def socket_app() -> Any:
    async def pay_socket(websocket: WebSocket) -> None:
        await websocket.accept()
        allowed = websocket.state.chamberlain.is_allowed("pay")
        await websocket.send_text(f"paying {websocket.path_params['invoice_id']} allowed={allowed}")
        await websocket.close()

    def what(request: Request) -> tuple[Principal, Resource, str] | None:
        assert request.method == "GET" and request.url.scheme == "ws"
        invoice_id = request.url.path.split("/")[2]
        user = Principal(request.headers["x-user"], roles=request.headers["x-roles"].split(","))
        return user, Resource("invoice", invoice_id, attr=INVOICES[invoice_id]), "pay"

    inner = Starlette(routes=[WebSocketRoute("/invoices/{invoice_id}/pay", pay_socket)])
    return AuthorizationMiddleware(inner, pdp=PDP_, decide=what)


def test_a_denied_websocket_handshake_is_refused() -> None:
    with serve(socket_app()) as url:
        ws_url = url.replace("http://", "ws://") + "/invoices/inv-1/pay"
        with connect(ws_url, additional_headers={"x-user": "alice", "x-roles": "finance_clerk"}) as ok:
            assert ok.recv(timeout=5) == "paying inv-1 allowed=True"
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url, additional_headers={"x-user": "eve", "x-roles": "visitor"}).close()
    assert refused.value.response.status_code == 403
