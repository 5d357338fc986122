"""The analysis admin routes over real HTTP: behind the admin surface's authentication and its
shipped policy (``chamberlain:analysis``), paged with cursors, bounded, 400s naming the parameter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chamberlain.server import admin
from chamberlain.server.analysis_api import MAX_PAGE, ROUTES
from tests.analysis.support import INVOICE, POLICIES
from tests.server.support import ADMIN_AUTH, ThreadServer, admin_on

ACCESS = "/api/analysis/access"
USAGE = "/api/analysis/usage"


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadServer]:
    with ThreadServer(POLICIES, {"server": admin_on()}) as s:
        check = {
            "requestId": "r",
            "principal": {"id": "carol", "roles": ["finance_clerk"]},
            "resources": [
                {"actions": ["view"], "resource": {"kind": "invoice", "id": "i1", "attr": INVOICE}}
            ],
        }
        assert httpx.post(f"{s.url}/api/check/resources", json=check, timeout=30).status_code == 200
        yield s


def _get(server: ThreadServer, path: str, **params: Any) -> httpx.Response:
    return httpx.get(server.url + path, params=params, auth=ADMIN_AUTH, timeout=60)


def test_routes_are_declared_for_the_dispatcher() -> None:
    assert "chamberlain.server.analysis_api" in admin.ROUTE_MODULES
    assert {(r.method, r.path, r.action, r.resource_kind) for r in ROUTES} == {
        ("GET", ACCESS, "analysis:read", "chamberlain:analysis"),
        ("GET", USAGE, "analysis:read", "chamberlain:analysis"),
    }


def test_only_authenticated_admins_get_the_map(server: ThreadServer) -> None:
    assert httpx.get(server.url + ACCESS, timeout=30).status_code == 401
    assert httpx.get(server.url + ACCESS, auth=("operator", "wrong"), timeout=30).status_code == 401
    assert _get(server, ACCESS, limit=1).status_code == 200


def test_access_pages_through_every_subject_with_cursors(server: ThreadServer) -> None:
    first = _get(server, ACCESS, limit=3).json()
    assert first["complete"] and len(first["subjects"]) == 3 and first["next_cursor"]
    labels = [s["label"] for s in first["subjects"]]
    cursor = first["next_cursor"]
    while cursor:
        page = _get(server, ACCESS, limit=MAX_PAGE, cursor=cursor).json()
        labels += [s["label"] for s in page["subjects"]]
        cursor = page["next_cursor"]
    assert len(labels) == first["total"] == len(set(labels))
    assert "principal:carol" in labels  # seen in the decision log the server writes
    roles = _get(server, ACCESS, kind="role", limit=MAX_PAGE).json()
    assert roles["subjects"] and all(s["kind"] == "role" for s in roles["subjects"])
    view = next(
        c
        for c in roles["cells"]
        if c["subject"] == "role:auditor" and c["resource"] == "invoice" and c["action"] == "view"
    )
    assert view["access"] == "ALWAYS"


def test_usage_counts_the_logged_use(server: ThreadServer) -> None:
    out = _get(server, USAGE, since="2000-01-01T00:00:00Z", limit=MAX_PAGE).json()
    carol = next(s for s in out["subjects"] if s["principal"] == "carol")
    view = next(g for g in carol["grants"] if g["action"] == "view")
    assert view["uses"] == 1 and view["last_use"]
    assert {u["action"] for u in carol["unused"]} >= {"create", "submit"}


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        (ACCESS, {"limit": "500"}, "limit"),
        (ACCESS, {"cursor": "garbage"}, "cursor"),
        (ACCESS, {"budget": "3600"}, "budget"),
        (ACCESS, {"budget": "nan"}, "budget"),
        (ACCESS, {"kind": "wizard"}, "kind"),
        (ACCESS, {"offset": "3"}, "offset"),
        (USAGE, {"since": "yesterday"}, "since"),
    ],
)
def test_bad_queries_are_400_naming_the_parameter(
    server: ThreadServer, path: str, params: dict, named: str
) -> None:
    reply = _get(server, path, **params)
    assert reply.status_code == 400, reply.text
    assert named in reply.json()["message"]
