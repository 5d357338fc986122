"""Admin routes for the dispatcher's tests: what a feature module declares (``ROUTES``), nothing more."""

from __future__ import annotations

import asyncio
from typing import Any

from chamberlain.server.admin import AdminRequest, AdminResponse, AdminRoute


def erase(request: AdminRequest) -> AdminResponse:
    """A plain function (runs on a worker thread): answers 202 with what it was given."""
    return AdminResponse(202, {"erased": request.path_params["id"], "body_bytes": len(request.body)})


async def whoami(request: AdminRequest) -> dict[str, Any]:
    await asyncio.sleep(0)
    c = request.caller
    return {
        "id": c.id,
        "issuer": c.issuer,
        "roles": list(c.roles),
        "via": c.via,
        "query": request.query.decode(),
    }


def broken(request: AdminRequest) -> dict[str, Any]:
    raise RuntimeError("a handler bug")


ROUTES = [
    AdminRoute(
        "POST", "/api/test/entries/{id}/erase", "test_erase", "audit:erase", "chamberlain:audit", erase
    ),
    AdminRoute("GET", "/api/test/whoami", "test_whoami", "audit:read", "chamberlain:audit", whoami),
    AdminRoute("GET", "/api/test/broken", "test_broken", "audit:read", "chamberlain:audit", broken),
]
