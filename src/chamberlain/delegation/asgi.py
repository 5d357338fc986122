"""The token service over HTTP, as an ASGI app the main server mounts (or uvicorn runs alone).

- ``POST /oauth2/token``: RFC 8693 token exchange (``application/x-www-form-urlencoded``); errors
  are ``{"error", "error_description"}`` with HTTP 400 (RFC 6749 §5.2); ``Cache-Control: no-store``.
- ``GET /.well-known/oauth-authorization-server``: RFC 8414 metadata.
- ``GET /.well-known/jwks.json``: chamberlain's public keys (current and still-published ones).
- ``POST /oauth2/introspect`` (RFC 7662) and ``POST /oauth2/revoke`` (RFC 7009), for an authenticated
  caller (:mod:`chamberlain.delegation.introspect`).
- ``POST /oauth2/bc-authorize`` and the token endpoint's CIBA grant: a person's consent to an agent's
  action (:mod:`chamberlain.delegation.ciba`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

import orjson

from chamberlain.asgi import Receive, Send
from chamberlain.delegation import ciba, introspect
from chamberlain.delegation.errors import ExchangeError
from chamberlain.delegation.introspect import INTROSPECT_PATH, REVOKE_PATH
from chamberlain.delegation.service import JWKS_PATH, METADATA_PATH, TOKEN_PATH, TokenService

#: The paths this app answers (the main server routes these to it).
PATHS = (TOKEN_PATH, METADATA_PATH, JWKS_PATH, INTROSPECT_PATH, REVOKE_PATH, ciba.BC_AUTHORIZE_PATH)
_POSTED = (TOKEN_PATH, INTROSPECT_PATH, REVOKE_PATH, ciba.BC_AUTHORIZE_PATH)
MAX_BODY_BYTES = 64 * 1024
_NO_STORE = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
_LOGGER = logging.getLogger("chamberlain.delegation")


async def _respond(send: Send, status: int, body: Any, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ExchangeError("invalid_request", f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _form(scope: dict[str, Any], body: bytes) -> dict[str, list[str]]:
    headers = dict(scope.get("headers") or [])
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if content_type != b"application/x-www-form-urlencoded":
        raise ExchangeError("invalid_request", "the token request must be application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise ExchangeError(
            "invalid_request", "the request body is not valid form encoding (UTF-8)"
        ) from None
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    return params


class TokenApp:
    """``TokenApp(service)``: the three endpoints of the token service."""

    def __init__(self, service: TokenService, *, max_body_bytes: int = MAX_BODY_BYTES):
        self.service = service
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"]
                if kind == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif kind == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        allowed = "POST" if path in _POSTED else "GET"
        if path not in PATHS:
            await _respond(send, 404, {"error": "not_found", "error_description": f"no endpoint {path}"})
        elif method != allowed:
            await _respond(
                send,
                405,
                {"error": "invalid_request", "error_description": f"{path} takes {allowed}"},
                [(b"allow", allowed.encode())],
            )
        elif path == METADATA_PATH:
            await _respond(send, 200, self.service.metadata())
        elif path == JWKS_PATH:
            await _respond(send, 200, self.service.jwks(), [(b"cache-control", b"max-age=60")])
        else:
            await self._token(scope, receive, send, path)

    def _answer(self, path: str, scope: dict[str, Any], params: dict[str, list[str]]) -> dict[str, Any]:
        ciba_poll = path == TOKEN_PATH and params.get("grant_type") == [ciba.CIBA_GRANT]
        if path == TOKEN_PATH and not ciba_poll:
            return self.service.exchange(params)
        authorization = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        caller = introspect.authenticate(self.service, authorization)
        if ciba_poll:
            return ciba.poll(self.service, params, caller)
        if path == ciba.BC_AUTHORIZE_PATH:
            return ciba.backchannel_authorize(self.service, params, caller)
        if path == INTROSPECT_PATH:
            return introspect.introspect(self.service, params)
        return introspect.revoke(self.service, params, caller)

    async def _token(self, scope: dict[str, Any], receive: Receive, send: Send, path: str) -> None:
        try:
            params = _form(scope, await _read_body(receive, self.max_body_bytes))
            # In a thread: the exchange may wait for the decision log (and the session store).
            status, body = 200, await asyncio.to_thread(self._answer, path, scope, params)
        except ConnectionAbortedError:
            return
        except ExchangeError as exc:
            status, body = exc.status, exc.body()
        except Exception:
            _LOGGER.exception("token exchange failed")
            status, body = (
                500,
                {"error": "server_error", "error_description": "internal error (see the server log)"},
            )
        await _respond(send, status, body, _NO_STORE)


def create_app(service: TokenService) -> TokenApp:
    """The ASGI app serving ``service``'s endpoints (:data:`PATHS`)."""
    return TokenApp(service)
