"""The dev IdP's HTML: a login page listing the configured people, and error pages. Every value escaped."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from chamberlain.devidp.identities import Person

#: Headers of every page: no framing (clickjacking), no scripts, nothing cached, no referrer beyond this
#: origin (not no-referrer: Chromium then sends `Origin: null` with the login form, which the check refuses).
PAGE_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
}
BANNER = "Development identity provider: NOT FOR PRODUCTION. Anyone who reaches this page can log in as anyone listed."
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 40rem; padding: 0 1rem; }
.banner { background: #fde68a; border: 2px solid #b45309; padding: .6rem 1rem; font-weight: 600; }
button { display: block; width: 100%; text-align: left; margin: .4rem 0; padding: .6rem 1rem; font-size: 1rem; }
.roles { color: #555; font-size: .9rem; }
"""


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="robots" content="noindex"><style>{_STYLE}</style></head>\n<body>\n'
        f'<p class="banner" role="alert">{escape(BANNER)}</p>\n<h1>{escape(title)}</h1>\n{body}\n</body></html>\n'
    )


def login_page(people: Iterable[Person], *, client_id: str, login_id: str, csrf: str) -> str:
    """Pick a person: one submit button each (``person``), and one to cancel; a form POST to ``/login``."""
    buttons = "\n".join(
        f'<button type="submit" name="person" value="{escape(p.id)}">{escape(str(p.attr.get("name") or p.id))} '
        f'<span class="roles">({escape(p.id)}; roles: {escape(", ".join(p.roles) or "none")})</span></button>'
        for p in people
    )
    return _page(
        "Log in",
        f"<p>The application <strong>{escape(client_id)}</strong> asks who you are. Choose a person:</p>\n"
        '<form method="post" action="/login">\n'
        f'<input type="hidden" name="login" value="{escape(login_id)}">\n'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">\n'
        f"{buttons or '<p>No people are configured (identities.yaml).</p>'}\n"
        '<button type="submit" name="cancel" value="1">Cancel</button>\n</form>',
    )


def error_page(title: str, message: str) -> str:
    return _page(title, f"<p>{escape(message)}</p>")


def home_page(issuer: str) -> str:
    return _page(
        "chamberlain dev idp",
        f"<p>A minimal OpenID Connect provider for development and tests, issuer <code>{escape(issuer)}</code>.</p>"
        '<p><a href="/.well-known/openid-configuration">Discovery document</a> · <a href="/jwks.json">JWKS</a></p>',
    )
