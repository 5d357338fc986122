"""The fast path of ``tools/call`` over stdio: the gateway's checks without the SDK's session layers.

On a stdio downstream (:mod:`chamberlain.gateways.mcp.stdio`), a ``tools/call`` request the fast path
can serve exactly as the SDK server would is handed to :meth:`FastPath.take` instead of the SDK's
dispatcher: the same handler core runs (:meth:`Gateway.decide_and_call`: catalog lookup, argument
schema, identity, decision and its durable log entry, denial text, withholding when the log fails,
the approval's outcome), the allowed call is relayed over the upstream's raw side channel
(:mod:`chamberlain.gateways.mcp.pipes`), and the result is shaped for the wire by the SDK's own
``ServerRunner._serialize`` (the per-version sieve, ``resultType``, the gateway's ``serverInfo`` stamp)
once the upstream's stamp is dropped. The request is validated as the SDK would validate it first.

A call goes the SDK's way, decided there and only there, when the fast path cannot serve it the same
way: before the session is initialized (legacy) or with an envelope the SDK would refuse (2026-07-28);
a client that declared elicitation (an approval may be asked through it); approvals held for a decision
(``approvals.holdFor``); an unknown tool (the SDK path reloads the lists); an upstream over HTTP or
not connected; a request id already in flight; more than :data:`MAX_IN_FLIGHT` calls in flight.

A ``notifications/cancelled`` naming a fast call cancels it (no answer is sent, as the SDK does; a
courtesy cancel goes upstream); progress tokens are not forwarded (nor on the SDK path); requests the
upstream makes of the gateway reach the SDK client session as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
import orjson
from mcp.server import Server
from mcp.server.runner import ServerRunner, _has_modern_envelope
from mcp.shared.inbound import InboundLadderRejection, classify_inbound_request
from mcp.shared.jsonrpc_dispatcher import handler_exception_to_error_data
from mcp_types import CONNECTION_CLOSED
from mcp_types import methods as _methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION
from pydantic import ValidationError

if TYPE_CHECKING:
    from chamberlain.gateways.mcp.proxy import Gateway

LOGGER = logging.getLogger("chamberlain.gateways.mcp")
#: Fast calls in flight at once (one more goes the SDK's way).
MAX_IN_FLIGHT = 256
#: Seconds after two calls were last in flight together during which entries go to the log's writer thread
#: (its group commit serves concurrent callers); a connection making one call at a time writes its own.
CROWD_MEMORY = 1.0
LEGACY, MODERN = "legacy", "modern"


class _Shaper:
    """The SDK server's own result shaping (``ServerRunner._serialize``), for results the fast path answers."""

    _stamp_server_info = ServerRunner._stamp_server_info

    def __init__(self, server: Server[Any]):
        self.server = server

    def serialize(self, method: str, version: str, result: Any) -> dict[str, Any]:
        shaped: dict[str, Any] = ServerRunner._serialize(self, method, version, result)  # type: ignore[arg-type]
        return shaped


def _request_id(value: Any) -> str | int | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return value


