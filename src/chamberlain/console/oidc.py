"""People's login: OpenID Connect authorization code flow with PKCE (S256) against a trusted issuer.

The issuer is ``chamberlain.console.oidc.issuer`` (default: the first of
``chamberlain.delegation.trustedIssuers``); its endpoints come from its discovery document. The
access token the issuer returns is verified exactly as the admin surface verifies a bearer token
(:func:`chamberlain.server.admin.auth.bearer_caller`: signature, issuer, audience, expiry), and the
person it names is the console login. When the scopes ask for ``openid``, the answer must also hold
an ID token (OpenID Connect Core 3.1.3.7): signed by the same issuer, for the console's client id,
unexpired, carrying the nonce of this very request and naming the same person as the access token;
otherwise the login fails. State, PKCE verifier and nonce are kept server-side for ten minutes,
bound to the browser by a short-lived SameSite=Lax cookie (the IdP's redirect back is a cross-site
navigation when the IdP is on another site).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from chamberlain.console.logins import Expiring, Items
from chamberlain.console.settings import ConsoleConfig
from chamberlain.delegation.config import DelegationConfig
from chamberlain.delegation.errors import TokenError
from chamberlain.delegation.tokens import MAX_TOKEN_BYTES, require_audience, verify_jwt
from chamberlain.delegation.trust import KeyFinder
from chamberlain.server.admin import Caller
from chamberlain.server.admin.auth import bearer_caller
from chamberlain.server.admin.settings import AdminConfig
from chamberlain.server.http import ApiError

PENDING_TTL = 600.0
MAX_PENDING = 1000
MAX_DOCUMENT_BYTES = 256 * 1024
HTTP_TIMEOUT = 5.0
PENDING_COOKIE = "chamberlain_console_oidc"


class LoginFailed(Exception):
    """The OIDC login did not complete; the message says why (shown on the login page)."""


@dataclass(frozen=True, slots=True)
class Pending:
    """An authorization request on its way: its state, PKCE verifier, nonce, where to go after."""

    state: str
    verifier: str
    browser: str  # the value of PENDING_COOKIE this request is bound to
    next: str
    nonce: str = ""


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _get_json(client: httpx.Client, url: str, **kwargs: Any) -> dict[str, Any]:
    response = client.request(kwargs.pop("method", "GET"), url, **kwargs)
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise LoginFailed(f"{url}: answer larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        found = response.json()
    except ValueError:
        raise LoginFailed(f"{url}: answered {response.status_code} without JSON") from None
    if response.status_code != 200 or not isinstance(found, dict):
        detail = found.get("error_description") or found.get("error") if isinstance(found, dict) else ""
        raise LoginFailed(f"{url}: answered {response.status_code} {detail or ''}".strip())
    return found


class OidcLogin:
    """Starts and completes people's logins against one trusted issuer."""

    def __init__(
        self,
        settings: ConsoleConfig,
        delegation: DelegationConfig | None,
        admin: AdminConfig,
        redirect_uri: str,
        pending: Items[Pending] | None = None,
    ):
        self.settings = settings
        self.delegation = delegation
        self.admin = admin
        self.redirect_uri = redirect_uri
        trusted = delegation.trusted_issuers if delegation is not None else ()
        wanted = settings.oidc_issuer.rstrip("/")
        found = next((t for t in trusted if not wanted or t.issuer.rstrip("/") == wanted), None)
        self.issuer = found.issuer if found is not None else ""
        self.pending: Items[Pending] = pending if pending is not None else Expiring(MAX_PENDING)
        self._discovery: dict[str, Any] | None = None

    @property
    def available(self) -> bool:
        return bool(self.issuer)

    def discovery(self, client: httpx.Client) -> dict[str, Any]:
        if self._discovery is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            found = _get_json(client, url)
            for key in ("authorization_endpoint", "token_endpoint"):
                if not isinstance(found.get(key), str):
                    raise LoginFailed(f"{url}: no {key}")
            self._discovery = found
        return self._discovery

    def start(self, browser: str, next_path: str) -> str:
        """The issuer's authorization URL for a new request bound to ``browser`` (blocking: discovery)."""
        with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False) as client:
            endpoint = self.discovery(client)["authorization_endpoint"]
        pending = Pending(
            secrets.token_urlsafe(24),
            secrets.token_urlsafe(48),
            browser,
            next_path,
            secrets.token_urlsafe(24),
        )
        self.pending.put(pending.state, pending, time.time() + PENDING_TTL)
        params = {
            "response_type": "code",
            "client_id": self.settings.oidc_client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.settings.oidc_scopes,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": _challenge(pending.verifier),
            "code_challenge_method": "S256",
        }
        return f"{endpoint}?{urlencode(params)}"

    def refused(self, state: str, browser: str) -> bool:
        """Ends the pending login ``state`` the issuer refused; whether it was ``browser``'s (only then
        are the issuer's words, which anyone can put in a link, shown)."""
        pending = self.pending.pop(state) if state else None
        return pending is not None and secrets.compare_digest(pending.browser, browser or "-")

    def complete(self, state: str, code: str, browser: str) -> tuple[Caller, float, str]:
        """The person the issuer's answer names, their token's expiry, and where to go (blocking)."""
        pending = self.pending.pop(state) if state else None
        if pending is None or not secrets.compare_digest(pending.browser, browser or "-"):
            raise LoginFailed(
                "this login is unknown, expired or was started in another browser: log in again"
            )
        if not code or len(code) > 2000:
            raise LoginFailed("the identity provider sent no authorization code")
        with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False) as client:
            endpoint = self.discovery(client)["token_endpoint"]
            tokens = _get_json(
                client,
                endpoint,
                method="POST",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.redirect_uri,
                    "client_id": self.settings.oidc_client_id,
                    "code_verifier": pending.verifier,
                },
            )
        access = tokens.get("access_token")
        if not isinstance(access, str):
            raise LoginFailed(f"{endpoint}: no access_token in the answer")
        now = time.time()
        try:
            caller = bearer_caller(access, self.delegation, self.admin, now)
        except ApiError as exc:
            raise LoginFailed(exc.message) from None
        if "openid" in self.settings.oidc_scopes.split():
            self._check_id_token(tokens.get("id_token"), pending, caller, endpoint, now)
        expires = caller.attr.get("exp")
        return (
            dataclasses.replace(caller, interactive=True),
            float(expires) if isinstance(expires, int | float) else time.time() + 3600,
            pending.next,
        )

    def _check_id_token(
        self, token: Any, pending: Pending, caller: Caller, endpoint: str, now: float
    ) -> None:
        """The ID token of an OpenID answer: this issuer's, for this client and request, about ``caller``."""
        if not isinstance(token, str) or not token:
            raise LoginFailed(f"{endpoint}: no id_token in the answer to an openid request")
        if len(token) > MAX_TOKEN_BYTES:
            raise LoginFailed(f"id_token: longer than {MAX_TOKEN_BYTES} bytes")
        delegation = self.delegation
        assert delegation is not None  # bearer_caller verified the access token with its issuers

        def keys_of(issuer: str) -> KeyFinder | None:  # the console's issuer only
            found = delegation.trusted(issuer) if issuer.rstrip("/") == self.issuer.rstrip("/") else None
            return found.keys if found is not None else None

        try:
            verified = verify_jwt(token, keys_of, now=now, leeway=delegation.leeway, where="id_token")
            require_audience(verified.claims, [self.settings.oidc_client_id], "id_token")
        except TokenError as exc:
            raise LoginFailed(str(exc)) from None
        claims = verified.claims
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not secrets.compare_digest(nonce, pending.nonce):
            raise LoginFailed("id_token: its nonce is not this login's (a token issued for another request)")
        if claims.get("sub") != caller.id or verified.issuer != caller.issuer:
            raise LoginFailed("id_token: it names another person than the access token does")
