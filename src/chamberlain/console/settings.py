"""The console's configuration, ``chamberlain.console`` (docs/concepts/console.md).

```yaml
chamberlain:
  console:
    enabled: true            # served under /console while server.adminAPI.enabled is true
    sessionTTL: 8h           # a console login lasts this long (a person's: at most their token's life)
    maxLogins: 1000          # console logins held at most (in memory; the oldest is dropped first)
    liveInterval: 2s         # how often the live pages (server-sent events) are refreshed
    streamLifetime: 5m       # a live stream ends after this long (the browser reconnects)
    secureCookies: auto      # auto: Secure cookies when server.tls is set; true / false to force
    oidc:
      issuer: ""             # "" = the first of chamberlain.delegation.trustedIssuers
      clientId: chamberlain-console
      scopes: openid profile
    playground:
      maxPolicyBytes: 65536  # the policy text at most
      maxRequestBytes: 16384 # the request (JSON) at most
      timeout: 2s            # evaluation time at most (conditions beyond it deny)
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chamberlain.config_values import boolean, int_between, seconds_between

DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "sessionTTL": "8h",
    "maxLogins": 1000,
    "liveInterval": "2s",
    "streamLifetime": "5m",
    "secureCookies": "auto",
    "oidc": {"issuer": "", "clientId": "chamberlain-console", "scopes": "openid profile"},
    "playground": {"maxPolicyBytes": 65536, "maxRequestBytes": 16384, "timeout": "2s"},
}
MAX_TTL = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """The validated ``chamberlain.console`` section."""

    enabled: bool = True
    session_ttl: float = 8 * 3600.0
    max_logins: int = 1000
    live_interval: float = 2.0
    stream_lifetime: float = 300.0
    secure_cookies: str = "auto"  # "auto", "true" or "false"
    oidc_issuer: str = ""
    oidc_client_id: str = "chamberlain-console"
    oidc_scopes: str = "openid profile"
    playground_max_policy_bytes: int = 65536
    playground_max_request_bytes: int = 16384
    playground_timeout: float = 2.0


def _text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 2000 or not value.isprintable():
        raise ValueError(f"expected printable text, got {value!r}")
    return value


def _secure(value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool | str) else ""
    if text not in ("auto", "true", "false"):
        raise ValueError(f"expected auto, true or false, got {value!r}")
    return text


_CHECKS: dict[str, tuple[str, Any]] = {
    "enabled": ("enabled", boolean),
    "session_ttl": ("sessionTTL", seconds_between(60, MAX_TTL)),
    "max_logins": ("maxLogins", int_between(1, 1_000_000)),
    "live_interval": ("liveInterval", seconds_between(0.2, 60)),
    "stream_lifetime": ("streamLifetime", seconds_between(5, 3600)),
    "secure_cookies": ("secureCookies", _secure),
    "oidc_issuer": ("oidc.issuer", _text),
    "oidc_client_id": ("oidc.clientId", lambda v: _text(v) or _fail("expected a client id")),
    "oidc_scopes": (
        "oidc.scopes",
        lambda v: _text(v) if "openid" in str(v).split() else _fail("must hold openid"),
    ),
    "playground_max_policy_bytes": ("playground.maxPolicyBytes", int_between(1024, 1 << 20)),
    "playground_max_request_bytes": ("playground.maxRequestBytes", int_between(1024, 1 << 20)),
    "playground_timeout": ("playground.timeout", seconds_between(0.01, 10)),
}


def _fail(message: str) -> Any:
    raise ValueError(message)


def parse_settings(section: Any, trusted_issuers: tuple[str, ...], problems: list[str]) -> ConsoleConfig:
    """``chamberlain.console`` validated against :data:`DEFAULTS`; problems appended, each naming its key."""
    if not isinstance(section, Mapping):
        problems.append("chamberlain.console: expected a mapping")
        return ConsoleConfig()
    before = len(problems)
    values: dict[str, Any] = {}
    for name, (key, convert) in _CHECKS.items():
        node: Any = section
        for part in key.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        try:
            values[name] = convert(node)
        except (ValueError, TypeError) as exc:
            problems.append(f"chamberlain.console.{key}: {exc}")
    issuer = values.get("oidc_issuer", "")
    if issuer and issuer.rstrip("/") not in {i.rstrip("/") for i in trusted_issuers}:
        problems.append(
            f"chamberlain.console.oidc.issuer: {issuer!r} is not one of "
            "chamberlain.delegation.trustedIssuers (people log in only with a trusted issuer)"
        )
    if len(problems) > before:
        return ConsoleConfig()
    return ConsoleConfig(**values)
