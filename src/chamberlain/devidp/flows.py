"""The authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636, OpenID Connect Core §3.1), in memory.

Only what a development provider needs, and strict about it: public clients (no secret), PKCE with
``S256`` required (``plain`` and a missing challenge are refused), redirect URIs compared exactly
with the registered ones, codes single-use (a code is spent by the first attempt to redeem it,
successful or not) and short-lived, every parameter bounded, and every store bounded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import parse_qsl

from chamberlain.devidp.settings import Client

LOGIN_TTL = 600.0  # a login page stays usable this long
CODE_TTL = 60.0  # a code must be redeemed within this
MAX_PENDING = 1000  # login pages and codes outstanding at most (each)
MAX_VALUE_CHARS = 2048  # any parameter value
MAX_FIELDS = 32  # parameters in one request
SUPPORTED_SCOPES = ("openid", "profile", "email", "roles")
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a SHA-256 digest, unpadded

T = TypeVar("T")


class OAuthError(Exception):
    """An OAuth error response: ``error`` (RFC 6749 §4.1.2.1 / §5.2), a description, an HTTP status.

    ``redirect_uri`` is set once the client and redirect URI are known good: the error then goes back
    to the client (with ``state``); before that it is shown to the user and never redirected.
    """

    def __init__(
        self, error: str, description: str, status: int = 400, *, redirect_uri: str = "", state: str = ""
    ):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.redirect_uri = redirect_uri
        self.state = state

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def s256(verifier: str) -> str:
    """The S256 code challenge of ``verifier`` (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def parse_params(text: str) -> dict[str, list[str]]:
    """Form or query parameters, at most :data:`MAX_FIELDS`; raises ``invalid_request`` when malformed."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=MAX_FIELDS)
    except ValueError:
        raise OAuthError("invalid_request", f"malformed parameters (or more than {MAX_FIELDS})") from None
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    return params


def single(params: Mapping[str, Sequence[str]], name: str) -> str:
    """The one value of ``name`` (``""`` when absent); repeated or oversized values are ``invalid_request``."""
    values = [v for v in params.get(name, ()) if v]
    if len(values) > 1:
        raise OAuthError("invalid_request", f"parameter {name} is given more than once")
    if values and (len(values[0]) > MAX_VALUE_CHARS or not values[0].isprintable()):
        raise OAuthError(
            "invalid_request",
            f"parameter {name} is longer than {MAX_VALUE_CHARS} characters or not printable",
        )
    return values[0] if values else ""


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A validated ``/authorize`` request."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str
    nonce: str
    code_challenge: str

    @classmethod
    def parse(
        cls, params: Mapping[str, Sequence[str]], clients: Mapping[str, Client]
    ) -> AuthorizationRequest:
        """Check the request; errors before the redirect URI is known good are shown, never redirected."""
        client_id = single(params, "client_id")
        client = clients.get(client_id)
        if client is None:
            raise OAuthError(
                "invalid_client", f"unknown client_id {client_id!r}" if client_id else "client_id is required"
            )
        redirect_uri = single(params, "redirect_uri")
        if not redirect_uri:
            raise OAuthError("invalid_request", "redirect_uri is required")
        if redirect_uri not in client.redirect_uris:
            raise OAuthError(
                "invalid_request",
                f"redirect_uri {redirect_uri!r} is not registered for client "
                f"{client_id!r} (registered: {', '.join(client.redirect_uris)})",
            )
        state = single(params, "state")

        def fail(error: str, description: str) -> OAuthError:
            return OAuthError(error, description, redirect_uri=redirect_uri, state=state)

        try:
            one = {
                name: single(params, name)
                for name in (
                    "response_type",
                    "scope",
                    "nonce",
                    "code_challenge",
                    "code_challenge_method",
                    "prompt",
                )
            }
        except OAuthError as exc:
            raise fail(exc.error, exc.description) from None
        if "request" in params or "request_uri" in params:
            which = "request" if "request" in params else "request_uri"
            raise fail(f"{which}_not_supported", f"the {which} parameter is not supported")
        if one["response_type"] != "code":
            raise fail("unsupported_response_type", "only response_type=code (the authorization code flow)")
        scopes = tuple(dict.fromkeys(one["scope"].split()))
        if "openid" not in scopes:
            raise fail("invalid_scope", "this is an OpenID Connect provider: scope must include openid")
        unknown = [s for s in scopes if s not in SUPPORTED_SCOPES]
        if unknown:
            raise fail(
                "invalid_scope", f"unknown scope {unknown[0]!r} (supported: {' '.join(SUPPORTED_SCOPES)})"
            )
        if not one["code_challenge"]:
            raise fail(
                "invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256"
            )
        if one["code_challenge_method"] != "S256":
            raise fail("invalid_request", "code_challenge_method must be S256 (plain is not accepted)")
        if not _CHALLENGE.fullmatch(one["code_challenge"]):
            raise fail("invalid_request", "code_challenge is not an S256 challenge (43 base64url characters)")
        if "none" in one["prompt"].split():
            raise fail("login_required", "this provider always shows its login page (prompt=none)")
        return cls(client_id, redirect_uri, scopes, state, one["nonce"], one["code_challenge"])


@dataclass(slots=True)
class PendingLogin:
    """A login page shown: the request it answers and the CSRF token its form must send back."""

    request: AuthorizationRequest
    csrf: str


@dataclass(slots=True)
class IssuedCode:
    """An authorization code: for whom, for which request; ``used`` once redeemed (kept to spot replays)."""

    request: AuthorizationRequest
    subject: str
    auth_time: int
    used: bool = False


@dataclass(slots=True)
class Expiring(Generic[T]):
    """At most ``limit`` values by key, each until its expiry."""

    limit: int = MAX_PENDING
    _items: dict[str, tuple[float, T]] = field(default_factory=dict)

    def put(self, value: T, ttl: float, now: float) -> str:
        """Store ``value`` under a new random key; ``temporarily_unavailable`` when full."""
        if len(self._items) >= self.limit:
            self._items = {k: v for k, v in self._items.items() if v[0] > now}
            if len(self._items) >= self.limit:
                raise OAuthError(
                    "temporarily_unavailable",
                    f"too many logins in progress (at most {self.limit}): try again later",
                    503,
                )
        key = secrets.token_urlsafe(32)
        self._items[key] = (now + ttl, value)
        return key

    def get(self, key: str, now: float) -> T | None:
        found = self._items.get(key)
        if found is None:
            return None
        if found[0] <= now:
            del self._items[key]
            return None
        return found[1]

    def pop(self, key: str) -> None:
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


def check_csrf(pending: PendingLogin | None, form_token: str, cookie_token: str) -> bool:
    """The form's token, the browser's cookie and the login page's token must be one and the same."""
    if pending is None or not form_token or not cookie_token:
        return False
    return hmac.compare_digest(form_token, pending.csrf) and hmac.compare_digest(cookie_token, pending.csrf)


def redeem(
    params: Mapping[str, Sequence[str]],
    codes: Expiring[IssuedCode],
    clients: Mapping[str, Client],
    now: float,
) -> IssuedCode:
    """Check a token request (``grant_type=authorization_code``); the code is spent whatever the outcome."""
    grant_type = single(params, "grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required")
    if grant_type != "authorization_code":
        raise OAuthError(
            "unsupported_grant_type", f"grant_type {grant_type!r} is not supported: use authorization_code"
        )
    client_id = single(params, "client_id")
    if client_id not in clients:
        raise OAuthError(
            "invalid_client",
            f"unknown client_id {client_id!r}"
            if client_id
            else "client_id is required (public clients send it in the body)",
            401,
        )
    code = single(params, "code")
    if not code:
        raise OAuthError("invalid_request", "code is required")
    issued = codes.get(code, now)
    if issued is None:
        raise OAuthError("invalid_grant", "the code is unknown or expired")
    if issued.used:
        raise OAuthError("invalid_grant", "the code was already used (codes are single-use)")
    issued.used = True  # spent now, whatever follows: a failed attempt cannot be retried
    if client_id != issued.request.client_id:
        raise OAuthError("invalid_grant", "the code was issued to another client")
    if single(params, "redirect_uri") != issued.request.redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri does not match the one of the authorization request")
    verifier = single(params, "code_verifier")
    if not verifier:
        raise OAuthError("invalid_grant", "code_verifier is required (PKCE)")
    if not _VERIFIER.fullmatch(verifier):
        raise OAuthError(
            "invalid_grant", "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636)"
        )
    if not hmac.compare_digest(s256(verifier), issued.request.code_challenge):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge (PKCE)")
    return issued
