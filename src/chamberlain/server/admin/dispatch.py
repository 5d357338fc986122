"""The admin dispatcher: route table, then authenticate, authorize (and record), read the body, call.

Routes come from the modules in :data:`ROUTE_MODULES` (each defines ``ROUTES: list[AdminRoute]``),
imported once when the app is built. A path matches a route's ``path`` segment by segment, ``{name}``
matching one non-empty segment. With the admin API off, every admin path answers 404 saying how to turn
it on. A handler written as ``async def`` runs on the event loop; a plain function (database reads,
files) runs on a worker thread.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chamberlain.asgi import Receive
from chamberlain.bearer import BearerError, bearer_token, scheme
from chamberlain.server import admin as contract
from chamberlain.server.admin import AdminRequest, AdminResponse, AdminRoute, Caller
from chamberlain.server.admin.auth import BasicAuth, bearer_caller, unauthenticated
from chamberlain.server.admin.policy import AdminPolicies
from chamberlain.server.admin.settings import ENABLE_HINT
from chamberlain.server.http import NOT_FOUND, UNIMPLEMENTED, ApiError, content_length, read_body

if TYPE_CHECKING:
    from chamberlain.server.state import ServerState

MAX_PATH_PARAM = 256
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class RouteError(Exception):
    """Two routes claim the same method and path, or a module has no ``ROUTES``."""


@dataclass(frozen=True, slots=True)
class Match:
    """A path that is an admin path: its routes by method and the ``{name}`` values."""

    methods: Mapping[str, AdminRoute]
    params: Mapping[str, str]

    def endpoint(self, method: str) -> str:
        """The endpoint name for metrics and logs (the path's first route's for a method it lacks)."""
        route = self.methods.get(method) or next(iter(self.methods.values()))
        return route.endpoint


def load_routes(modules: Iterable[str]) -> list[AdminRoute]:
    """Every ``ROUTES`` of ``modules`` (dotted names)."""
    routes: list[AdminRoute] = []
    for name in modules:
        found = getattr(importlib.import_module(name), "ROUTES", None)
        if not isinstance(found, list) or not all(isinstance(r, AdminRoute) for r in found):
            raise RouteError(f"admin route module {name} must define ROUTES: list[AdminRoute]")
        routes.extend(found)
    return routes


class RouteTable:
    """Static paths by dictionary lookup; patterned paths (``{name}`` segments) in registration order."""

    def __init__(self, routes: Iterable[AdminRoute]):
        self.static: dict[str, dict[str, AdminRoute]] = {}
        self.patterns: dict[tuple[str, ...], dict[str, AdminRoute]] = {}
        for route in routes:
            segments = tuple(route.path.strip("/").split("/"))
            table = (
                self.patterns.setdefault(segments, {})
                if "{" in route.path
                else self.static.setdefault(route.path, {})
            )
            if route.method in table:
                raise RouteError(f"two admin routes for {route.method} {route.path}")
            table[route.method] = route

    def match(self, path: str) -> Match | None:
        methods = self.static.get(path)
        if methods is not None:
            return Match(methods, {})
        segments = path.strip("/").split("/")
        for pattern, methods in self.patterns.items():
            if len(pattern) != len(segments):
                continue
            params: dict[str, str] = {}
            for want, got in zip(pattern, segments, strict=True):
                if want.startswith("{") and want.endswith("}"):
                    if not got or len(got) > MAX_PATH_PARAM:
                        break
                    params[want[1:-1]] = got
                elif want != got:
                    break
            else:
                return Match(methods, params)
        return None


class AdminSurface:
    """The admin API of one server (``server.adminAPI``): matched paths are answered here, all others not."""

    def __init__(self, state: ServerState, modules: Iterable[str] | None = None):
        """``modules``: where the routes are (default: :data:`ROUTE_MODULES` as it is now)."""
        self.state = state
        self.settings = state.config.admin
        self.routes = RouteTable(load_routes(contract.ROUTE_MODULES if modules is None else modules))
        self.basic: BasicAuth | None = None
        self.policies: AdminPolicies | None = None
        if self.settings.enabled:
            self.policies = AdminPolicies(self.settings.policies, state.log)
            self.basic = BasicAuth(self.settings, state.metrics.observe_admin_auth)

    def close(self) -> None:
        if self.basic is not None:
            self.basic.close()

    def match(self, path: str) -> Match | None:
        return self.routes.match(path)

    async def call(
        self, match: Match, scope: dict[str, Any], receive: Receive, call_id: str, started: float
    ) -> dict[str, Any] | AdminResponse:
        """Authenticate, authorize, read the body, run the handler; raises ApiError (401, 403, 404, 405...)."""
        if self.policies is None:
            raise ApiError(404, NOT_FOUND, f"the admin API is disabled: {ENABLE_HINT}")
        method = scope["method"]
        route = match.methods.get(method)
        if route is None:
            allowed = ", ".join(sorted(match.methods))
            raise ApiError(
                405,
                UNIMPLEMENTED,
                f"method {method} is not allowed here (allowed: {allowed})",
                headers=[(b"allow", allowed.encode())],
            )
        headers = _headers(scope)
        caller = await self.authenticate(headers, scope)
        await self.policies.authorize(caller, route, match.params, call_id)
        body = b""
        if method in _BODY_METHODS:
            config = self.state.config
            body = await read_body(
                receive, config.max_body_bytes, started + config.read_timeout, content_length(scope)
            )
        given = {k: v for k, v in headers.items() if k != "authorization"}  # handlers never see credentials
        request = AdminRequest(
            self.state, caller, method, match.params, scope.get("query_string", b""), body, given, call_id
        )
        handler = route.handler
        if inspect.iscoroutinefunction(handler):
            result = await handler(request)
        else:
            result = await asyncio.to_thread(handler, request)
            if inspect.isawaitable(result):
                result = await result
        if not isinstance(result, dict | AdminResponse):
            raise TypeError(f"admin handler {route.endpoint} answered {type(result).__name__}, not a dict")
        return result

    async def authenticate(self, headers: Mapping[str, str], scope: dict[str, Any]) -> Caller:
        """The caller of ``Authorization: Basic`` or ``Bearer``; a 401 (429) naming what is wrong."""
        value = headers.get("authorization")
        if value is None:
            raise unauthenticated(
                "authentication required: basic auth (server.adminAPI.adminCredentials) or "
                "a bearer token from a trusted issuer (chamberlain.delegation.trustedIssuers)"
            )
        kind = scheme(value)
        if kind == "basic" and self.basic is not None:
            client = (scope.get("client") or ("unknown",))[0]
            return await self.basic.authenticate(value.strip().partition(" ")[2], str(client))
        if kind == "bearer":
            try:
                caller = bearer_caller(
                    _token(value), self.state.config.delegation, self.settings, time.time()
                )
            except ApiError:
                self.state.metrics.observe_admin_auth("jwt", "failed")
                raise
            self.state.metrics.observe_admin_auth("jwt", "verified")
            return caller
        given = value.strip().partition(" ")[0]
        raise unauthenticated(f"unsupported authorization scheme {given[:20]!r}: use Basic or Bearer")


def _token(authorization: str) -> str:
    """The bearer token of ``authorization``; ``Bearer`` alone is an empty token (which does not verify)."""
    try:
        return bearer_token(authorization, where="bearer token")
    except BearerError as exc:
        if exc.missing:
            return ""
        raise unauthenticated(str(exc)) from None


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    """Header names lower-cased; two Authorization headers are refused (which one would count?)."""
    out: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").lower()
        if key == "authorization" and key in out:
            raise unauthenticated("two Authorization headers")
        out[key] = value.decode("latin-1")
    return out
