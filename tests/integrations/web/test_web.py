"""The web helpers: ``@requires``, the FastAPI dependency and the Starlette middleware, through each
framework's real test client; a denial is the framework's 403 naming the deciding policy and rule."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import Depends, FastAPI, Header
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chamberlain import PDP, Client, Principal, Resource
from chamberlain.integrations.fastapi import Authorizer
from chamberlain.integrations.starlette import AuthorizationMiddleware
from chamberlain.integrations.web import Forbidden, requires
from tests.server.support import ThreadServer
from tests.support.cerbos_server import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples" / "policies"
PDP_ = PDP.from_directory(EXAMPLES)
INVOICES = {"inv-1": {"amount": 1200, "status": "APPROVED", "submittedBy": "bob", "currency": "EUR"}}
CLERK = Principal("alice", roles={"finance_clerk"})


# -- @requires --------------------------------------------------------------------------------------


@requires(
    "invoice", "pay", pdp=PDP_, id=lambda invoice_id: invoice_id, attr=lambda invoice_id: INVOICES[invoice_id]
)
def pay(principal: Principal, invoice_id: str) -> str:
    return f"paid {invoice_id}"


def test_requires_runs_the_function_only_when_allowed() -> None:
    assert pay(CLERK, "inv-1") == "paid inv-1"
    with pytest.raises(Forbidden) as denied:
        pay(Principal("eve", roles={"visitor"}), "inv-1")
    assert denied.value.status == 403
    assert denied.value.denied_by == "resource.invoice.vdefault: no rule allowed it (default deny)"
    assert denied.value.body()["action"] == "pay"


def test_requires_on_a_coroutine_names_the_rule_that_held() -> None:
    @requires(
        "invoice",
        "approve",
        pdp=PDP_,
        id=lambda invoice_id: invoice_id,
        attr=lambda invoice_id: {**INVOICES[invoice_id], "status": "SUBMITTED", "submittedBy": "alice"},
        principal=lambda user: Principal(user, roles={"finance_manager"}),
    )
    async def approve(user: str, invoice_id: str) -> str:
        return "approved"

    with pytest.raises(Forbidden) as denied:
        asyncio.run(approve("alice", "inv-1"))
    assert "rule 'no-self-approval'" in denied.value.denied_by


def test_requires_names_a_missing_argument() -> None:
    @requires("invoice", "pay", pdp=PDP_, id=lambda invoice: invoice)
    def broken(principal: Principal, invoice_id: str) -> None:
        pass

    with pytest.raises(TypeError, match="no argument named invoice"):
        broken(CLERK, "inv-1")


# -- FastAPI ----------------------------------------------------------------------------------------


def current_user(x_user: str = Header(), x_roles: str = Header()) -> Principal:
    # unvalidated, so that the PDP is the one refusing a principal without roles (the constructor would)
    return Principal.prevalidated(x_user, roles=[r for r in x_roles.split(",") if r])


def fastapi_app(pdp: Any) -> FastAPI:
    authz = Authorizer(pdp, principal=current_user)
    app = FastAPI()
    pay_check = authz.requires(
        "invoice",
        "pay",
        id=lambda invoice_id: invoice_id,
        attr=lambda invoice_id: INVOICES.get(invoice_id, {}),
    )

    @app.post("/invoices/{invoice_id}/pay")
    def pay_route(invoice_id: str, check: Any = Depends(pay_check)) -> dict[str, str]:  # noqa: B008
        return {"paid": invoice_id}

    return app


@pytest.fixture(scope="module")
def server():
    with ThreadServer(EXAMPLES) as running:
        yield running


@pytest.mark.parametrize("remote", [False, True], ids=["embedded", "client"])
def test_the_fastapi_dependency_answers_403_with_the_rule(
    remote: bool, request: pytest.FixtureRequest
) -> None:
    pdp = Client(request.getfixturevalue("server").url) if remote else PDP_
    with TestClient(fastapi_app(pdp)) as http:
        ok = http.post("/invoices/inv-1/pay", headers={"x-user": "alice", "x-roles": "finance_clerk"})
        denied = http.post("/invoices/inv-1/pay", headers={"x-user": "eve", "x-roles": "visitor"})
    assert ok.status_code == 200 and ok.json() == {"paid": "inv-1"}
    assert denied.status_code == 403
    detail = denied.json()["detail"]
    assert detail["error"] == "forbidden" and detail["action"] == "pay" and detail["id"] == "inv-1"
    assert detail["deniedBy"].startswith("resource.invoice.vdefault")


# -- Starlette middleware ---------------------------------------------------------------------------


def starlette_app(pdp: Any) -> Any:
    async def pay_route(request: Request) -> JSONResponse:
        result = request.state.chamberlain
        return JSONResponse({"paid": request.path_params["invoice_id"], "allowed": result.is_allowed("pay")})

    def what(request: Request) -> tuple[Principal, Resource, str] | None:
        if not request.url.path.startswith("/invoices/"):
            return None
        invoice_id = request.url.path.split("/")[2]
        user = Principal(request.headers["x-user"], roles=request.headers["x-roles"].split(","))
        return user, Resource("invoice", invoice_id, attr=INVOICES[invoice_id]), "pay"

    inner = Starlette(
        routes=[
            Route("/invoices/{invoice_id}/pay", pay_route, methods=["POST"]),
            Route("/health", lambda r: JSONResponse({"ok": True})),
        ]
    )
    return AuthorizationMiddleware(inner, pdp=pdp, decide=what)


def test_the_starlette_middleware_checks_each_governed_request() -> None:
    with TestClient(starlette_app(PDP_)) as http:
        ok = http.post("/invoices/inv-1/pay", headers={"x-user": "alice", "x-roles": "finance_clerk"})
        denied = http.post("/invoices/inv-1/pay", headers={"x-user": "eve", "x-roles": "visitor"})
        ungoverned = http.get("/health")
    assert ok.json() == {"paid": "inv-1", "allowed": True}
    assert denied.status_code == 403 and denied.json()["deniedBy"].startswith("resource.invoice.vdefault")
    assert ungoverned.json() == {"ok": True}


def test_no_decision_is_a_403_naming_why(server: ThreadServer) -> None:
    """A principal the PDP refuses (no roles) cannot pass: the route answers 403 with the PDP's reason."""
    with Client(server.url) as client, TestClient(fastapi_app(client)) as http:
        answer = http.post("/invoices/inv-1/pay", headers={"x-user": "alice", "x-roles": ""})
    assert answer.status_code == 403
    assert "the PDP refused the request" in answer.json()["detail"]["deniedBy"]
