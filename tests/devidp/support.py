"""Shared parts of the dev IdP tests: a fresh IdP directory, and a browser-like client for its login page."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import httpx

from chamberlain.devidp import DevIdp, init_directory
from tests.support.cerbos_server import free_port

CLIENT_ID = "example-app"
REDIRECT = "http://127.0.0.1:8000/callback"


def new_idp(tmp: Path, *, port: int | None = None, algorithm: str | None = None) -> DevIdp:
    """``init`` a directory under ``tmp`` with its issuer on a free loopback port; loaded."""
    folder = tmp / "dev-idp"
    init_directory(folder, issuer=f"http://127.0.0.1:{port or free_port()}", algorithm=algorithm)
    return DevIdp.load(folder)


class LoginForm(HTMLParser):
    """The login page's form: its action, hidden fields, and the (name, value) of each submit button."""

    def __init__(self, html: str):
        super().__init__()
        self.action = ""
        self.hidden: dict[str, str] = {}
        self.buttons: list[tuple[str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a.get("action", "")
        elif tag == "input" and a.get("type") == "hidden":
            self.hidden[a["name"]] = a.get("value", "")
        elif tag == "button" and a.get("type") == "submit":
            self.buttons.append((a.get("name", ""), a.get("value", "")))


def open_login(browser: httpx.Client, authorize_url: str) -> LoginForm:
    """GET the authorization URL as a browser does (keeping the CSRF cookie); the login form."""
    page = browser.get(authorize_url)
    assert page.status_code == 200, page.text
    assert "NOT FOR PRODUCTION" in page.text
    return LoginForm(page.text)


def log_in(
    browser: httpx.Client, base: str, form: LoginForm, person: str, **overrides: str
) -> httpx.Response:
    """Press ``person``'s button: the form POST (not followed: the answer is the redirect to the client)."""
    data = {**form.hidden, "person": person, **overrides}
    return browser.post(f"{base}{form.action}", data=data, headers={"origin": base}, follow_redirects=False)
