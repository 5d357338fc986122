"""The Cerbos HTTP API: ``/api/check/resources``, ``/api/plan/resources``, ``/_cerbos/health``,
``/api/server_info``; requests and responses as Cerbos's HTTP gateway speaks them."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from chamberlain import __version__
from chamberlain.server import decide, plans
from chamberlain.server.http import parse_json
from chamberlain.server.logs import LOGGER
from chamberlain.server.state import ServerState
from chamberlain.server.validate import CHECK_RESOURCES, check_limits, validate, validate_plan_resources


def check_resources(
    state: ServerState, body: bytes, call_id: str
) -> dict[str, Any] | Awaitable[dict[str, Any]]:
    """``POST /api/check/resources`` (answered once the decision log has the entries, in sync mode)."""
    request = parse_json(body)
    validate(CHECK_RESOURCES, request)
    limits = state.config
    check_limits(request, limits.max_resources_per_request, limits.max_actions_per_resource)
    pending = decide.start(state, request, call_id, "http:cerbos")

    def build(responses: list[dict[str, Any]]) -> dict[str, Any]:
        response = responses[0]
        response["cerbosCallId"] = call_id
        if limits.audit_enabled:
            LOGGER.info("decision", extra={"callId": call_id, "principal": request["principal"].get("id"),
                                           "results": response["results"]})  # fmt: skip
        return response

    return decide.settle(state, [pending], build)


def plan_resources(
    state: ServerState, body: bytes, call_id: str
) -> dict[str, Any] | Awaitable[dict[str, Any]]:
    """``POST /api/plan/resources`` (answered once the decision log has the plan, in sync mode)."""
    request = parse_json(body)
    validate_plan_resources(request)
    return plans.answer(state, request, call_id, "http:cerbos")


def health(state: ServerState, body: bytes, call_id: str) -> dict[str, Any]:
    """``GET /_cerbos/health``: SERVING; a failed reload (old policies still serving) is reported too."""
    status: dict[str, Any] = {"status": "SERVING"}
    if state.reload_status.last_error:
        status["chamberlain"] = {"policies": "STALE", "lastReloadError": state.reload_status.last_error}
    return status


def server_info(state: ServerState, body: bytes, call_id: str) -> dict[str, Any]:
    """``GET /api/server_info``."""
    return {"version": __version__}
