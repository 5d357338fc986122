"""``Authorization: Bearer <token>`` read one way on every surface that takes one (the admin API, the
token service's introspection, the proxy gateway, the delegation middleware and the Starlette integration
downstream, the development identity provider).

RFC 6750 §2.1: the scheme is case-insensitive, one or more spaces separate it from the token, and the
token is ``b64token`` (``1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="``, which every JWT
is). A token is at most :data:`MAX_TOKEN_BYTES` long, so a header costs a bounded amount to read.
What each surface answers for a missing or malformed token (its status, its challenge) stays its own.
"""

from __future__ import annotations

import re

from chamberlain.errors import Error

#: The longest bearer token read (a chamberlain token with a long actor chain is a few KB).
MAX_TOKEN_BYTES = 16 * 1024
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class BearerError(Error):
    """An ``Authorization`` value that holds no usable bearer token; ``missing`` when it holds none at all
    (no header, another scheme, or ``Bearer`` alone), else it holds one that is malformed or too long."""

    def __init__(self, message: str, *, missing: bool):
        super().__init__(message)
        self.missing = missing


def scheme(authorization: str | None) -> str:
    """The authentication scheme of an ``Authorization`` value, in lower case ("" when there is none)."""
    return (authorization or "").strip().partition(" ")[0].lower()


def bearer_token(authorization: str | None, *, where: str = "Authorization") -> str:
    """The token of ``Bearer <token>``; raises :class:`BearerError` naming ``where`` and what is wrong."""
    value = (authorization or "").strip()
    kind, _, token = value.partition(" ")
    token = token.strip()
    if kind.lower() != "bearer" or not token:
        raise BearerError(f"{where}: no bearer token (expected 'Bearer <token>')", missing=True)
    if len(token) > MAX_TOKEN_BYTES:
        raise BearerError(f"{where}: the bearer token is longer than {MAX_TOKEN_BYTES} bytes", missing=False)
    if not _B64TOKEN.fullmatch(token):
        raise BearerError(
            f"{where}: the bearer token is not RFC 6750 token syntax (letters, digits, -._~+/ and trailing =)",
            missing=False,
        )
    return token
