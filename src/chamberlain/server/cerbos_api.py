"""The Cerbos HTTP API: ``/api/check/resources``, ``/api/plan/resources``, ``/_cerbos/health``,
``/api/server_info``; requests and responses as Cerbos's HTTP gateway speaks them."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import orjson

from chamberlain import __version__
from chamberlain.engine.request_validation import (
    CHECK_RESOURCES,
    PLAN_RESOURCES,
    validate_check_resources,
    validate_plan_resources,
)
from chamberlain.server import decide, plans
from chamberlain.server.http import UNAVAILABLE, ApiError, parse_json
from chamberlain.server.logs import LOGGER
from chamberlain.server.state import ServerState


def check_resources(
    state: ServerState, body: bytes, call_id: str, point: str = "http:cerbos"
) -> dict[str, Any] | Awaitable[dict[str, Any]]:
    """``POST /api/check/resources`` (answered once the decision log has the entries, in sync mode)."""
    request = parse_json(body, state.config.max_json_depth, CHECK_RESOURCES)
    limits = state.config
    validate_check_resources(request, limits.request_limits)
    pending = decide.start(state, request, call_id, point)

    def build(responses: list[dict[str, Any]]) -> dict[str, Any]:
        response = responses[0]
        response["cerbosCallId"] = call_id
        if limits.audit_enabled:
            LOGGER.info(
                "decision",
                extra={
                    "callId": call_id,
                    "principal": request["principal"].get("id"),
                    "results": response["results"],
                },
            )
        return response

    return decide.settle(state, [pending], build)


def plan_resources(
    state: ServerState, body: bytes, call_id: str, point: str = "http:cerbos"
) -> dict[str, Any] | Awaitable[dict[str, Any]]:
    """``POST /api/plan/resources`` (answered once the decision log has the plan, in sync mode)."""
    request = parse_json(body, state.config.max_json_depth, PLAN_RESOURCES)
    validate_plan_resources(request)
    return plans.answer(state, request, call_id, point)


class NotServing(ApiError):
    """Health answered 503 with Cerbos's health body ``{"status": "NOT_SERVING", ...}``."""

    def __init__(self, payload: dict[str, Any]):
        super().__init__(503, UNAVAILABLE, "NOT_SERVING")
        self.payload = payload

    def body(self) -> bytes:
        return orjson.dumps(self.payload)


def health(state: ServerState, body: bytes, call_id: str) -> dict[str, Any]:
    """``GET /_cerbos/health``: SERVING; a failed reload (old policies still serving) is reported too.

    NOT_SERVING (503) while the decision log is unavailable in ``sync`` durability: every check is
    then denied for it. In ``async`` durability checks go on (queued) and the log is reported DEGRADED.
    A session store that cannot be read is reported (``chamberlain.sessions``): checks naming a session
    are denied meanwhile, the others are served.
    """
    status: dict[str, Any] = {"status": "SERVING"}
    extra: dict[str, Any] = {}
    if state.reload_status.last_error:
        extra.update(policies="STALE", lastReloadError=state.reload_status.last_error)
    log = state.log
    if log is not None:
        found = log.status()
        if found["state"] != "OK":
            extra["decisionLog"] = {
                "state": "UNAVAILABLE" if found["denying"] else "DEGRADED",
                "since": found["since"],
                "reason": found["reason"],
            }
            if found["denying"]:
                status["status"] = "NOT_SERVING"
    sessions = state.sessions
    if sessions is not None and sessions.probe():
        # Checks that name a session are denied (fail closed); the others are served as usual.
        extra["sessions"] = {
            "state": "UNAVAILABLE",
            "since": sessions.problem_since,
            "reason": sessions.problem,
        }
    if extra:
        status["chamberlain"] = extra
    if status["status"] != "SERVING":
        raise NotServing(status)
    return status


def server_info(state: ServerState, body: bytes, call_id: str) -> dict[str, Any]:
    """``GET /api/server_info``."""
    return {"version": __version__}
