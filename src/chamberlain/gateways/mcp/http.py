"""The streamable HTTP downstream: MCP at ``downstream.path``, bearer tokens, RFC 9728 metadata.

Every HTTP request to the MCP endpoint must carry ``Authorization: Bearer <token>``, a chamberlain
delegation token for this gateway (its ``aud`` names one of the gateway's audiences). It is verified
on every request, so an expired or revoked token is refused at the next one: 401 with
``WWW-Authenticate: Bearer error="invalid_token", error_description="...", resource_metadata="..."``.
``GET /.well-known/oauth-protected-resource<path>`` (RFC 9728) names the token service as the
authorization server, so MCP clients can discover where to get a token. An MCP session belongs to
the credential that opened it (client, issuer, subject): another person's token cannot use it.
One credential may hold at most ``downstream.maxSessionsPerCaller`` sessions at once (429 beyond:
without it one token could open all ``downstream.maxSessions`` and lock every other caller out).
A message body is read within bounds before the SDK sees it (the SDK reads any size and lets a
repeated key win): at most ``MAX_MESSAGE_BYTES`` (413), within ``downstream.readTimeout`` (408: a
client sending a byte at a time holds no connection for long), nested at most
``strictjson.MAX_DEPTH`` deep and no key twice in one object (400, JSON-RPC parse error).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

import anyio
import orjson
from mcp.server.auth.middleware.bearer_auth import (
    AuthenticatedUser,
    AuthorizationContext,
    authorization_context,
)
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER, StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types import INVALID_REQUEST, PARSE_ERROR
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials
from starlette.routing import Route

from chamberlain import strictjson
from chamberlain.asgi import JSON_HEADERS, respond
from chamberlain.gateways.mcp.config import GatewayConfig
from chamberlain.gateways.mcp.errors import IdentityError
from chamberlain.gateways.mcp.identity import Identities
from chamberlain.gateways.mcp.proxy import TOKEN_SCOPE_KEY
from chamberlain.gateways.mcp.stdio import MAX_MESSAGE_BYTES

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_log = logging.getLogger("chamberlain.gateways.mcp")


class CallerSessions(StreamableHTTPSessionManager):
    """The SDK's session manager with a limit on the sessions one credential holds at once.

    The SDK bounds all sessions together (``max_sessions``) and binds each to the credential that
    opened it (its :class:`AuthorizationContext`); this counts them per credential as they open and
    close, through the two methods the SDK opens and discards every session with.
    """

    def __init__(self, *, per_caller: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.per_caller = per_caller
        self._held: Counter[tuple[str, str | None, str | None]] = Counter()  # by _caller

    def at_limit(self, caller: AuthorizationContext) -> bool:
        """Whether ``caller`` holds as many sessions as it may."""
        return self._held[_caller(caller)] >= self.per_caller

    def _admit_session(self, requestor: AuthorizationContext | None) -> StreamableHTTPServerTransport | None:
        # Called under the SDK's session-creation lock: two opening requests racing are counted one by one.
        if requestor is not None and self.at_limit(requestor):
            return None
        transport = super()._admit_session(requestor)
        if transport is not None and requestor is not None:
            self._held[_caller(requestor)] += 1
        return transport

    async def _discard_session(self, session_id: str, transport: StreamableHTTPServerTransport) -> None:
        owner = self._session_owners.get(session_id)  # the SDK forgets it before its first await
        await super()._discard_session(session_id, transport)
        if owner is not None and session_id not in self._session_owners:
            key = _caller(owner)
            self._held[key] -= 1
            if self._held[key] <= 0:
                del self._held[key]


def _caller(context: AuthorizationContext) -> tuple[str, str | None, str | None]:
    """The SDK's credential (a dict) as a key: client, issuer, subject."""
    return context["client_id"], context["issuer"], context["subject"]


def _quoted(text: str) -> str:
    """A ``WWW-Authenticate`` parameter value: printable ASCII without ``"`` and ``\\`` (RFC 6750 §3)."""
    return "".join(c if 0x20 <= ord(c) <= 0x7E and c not in '"\\' else "?" for c in text)


