"""The ``chamberlain.delegation`` configuration: parsed from a plain mapping, every problem reported.

```yaml
chamberlain:
  delegation:
    issuer: https://chamberlain.example        # default: the server's base URL
    trustedIssuers:
      - issuer: https://idp.example
        jwksFile: /etc/chamberlain/idp-jwks.json # or jwksUri: file:///etc/... (http(s) is refused)
        audience: https://chamberlain.example  # subject/actor tokens of this issuer must name it in aud
        adminAudience: ""                       # people's tokens at the admin API and console; "" = audience
    signingKeyFile: ""                          # default: <stateDir>/delegation-signing-keys.json
    signingAlgorithm: EdDSA                     # or ES256
    maxChainDepth: 3
    maxTokenLifetime: 15m
    scopeMapping: {payment: {pay: payments:write, "*": payments:read}}
    agentsFile: ""                              # the agents registry (roles and attributes of agents)
    audiences: []                               # checks accept tokens naming one of these; default [issuer]
    acceptableTimeSkew: 0s                      # leeway on exp, nbf and iat
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from chamberlain.config_values import choice, file_path, non_empty_strings
from chamberlain.delegation.errors import DelegationConfigError
from chamberlain.delegation.keys import KEY_FILE_NAME, SIGNING_ALGORITHMS
from chamberlain.delegation.registry import AgentRegistry, load_registry
from chamberlain.delegation.scopes import ScopeMapping, valid_scope_token
from chamberlain.delegation.trust import TrustedIssuer, jwks_uri_path, load_jwks_file
from chamberlain.durations import parse_duration

PREFIX = "chamberlain.delegation"
MAX_CHAIN_DEPTH_LIMIT = 16

#: Every key of ``chamberlain.delegation`` with its default.
DEFAULTS: dict[str, Any] = {
    "issuer": "",
    "trustedIssuers": [],
    "signingKeyFile": "",
    "signingAlgorithm": "EdDSA",
    "maxChainDepth": 3,
    "maxTokenLifetime": "15m",
    "scopeMapping": {},
    "agentsFile": "",
    "audiences": [],
    "acceptableTimeSkew": "0s",
}
_ISSUER_KEYS = frozenset({"issuer", "jwksFile", "jwksUri", "audience", "adminAudience"})


@dataclass(frozen=True, slots=True)
class DelegationConfig:
    """The validated delegation settings."""

    issuer: str
    trusted_issuers: tuple[TrustedIssuer, ...]
    signing_key_file: Path
    signing_algorithm: str
    max_chain_depth: int
    max_token_lifetime: float
    scope_mapping: ScopeMapping
    agents: AgentRegistry
    audiences: tuple[str, ...]
    leeway: float
    warnings: tuple[str, ...] = ()

    def trusted(self, issuer: str) -> TrustedIssuer | None:
        return next((t for t in self.trusted_issuers if t.issuer == issuer), None)


def _issuer_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected an http(s) URL such as https://chamberlain.example, got {value!r}")
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"expected an http(s) URL such as https://chamberlain.example, got {value!r}")
    if parsed.query or parsed.fragment:
        raise ValueError(f"an issuer has no query or fragment (RFC 8414), got {value!r}")
    return value.rstrip("/")


def _depth(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CHAIN_DEPTH_LIMIT:
        raise ValueError(f"must be an integer from 1 to {MAX_CHAIN_DEPTH_LIMIT}, got {value!r}")
    return value


def _scope_mapping(value: Any) -> ScopeMapping:
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping: resource kind -> {action: scope}")
    for kind, actions in value.items():
        if not isinstance(actions, Mapping):
            raise ValueError(f"{kind}: expected a mapping action -> scope")
        for action, scope in actions.items():
            if not isinstance(scope, str) or not valid_scope_token(scope):
                raise ValueError(
                    f"{kind}.{action}: {scope!r} is not a scope (printable, no spaces or quotes)"
                )
    return ScopeMapping(value)


def parse_config(
    data: Mapping[str, Any] | None, *, state_dir: Path, base_url: str, base_dir: Path | None = None
) -> DelegationConfig:
    """Validate ``chamberlain.delegation`` (``data``; None for all defaults) and load its files.

    ``base_url`` is the server's own URL (the default issuer), ``state_dir`` the state folder (where
    the signing key file goes by default), ``base_dir`` what relative paths are relative to.
    Raises :class:`DelegationConfigError` listing every problem, each naming its key.
    """
    base = base_dir or Path.cwd()
    if data is not None and not isinstance(data, Mapping):
        raise DelegationConfigError(f"{PREFIX}: expected a mapping, got {type(data).__name__}")
    given = dict(data or {})
    warnings = [f"unknown configuration key '{PREFIX}.{k}' is ignored" for k in given if k not in DEFAULTS]
    c = {**DEFAULTS, **{k: v for k, v in given.items() if v is not None}}
    problems: list[str] = []
    values: dict[str, Any] = {}

    def take(name: str, key: str, convert: Any) -> None:
        try:
            values[name] = convert(c[key])
        except (ValueError, TypeError) as exc:
            problems.append(f"{PREFIX}.{key}: {exc}")

    take("issuer", "issuer", lambda v: _issuer_url(v or base_url))
    take("signing_algorithm", "signingAlgorithm", choice(*SIGNING_ALGORITHMS))
    take("max_chain_depth", "maxChainDepth", _depth)
    take("max_token_lifetime", "maxTokenLifetime", lambda v: parse_duration(v, positive=True))
    take("leeway", "acceptableTimeSkew", parse_duration)
    take("scope_mapping", "scopeMapping", _scope_mapping)
    take("audiences", "audiences", non_empty_strings)
    take("signing_key_file", "signingKeyFile", lambda v: file_path(v, base) or state_dir / KEY_FILE_NAME)
    take("agents_file", "agentsFile", lambda v: file_path(v, base))
    trusted = _trusted_issuers(c["trustedIssuers"], base, problems)
    agents = AgentRegistry()
    if values.get("agents_file"):
        agents = load_registry(values["agents_file"], f"{PREFIX}.agentsFile", problems)
        if len(trusted) > 1 and agents.unbound():
            problems.append(
                f"{PREFIX}.agentsFile: with several trusted issuers every agent entry must name its "
                f"issuer (an agent is an issuer's subject); no issuer: {', '.join(agents.unbound())}"
            )
    issuer = values.get("issuer")
    if issuer and any(t.issuer == issuer for t in trusted):
        problems.append(
            f"{PREFIX}.trustedIssuers: {issuer} is chamberlain's own issuer; it cannot be trusted as another"
        )
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise DelegationConfigError(f"invalid delegation configuration:\n{listed}", tuple(problems))
    values.pop("agents_file")
    values["audiences"] = values["audiences"] or (values["issuer"],)
    return DelegationConfig(trusted_issuers=trusted, agents=agents, warnings=tuple(warnings), **values)


def _trusted_issuers(entries: Any, base: Path, problems: list[str]) -> tuple[TrustedIssuer, ...]:
    """``trustedIssuers``: each ``{issuer, jwksFile | jwksUri, audience}``, keys loaded now."""
    key = f"{PREFIX}.trustedIssuers"
    if not isinstance(entries, list):
        problems.append(f"{key}: expected a list of {{issuer, jwksFile | jwksUri, audience}}")
        return ()
    out: list[TrustedIssuer] = []
    for i, entry in enumerate(entries):
        where = f"{key}[{i}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{where}: expected a mapping with issuer, jwksFile or jwksUri, and audience")
            continue
        unknown = sorted(str(k) for k in set(entry) - _ISSUER_KEYS)
        issuer, audience, admin = entry.get("issuer"), entry.get("audience"), entry.get("adminAudience", "")
        file, uri = entry.get("jwksFile"), entry.get("jwksUri")
        if unknown:
            problems.append(
                f"{where}: unknown keys {', '.join(unknown)} (allowed: {', '.join(sorted(_ISSUER_KEYS))})"
            )
        elif not isinstance(issuer, str) or not issuer:
            problems.append(f"{where}.issuer: required (the iss of this issuer's tokens)")
        elif not isinstance(audience, str) or not audience:
            problems.append(f"{where}.audience: required (what this issuer's tokens must name in aud)")
        elif not isinstance(admin, str) or (admin and admin == audience):
            problems.append(
                f'{where}.adminAudience: expected an audience other than audience ({audience!r}), or "" for '
                f"the same, got {admin!r}"
            )
        elif bool(file) == bool(uri):
            problems.append(f"{where}: set exactly one of jwksFile and jwksUri")
        elif any(t.issuer == issuer for t in out):
            problems.append(f"{where}.issuer: {issuer} is listed twice")
        else:
            try:
                path = base / str(file) if file else jwks_uri_path(str(uri), f"{where}.jwksUri")
                keys = load_jwks_file(path, f"{where}.{'jwksFile' if file else 'jwksUri'}")
            except DelegationConfigError as exc:
                problems.append(str(exc))
                continue
            out.append(TrustedIssuer(issuer, audience, keys, str(path), admin))
    return tuple(out)
