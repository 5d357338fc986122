"""A Starlette/ASGI middleware checking each request before the app sees it, after :class:`DelegationMiddleware`.

>>> app = AuthorizationMiddleware(app, pdp=client, decide=lambda request: (principal, resource, action))
>>> app = DelegationMiddleware(app, verifier=..., audience=...)     # outermost: verifies the token first

``decide(request)`` says what a request is (a Starlette ``Request`` in, ``(principal, resource,
action)`` out, or ``None`` for requests it does not govern). When the delegation middleware has
verified a bearer token, the check carries it (``auxData.jwt``: the server attenuates by the
actor chain). A denial is a 403 JSON ``{"error": "forbidden", "deniedBy": ...}``; the allowed
check's result is in ``request.state.chamberlain``.

A WebSocket handshake is decided as the HTTP GET request it is: ``decide`` gets a ``Request`` of the
handshake (``request.method == "GET"``, ``request.url.scheme`` ``ws`` or ``wss``); a denial closes it
before it is accepted (the server answers 403), and the allowed result is in ``websocket.state.chamberlain``.
Nothing but the lifespan passes undecided.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import orjson

from chamberlain.extras import needs

with needs("fastapi", "chamberlain.integrations.starlette"):
    from starlette.requests import Request

from chamberlain.asgi import ASGIApp, refuse_websocket, respond
from chamberlain.bearer import BearerError, bearer_token
from chamberlain.client.context import acting_for
from chamberlain.delegation.middleware import SCOPE_KEY
from chamberlain.engine import Principal, Resource
from chamberlain.errors import Error
from chamberlain.integrations import decide
from chamberlain.integrations.web import Forbidden

__all__ = ["AuthorizationMiddleware"]

Decide = Callable[[Request], tuple[Principal, Resource, str] | None]


class AuthorizationMiddleware:
    """Decide every HTTP request and WebSocket handshake ``decide`` governs with ``pdp``; refuse a denial."""

    def __init__(self, app: ASGIApp, *, pdp: Any, decide: Decide) -> None:
        self.app = app
        self.pdp = pdp
        self.decide = decide

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan: no request, nothing to decide
            await self.app(scope, receive, send)
            return
        request = Request(scope if scope["type"] == "http" else _handshake(scope))
        asked = self.decide(request)
        if asked is None:
            await self.app(scope, receive, send)
            return
        principal, resource, action = asked
        token = _bearer(request) if SCOPE_KEY in scope else None
        try:
            with acting_for(token) if token else contextlib.nullcontext():
                result = await decide.check_async(
                    self.pdp, principal, resource, [action], point="sdk:starlette"
                )
        except Error as exc:  # no decision: fail closed
            result = decide.undecided(resource, [action], str(exc))
        if not result.is_allowed(action):
            denied = Forbidden(action, resource, result)
            if scope["type"] == "http":
                await respond(send, 403, orjson.dumps(denied.body()))
            else:
                await refuse_websocket(send, f"forbidden: {denied.denied_by}")
            return
        scope.setdefault("state", {})["chamberlain"] = result
        await self.app(scope, receive, send)


def _handshake(scope: dict[str, Any]) -> dict[str, Any]:
    """The HTTP GET request a WebSocket handshake is (RFC 6455 §4.1), as a scope ``Request`` reads; it
    shares the connection's ``state``, so what ``decide`` leaves there the socket's handler sees."""
    return {**scope, "type": "http", "method": "GET", "state": scope.setdefault("state", {})}


def _bearer(request: Request) -> str | None:
    """The bearer token the delegation middleware verified (read as it reads it), else None."""
    try:
        return bearer_token(request.headers.get("authorization"))
    except BearerError:
        return None