class BearerAuth:
    """ASGI middleware in front of the MCP endpoint: no verified token, no request."""

    def __init__(
        self,
        app: Any,
        identities: Identities,
        metadata_url: str,
        read_timeout: float = 30.0,
        sessions: CallerSessions | None = None,
    ):
        self.app = app
        self.identities = identities
        self.metadata_url = metadata_url
        self.read_timeout = read_timeout
        self.sessions = sessions

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        auth = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        kind, _, raw = auth.partition(" ")
        if kind.lower() != "bearer" or not raw.strip():
            await self._refuse(
                send,
                "invalid_request",
                "a chamberlain delegation token is required "
                "(Authorization: Bearer); see the resource metadata for the token service",
            )
            return
        try:
            token = self.identities.verify(raw.strip(), "bearer token")
            self.identities.caller(token, "")  # the subject must be known before a session opens
        except IdentityError as exc:
            await self._refuse(send, "invalid_token", str(exc))
            return
        access = AccessToken(
            token=raw.strip(),
            client_id=token.client_id,
            scopes=list(token.scopes),
            expires_at=token.expires_at,
            subject=token.subject,
            claims={"iss": token.issuer},
        )
        user = AuthenticatedUser(access)
        if self._over_session_limit(scope, user):
            await _json_rpc_error(
                send,
                429,
                INVALID_REQUEST,
                f"Invalid Request: this credential already holds {self.sessions.per_caller} open MCP sessions "  # type: ignore[union-attr]
                "(downstream.maxSessionsPerCaller): end one (DELETE) or wait for one to idle out",
            )
            return
        scope["user"] = user
        scope["auth"] = AuthCredentials(list(token.scopes))
        scope[TOKEN_SCOPE_KEY] = token
        if scope.get("method") == "POST":
            body = await _read_message(receive, send, time.monotonic() + self.read_timeout)
            if body is None:
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    def _over_session_limit(self, scope: dict[str, Any], user: AuthenticatedUser) -> bool:
        """Whether this request would open a session its credential may not (the manager counts it
        again when it admits the session: this only gives the common case its own answer)."""
        if self.sessions is None or scope.get("method") != "POST":
            return False
        headers = dict(scope.get("headers") or ())
        if MCP_SESSION_ID_HEADER.encode("ascii") in headers:
            return False
        version = headers.get(MCP_PROTOCOL_VERSION_HEADER.encode("ascii"))
        if version is not None and version.decode("latin-1") not in HANDSHAKE_PROTOCOL_VERSIONS:
            return False  # a sessionless (2026-07-28) request, as the SDK routes it: it opens no session
        caller = authorization_context(user)
        if not self.sessions.at_limit(caller):
            return False
        _log.warning(
            "refused a new MCP session for subject %r: it holds %d (downstream.maxSessionsPerCaller)",
            caller["subject"],
            self.sessions.per_caller,
        )
        return True

    async def _refuse(self, send: Any, error: str, description: str) -> None:
        challenge = (
            f'Bearer error="{error}", error_description="{_quoted(description)}", '
            f'resource_metadata="{self.metadata_url}"'
        )
        body = orjson.dumps({"error": error, "error_description": description})
        await respond(send, 401, body, [*JSON_HEADERS, (b"www-authenticate", challenge.encode("latin-1"))])


async def _read_message(receive: Any, send: Any, deadline: float) -> bytes | None:
    """The request body if it is within bounds (and arrives before ``deadline``); otherwise answer the
    JSON-RPC error and return None."""
    chunks, size = [], 0
    while True:
        try:
            with anyio.fail_after(max(0.0, deadline - time.monotonic())):
                message = await receive()
        except TimeoutError:
            await _json_rpc_error(
                send,
                408,
                INVALID_REQUEST,
                "Invalid Request: timed out reading the request body (downstream.readTimeout)",
            )
            return None
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_MESSAGE_BYTES:
            await _json_rpc_error(
                send,
                413,
                INVALID_REQUEST,
                f"Invalid Request: the message is larger than {MAX_MESSAGE_BYTES} bytes",
            )
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    try:
        strictjson.loads(body)
    except strictjson.JSONError as exc:
        await _json_rpc_error(send, 400, PARSE_ERROR, f"Parse error: {exc.reason}")
        return None
    return body


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that hands the SDK the body already read, then the connection's later messages."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _json_rpc_error(send: Any, status: int, code: int, message: str) -> None:
    body = orjson.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}})
    await respond(send, status, body)


def create_app(server: Server[Any], config: GatewayConfig, identities: Identities) -> Starlette:
    """The ASGI app: the MCP endpoint behind :class:`BearerAuth`, and the RFC 9728 metadata."""
    security = None
    if config.host in _LOOPBACK:  # DNS rebinding protection, as the SDK sets it up for loopback servers
        security = TransportSecuritySettings(
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
    manager = CallerSessions(
        app=server,
        security_settings=security,
        session_idle_timeout=config.session_idle_timeout,
        max_sessions=config.max_sessions,
        per_caller=config.max_sessions_per_caller,
    )
    resource = AnyHttpUrl(config.resource)
    metadata_url = str(build_resource_metadata_url(resource))
    scopes = sorted(
        {s for actions in config.auth.scope_mapping.as_dict().values() for s in actions.values()}
        if config.auth is not None
        else ()
    )
    routes = [
        Route(
            config.path,
            endpoint=BearerAuth(
                StreamableHTTPASGIApp(manager), identities, metadata_url, config.read_timeout, manager
            ),
        ),
        *create_protected_resource_routes(
            resource,
            [AnyHttpUrl(s) for s in config.authorization_servers],
            scopes_supported=scopes or None,
            resource_name="chamberlain MCP gateway",
        ),
    ]
    return Starlette(routes=routes, lifespan=lambda app: manager.run())
