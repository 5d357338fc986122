"""Deciding checks in the server: decide on the event loop, then await the decision log without blocking it.

A handler starts its checks with :func:`start` and returns :func:`settle`'s result: the response at
once when nothing waits for the log (no log, or ``async`` durability), else a coroutine the app
awaits while the log's writer commits (other requests are served meanwhile).

A request that carries delegation (a token chamberlain issued in ``auxData.jwt``, or the
``auxData.delegation`` extension naming the actors) is decided with attenuation by the token
service (``chamberlain.delegation``): every party of the chain must be allowed. Its entries carry
the actor chain; its response adds the ``delegation`` field.

The event loop is never held by one check for long. A request's conditions share one budget
(``chamberlain.limits.evaluationTimeout``, :mod:`chamberlain.cel.budget`); on the event loop the
budget also *preempts*: a check still evaluating after ``eventLoopSlice`` raises ``Preempted``
(before anything was recorded: CEL has no side effects) and is decided again, from the start and
within the same deadline, on one of ``workerThreads`` threads while the loop serves others. The
app runs a handler whose body is over ``largeRequestBytes`` on those threads from the start
(:func:`in_worker`): parsing, validating and recording a large request take time too. The GIL
still switches every 5 ms, so a busy worker delays the loop by milliseconds, not seconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from chamberlain import delegation
from chamberlain.audit.write import recording
from chamberlain.audit.write.recording import PendingCheck
from chamberlain.cel import budget
from chamberlain.server.state import ServerState
from chamberlain.sessions.join import join, request_ref, token_sid, worth_telling

Response = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Started:
    """A decided check on its way to the log, and how to answer it once settled; or, for a check moved
    to a worker thread, ``moved``: the future of its :class:`Started`."""

    pending: PendingCheck | None
    respond: Callable[[PendingCheck], Response] | None
    moved: asyncio.Future[Started] | None = None


_worker = threading.local()  # .loop: the event loop a worker thread decides for


def _serving_loop() -> asyncio.AbstractEventLoop:
    loop = getattr(_worker, "loop", None)
    return loop if loop is not None else asyncio.get_running_loop()


async def in_worker(state: ServerState, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` on one of the server's worker threads; what it decides is recorded for this loop."""
    loop = asyncio.get_running_loop()

    def call() -> Any:
        _worker.loop = loop
        try:
            return fn(*args)
        finally:
            _worker.loop = None

    return await loop.run_in_executor(state.workers, call)


def start(state: ServerState, request: Any, call_id: str, point: str, *, validated: bool = True) -> Started:
    """Decide a CheckResources request and submit its entries (raises for bad input, like the PDP).

    ``request`` has been validated as the Cerbos server validates it (``validated``, the API handlers
    do it as they read it) and is not checked again. An AuthZEN request, built from one that was
    validated as AuthZEN's, is checked as a CheckResources request on the delegated path only (as
    before: ``validated=False``), the plain path deciding it as it is.

    On the event loop, a check that runs past ``eventLoopSlice`` continues on a worker thread.
    """
    limits = state.config
    started = time.monotonic()
    on_loop = getattr(_worker, "loop", None) is None
    if on_loop and state.sessions is not None and _may_name_a_session(request, state.tokens is not None):
        # A session is charged in a database transaction (which may wait for another replica's):
        # never on the event loop.
        return _move(state, "session", request, call_id, point, started, validated)
    preempt_at = started + limits.event_loop_slice if on_loop else float("inf")
    previous = budget.install(
        budget.Budget(limits.engine_options["evaluation_timeout"], started=started, preempt_at=preempt_at)
    )
    try:
        return _start(state, request, call_id, point, validated)
    except budget.Preempted:
        pass
    finally:
        budget.install(previous)
    return _move(state, "slow", request, call_id, point, started, validated)