class FastPath:
    """Takes the ``tools/call`` requests of one stdio connection that it can serve as the SDK would."""

    def __init__(self, gateway: Gateway, server: Server[Any]):
        self.gateway = gateway
        self.shaper = _Shaper(server)
        self.era: str | None = None  # decided by the first request, as the SDK's dual-era loop does
        self.version = ""  # the legacy session's negotiated protocol version
        self.capabilities: Any = None  # the legacy client's declared capabilities
        self.initialized = False
        self.in_flight: dict[str | int, tuple[anyio.CancelScope, asyncio.Task[None]]] = {}
        self._by_client: set[str | int] = set()  # cancelled by the client: never answered
        self.taken = 0  # calls served by the fast path (for tests and the bench's curiosity)
        self._crowded_at = -CROWD_MEMORY  # when a call was last taken while another was in flight
        gateway.decider.alone = self.alone

    def alone(self) -> bool:
        """Whether the call deciding now may write its own log entry (see ``Decider.alone``): the only one in
        flight, and none overlapping lately: with 8 concurrent callers, writing on the loop whenever just one
        call was in flight made fewer calls/s in some runs (to -28 %, log on tmpfs): the loop then waits for
        each commit, which the writer thread makes beside it."""
        return len(self.in_flight) <= 1 and time.monotonic() - self._crowded_at > CROWD_MEMORY

    def observe(self, data: Any) -> None:
        """Follow the connection's era and handshake from every accepted message."""
        if not isinstance(data, dict):
            return
        method = data.get("method")
        if not isinstance(method, str):
            return
        params = data.get("params")
        if "id" in data and self.era is None:
            self.era = MODERN if method != "initialize" and _has_modern_envelope(params) else LEGACY
        if self.era != LEGACY:
            return
        if method == "initialize" and "id" in data and isinstance(params, dict) and not self.version:
            requested = params.get("protocolVersion")
            self.version = requested if requested in HANDSHAKE_PROTOCOL_VERSIONS else LATEST_HANDSHAKE_VERSION
            self.capabilities = params.get("capabilities")
        elif method == "notifications/initialized" and self.version:
            self.initialized = True

    def cancels(self, data: Any) -> bool:
        """A ``notifications/cancelled`` naming a fast call: cancel it (True: the SDK need not see it)."""
        if not isinstance(data, dict) or data.get("method") != "notifications/cancelled" or "id" in data:
            return False
        params = data.get("params")
        wanted = params.get("requestId") if isinstance(params, dict) else None
        if wanted is None:
            return False
        key = wanted if wanted in self.in_flight else None
        if key is None:  # the SDK correlates a stringified id too
            key = next((k for k in self.in_flight if str(k) == str(wanted)), None)
        if key is None:
            return False
        self._by_client.add(key)
        self.in_flight[key][0].cancel()
        return True

    def take(self, data: Any, send: Callable[[bytes], None]) -> asyncio.Task[None] | None:
        """Serve ``data`` on the fast path (its task) when it is a ``tools/call`` it can serve, else None."""
        if not isinstance(data, dict) or data.get("method") != "tools/call":
            return None
        request_id = _request_id(data.get("id"))
        params = data.get("params")
        if request_id is None or request_id in self.in_flight or len(self.in_flight) >= MAX_IN_FLIGHT:
            return None
        if not isinstance(params, dict) or not isinstance(params.get("name"), str):
            return None
        if params.get("arguments") is not None and not isinstance(params["arguments"], dict):
            return None
        version, capabilities = self._served(params)
        if not version or (isinstance(capabilities, Mapping) and capabilities.get("elicitation") is not None):
            return None
        gateway = self.gateway
        approvals = gateway.sessions.approvals if gateway.sessions is not None else None
        if approvals is not None and gateway.config.approval_hold:
            return None
        entry = gateway.catalog.tool(params["name"])
        if entry is None or not entry.upstream.raw:
            return None
        try:
            _methods.validate_client_request("tools/call", version, params)
            typed = types.CallToolRequestParams.model_validate(params, by_name=False)
        except (ValidationError, KeyError, ValueError):
            return None
        if self.in_flight:
            self._crowded_at = time.monotonic()
        scope = anyio.CancelScope()
        task = asyncio.get_running_loop().create_task(self._serve(request_id, typed, version, send, scope))
        self.in_flight[request_id] = (scope, task)
        self.taken += 1
        return task

    def _served(self, params: dict[str, Any]) -> tuple[str, Any]:
        """The protocol version and client capabilities a request is served at ("" when not here)."""
        modern = _has_modern_envelope(params)
        if self.era == LEGACY:
            return (self.version, self.capabilities) if self.initialized and not modern else ("", None)
        if self.era != MODERN or not modern:
            return "", None
        route = classify_inbound_request({"method": "tools/call", "params": params})
        if isinstance(route, InboundLadderRejection):
            return "", None
        return route.protocol_version, route.client_capabilities

    async def _serve(
        self,
        request_id: str | int,
        params: types.CallToolRequestParams,
        version: str,
        send: Callable[[bytes], None],
        scope: anyio.CancelScope,
    ) -> None:
        answer: dict[str, Any] | None = None
        try:
            with scope:
                try:
                    result = await self.gateway.decide_and_call(
                        params, self.gateway.local_caller, _no_elicitation, raw=True
                    )
                    answer = {"result": self.shaper.serialize("tools/call", version, result)}
                except Exception as exc:
                    error = handler_exception_to_error_data(exc)
                    if error is None:
                        LOGGER.exception("handler for 'tools/call' raised")
                        error = types.ErrorData(code=0, message=str(exc))
                    answer = {"error": error.model_dump(by_alias=True, mode="json", exclude_none=True)}
        finally:
            self.in_flight.pop(request_id, None)
            by_client = request_id in self._by_client
            self._by_client.discard(request_id)
        if answer is not None:
            send(_line(request_id, answer))
        elif not by_client:  # the gateway is closing: answered as the SDK answers its own
            send(_line(request_id, {"error": {"code": CONNECTION_CLOSED, "message": "Connection closed"}}))

    async def close(self) -> None:
        """Cancel the calls still in flight (the agent went away); each answers ``Connection closed``."""
        running = list(self.in_flight.values())
        for scope, _ in running:
            scope.cancel()
        for _, task in running:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _no_elicitation(*_: Any) -> None:
    """The fast path serves only clients without elicitation: nothing to ask."""
    return None


def _line(request_id: str | int, body: dict[str, Any]) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, **body}) + b"\n"
