"""The console's web app (Starlette, mounted under ``/console`` by the server's ASGI app).

Every page goes through :meth:`Console.page`: no login -> a redirect to ``/console/login``; an admin
policy denial -> a 403 page (never data); a form without the login's CSRF token -> 403. Pages are
rendered on the server (Jinja2, autoescaped); ``static/console.js`` adds live updates (server-sent
events) and the in-browser proof verification. Responses forbid framing, caching and inline scripts.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, quote

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from chamberlain.console.calls import AdminCalls, CallFailed
from chamberlain.console.logins import COOKIE, Login, Logins, login_from_json, login_json, same_token
from chamberlain.console.oidc import MAX_PENDING, PENDING_COOKIE, PENDING_TTL, LoginFailed, OidcLogin, Pending
from chamberlain.console.stored import ConsoleStore, Stored
from chamberlain.server.admin import AdminRoute
from chamberlain.server.http import ApiError
from chamberlain.store.errors import StoreError

if TYPE_CHECKING:
    from chamberlain.server.admin.dispatch import AdminSurface
    from chamberlain.server.state import ServerState

PREFIX = "/console"
STATIC = Path(__file__).parent / "static"
MAX_FORM_BYTES = 64 * 1024
_STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}
#: The playground is an admin-only action: the admin policy of analyses decides it (admins: "*").
PLAYGROUND_ROUTE = AdminRoute(
    "POST",
    f"{PREFIX}/playground",
    "console_playground",
    "playground:run",
    "chamberlain:analysis",
    lambda request: {},
)

Page = Callable[["Console", Request, Login], Awaitable[Response]]


class NeedLogin(Exception):
    """No valid console login: the page answers with the login page."""


class Console:
    """The console of one server: its logins, its admin calls, its templates and routes."""

    def __init__(self, state: ServerState, surface: AdminSurface):
        config = state.config
        self.state = state
        self.settings = config.console
        self.admin = surface
        # Logins in the state database (shared by replicas, kept over restarts), else in memory.
        self.store = ConsoleStore.open(config.sessions_url) if config.sessions_url is not None else None
        limit = self.settings.max_logins
        self.logins = (
            Logins(
                self.settings.session_ttl,
                limit,
                items=Stored(self.store, "login", limit, login_json, login_from_json),
                key=self.store.cookie_key(),
            )
            if self.store is not None
            else Logins(self.settings.session_ttl, limit)
        )
        self.calls = AdminCalls(surface, [PLAYGROUND_ROUTE])
        self.oidc = OidcLogin(
            self.settings,
            config.delegation,
            config.admin,
            config.public_url.rstrip("/") + f"{PREFIX}/oidc/callback",
            pending=(
                Stored(self.store, "oidc", MAX_PENDING, dataclasses.asdict, lambda d: Pending(**d))
                if self.store is not None
                else None
            ),
        )
        secure = self.settings.secure_cookies
        self.secure = secure == "true" or (secure == "auto" and config.tls is not None)
        self.closing = asyncio.Event()
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("chamberlain.console", "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["pct"] = _percent
        from chamberlain.console import approvals, log, sessions, vault

        routes = [
            Route(PREFIX, self.home, methods=["GET"]),
            Route(f"{PREFIX}/", self.home, methods=["GET"]),
            Route(f"{PREFIX}/login", self.login_page, methods=["GET"]),
            Route(f"{PREFIX}/login", self.login_submit, methods=["POST"]),
            Route(f"{PREFIX}/logout", self.page(_logout), methods=["POST"]),
            Route(f"{PREFIX}/oidc/start", self.oidc_start, methods=["GET"]),
            Route(f"{PREFIX}/oidc/callback", self.oidc_callback, methods=["GET"]),
            Route(f"{PREFIX}/static/{{name}}", self.static, methods=["GET"]),
            *[
                Route(f"{PREFIX}{path}", self.page(fn), methods=[method])
                for module in (sessions, approvals, log, vault)
                for method, path, fn in module.PAGES
            ],
        ]
        self.app = Starlette(routes=routes)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def close(self) -> None:
        self.closing.set()
        if self.store is not None:
            self.store.close()

    # -- rendering ---------------------------------------------------------------------------------

    def render(self, name: str, login: Login | None, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(login=login, prefix=PREFIX, **context)
        return HTMLResponse(html, status, headers=_HEADERS)

    def fragment(self, name: str, **context: Any) -> str:
        return self.templates.get_template(name).render(prefix=PREFIX, **context)

    def error(self, login: Login | None, status: int, message: str) -> HTMLResponse:
        titles = {
            400: "Bad request",
            403: "Forbidden",
            404: "Not found",
            409: "Conflict",
            429: "Too many requests",
            503: "Unavailable",
        }
        return self.render("error.html", login, status, title=titles.get(status, "Error"), message=message)

    # -- who is logged in --------------------------------------------------------------------------

    async def login_of(self, request: Request) -> Login | None:
        """The login the request's cookie names (looked up off the event loop: it may be in a database)."""
        cookie = request.cookies.get(COOKIE)
        return await asyncio.to_thread(self.logins.find, cookie) if cookie else None

    def page(self, fn: Page) -> Callable[[Request], Awaitable[Response]]:
        """``fn`` for a logged-in caller: the login page without a login, an error page for a refusal."""

        @functools.wraps(fn)
        async def handler(request: Request) -> Response:
            try:
                login = await self.login_of(request)
            except StoreError as exc:
                return self.error(None, 503, f"Logins are unavailable (the state database): {exc}")
            if login is None:
                if request.method == "GET" and request.headers.get("accept", "") != "text/event-stream":
                    target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
                    return RedirectResponse(f"{PREFIX}/login?next={target}", 303, headers=_HEADERS)
                return (
                    self.error(None, 401, "Log in first.")
                    if request.method == "POST"
                    else Response("log in first\n", 401, headers=_HEADERS)
                )
            try:
                return await fn(self, request, login)
            except CallFailed as exc:
                return self.error(login, exc.status, exc.message)
            except StoreError as exc:  # the state database is away: say so, as the admin API does
                return self.error(login, 503, f"The state database is unavailable: {exc}")

        return handler

    async def form(
        self, request: Request, login: Login | None, limit: int = MAX_FORM_BYTES
    ) -> dict[str, str]:
        """The urlencoded form of a POST (at most ``limit`` bytes); CallFailed(403) without the CSRF token."""
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise CallFailed(413, f"form larger than {limit} bytes")
        try:
            fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=100))
        except (UnicodeDecodeError, ValueError):
            raise CallFailed(400, "malformed form") from None
        expected = login.csrf if login is not None else request.cookies.get(_LOGIN_CSRF, "")
        if not same_token(expected, fields.get("csrf", "")):
            raise CallFailed(
                403,
                "This form has no valid CSRF token (it did not come from this console, or it "
                "expired): reload the page and try again.",
            )
        return fields

    def _cookie(
        self,
        response: Response,
        name: str,
        value: str,
        max_age: int,
        same_site: Literal["lax", "strict", "none"] = "strict",
    ) -> None:
        response.set_cookie(
            name, value, max_age=max_age, path=PREFIX, secure=self.secure, httponly=True, samesite=same_site
        )

    def signed_in(self, login: Login, cookie: str, target: str) -> Response:
        response = RedirectResponse(_local(target), 303, headers=_HEADERS)
        self._cookie(response, COOKIE, cookie, max(1, int(login.expires_at - time.time())))
        return response

    # -- routes ------------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/sessions", 303, headers=_HEADERS)

    async def login_page(self, request: Request, message: str = "", status: int = 200) -> Response:
        token = request.cookies.get(_LOGIN_CSRF) or secrets.token_urlsafe(32)
        response = self.render(
            "login.html",
            None,
            status,
            csrf=token,
            message=message,
            next=_local(request.query_params.get("next", "")),
            operator=bool(self.admin.basic and self.state.config.admin.username),
            oidc=self.oidc.issuer,
        )
        self._cookie(response, _LOGIN_CSRF, token, 3600)
        return response

    async def login_submit(self, request: Request) -> Response:
        try:
            fields = await self.form(request, None)
        except CallFailed as exc:
            return await self.login_page(request, exc.message, exc.status)
        username, password = fields.get("username", ""), fields.get("password", "")
        if self.admin.basic is None:
            return await self.login_page(request, "Operator login is not configured here.", 400)
        if not username or not password or len(username) + len(password) > 700:
            return await self.login_page(request, "Enter the username and the password.", 400)
        encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
        client = request.client.host if request.client else "unknown"
        try:
            caller = await self.admin.basic.authenticate(encoded, client)
        except ApiError as exc:
            status = 429 if exc.status == 429 else 401
            text = "Wrong username or password." if status == 401 else exc.message
            return await self.login_page(request, text, status)
        try:
            login, cookie = await asyncio.to_thread(self.logins.open, caller)
        except StoreError as exc:
            return await self.login_page(request, f"Logins are unavailable (the state database): {exc}", 503)
        return self.signed_in(login, cookie, fields.get("next", ""))

    async def oidc_start(self, request: Request) -> Response:
        if not self.oidc.available:
            return await self.login_page(request, "No trusted issuer is configured for people's logins.", 400)
        browser = secrets.token_urlsafe(24)
        try:
            url = await asyncio.to_thread(
                self.oidc.start, browser, _local(request.query_params.get("next", ""))
            )
        except (LoginFailed, OSError, ValueError) as exc:
            return await self.login_page(request, f"The identity provider is unreachable: {exc}", 503)
        except StoreError as exc:
            return await self.login_page(request, f"Logins are unavailable (the state database): {exc}", 503)
        response = RedirectResponse(url, 303, headers=_HEADERS)
        self._cookie(response, PENDING_COOKIE, browser, int(PENDING_TTL), same_site="lax")
        return response

    async def oidc_callback(self, request: Request) -> Response:
        q = request.query_params
        if q.get("error"):
            return await self.login_page(request, await self._refusal(request), 401)
        try:
            caller, expires, target = await asyncio.to_thread(
                self.oidc.complete,
                q.get("state", ""),
                q.get("code", ""),
                request.cookies.get(PENDING_COOKIE, ""),
            )
            login, cookie = await asyncio.to_thread(self.logins.open, caller, expires)
        except (LoginFailed, OSError, ValueError) as exc:
            return await self.login_page(request, f"Login failed: {exc}", 401)
        except StoreError as exc:
            return await self.login_page(request, f"Logins are unavailable (the state database): {exc}", 503)
        # A page, not a redirect: the SameSite=Strict cookie is then sent on the next, same-site navigation.
        response = self.render("continue.html", None, target=_local(target or f"{PREFIX}/approvals"))
        self._cookie(response, COOKIE, cookie, max(1, int(login.expires_at - time.time())))
        response.delete_cookie(PENDING_COOKIE, path=PREFIX)
        return response

    async def _refusal(self, request: Request) -> str:
        """What the login page says of the issuer's refusal: its words for this browser's login only."""
        q = request.query_params
        try:
            ours = await asyncio.to_thread(
                self.oidc.refused, q.get("state", ""), request.cookies.get(PENDING_COOKIE, "")
            )
        except StoreError:
            ours = False
        if not ours:
            return "The identity provider refused a login this browser did not start here: log in again."
        return f"The identity provider refused: {(q.get('error_description') or q['error'])[:300]}"

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        path = STATIC / name
        kind = _STATIC_TYPES.get(path.suffix)
        if kind is None or "/" in name or name.startswith(".") or not path.is_file():
            return Response("not found\n", 404)
        return Response(
            path.read_bytes(), headers={**_HEADERS, "content-type": kind, "cache-control": "max-age=300"}
        )


_LOGIN_CSRF = "chamberlain_console_login"


async def _logout(console: Console, request: Request, login: Login) -> Response:
    await console.form(request, login)
    await asyncio.to_thread(console.logins.close, login)
    response = RedirectResponse(f"{PREFIX}/login", 303, headers=_HEADERS)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


def _local(target: str) -> str:
    """``target`` when it is a console path (no open redirect), else the landing page."""
    if (
        target.startswith(f"{PREFIX}/")
        and not target.startswith("//")
        and "\\" not in target
        and len(target) < 2000
    ):
        return target
    return f"{PREFIX}/sessions"


def _percent(used: Any, limit: Any) -> int:
    try:
        return max(0, min(100, round(100 * float(used) / float(limit)))) if float(limit) > 0 else 100
    except (TypeError, ValueError):
        return 0
