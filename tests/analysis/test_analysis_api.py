"""The analysis admin routes, called as the admin dispatcher calls them (an authorized AdminRequest)
on a real server state with a real decision log. (Real-HTTP tests follow once the dispatcher lands.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from chamberlain import Principal, Resource
from chamberlain.server import admin
from chamberlain.server.admin import AdminRequest, AdminResponse, Caller
from chamberlain.server.analysis_api import MAX_PAGE, ROUTES
from chamberlain.server.config import load_config
from chamberlain.server.state import ServerState

REPO = Path(__file__).resolve().parents[2]
INVOICE = {"status": "APPROVED", "amount": 100, "currency": "EUR", "submittedBy": "bob"}


@pytest.fixture
def state(tmp_path: Path) -> Iterator[ServerState]:
    config = load_config(None, overrides={"storage": {"disk": {"directory": str(REPO / "examples" / "policies"),
                                                               "watchForChanges": False}},
                                          "chamberlain": {"stateDir": str(tmp_path)}}, env={})  # fmt: skip
    s = ServerState(config)
    s.pdp.check(Principal("carol", ("finance_clerk",)), Resource("invoice", "i1", INVOICE), ["view"])
    try:
        yield s
    finally:
        s.close()


def _call(state: ServerState, path: str, query: str = "") -> dict | AdminResponse:
    route = next(r for r in ROUTES if r.path == path)
    request = AdminRequest(state, Caller("admin", ("admin",)), "GET", {}, query.encode(), b"", {}, "call-1")
    return asyncio.run(route.handler(request))


def test_routes_are_declared_for_the_dispatcher() -> None:
    assert "chamberlain.server.analysis_api" in admin.ROUTE_MODULES
    assert {(r.method, r.path, r.action, r.resource_kind) for r in ROUTES} == {
        ("GET", "/api/analysis/access", "analysis:read", "chamberlain:analysis"),
        ("GET", "/api/analysis/usage", "analysis:read", "chamberlain:analysis"),
    }


def test_access_pages_through_subjects(state: ServerState) -> None:
    first = _call(state, "/api/analysis/access", "limit=3")
    assert isinstance(first, dict) and first["complete"]
    assert len(first["subjects"]) == 3 and first["next"] == 3
    labels = [s["label"] for s in first["subjects"]]
    rest = _call(state, "/api/analysis/access", f"offset=3&limit={MAX_PAGE}")
    assert isinstance(rest, dict) and "next" not in rest
    all_labels = labels + [s["label"] for s in rest["subjects"]]
    assert len(all_labels) == first["total"] == len(set(all_labels))
    assert "principal:carol" in all_labels  # seen in the decision log
    roles = _call(state, "/api/analysis/access", "kind=role&limit=50")
    assert isinstance(roles, dict) and all(s["kind"] == "role" for s in roles["subjects"])


def test_usage_counts_the_logged_use(state: ServerState) -> None:
    out = _call(state, "/api/analysis/usage", "since=2000-01-01T00:00:00Z")
    assert isinstance(out, dict)
    carol = next(s for s in out["subjects"] if s["principal"] == "carol")
    view = next(g for g in carol["grants"] if g["action"] == "view")
    assert view["uses"] == 1 and view["last_use"]


@pytest.mark.parametrize(("path", "query", "named"), [
    ("/api/analysis/access", "limit=500", "limit"),
    ("/api/analysis/access", "offset=-1", "offset"),
    ("/api/analysis/access", "budget=3600", "budget"),
    ("/api/analysis/access", "kind=wizard", "kind"),
    ("/api/analysis/usage", "since=yesterday", "since"),
])  # fmt: skip
def test_bad_queries_are_400_naming_the_parameter(
    state: ServerState, path: str, query: str, named: str
) -> None:
    out = _call(state, path, query)
    assert isinstance(out, AdminResponse) and out.status == 400
    assert named in out.body["message"]
