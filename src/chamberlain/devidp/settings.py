"""The development identity provider's own settings (``idp.yaml``): issuer, audience, lifetime, clients.

```yaml
issuer: http://127.0.0.1:3599          # iss of every token; `serve` listens here by default
audience: chamberlain                  # aud of access tokens (chamberlain's trustedIssuers[].audience)
tokenLifetime: 15m                     # tokens live this long unless --ttl says otherwise (at most 24h)
clients:                               # who may use the authorization code flow (PKCE S256, public clients)
  - clientId: example-app
    redirectUris: [http://127.0.0.1:8000/callback]
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from chamberlain.devidp.errors import DevIdpError
from chamberlain.devidp.yamlfile import read_yaml
from chamberlain.durations import parse_duration

FILE_NAME = "idp.yaml"
DEFAULT_ISSUER = "http://127.0.0.1:3599"
DEFAULT_AUDIENCE = "chamberlain"
MAX_TOKEN_LIFETIME = 24 * 3600.0
MAX_CLIENTS = 100
MAX_REDIRECT_URIS = 20
MAX_URI_CHARS = 2000
_KEYS = frozenset({"issuer", "audience", "tokenLifetime", "clients"})
_CLIENT_KEYS = frozenset({"clientId", "redirectUris"})


@dataclass(frozen=True, slots=True)
class Client:
    """A registered OIDC client: public (no secret), PKCE S256 required, exact redirect URIs."""

    client_id: str
    redirect_uris: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IdpSettings:
    issuer: str
    audience: str
    token_lifetime: float
    clients: Mapping[str, Client]


def default_text(issuer: str) -> str:
    """The ``idp.yaml`` that ``chamberlain dev idp init`` writes."""
    return f"""\
# The development identity provider's settings (`chamberlain dev idp`). NOT FOR PRODUCTION.
issuer: {issuer}   # iss of every token; `chamberlain dev idp serve` listens here
audience: {DEFAULT_AUDIENCE}   # aud of access tokens: what chamberlain's trustedIssuers[].audience names
tokenLifetime: 15m   # how long tokens live unless --ttl says otherwise (at most 24h)
# OIDC clients allowed to use the authorization code flow (public clients, PKCE S256 required,
# redirect URIs compared exactly). Add yours.
clients:
  - clientId: example-app
    redirectUris: [http://127.0.0.1:8000/callback]
"""


def check_issuer(value: Any, where: str = "issuer") -> str:
    """An http(s) URL without query or fragment, as OpenID Connect Discovery requires; no trailing slash."""
    if not isinstance(value, str):
        raise DevIdpError(f"{where}: expected an http(s) URL such as {DEFAULT_ISSUER}, got {value!r}")
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise DevIdpError(f"{where}: expected an http(s) URL such as {DEFAULT_ISSUER}, got {value!r}")
    if parsed.query or parsed.fragment or parsed.params:
        raise DevIdpError(f"{where}: an issuer has no query or fragment, got {value!r}")
    return value.rstrip("/")


def _redirect_uri(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise DevIdpError(f"{where}: expected an absolute http(s) URL, got {value!r}")
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or len(value) > MAX_URI_CHARS:
        raise DevIdpError(f"{where}: expected an absolute http(s) URL, got {value!r}")
    if parsed.fragment or "#" in value:
        raise DevIdpError(f"{where}: a redirect URI has no fragment (RFC 6749 §3.1.2), got {value!r}")
    return value


def _clients(value: Any, where: str, problems: list[str]) -> dict[str, Client]:
    if not isinstance(value, list) or len(value) > MAX_CLIENTS:
        problems.append(f"{where}: expected a list of at most {MAX_CLIENTS} {{clientId, redirectUris}}")
        return {}
    clients: dict[str, Client] = {}
    for i, entry in enumerate(value):
        at = f"{where}[{i}]"
        try:
            if not isinstance(entry, Mapping):
                raise DevIdpError(f"{at}: expected a mapping with clientId and redirectUris")
            unknown = sorted(str(k) for k in set(entry) - _CLIENT_KEYS)
            if unknown:
                raise DevIdpError(
                    f"{at}: unknown keys {', '.join(unknown)} (allowed: clientId, redirectUris)"
                )
            client_id, uris = entry.get("clientId"), entry.get("redirectUris")
            if (
                not isinstance(client_id, str)
                or not client_id
                or len(client_id) > 255
                or not client_id.isprintable()
            ):
                raise DevIdpError(f"{at}.clientId: required, a printable string of at most 255 characters")
            if client_id in clients:
                raise DevIdpError(f"{at}.clientId: {client_id} is listed twice")
            if not isinstance(uris, list) or not uris or len(uris) > MAX_REDIRECT_URIS:
                raise DevIdpError(f"{at}.redirectUris: expected a list of 1 to {MAX_REDIRECT_URIS} URLs")
            checked = tuple(_redirect_uri(u, f"{at}.redirectUris[{j}]") for j, u in enumerate(uris))
            clients[client_id] = Client(client_id, checked)
        except DevIdpError as exc:
            problems.append(str(exc))
    return clients


def load_settings(path: Path) -> IdpSettings:
    """Read ``idp.yaml``; raises :class:`DevIdpError` listing every problem, each naming its key."""
    data = read_yaml(path)
    if not isinstance(data, Mapping):
        raise DevIdpError(f"{path}: expected a mapping with issuer, audience, tokenLifetime and clients")
    problems = [
        f"{path}: unknown key {k!r} (allowed: {', '.join(sorted(_KEYS))})" for k in data if k not in _KEYS
    ]
    values: dict[str, Any] = {}
    try:
        values["issuer"] = check_issuer(data.get("issuer"), f"{path}: issuer")
    except DevIdpError as exc:
        problems.append(str(exc))
    audience = data.get("audience", DEFAULT_AUDIENCE)
    if not isinstance(audience, str) or not audience:
        problems.append(f"{path}: audience: expected a non-empty string, got {audience!r}")
    try:
        lifetime = parse_duration(data.get("tokenLifetime", "15m"), positive=True)
        if lifetime > MAX_TOKEN_LIFETIME:
            raise ValueError("at most 24h")
        values["token_lifetime"] = lifetime
    except ValueError as exc:
        problems.append(f"{path}: tokenLifetime: {exc}")
    clients = _clients(data.get("clients", []), f"{path}: clients", problems)
    if problems:
        raise DevIdpError("invalid dev IdP settings:\n" + "\n".join(f"  - {p}" for p in problems))
    return IdpSettings(values["issuer"], audience, values["token_lifetime"], clients)
