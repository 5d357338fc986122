"""Deciding checks in the server: decide on the event loop, then await the decision log without blocking it.

A handler starts its checks with :func:`start` and returns :func:`settle`'s result: the response at
once when nothing waits for the log (no log, or ``async`` durability), else a coroutine the app
awaits while the log's writer commits (other requests are served meanwhile).

A request that carries delegation (a token chamberlain issued in ``auxData.jwt``, or the
``auxData.delegation`` extension naming the actors) is decided with attenuation by the token
service (``chamberlain.delegation``): every party of the chain must be allowed. Its entries carry
the actor chain; its response adds the ``delegation`` field.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from chamberlain import delegation
from chamberlain.audit import recording
from chamberlain.audit.recording import PendingCheck
from chamberlain.server.state import ServerState

Response = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Started:
    """A decided check on its way to the log, and how to answer it once settled."""

    pending: PendingCheck
    respond: Callable[[PendingCheck], Response]


def start(state: ServerState, request: Any, call_id: str, point: str) -> Started:
    """Decide a CheckResources request and submit its entries (raises for bad input, like the PDP)."""
    loop = asyncio.get_running_loop() if state.log is not None else None
    tokens = state.tokens
    decided = delegation.decide_check_resources(tokens, request, state.pdp.verify_jwt) if tokens else None
    if decided is not None:  # the request carries delegation
        pending = recording.submit(state.log, decided.inputs, decided.outputs, when=dt.datetime.now(dt.UTC),
                                   call_id=call_id, point=point, request=request, loop=loop,
                                   context=delegation_context(decided.result))  # fmt: skip
        return Started(pending, lambda settled: settled.annotate(decided.response(settled.outputs)))
    pending = state.pdp.start_check_resources(request, call_id=call_id, point=point, loop=loop)
    return Started(pending, state.pdp.respond)


def delegation_context(result: Any) -> dict[str, Any]:
    """What the request record keeps of a delegated check, so it can be replayed: the chain with roles."""
    d = result.delegation
    return {"delegation": {
        "source": d.source, "issuer": d.issuer, "sid": d.sid, "jti": d.jti,
        "scopes": None if d.scopes is None else list(d.scopes),
        "audience": None if d.audience is None else list(d.audience),
        "actors": [{"id": a.id, "issuer": a.issuer, "roles": list(a.roles), "attr": dict(a.attr)} for a in result.actors],
    }}  # fmt: skip


def settle(state: ServerState, checks: list[Started],
           build: Callable[[list[Response]], Response]) -> Response | Awaitable[Response]:  # fmt: skip
    """``build`` the answer from the checks' responses once their entries are durable (or failed)."""

    def finish() -> Response:
        responses = []
        for check in checks:
            response = check.respond(check.pending)
            state.metrics.observe_decisions(response)
            if check.pending.error is not None:
                state.metrics.observe_log_denial()
            responses.append(response)
        return build(responses)

    if not any(c.pending.waiting for c in checks):
        return finish()

    async def wait_then_finish() -> Response:
        for check in checks:
            await check.pending.wait_async()
        return finish()

    return wait_then_finish()
