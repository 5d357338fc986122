"""The streamable HTTP downstream: MCP at ``downstream.path``, bearer tokens, RFC 9728 metadata.

Every HTTP request to the MCP endpoint must carry ``Authorization: Bearer <token>``, a chamberlain
delegation token for this gateway (its ``aud`` names one of the gateway's audiences). It is verified
on every request, so an expired or revoked token is refused at the next one: 401 with
``WWW-Authenticate: Bearer error="invalid_token", error_description="...", resource_metadata="..."``.
``GET /.well-known/oauth-protected-resource<path>`` (RFC 9728) names the token service as the
authorization server, so MCP clients can discover where to get a token. An MCP session belongs to
the credential that opened it (client, issuer, subject): another person's token cannot use it.
"""

from __future__ import annotations

from typing import Any

import orjson
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials
from starlette.routing import Route

from chamberlain.gateways.mcp.config import GatewayConfig
from chamberlain.gateways.mcp.errors import IdentityError
from chamberlain.gateways.mcp.identity import Identities
from chamberlain.gateways.mcp.proxy import TOKEN_SCOPE_KEY

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _quoted(text: str) -> str:
    """A ``WWW-Authenticate`` parameter value: printable ASCII without ``"`` and ``\\`` (RFC 6750 §3)."""
    return "".join(c if 0x20 <= ord(c) <= 0x7E and c not in '"\\' else "?" for c in text)


class BearerAuth:
    """ASGI middleware in front of the MCP endpoint: no verified token, no request."""

    def __init__(self, app: Any, identities: Identities, metadata_url: str):
        self.app = app
        self.identities = identities
        self.metadata_url = metadata_url

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
        scope["user"] = AuthenticatedUser(access)
        scope["auth"] = AuthCredentials(list(token.scopes))
        scope[TOKEN_SCOPE_KEY] = token
        await self.app(scope, receive, send)

    async def _refuse(self, send: Any, error: str, description: str) -> None:
        challenge = (
            f'Bearer error="{error}", error_description="{_quoted(description)}", '
            f'resource_metadata="{self.metadata_url}"'
        )
        body = orjson.dumps({"error": error, "error_description": description})
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", challenge.encode("latin-1")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def create_app(server: Server[Any], config: GatewayConfig, identities: Identities) -> Starlette:
    """The ASGI app: the MCP endpoint behind :class:`BearerAuth`, and the RFC 9728 metadata."""
    security = None
    if config.host in _LOOPBACK:  # DNS rebinding protection, as the SDK sets it up for loopback servers
        security = TransportSecuritySettings(
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
    manager = StreamableHTTPSessionManager(
        app=server, security_settings=security, session_idle_timeout=config.session_idle_timeout
    )
    resource = AnyHttpUrl(config.resource)
    metadata_url = str(build_resource_metadata_url(resource))
    scopes = sorted(
        {s for actions in config.auth.scope_mapping.as_dict().values() for s in actions.values()}
        if config.auth is not None
        else ()
    )
    routes = [
        Route(config.path, endpoint=BearerAuth(StreamableHTTPASGIApp(manager), identities, metadata_url)),
        *create_protected_resource_routes(
            resource,
            [AnyHttpUrl(s) for s in config.authorization_servers],
            scopes_supported=scopes or None,
            resource_name="chamberlain MCP gateway",
        ),
    ]
    return Starlette(routes=routes, lifespan=lambda app: manager.run())
