"""Deciding checks in the server: decide on the event loop, then await the decision log without blocking it.

A handler starts its checks with :func:`start` and returns :func:`settle`'s result: the response at
once when nothing waits for the log (no log, or ``async`` durability), else a coroutine the app
awaits while the log's writer commits (other requests are served meanwhile).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from chamberlain.audit.recording import PendingCheck
from chamberlain.server.state import ServerState

Response = dict[str, Any]


def start(state: ServerState, request: Any, call_id: str, point: str) -> PendingCheck:
    """Decide a CheckResources request and submit its entries (raises for bad input, like the PDP)."""
    loop = asyncio.get_running_loop() if state.log is not None else None
    return state.pdp.start_check_resources(request, call_id=call_id, point=point, loop=loop)


def settle(state: ServerState, pendings: list[PendingCheck],
           build: Callable[[list[Response]], Response]) -> Response | Awaitable[Response]:  # fmt: skip
    """``build`` the answer from the checks' responses once their entries are durable (or failed)."""

    def finish() -> Response:
        responses = []
        for pending in pendings:
            response = state.pdp.respond(pending)
            state.metrics.observe_decisions(response)
            if pending.error is not None:
                state.metrics.observe_log_denial()
            responses.append(response)
        return build(responses)

    if not any(p.waiting for p in pendings):
        return finish()

    async def wait_then_finish() -> Response:
        for pending in pendings:
            await pending.wait_async()
        return finish()

    return wait_then_finish()
