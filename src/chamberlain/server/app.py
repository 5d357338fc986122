"""The ASGI application: routes, errors as Cerbos answers them, metrics, logs with the call id.

A plain ASGI callable rather than a framework router: the check path is a dictionary lookup, one
body read and one engine call, which keeps per-request overhead low (see bench/server_bench.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from chamberlain import delegation
from chamberlain.asgi import JSON_HEADERS, Receive, Send, respond
from chamberlain.engine.request_validation import InvalidRequest, RequestError
from chamberlain.errors import Error
from chamberlain.gateways.proxy import http as proxy_http
from chamberlain.server import audit_api, authzen_api, authzen_mcp, cerbos_api, decide, process_metrics
from chamberlain.server.admin import AdminResponse
from chamberlain.server.admin.dispatch import AdminSurface, Match
from chamberlain.server.config import Config
from chamberlain.server.http import (
    INTERNAL,
    UNAVAILABLE,
    UNIMPLEMENTED,
    ApiError,
    bad_request,
    content_length,
    new_call_id,
    read_body,
)
from chamberlain.server.logs import LOGGER
from chamberlain.server.state import ServerState, freeze_heap
from chamberlain.server.tls import ReloadingTLS
from chamberlain.server.watcher import PolicyWatcher
from chamberlain.store import StoreError

if TYPE_CHECKING:
    from chamberlain.server.processes import Place

#: A handler answers a dict, or an awaitable of one (a check waiting for the decision log).
Handler = Callable[[ServerState, bytes, str], dict[str, Any] | Awaitable[dict[str, Any]]]

#: path -> (endpoint name for metrics and logs, {method: handler}); POST handlers get the body,
#: GET handlers the query string.
ROUTES: dict[str, tuple[str, dict[str, Handler]]] = {
    "/api/check/resources": ("check_resources", {"POST": cerbos_api.check_resources}),
    "/api/plan/resources": ("plan_resources", {"POST": cerbos_api.plan_resources}),
    "/_cerbos/health": ("health", {"GET": cerbos_api.health}),
    "/api/server_info": ("server_info", {"GET": cerbos_api.server_info}),
    "/access/v1/evaluation": ("authzen_evaluation", {"POST": authzen_api.evaluation}),
    "/access/v1/evaluations": ("authzen_evaluations", {"POST": authzen_api.evaluations}),
    "/coaz/mcp/access/v1/evaluation": ("authzen_mcp_evaluation", {"POST": authzen_mcp.evaluation}),
    # Public when chamberlain.audit.apiEnabled (signed heads and proofs reveal no decision); entries are admin.
    "/api/audit/head": ("audit_head", {"GET": audit_api.head}),
    "/api/audit/proof/inclusion": ("audit_inclusion", {"GET": audit_api.inclusion}),
    "/api/audit/proof/consistency": ("audit_consistency", {"GET": audit_api.consistency}),
}
_NOT_FOUND = b"404 page not found\n"
_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]


class App:
    """The chamberlain server as an ASGI app; ``lifespan`` starts and stops the policy watcher."""

    def __init__(self, config: Config, state: ServerState | None = None, place: Place | None = None):
        self.config = config
        self.state = state or ServerState(config)
        # one of several serving processes (chamberlain.processes): /metrics adds up the siblings'
        self.place = place if place is not None and place.count > 1 else None
        self._own_metrics: asyncio.AbstractServer | None = None
        self.watcher: PolicyWatcher | None = None
        # HTTPS: the listener's context, whose certificate is reloaded when its files change.
        self.tls = (
            ReloadingTLS(config.tls, config.tls_reload_interval, self.state.metrics.observe_tls_reload)
            if config.tls is not None
            else None
        )
        try:
            self.admin = AdminSurface(
                self.state
            )  # routes of every ROUTE_MODULES module; policies when enabled
        except BaseException:
            self.state.close()  # the decision log's writer stops with the refused start
            raise
        self.console = _console(self.state, self.admin)
        self.grpc: Any = None  # chamberlain.server.grpc.GrpcServer, when server.grpcListenAddr is set
        tokens = self.state.tokens
        self.token_app = delegation.create_app(tokens) if tokens is not None else None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                freeze_heap()
                self.start_watcher()
                if self.tls is not None:
                    self.tls.start()
                if self.place is not None:
                    self._own_metrics = await process_metrics.serve_own(self.place, self.state.metrics)
                try:
                    await self.start_grpc()
                except Exception as exc:  # the port the operator named cannot be served: do not start
                    LOGGER.error("gRPC server not started", extra={"error": str(exc)})
                    self.stop_watcher()
                    self.state.close()
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._own_metrics is not None:
                    self._own_metrics.close()
                if self.grpc is not None:
                    await self.grpc.stop(self.config.shutdown_timeout)
                self.stop_watcher()
                if self.console is not None:
                    self.console.close()  # live pages end their streams
                self.admin.close()
                if self.tls is not None:
                    self.tls.stop()
                self.state.close()  # writes what the decision log still holds
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def start_grpc(self) -> None:
        """The gRPC API on this event loop (it shares the state), when server.grpcListenAddr is set."""
        if self.config.grpc_listen is not None and self.grpc is None:
            from chamberlain.server.grpc import GrpcServer

            self.grpc = await GrpcServer(self.state, self.admin).start()

    def start_watcher(self) -> None:
        if self.config.watch_for_changes and self.watcher is None:
            self.watcher = PolicyWatcher(
                self.config.policy_dir, self.state.reload, self.config.watch_interval
            ).start()

    def stop_watcher(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    async def _http(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        started = time.monotonic()
        path = scope["path"]
        if path == "/metrics" and self.config.metrics_enabled and scope["method"] == "GET":
            metrics = self.state.metrics
            body = (
                metrics.render()
                if self.place is None
                else await process_metrics.render_all(self.place, metrics)
            )
            await respond(send, 200, body, [(b"content-type", metrics.content_type.encode())])
            return
        if path == "/.well-known/authzen-configuration" and scope["method"] == "GET":
            await respond(send, 200, orjson.dumps(authzen_api.metadata(self.state)))
            return
        if path in delegation.PATHS and self.token_app is not None:
            await self.token_app(scope, receive, send)
            return
        if self.state.proxy is not None and proxy_http.is_authz_path(path):  # chamberlain.gateway
            status = await proxy_http.serve(self.state, scope, receive, send)
            self.state.metrics.observe_request("proxy_authz", status, time.monotonic() - started)
            return
        route = ROUTES.get(path)
        admin: Match | None = None
        if route is None:
            if self.console is not None and path.startswith("/console"):
                await self.console(scope, receive, send)
                return
            admin = self.admin.match(path)
            if admin is None:
                await respond(send, 404, _NOT_FOUND, _TEXT)
                return
            endpoint, methods = admin.endpoint(scope["method"]), {}
        else:
            endpoint, methods = route
        call_id = new_call_id()
        status = 200
        headers = JSON_HEADERS
        try:
            if admin is not None:
                answer = await self.admin.call(admin, scope, receive, call_id, started)
                if isinstance(answer, AdminResponse):
                    status, answer = answer.status, answer.body
            else:  # a check or a public route: POST handlers get the body, GET handlers the query string
                handler = methods.get(scope["method"])
                if handler is None:
                    raise ApiError(501, UNIMPLEMENTED, "Method Not Allowed")
                body = scope.get("query_string", b"")
                if scope["method"] == "POST":
                    body = await read_body(
                        receive,
                        self.config.max_body_bytes,
                        started + self.config.read_timeout,
                        content_length(scope),
                    )
                if len(body) > self.config.large_request_bytes:  # parsing, deciding, recording: off the loop
                    self.state.metrics.observe_moved_to_worker("large")
                    answer = await decide.in_worker(self.state, handler, self.state, body, call_id)
                else:
                    answer = handler(self.state, body, call_id)
                if type(answer) is not dict:
                    answer = await answer  # type: ignore[misc]
            payload = orjson.dumps(answer)
        except ConnectionAbortedError:
            return
        except ApiError as exc:
            status, payload = exc.status, exc.body()
            headers = [*JSON_HEADERS, *exc.headers] if exc.headers else JSON_HEADERS
        except (InvalidRequest, RequestError) as exc:
            err = bad_request(str(exc))
            status, payload = err.status, err.body()
        except StoreError as exc:  # the database, not the request, is the problem
            err = ApiError(503, UNAVAILABLE, str(exc))
            status, payload = err.status, err.body()
        except Error as exc:  # a chamberlain error about the input (never an ALLOW)
            err = bad_request(str(exc))
            status, payload = err.status, err.body()
        except Exception:
            LOGGER.exception("internal error", extra={"callId": call_id, "endpoint": endpoint})
            status, payload = 500, ApiError(500, INTERNAL, f"internal error (call id {call_id})").body()
        await respond(send, status, payload, headers)
        elapsed = time.monotonic() - started
        self.state.metrics.observe_request(endpoint, status, elapsed)
        if status >= 400:
            LOGGER.info(
                "request rejected",
                extra={
                    "callId": call_id,
                    "endpoint": endpoint,
                    "status": status,
                    "error": orjson.loads(payload).get("message"),
                },
            )
        elif LOGGER.isEnabledFor(10):
            LOGGER.debug(
                "request",
                extra={
                    "callId": call_id,
                    "endpoint": endpoint,
                    "status": status,
                    "ms": round(elapsed * 1000, 3),
                },
            )


def _console(state: ServerState, admin: AdminSurface) -> Any:
    """The web console under /console, when the admin surface and ``chamberlain.console`` are on."""
    if not (state.config.admin.enabled and state.config.console.enabled):
        return None
    from chamberlain.console.web import Console

    return Console(state, admin)


def create_app(config: Config, place: Place | None = None) -> App:
    """The ASGI app for ``config`` (loads and compiles the policies; raises PolicyError); ``place``: one
    of several serving processes (:mod:`chamberlain.server.processes`)."""
    return App(config, place=place)