def _move(
    state: ServerState, reason: str, request: Any, call_id: str, point: str, started: float, validated: bool
) -> Started:
    """The check decided on a worker thread (counted by ``reason``), within the budget started at ``started``."""
    state.metrics.observe_moved_to_worker(reason)
    moved = asyncio.ensure_future(
        in_worker(state, _start_in_worker, state, request, call_id, point, started, validated)
    )
    return Started(None, None, moved)


def _may_name_a_session(request: Any, issues_tokens: bool) -> bool:
    """Whether a request names a session or an approval (spending either is a transaction):
    ``auxData.session``/``approval``, or, when this server issues tokens, a token whose ``sid`` may name one.
    A plain Cerbos ``auxData.jwt`` on a server without the token service stays on the loop."""
    aux = request.get("auxData") if type(request) is dict else None
    if type(aux) is not dict:
        return False
    return (
        "session" in aux
        or "approval" in aux
        or (issues_tokens and ("jwt" in aux or "jwts" in aux or "delegation" in aux))
    )


def _start_in_worker(
    state: ServerState, request: Any, call_id: str, point: str, started: float, validated: bool
) -> Started:
    with budget.limit(budget.Budget(state.config.engine_options["evaluation_timeout"], started=started)):
        return _start(state, request, call_id, point, validated)


def _start(state: ServerState, request: Any, call_id: str, point: str, validated: bool) -> Started:
    loop = _serving_loop() if state.log is not None else None
    tokens = state.tokens
    decided = None
    if tokens is not None and delegation.is_delegated(request, tokens.config.issuer):
        sid = token_sid(delegation.token_claims(request, tokens.config.issuer))
        ref = request_ref(request, sid)
        joined = join(state.pdp.sessions, ref) if ref is not None else None
        decided = delegation.decide_check_resources(
            tokens,
            request,
            state.pdp.verify_jwt,
            session=joined,
            approvals=state.pdp.approvals,
            validated=validated,
        )
    if decided is not None:  # the request carries delegation
        pending = recording.submit(
            state.log,
            decided.inputs,
            decided.outputs,
            when=dt.datetime.now(dt.UTC),
            call_id=call_id,
            point=point,
            request=request,
            loop=loop,
            context=delegation_context(decided.result),
        )
        if worth_telling(decided.session):
            pending.notes["session"] = decided.session
        return Started(pending, lambda settled: settled.annotate(decided.response(settled.outputs)))
    pending = state.pdp.start_check_resources(
        request, call_id=call_id, point=point, loop=loop, validated=True
    )
    return Started(pending, state.pdp.respond)


def delegation_context(result: Any) -> dict[str, Any]:
    """What the request record keeps of a delegated check, so it can be replayed: the chain with roles."""
    d = result.delegation
    return {
        "delegation": {
            "source": d.source,
            "issuer": d.issuer,
            "subject_issuer": d.subject_issuer,
            "sid": d.sid,
            "jti": d.jti,
            "scopes": None if d.scopes is None else list(d.scopes),
            "audience": None if d.audience is None else list(d.audience),
            "actors": [
                {"id": a.id, "issuer": a.issuer, "roles": list(a.roles), "attr": dict(a.attr)}
                for a in result.actors
            ],
        }
    }


def settle(
    state: ServerState, checks: list[Started], build: Callable[[list[Response]], Response]
) -> Response | Awaitable[Response]:
    """``build`` the answer from the checks' responses once their entries are durable (or failed)."""

    def finish() -> Response:
        responses = []
        for check in checks:
            assert check.respond is not None and check.pending is not None
            response = check.respond(check.pending)
            state.metrics.observe_decisions(response)
            state.metrics.observe_timeouts(check.pending.outputs)
            if check.pending.error is not None:
                state.metrics.observe_log_denial()
            responses.append(response)
        return build(responses)

    if not any(c.moved is not None or c.pending.waiting for c in checks):  # type: ignore[union-attr]
        return finish()

    async def wait_then_finish() -> Response:
        for i, check in enumerate(checks):
            if check.moved is not None:
                checks[i] = check = await check.moved
            assert check.pending is not None
            await check.pending.wait_async()
        return finish()

    return wait_then_finish()
