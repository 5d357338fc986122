"""``chamberlain dev idp serve``: a minimal OpenID Connect provider over HTTP. NOT FOR PRODUCTION.

=====================================  ===========================================================
``GET /.well-known/openid-configuration``  discovery (OpenID Connect Discovery 1.0, RFC 8414)
``GET /jwks.json``                     the public signing keys
``GET /authorize``                     the authorization code flow (PKCE S256 required): a login page
                                       listing the configured people
``POST /login``                        the login form (CSRF-protected); redirects with ``code``,
                                       ``state`` and ``iss`` (RFC 9207)
``POST /token``                        code for ``access_token`` + ``id_token`` (PKCE verified)
``GET|POST /userinfo``                 the person's claims, for a Bearer access token
=====================================  ===========================================================

Starlette rather than plain ASGI: routing, cookies, redirects and HTML responses are what it is for,
the console (which will log people in against this provider) is a Starlette app too, and it is
installed already (the MCP SDK is built on it). Bodies and query strings are read with explicit
limits; the login page and codes live in bounded in-memory stores (a restart forgets them).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
import socket
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from chamberlain.bearer import BearerError, bearer_token
from chamberlain.devidp.errors import DevIdpError
from chamberlain.devidp.flows import (
    CODE_TTL,
    LOGIN_TTL,
    SUPPORTED_SCOPES,
    AuthorizationRequest,
    Expiring,
    IssuedCode,
    OAuthError,
    PendingLogin,
    check_csrf,
    parse_params,
    redeem,
    single,
)
from chamberlain.devidp.pages import PAGE_HEADERS, error_page, home_page, login_page
from chamberlain.devidp.provider import MARKER, DevIdp
from chamberlain.server.logs import setup_logging

LOGGER = logging.getLogger("chamberlain.devidp")
MAX_QUERY_BYTES = 8 * 1024
MAX_BODY_BYTES = 16 * 1024
CSRF_COOKIE = "chamberlain_dev_idp_csrf"
_NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
DISCOVERY_PATH = "/.well-known/openid-configuration"
_CSRF_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def discovery(idp: DevIdp) -> dict[str, Any]:
    """The OpenID Connect discovery document."""
    base = idp.issuer
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "jwks_uri": f"{base}/jwks.json",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [idp.key.alg],
        "token_endpoint_auth_methods_supported": ["none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": list(SUPPORTED_SCOPES),
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "roles",
            "name",
            "email",
        ],
        "authorization_response_iss_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "service_documentation": MARKER,
    }


def _html(text: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(text, status, headers={**PAGE_HEADERS, **(headers or {})})


def _error_page(exc: OAuthError) -> HTMLResponse:
    return _html(error_page(f"Error: {exc.error}", exc.description), exc.status)


def _redirect(uri: str, params: dict[str, str]) -> RedirectResponse:
    """``uri`` with ``params`` added to its query (a registered redirect URI may have a query of its own)."""
    parts = urlsplit(uri)
    query = "&".join(q for q in (parts.query, urlencode({k: v for k, v in params.items() if v})) if q)
    return RedirectResponse(urlunsplit(parts._replace(query=query)), 303, headers=PAGE_HEADERS)


async def _read_body(request: Request) -> str:
    """The urlencoded body as text, at most :data:`MAX_BODY_BYTES` (413 beyond)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise OAuthError("invalid_request", f"the body is larger than {MAX_BODY_BYTES} bytes", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise OAuthError("invalid_request", f"the body is larger than {MAX_BODY_BYTES} bytes", 413)
        chunks.append(chunk)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise OAuthError("invalid_request", "the body is not UTF-8") from None


def _same_origin(request: Request) -> bool:
    """A form POST must come from a page of this provider (when the browser says where it comes from)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


class Provider:
    """The endpoints, over one :class:`DevIdp` and the in-memory login pages and codes."""

    def __init__(self, idp: DevIdp, clock: Callable[[], float] = time.time):
        self.idp = idp
        self.clock = clock
        self.logins: Expiring[PendingLogin] = Expiring()
        self.codes: Expiring[IssuedCode] = Expiring()

    async def home(self, request: Request) -> Response:
        return _html(home_page(self.idp.issuer))

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(discovery(self.idp))

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self.idp.jwks(), headers={"cache-control": "max-age=60"})

    async def authorize(self, request: Request) -> Response:
        query = request.scope.get("query_string", b"")
        if len(query) > MAX_QUERY_BYTES:
            return _error_page(
                OAuthError("invalid_request", f"the query is longer than {MAX_QUERY_BYTES} bytes", 414)
            )
        try:
            auth = AuthorizationRequest.parse(
                parse_params(query.decode("utf-8", "replace")), self.idp.settings.clients
            )
            csrf = request.cookies.get(CSRF_COOKIE, "")
            if not _CSRF_TOKEN.fullmatch(csrf):  # token_urlsafe(32); anything else is not one of ours
                csrf = secrets.token_urlsafe(32)
            login_id = self.logins.put(PendingLogin(auth, csrf), LOGIN_TTL, self.clock())
        except OAuthError as exc:
            LOGGER.warning("authorization request refused: %s", exc)
            if exc.redirect_uri:
                return _redirect(
                    exc.redirect_uri,
                    {
                        "error": exc.error,
                        "error_description": exc.description,
                        "state": exc.state,
                        "iss": self.idp.issuer,
                    },
                )
            return _error_page(exc)
        page = login_page(
            self.idp.identities.people.values(), client_id=auth.client_id, login_id=login_id, csrf=csrf
        )
        response = _html(page)
        response.set_cookie(
            CSRF_COOKIE, csrf, max_age=int(LOGIN_TTL), httponly=True, samesite="lax", path="/"
        )
        return response

    async def login(self, request: Request) -> Response:
        try:
            form = parse_params(await _read_body(request))
            login_id, csrf = single(form, "login"), single(form, "csrf")
            person_id, cancel = single(form, "person"), single(form, "cancel")
        except OAuthError as exc:
            return _error_page(exc)
        pending = self.logins.get(login_id, self.clock()) if login_id else None
        if not _same_origin(request) or not check_csrf(pending, csrf, request.cookies.get(CSRF_COOKIE, "")):
            LOGGER.warning("login refused: cross-site request or CSRF token mismatch")
            return _error_page(
                OAuthError(
                    "access_denied",
                    "This form expired or did not come from this login "
                    "page (CSRF check): start the login again from the application.",
                    403,
                )
            )
        assert pending is not None  # check_csrf refuses None
        auth = pending.request
        if cancel:
            self.logins.pop(login_id)
            return _redirect(
                auth.redirect_uri,
                {
                    "error": "access_denied",
                    "error_description": "the user cancelled",
                    "state": auth.state,
                    "iss": self.idp.issuer,
                },
            )
        if person_id not in self.idp.identities.people:
            return _error_page(
                OAuthError("invalid_request", f"{person_id!r} is not a person of this provider")
            )
        self.logins.pop(login_id)
        now = self.clock()
        try:
            code = self.codes.put(IssuedCode(auth, person_id, int(now)), CODE_TTL, now)
        except OAuthError as exc:
            return _error_page(exc)
        LOGGER.info("%s logged in for client %s", person_id, auth.client_id)
        return _redirect(auth.redirect_uri, {"code": code, "state": auth.state, "iss": self.idp.issuer})

    async def token(self, request: Request) -> Response:
        try:
            if "authorization" in request.headers:
                raise OAuthError(
                    "invalid_client",
                    "clients here are public: send client_id in the body and no "
                    "client secret (token_endpoint_auth_method none)",
                    401,
                )
            now = self.clock()
            issued = redeem(
                parse_params(await _read_body(request)), self.codes, self.idp.settings.clients, now
            )
            body = self._tokens(issued, now)
        except OAuthError as exc:
            LOGGER.warning("token request refused: %s", exc)
            return JSONResponse(exc.body(), exc.status, headers=_NO_STORE)
        except DevIdpError as exc:  # the person was removed from identities.yaml, say
            return JSONResponse(
                {"error": "invalid_grant", "error_description": str(exc)}, 400, headers=_NO_STORE
            )
        LOGGER.info("tokens issued to client %s for %s", issued.request.client_id, issued.subject)
        return JSONResponse(body, headers=_NO_STORE)

    def _tokens(self, issued: IssuedCode, now: float) -> dict[str, Any]:
        auth = issued.request
        access = self.idp.access_token(issued.subject, client_id=auth.client_id, now=now)
        body: dict[str, Any] = {
            "access_token": access.token,
            "token_type": "Bearer",
            "expires_in": access.claims["exp"] - access.claims["iat"],
            "scope": " ".join(auth.scopes),
        }
        person = self.idp.person(issued.subject)
        body["id_token"] = self.idp.id_token(
            person, client_id=auth.client_id, nonce=auth.nonce, auth_time=issued.auth_time, now=now
        ).token
        return body

    async def userinfo(self, request: Request) -> Response:
        try:
            token = bearer_token(request.headers.get("authorization"))
            claims = self.idp.verify(token, now=self.clock())
            person = self.idp.person(str(claims["sub"]))
        except (
            BearerError,
            DevIdpError,
        ) as exc:  # the reason goes in the body: a header cannot carry every character
            if isinstance(exc, BearerError) and exc.missing:
                return JSONResponse(
                    {"error": "invalid_token", "error_description": "a Bearer access token is required"},
                    401,
                    headers={"www-authenticate": 'Bearer realm="chamberlain-dev-idp"'},
                )
            return JSONResponse(
                {"error": "invalid_token", "error_description": str(exc)},
                401,
                headers={"www-authenticate": 'Bearer error="invalid_token"'},
            )
        return JSONResponse({"sub": person.id, "roles": list(person.roles), **person.attr}, headers=_NO_STORE)


def create_app(idp: DevIdp, *, clock: Callable[[], float] = time.time) -> Starlette:
    """The provider as an ASGI app (``uvicorn`` serves it; tests start it on loopback)."""
    provider = Provider(idp, clock)
    app = Starlette(
        routes=[
            Route("/", provider.home, methods=["GET"]),
            Route(DISCOVERY_PATH, provider.discovery, methods=["GET"]),
            Route("/jwks.json", provider.jwks, methods=["GET"]),
            Route("/authorize", provider.authorize, methods=["GET"]),
            Route("/login", provider.login, methods=["POST"]),
            Route("/token", provider.token, methods=["POST"]),
            Route("/userinfo", provider.userinfo, methods=["GET", "POST"]),
        ]
    )
    app.state.provider = provider
    return app


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # another host name: it could resolve to anything


def run(idp: DevIdp, host: str, port: int) -> None:
    """Bind ``host:port``, say so (and that this is not for production), serve until Ctrl-C."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)  # connections wait in the backlog from now on, so "listening" below is true
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(
        f"chamberlain dev idp: {MARKER}: anyone who reaches it can log in as any person of "
        f"{idp.directory / 'identities.yaml'}.",
        file=sys.stderr,
        flush=True,
    )
    print(
        f"chamberlain dev idp: issuer {idp.issuer}, listening on http://{shown}:{bound} "
        f"(discovery: {idp.issuer}{DISCOVERY_PATH})",
        file=sys.stderr,
        flush=True,
    )
    setup_logging("info", "text")  # each login and token issued, and every refusal with its reason
    config = uvicorn.Config(
        create_app(idp),
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_keep_alive=5,
        limit_concurrency=64,
        server_header=False,
    )
    uvicorn.Server(config).run(sockets=[sock])
