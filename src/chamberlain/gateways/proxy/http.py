"""``/_chamberlain/authz``: the HTTP endpoint every proxy asks (any method, any sub-path).

Which proxy asked, and so where the original request is:

- nginx ``auth_request``: ``X-Original-URI`` and ``X-Original-Method`` (``X-Original-Host`` optional,
  else ``Host``), believed only from ``chamberlain.gateway.trustedProxies``;
- Caddy ``forward_auth`` and Traefik ``forwardAuth``: ``X-Forwarded-Uri``, ``X-Forwarded-Method``,
  ``X-Forwarded-Host`` (Traefik also sends ``X-Forwarded-Server``), from trusted proxies only;
- Envoy ``ext_authz`` in HTTP service mode (none of those headers): the check request is the original
  one, its path appended to ``path_prefix: /_chamberlain/authz``; its body, when Envoy is configured to
  send it (``with_request_body``), at most ``maxBodyBytes`` (``x-envoy-auth-partial-body: true`` or more
  bytes than that: partial, and a route that reads the body then denies).

The answer is only ever 200, 401 or 403.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from chamberlain.asgi import Receive, Send, receive_by, respond
from chamberlain.gateways.proxy.contract import ProxyAnswer, ProxyRequest
from chamberlain.server.state import ServerState

PREFIX = "/_chamberlain/authz"
MAX_URI = 8192
_FORWARDED = ("x-original-uri", "x-original-method", "x-forwarded-uri", "x-forwarded-method")


def is_authz_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def _headers(scope: dict[str, Any]) -> tuple[dict[str, str], frozenset[str]]:
    """The headers (a repeated one's values joined with ", ", as RFC 9110 reads them) and the names repeated."""
    found: dict[str, str] = {}
    repeated: set[str] = set()
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name in found:
            found[name] = f"{found[name]}, {value}"
            repeated.add(name)
        else:
            found[name] = value
    return found, frozenset(repeated)


class Refused(Exception):
    """The check request itself is unusable (a 403 naming why)."""


async def _body(receive: Receive, limit: int, deadline: float) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the body, and whether there was more."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive_by(receive, deadline)
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            chunks.append(chunk[: limit - (size - len(chunk))])
            return b"".join(chunks), True
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False


async def proxy_request(state: ServerState, scope: dict[str, Any], receive: Receive) -> ProxyRequest:
    """The original request a check request asks about; raises :class:`Refused`."""
    settings = state.config.gateway
    headers, repeated = _headers(scope)
    client = scope.get("client")
    peer = client[0] if client else None
    if any(name in headers for name in _FORWARDED):
        if not settings.trusts(peer):
            raise Refused(
                f"X-Original-*/X-Forwarded-* headers from {peer}, which is not in "
                "chamberlain.gateway.trustedProxies"
            )
        nginx_style = "x-original-uri" in headers or "x-original-method" in headers
        if nginx_style and ("x-forwarded-uri" in headers or "x-forwarded-method" in headers):
            # Each proxy sets its own pair and passes the client's other headers on: one pair is the client's.
            raise Refused("both X-Original-* and X-Forwarded-Uri/-Method: one of them was sent by the client")
        if nginx_style:
            proxy, prefix = "nginx", "x-original-"
        else:
            proxy, prefix = ("traefik" if "x-forwarded-server" in headers else "caddy"), "x-forwarded-"
        uri, method = headers.get(prefix + "uri", ""), headers.get(prefix + "method", "")
        host = headers.get(prefix + "host") or headers.get("host", "")
        body, truncated = None, False
    else:
        proxy = "envoy-http"
        raw = scope.get("raw_path") or scope["path"].encode()
        uri = raw.decode("latin-1")[len(PREFIX) :] or "/"
        if scope.get("query_string"):
            uri += "?" + scope["query_string"].decode("latin-1")
        method, host = scope["method"], headers.get("host", "")
        body, truncated = None, False
        if headers.get("content-length", "0") != "0" or "transfer-encoding" in headers:
            deadline = time.monotonic() + state.config.read_timeout
            body, truncated = await _body(receive, settings.max_body_bytes, deadline)
            truncated = truncated or headers.get("x-envoy-auth-partial-body", "").lower() == "true"
    if not uri.startswith("/") or len(uri) > MAX_URI:
        raise Refused(f"the original URI is missing or longer than {MAX_URI} bytes (from {proxy})")
    if not method.isalpha() or len(method) > 20:
        raise Refused(f"the original method is missing or not a method (from {proxy})")
    path, _, query = uri.partition("?")
    return ProxyRequest(method.upper(), path, query, host, headers, proxy, peer, body, truncated, repeated)  # type: ignore[arg-type]


async def serve(state: ServerState, scope: dict[str, Any], receive: Receive, send: Send) -> int:
    """Answer one check request; returns the status sent."""
    assert state.proxy is not None
    try:
        request = await proxy_request(state, scope, receive)
    except Refused as exc:
        answer = ProxyAnswer(
            403,
            client_headers={"content-type": "application/json"},
            body=orjson.dumps({"error": "forbidden", "message": str(exc)}),
        )
    except TimeoutError:
        answer = ProxyAnswer(403, body=b'{"error":"forbidden","message":"the body did not arrive in time"}')
    else:
        answer = await state.proxy.authorize(request)
    headers = answer.upstream_headers if answer.allowed else answer.client_headers
    await respond(
        send,
        answer.status,
        answer.body,
        [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
    )
    return answer.status
