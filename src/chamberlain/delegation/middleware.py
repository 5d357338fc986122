"""ASGI middleware for services downstream of chamberlain: verify the delegation token of every request.

Works with any ASGI framework (Starlette, FastAPI, plain ASGI)::

    app = DelegationMiddleware(app, verifier=Verifier(issuer, "chamberlain-jwks.json"),
                               audience="https://payments.example", scopes=["payments:write"])

A request (HTTP, or a WebSocket handshake) without ``Authorization: Bearer <token>``, or with two
``Authorization`` headers, gets 401 (a WebSocket handshake is closed with 1008, which the server answers
with 403); a token that does not verify (bad
signature, expired, another audience...) 401 with ``error="invalid_token"``; a token without one of
``scopes`` 403 with ``error="insufficient_scope"`` (RFC 6750 §3). The verified
:class:`~chamberlain.delegation.tokens.DelegationToken` is put in ``scope["chamberlain.delegation"]``
and in ``scope["state"]["delegation"]`` (``request.state.delegation`` in Starlette).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from chamberlain.asgi import ASGIApp, refuse_websocket
from chamberlain.bearer import BearerError, bearer_token
from chamberlain.delegation.errors import DelegationConfigError, TokenError
from chamberlain.delegation.tokens import Verifier

SCOPE_KEY = "chamberlain.delegation"


def _header_text(text: str) -> str:
    """``error_description`` may only hold printable ASCII without ``"`` and ``\\`` (RFC 6750 §3)."""
    return "".join(c if 0x20 <= ord(c) <= 0x7E and c not in '"\\' else "?" for c in text)


class DelegationMiddleware:
    """Verify ``Authorization: Bearer`` delegation tokens for ``audience`` before the app sees the request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: Verifier,
        audience: str | Collection[str],
        scopes: Collection[str] = (),
    ):
        if not audience or not all(
            isinstance(a, str) and a for a in ([audience] if isinstance(audience, str) else audience)
        ):
            # None would reach Verifier.verify as "do not check the audience": every service's tokens accepted.
            raise DelegationConfigError(
                f"DelegationMiddleware: audience must name this service (a non-empty string or strings), "
                f"got {audience!r}"
            )
        self.app = app
        self.verifier = verifier
        self.audience = audience
        self.scopes = frozenset(scopes)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan: no request, nothing to verify
            await self.app(scope, receive, send)
            return
        deny = _deny if scope["type"] == "http" else _close
        auth = [v.decode("latin-1") for k, v in scope.get("headers") or [] if k.lower() == b"authorization"]
        if len(auth) > 1:  # this reads one, the app (Starlette reads the first) or a proxy may read another
            message = "two Authorization headers: send one bearer token"
            challenge = f'Bearer error="invalid_request", error_description="{message}"'
            await deny(send, 401, challenge, message)
            return
        try:
            token = bearer_token(auth[0] if auth else "", where="bearer token")
            verified = self.verifier.verify(token, audience=self.audience, where="bearer token")
        except (BearerError, TokenError) as exc:
            if isinstance(exc, BearerError) and exc.missing:
                await deny(send, 401, 'Bearer realm="chamberlain"', "a delegation token is required")
            else:  # malformed, or does not verify
                await deny(
                    send,
                    401,
                    f'Bearer error="invalid_token", error_description="{_header_text(str(exc))}"',
                    str(exc),
                )
            return
        if self.scopes and not self.scopes & set(verified.scopes):
            needed = " ".join(sorted(self.scopes))
            await deny(
                send,
                403,
                f'Bearer error="insufficient_scope", scope="{_header_text(needed)}"',
                f"the token has none of the scopes {needed}",
            )
            return
        scope[SCOPE_KEY] = verified
        scope.setdefault("state", {})["delegation"] = verified
        await self.app(scope, receive, send)


async def _close(send: Any, status: int, challenge: str, message: str) -> None:
    """Refuse a WebSocket handshake with ``message`` (HTTP 403 whatever ``status``: a handshake closed)."""
    await refuse_websocket(send, message)


async def _deny(send: Any, status: int, challenge: str, message: str) -> None:
    body = message.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", challenge.encode("latin-1")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
