"""Authorizing admin calls with chamberlain's own engine and its own, separate policy set.

The shipped set (``chamberlain/server/admin/policies/``, in the wheel) has one resource policy per kind:
``chamberlain:audit``, ``chamberlain:session``, ``chamberlain:approval``, ``chamberlain:analysis``. Role
``admin`` may do everything; role ``auditor`` may ``audit:read`` and ``session:read``. A folder named by
``chamberlain.admin.policies`` replaces the shipped set. The set is compiled into a PDP of its own (strict
evaluation), never mixed with the user's policy folder, so it appears in none of their ``compile`` runs or
analyses.

Every admin call is one check: the caller as principal (``P.attr`` holds the token's claims, plus ``via``
and ``issuer``), the route's kind as resource (id: the ``id`` path parameter, else the endpoint name), the
route's action. With the decision log on, the check is recorded there (enforcement point ``admin``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from chamberlain import PDP, Principal, Resource
from chamberlain.audit.log import DecisionLog
from chamberlain.engine import EngineOptions
from chamberlain.engine.names import NO_MATCH
from chamberlain.policy import load_directory
from chamberlain.server.admin import AdminRoute, Caller
from chamberlain.server.http import PERMISSION_DENIED, UNAVAILABLE, ApiError

SHIPPED = Path(__file__).parent / "policies"
POINT = "admin"


def load_admin_pdp(folder: Path | None, log: DecisionLog | None) -> PDP:
    """The admin PDP over ``folder`` (None: the shipped set); raises PolicyError naming file:line."""
    return PDP(load_directory(folder or SHIPPED), EngineOptions(strict_evaluation=True), audit=log)


def principal_of(caller: Caller) -> Principal:
    """The caller as the check's principal; ``via`` and ``issuer`` are set last (a claim cannot forge them).

    Not validated as a request's principal: a caller without roles is a caller the admin policies deny,
    with a message naming them, not a bad request."""
    return Principal.prevalidated(
        caller.id, caller.roles, {**caller.attr, "via": caller.via, "issuer": caller.issuer or ""}
    )


def describe(caller: Caller) -> str:
    return f"{caller.id!r} ({caller.issuer})" if caller.issuer else f"{caller.id!r} (basic auth)"


class AdminPolicies:
    """Decides and records admin checks; a denial is a 403 naming the policy and rule."""

    def __init__(self, folder: Path | None, log: DecisionLog | None):
        self.pdp = load_admin_pdp(folder, log)

    async def authorize(
        self, caller: Caller, route: AdminRoute, path_params: Mapping[str, str], call_id: str
    ) -> None:
        """Raise 403 unless the admin policies allow ``route.action``; the decision log's wait runs off the loop."""
        resource = Resource(
            route.resource_kind,
            path_params.get("id") or route.endpoint,
            {"endpoint": route.endpoint, "method": route.method, "params": dict(path_params)},
        )
        check = self.pdp.check
        result = await asyncio.to_thread(
            check, principal_of(caller), resource, [route.action], call_id=call_id, point=POINT
        )
        if result.log_error:
            raise ApiError(
                503,
                UNAVAILABLE,
                f"admin API: the decision log could not record this call, so it "
                f"is refused: {result.log_error}",
            )
        effect = result[0].actions[route.action]
        if effect.allowed:
            return
        if effect.policy == NO_MATCH or not effect.rule:
            why = (
                f"no rule allowed it (policy {effect.policy})"
                if effect.policy != NO_MATCH
                else "no rule allowed it"
            )
        else:
            why = f"denied by policy {effect.policy} rule {effect.rule!r}"
        roles = ", ".join(caller.roles) or "none"
        raise ApiError(
            403,
            PERMISSION_DENIED,
            f"admin API: {describe(caller)} with roles [{roles}] may not "
            f"{route.action} on {route.resource_kind}: {why}",
        )
