"""Answering PlanResources in the server: plan on the event loop (on a worker thread once it has run for
``eventLoopSlice``, as a check), then await the decision log.

A planner failure Cerbos also fails on (a condition that cannot be planned) is answered as Cerbos
answers it: 500 ``Resources query plan request failed`` (the log line names the condition). A
request that carries delegation (a chamberlain token, ``auxData.delegation``) is refused: a plan
for the principal alone would not apply the chain's attenuation, and the server never answers
wider than a check would. A plan naming a session (``auxData.session``) spends nothing of it, but the
session must be live and the caller's, else the plan is ALWAYS_DENIED with the reason.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable
from typing import Any

from chamberlain import delegation, plan_log
from chamberlain.cel import budget
from chamberlain.cel.values import Timestamp
from chamberlain.engine.planner import PlanError, plan_resources
from chamberlain.engine.planner.wire import parse_plan_resources, plan_response
from chamberlain.server import decide
from chamberlain.server.http import DEADLINE_EXCEEDED, INTERNAL, ApiError, bad_request
from chamberlain.server.logs import LOGGER
from chamberlain.server.state import ServerState
from chamberlain.sessions.join import gate, plan_note, request_ref

Response = dict[str, Any]


def answer(state: ServerState, request: Any, call_id: str, point: str) -> Response | Awaitable[Response]:
    """Plan a validated PlanResources request and record it; the response once the log has it."""
    tokens = state.tokens
    if tokens is not None and delegation.is_delegated(request, tokens.config.issuer):
        raise bad_request(
            "query plans are not supported for delegated requests (a chamberlain token or "
            "auxData.delegation): check each resource, or plan for the principal alone"
        )
    parsed = parse_plan_resources(request, state.pdp.verify_jwt, validated=True)
    when = Timestamp.now()
    started = time.monotonic()
    try:
        asyncio.get_running_loop()
        preempt_at = started + state.config.event_loop_slice  # on the event loop: a slice of it
    except RuntimeError:
        preempt_at = float("inf")
    try:
        plan = _plan(state, parsed.input, when, call_id, started, preempt_at)
    except budget.Preempted:
        state.metrics.observe_moved_to_worker("slow")
        return _moved(state, request, parsed, when, call_id, point, started)
    return _recorded(state, request, parsed, plan, when, call_id, point)


async def _moved(
    state: ServerState, request: Any, parsed: Any, when: Timestamp, call_id: str, point: str, started: float
) -> Response:
    """The plan folded on a worker thread, within the budget started at ``started``; recorded here."""
    plan = await decide.in_worker(state, _plan, state, parsed.input, when, call_id, started, float("inf"))
    answered = _recorded(state, request, parsed, plan, when, call_id, point)
    return await answered if inspect.isawaitable(answered) else answered


def _plan(
    state: ServerState, plan_input: Any, when: Timestamp, call_id: str, started: float, preempt_at: float
) -> Any:
    """The plan of ``plan_input``: the check's budget from ``started`` (:class:`budget.Preempted` past
    ``preempt_at``); 500 for a condition the planner cannot plan, 504 past the budget."""
    timeout = state.config.engine_options["evaluation_timeout"]
    with budget.limit(budget.Budget(timeout, started=started, preempt_at=preempt_at)):
        try:
            return plan_resources(state.pdp.engine, plan_input, when)
        except PlanError as exc:
            LOGGER.error("query plan failed", extra={"callId": call_id, "error": str(exc)})
            raise ApiError(500, INTERNAL, "Resources query plan request failed") from None
        except budget.EvaluationTimeout:  # no plan rather than a plan cut short
            raise ApiError(
                504,
                DEADLINE_EXCEEDED,
                f"the query plan's conditions ran past {timeout:g} s (chamberlain.limits.evaluationTimeout)",
            ) from None


def _recorded(
    state: ServerState, request: Any, parsed: Any, plan: Any, when: Timestamp, call_id: str, point: str
) -> Response | Awaitable[Response]:
    """The plan, gated by its session and submitted to the decision log; the response once it is there."""
    pdp = state.pdp
    ref = request_ref(request)  # a plan in a session: the session must be live (a plan spends nothing)
    denied = gate(pdp.sessions, ref, parsed.input.principal.id) if ref is not None else ""
    if denied:
        plan_log.deny_plan(plan)
    loop = asyncio.get_running_loop() if state.log is not None else None
    pending = plan_log.submit(
        state.log, parsed.input, plan, when=when, call_id=call_id, point=point, request=request, loop=loop
    )
    if denied:
        pending.notes["session"] = plan_note(ref, denied)

    def finish() -> Response:
        final = plan_log.deny_unrecorded(plan, pending.reason()) if pending.error is not None else plan
        if pending.error is not None:
            state.metrics.observe_log_denial()
        response = plan_response(final, include_meta=parsed.include_meta, single_action=parsed.single_action)
        response["cerbosCallId"] = call_id
        return pending.annotate(response)

    if not pending.waiting:
        return finish()

    async def wait_then_finish() -> Response:
        await pending.wait_async()
        return finish()

    return wait_then_finish()
