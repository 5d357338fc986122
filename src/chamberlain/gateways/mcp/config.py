"""The gateway's configuration (``chamberlain mcp-proxy --config FILE``): parsed, every problem reported.

Every key, with its default (docs/mcp.md explains each):

```yaml
policies: ./policies                 # the policy directory
stateDir: ./.chamberlain             # where the decision log lives by default
audit:
  db: ""                             # "" = sqlite:///<stateDir>/decisions.db; or postgresql://...
  writeTimeout: 10s                  # the longest a call waits for its entry to be durable (then DENY)
  forwardWhileRecording: false       # true: forward an allowed tools/call while its entry becomes durable
  signingKeyFile: ""                 # "" = beside a SQLite log / <stateDir>/decision-log.key
toolNames: auto                      # auto: <upstream>.<tool> only where names collide; prefixed: always
principal: null                      # {id, roles, attr}: who the agent acts as (no token)
token: ""                            # or a chamberlain delegation token (stdio downstream) ...
tokenFile: ""                        # ... read from this file at every call
auth:                                # verifying chamberlain delegation tokens
  issuer: ""                         # the token service's issuer (required when tokens are used)
  signingKeyFile: ""                 # the token service's key file (re-read on rotation), or
  jwksFile: ""                       # its published JWKS saved to a file
  audiences: []                      # tokens must name one of these in aud; [] = [downstream resource]
  scopeMapping: {}                   # scope each action needs (as chamberlain.delegation.scopeMapping)
  agentsFile: ""                     # agents registry (roles and attributes of actors)
  principals: {}                     # {<sub>: {roles, attr, issuer}}: the people tokens are issued for
  revocationFile: ""                 # revoked jti / sid:<sid> / sub:<sub>, one a line
  acceptableTimeSkew: 0s
downstream:
  transport: stdio                   # stdio or http (streamable HTTP)
  listen: 127.0.0.1:8808             # http: host:port
  path: /mcp                         # http: the MCP endpoint
  resource: ""                       # http: RFC 9728 resource; "" = http://<listen><path>
  authorizationServers: []           # http: RFC 9728 authorization_servers; [] = [auth.issuer]
  sessionIdleTimeout: 30m            # http: an MCP session idle this long is closed
  readHeaderTimeout: 10s             # http: a connection that has not sent its request headers in this time is closed
  readTimeout: 30s                   # http: a message body not received in full in this time is answered 408
  maxSessions: 10000                 # http: MCP sessions open at once, all callers together
  maxSessionsPerCaller: 32           # http: MCP sessions open at once for one credential (client, issuer, subject)
sessions:                            # agent sessions (docs/concepts/sessions.md), in the log's database
  enabled: true
  db: ""                             # "" = audit.db (the server's database: revokes and locks reach here)
  subject: ""                        # stdio without a token: who the agent acts for ("" = the principal)
  defaults: {ttl: 1h, idleTimeout: 15m, budgets: [], rateLimits: []}
  maxima: {ttl: 24h, idleTimeout: 24h, budgets: 16, rateLimits: 16}
approvals:                           # human approval (docs/concepts/approvals.md); on when sessions are
  enabled: true
  defaultTTL: 15m                    # time to decide, when the rule's approval map gives no ttl
  executionWindow: 15m               # time to retry the approved call
  requestLimit: {max: 30, per: 1h}   # new requests one agent may open in any such window
  holdFor: 0s                        # a call held for approval waits this long for the decision (at most 5m)
  consoleURL: ""                     # the server's console: a $subject rule's elicitation opens its approvals page
  webhooks: []                       # [{url, secret, format: json|slack, timeout}]: told of every new request
upstreams:                           # at least one
  - name: git                        # [A-Za-z0-9_-]+, unique: the resource id and R.attr.server
    command: [mcp-server-git, --repository, /srv/repo]   # stdio: the command to spawn, or
    url: ""                          # streamable HTTP: the server's MCP endpoint
    env: {}                          # stdio: extra environment variables
    cwd: ""                          # stdio: working directory
    headers: {}                      # http: extra request headers (Authorization, ...)
    resourceKind: mcp_server         # the policy resource kind of this upstream
    attributes: {}                   # extra resource attributes (R.attr.projectRoot, ...)
    fileAttributes: {}               # {<attr>: {path, match}}: read from a file at each check
    connectTimeout: 30s
    callTimeout: 60s                 # a call not answered by then is a JSON-RPC error
```

Relative paths are relative to the configuration file's folder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlparse

import yaml

from chamberlain import safeyaml
from chamberlain.approvals.errors import InvalidApproval
from chamberlain.approvals.settings import ApprovalSettings
from chamberlain.approvals.settings import parse_settings as parse_approval_settings
from chamberlain.config_values import (
    boolean,
    choice,
    file_path,
    is_zero_duration,
    listen_address,
    non_empty_strings,
    positive_int,
    string,
    unknown_keys,
)
from chamberlain.delegation.registry import AgentRegistry, load_registry
from chamberlain.delegation.scopes import ScopeMapping, valid_scope_token
from chamberlain.durations import parse_duration
from chamberlain.engine import Principal
from chamberlain.engine.request_validation import InvalidRequest
from chamberlain.files import MAX_CONFIG_BYTES, FileRefused, read_text_bounded
from chamberlain.gateways.mcp.errors import GatewayConfigError
from chamberlain.sessions.errors import InvalidSession
from chamberlain.sessions.settings import SessionSettings, parse_settings
from chamberlain.store import sqlite_url

STDIO, HTTP = "stdio", "http"
AUTO, PREFIXED = "auto", "prefixed"
DEFAULT_KIND = "mcp_server"
DEFAULT_LISTEN = "127.0.0.1:8808"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NO_ATTR: Mapping[str, Any] = MappingProxyType({})

TOP_KEYS = (
    "policies",
    "stateDir",
    "audit",
    "toolNames",
    "principal",
    "token",
    "tokenFile",
    "auth",
    "downstream",
    "upstreams",
    "sessions",
    "approvals",
)
AUDIT_KEYS = ("db", "writeTimeout", "forwardWhileRecording", "signingKeyFile")
AUTH_KEYS = (
    "issuer",
    "signingKeyFile",
    "jwksFile",
    "audiences",
    "scopeMapping",
    "agentsFile",
    "principals",
    "revocationFile",
    "acceptableTimeSkew",
)
DOWNSTREAM_KEYS = (
    "transport",
    "listen",
    "path",
    "resource",
    "authorizationServers",
    "sessionIdleTimeout",
    "readHeaderTimeout",
    "readTimeout",
    "maxSessions",
    "maxSessionsPerCaller",
)
UPSTREAM_KEYS = (
    "name",
    "command",
    "url",
    "env",
    "cwd",
    "headers",
    "resourceKind",
    "attributes",
    "fileAttributes",
    "connectTimeout",
    "callTimeout",
)


@dataclass(frozen=True, slots=True)
class FileAttribute:
    """A resource attribute read from a file at each check (``match``: its first group, else the text)."""

    path: Path
    match: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """One MCP server behind the gateway: spawned over stdio (``command``) or reached at ``url``."""

    name: str
    command: tuple[str, ...] = ()
    url: str = ""
    env: Mapping[str, str] = field(default_factory=lambda: _NO_ATTR)
    cwd: Path | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: _NO_ATTR)
    resource_kind: str = DEFAULT_KIND
    attributes: Mapping[str, Any] = field(default_factory=lambda: _NO_ATTR)
    file_attributes: Mapping[str, FileAttribute] = field(default_factory=lambda: _NO_ATTR)
    connect_timeout: float = 30.0
    call_timeout: float = 60.0


@dataclass(frozen=True, slots=True)
class Person:
    """A person delegation tokens are issued for: the roles and attributes policies see for them."""

    roles: tuple[str, ...]
    attr: Mapping[str, Any] = field(default_factory=lambda: _NO_ATTR)
    #: The issuer that vouches for this subject (a token's ``sub_id``); "" takes the subject from any
    #: issuer the token service trusts (where it trusts several, two issuers' "alice" are one person).
    issuer: str = ""


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """How delegation tokens are verified and turned into a principal and an actor chain."""

    issuer: str
    signing_key_file: Path | None = None
    jwks_file: Path | None = None
    audiences: tuple[str, ...] = ()
    scope_mapping: ScopeMapping = field(default_factory=ScopeMapping)
    agents: AgentRegistry = field(default_factory=AgentRegistry)
    principals: Mapping[str, Person] = field(default_factory=lambda: _NO_ATTR)
    revocation_file: Path | None = None
    leeway: float = 0.0


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The validated configuration the gateway runs with."""

    policies: Path
    audit_db: str
    upstreams: tuple[UpstreamConfig, ...]
    state_dir: Path = Path(".chamberlain")
    audit_key_file: Path | None = None
    write_timeout: float = 10.0
    #: Off (the default): nothing reaches an upstream before its ALLOW is durable. On: an allowed
    #: ``tools/call`` is forwarded while its entry is written and its result withheld if that fails
    #: (the tool has then run unrecorded); about 0.5 ms less per call (docs/concepts/mcp-gateway.md).
    forward_while_recording: bool = False
    tool_names: str = AUTO
    principal: Principal | None = None
    token: str = ""
    token_file: Path | None = None
    auth: AuthConfig | None = None
    transport: str = STDIO
    host: str = "127.0.0.1"
    port: int = 8808
    path: str = "/mcp"
    resource: str = ""
    authorization_servers: tuple[str, ...] = ()
    session_idle_timeout: float = 1800.0
    read_header_timeout: float = 10.0  # seconds a connection may take to send its request headers
    read_timeout: float = 30.0  # seconds a POST may take to send its body (then 408)
    max_sessions: int = 10_000  # MCP sessions open at once (the SDK's default)
    max_sessions_per_caller: int = 32  # of which one credential may hold
    sessions: SessionSettings | None = None  # None: sessions.enabled is false
    sessions_db: str = ""  # where sessions live ("" = audit_db)
    approvals: ApprovalSettings | None = None  # None: off (approvals.enabled false, or no sessions)
    approval_hold: float = 0.0  # seconds a call held for approval waits for the decision (0: answer at once)
    console_url: str = (
        ""  # the server's console (https://host/console): where people approve, for elicitation
    )
    session_subject: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def audiences(self) -> tuple[str, ...]:
        """What a token's ``aud`` must name: ``auth.audiences``, else the downstream resource."""
        return (self.auth.audiences if self.auth is not None else ()) or (self.resource,)


class _Problems:
    """Collects problems, each naming its key, and converts values where they are read."""

    def __init__(self, base: Path):
        self.base = base
        self.items: list[str] = []
        self.warnings: list[str] = []

    def add(self, key: str, problem: str) -> None:
        self.items.append(f"{key}: {problem}")

    def section(self, value: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.add(key, f"expected a mapping, got {type(value).__name__}")
            return {}
        self.items.extend(unknown_keys(value, allowed, key))
        return dict(value)

    def take(self, key: str, value: Any, convert: Callable[[Any], Any], default: Any = None) -> Any:
        try:
            return convert(value)
        except (ValueError, TypeError) as exc:
            self.add(key, str(exc))
            return default

    def path(self, value: Any) -> Path | None:
        return file_path(value, self.base)


def _mapping(value: Any, *, strings: bool = False) -> Mapping[str, Any]:
    if value is None:
        return _NO_ATTR
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"expected a mapping with string keys, got {value!r}")
    if strings and not all(isinstance(v, str) for v in value.values()):
        raise ValueError("every value must be a string")
    return MappingProxyType(dict(value))


def _url(value: Any) -> str:
    parsed = urlparse(value) if isinstance(value, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value


def _principal(value: Any) -> Principal | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - {"id", "roles", "attr"}:
        raise ValueError("expected a mapping {id, roles, attr}")
    pid, roles, attr = value.get("id"), value.get("roles", []), value.get("attr") or {}
    if not isinstance(pid, str) or not pid:
        raise ValueError("id: required, a non-empty string")
    try:
        return Principal(pid, non_empty_strings(roles) if roles else (), dict(_mapping(attr)))
    except InvalidRequest as exc:  # no roles, say: the server's message, under this key
        raise ValueError(str(exc)) from None


def _principals(value: Any) -> Mapping[str, Person]:
    people = {}
    for sub, entry in _mapping(value).items():
        if not isinstance(entry, Mapping) or set(entry) - {"roles", "attr", "issuer"}:
            raise ValueError(f"{sub}: expected a mapping {{roles, attr, issuer}}")
        issuer = entry.get("issuer", "")
        if not isinstance(issuer, str):
            raise ValueError(f"{sub}.issuer: expected the issuer's URL, a string")
        people[sub] = Person(non_empty_strings(entry.get("roles") or []), _mapping(entry.get("attr")), issuer)
    return MappingProxyType(people)


def _scope_mapping(value: Any) -> ScopeMapping:
    for kind, actions in _mapping(value).items():
        for action, scope in _mapping(actions, strings=True).items():
            if not valid_scope_token(scope):
                raise ValueError(
                    f"{kind}.{action}: {scope!r} is not a scope (printable, no spaces or quotes)"
                )
    return ScopeMapping(value or {})


def _parse_auth(raw: Any, p: _Problems) -> AuthConfig | None:
    if raw is None:
        return None
    a = p.section(raw, "auth", AUTH_KEYS)
    issuer = p.take("auth.issuer", a.get("issuer"), _url, "")
    key_file = p.take("auth.signingKeyFile", a.get("signingKeyFile"), p.path)
    jwks_file = p.take("auth.jwksFile", a.get("jwksFile"), p.path)
    if (key_file is None) == (jwks_file is None):
        p.add("auth", "set exactly one of signingKeyFile (the token service's key file) and jwksFile")
    for key, file in (("auth.signingKeyFile", key_file), ("auth.jwksFile", jwks_file)):
        if file is not None and not file.is_file():
            p.add(key, f"{file} does not exist")
    agents = AgentRegistry()
    agents_file = p.take("auth.agentsFile", a.get("agentsFile"), p.path)
    if agents_file is not None:
        agents = load_registry(agents_file, "auth.agentsFile", p.items)
    return AuthConfig(
        issuer=issuer,
        signing_key_file=key_file,
        jwks_file=jwks_file,
        audiences=p.take("auth.audiences", a.get("audiences") or [], non_empty_strings, ()),
        scope_mapping=p.take("auth.scopeMapping", a.get("scopeMapping"), _scope_mapping, ScopeMapping()),
        agents=agents,
        principals=p.take("auth.principals", a.get("principals"), _principals, _NO_ATTR),
        revocation_file=p.take("auth.revocationFile", a.get("revocationFile"), p.path),
        leeway=p.take("auth.acceptableTimeSkew", a.get("acceptableTimeSkew", "0s"), parse_duration, 0.0),
    )


def _file_attributes(value: Any, base: Path) -> Mapping[str, FileAttribute]:
    out = {}
    for name, spec in _mapping(value).items():
        if (
            not isinstance(spec, Mapping)
            or set(spec) - {"path", "match"}
            or not isinstance(spec.get("path"), str)
        ):
            raise ValueError(f"{name}: expected {{path: FILE, match: REGEX}}")
        pattern = spec.get("match")
        try:
            compiled = re.compile(pattern) if pattern else None
        except (re.error, TypeError) as exc:
            raise ValueError(f"{name}.match: not a regular expression: {exc}") from None
        out[name] = FileAttribute(base / spec["path"], compiled)
    return MappingProxyType(out)


def _parse_upstream(raw: Any, at: str, p: _Problems) -> UpstreamConfig | None:
    u = p.section(raw, at, UPSTREAM_KEYS)
    if not u:
        p.add(at, "expected a mapping with name and command or url")
        return None
    name = u.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        p.add(f"{at}.name", f"required: letters, digits, _ and - (it is the resource id), got {name!r}")
        return None
    command = p.take(f"{at}.command", u.get("command") or [], non_empty_strings, ())
    url = p.take(f"{at}.url", u.get("url"), _url, "") if u.get("url") else ""
    if bool(command) == bool(url):
        p.add(at, "set exactly one of command (a stdio server to spawn) and url (a streamable HTTP server)")
    kind = u.get("resourceKind", DEFAULT_KIND)
    if not isinstance(kind, str) or not kind:
        p.add(f"{at}.resourceKind", f"expected a resource kind, got {kind!r}")
    return UpstreamConfig(
        name=name,
        command=command,
        url=url,
        env=p.take(f"{at}.env", u.get("env"), lambda v: _mapping(v, strings=True), _NO_ATTR),
        cwd=p.take(f"{at}.cwd", u.get("cwd"), p.path),
        headers=p.take(f"{at}.headers", u.get("headers"), lambda v: _mapping(v, strings=True), _NO_ATTR),
        resource_kind=kind if isinstance(kind, str) and kind else DEFAULT_KIND,
        attributes=p.take(f"{at}.attributes", u.get("attributes"), _mapping, _NO_ATTR),
        file_attributes=p.take(
            f"{at}.fileAttributes", u.get("fileAttributes"), lambda v: _file_attributes(v, p.base), _NO_ATTR
        ),
        connect_timeout=p.take(
            f"{at}.connectTimeout",
            u.get("connectTimeout", "30s"),
            lambda v: parse_duration(v, positive=True),
            30.0,
        ),
        call_timeout=p.take(
            f"{at}.callTimeout", u.get("callTimeout", "60s"), lambda v: parse_duration(v, positive=True), 60.0
        ),
    )


def _parse_sessions(section: Any, p: _Problems) -> tuple[SessionSettings | None, str, str]:
    """``sessions``: the server's ``chamberlain.sessions`` keys, and ``subject``."""
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        p.add("sessions", "expected a mapping")
        return None, "", ""
    rest = {k: v for k, v in section.items() if k != "subject"}
    subject = p.take("sessions.subject", section.get("subject") or "", string, "")
    try:
        found = parse_settings(rest, prefix="sessions")
    except InvalidSession as exc:
        for problem in getattr(exc, "problems", [str(exc)]):
            key, _, what = problem.partition(": ")
            p.add(key, what)
        return None, "", ""
    return (found if found.enabled else None), found.db, subject


MAX_HOLD = 300.0


def _console_url(value: Any) -> str:
    if not value:
        return ""
    parsed = urlparse(value) if isinstance(value, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"expected the console's http(s) URL, got {value!r}"[:200])
    return str(value).rstrip("/")


def _hold(value: Any) -> float:
    if is_zero_duration(value):
        return 0.0
    seconds = parse_duration(value, positive=True)
    if seconds > MAX_HOLD:
        raise ValueError(f"at most {MAX_HOLD:g}s (a held call keeps the agent's request open)")
    return seconds


def _parse_approvals(section: Any, sessions: SessionSettings | None, p: _Problems) -> ApprovalSettings | None:
    """``approvals``: the server's ``chamberlain.approvals`` keys (and the gateway's ``holdFor``); approvals
    live with the sessions."""
    if isinstance(section, Mapping):
        section = {k: v for k, v in section.items() if k not in ("holdFor", "consoleURL")}
    try:
        found = parse_approval_settings(section)
    except InvalidApproval as exc:
        key, _, what = str(exc).partition(": ")
        p.add(key.replace("chamberlain.approvals", "approvals", 1), what)
        return None
    if not found.enabled:
        return None
    if sessions is None:
        if section is not None:
            p.add("approvals", "approvals need sessions (sessions.enabled: true): they live in its store")
        return None
    return found


def parse_config(data: Any, *, base_dir: Path | None = None) -> GatewayConfig:
    """Validate a configuration mapping; raises :class:`GatewayConfigError` listing every problem."""
    p = _Problems(base_dir or Path.cwd())
    c = p.section(data, "", TOP_KEYS)
    if data is not None and not isinstance(data, Mapping):
        raise GatewayConfigError(p.items[0], tuple(p.items))
    state_dir = p.take("stateDir", c.get("stateDir", ".chamberlain"), p.path) or p.base / ".chamberlain"
    audit = p.section(c.get("audit"), "audit", AUDIT_KEYS)
    audit_db = p.take("audit.db", audit.get("db") or "", string, "") or sqlite_url(
        str(state_dir / "decisions.db")
    )
    down = p.section(c.get("downstream"), "downstream", DOWNSTREAM_KEYS)
    transport = p.take("downstream.transport", down.get("transport", STDIO), choice(STDIO, HTTP), STDIO)
    host, port = p.take(
        "downstream.listen",
        down.get("listen", DEFAULT_LISTEN),
        lambda v: listen_address(v, "127.0.0.1:8808"),
        ("127.0.0.1", 8808),
    )
    path = down.get("path", "/mcp")
    if not isinstance(path, str) or not path.startswith("/"):
        p.add("downstream.path", f"expected a path starting with /, got {path!r}")
        path = "/mcp"
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    resource = p.take("downstream.resource", down.get("resource"), _url, "") if down.get("resource") else ""
    auth = _parse_auth(c.get("auth"), p)
    servers = p.take(
        "downstream.authorizationServers", down.get("authorizationServers") or [], non_empty_strings, ()
    )
    raw_upstreams = c.get("upstreams")
    upstreams: list[UpstreamConfig] = []
    if not isinstance(raw_upstreams, list) or not raw_upstreams:
        p.add("upstreams", "required: a list of MCP servers, each with a name and a command or url")
    else:
        for i, raw in enumerate(raw_upstreams):
            upstream = _parse_upstream(raw, f"upstreams[{i}]", p)
            if upstream is not None and any(u.name == upstream.name for u in upstreams):
                p.add(f"upstreams[{i}].name", f"{upstream.name!r} is used twice")
            elif upstream is not None:
                upstreams.append(upstream)
    token = p.take("token", c.get("token") or "", string, "")
    token_file = p.take("tokenFile", c.get("tokenFile"), p.path)
    principal = p.take("principal", c.get("principal"), _principal)
    if (token or token_file) and auth is None:
        p.add("auth", "required with token or tokenFile: how to verify the token (issuer and keys)")
    if token and token_file:
        p.add("token", "set token or tokenFile, not both")
    if transport == HTTP and auth is None:
        p.add("auth", "required with downstream.transport http: remote agents present delegation tokens")
    if transport == STDIO and principal is None and not (token or token_file):
        p.add("principal", "required over stdio without a token: {id, roles} of who the agent acts as")
    sessions, sessions_db, session_subject = _parse_sessions(c.get("sessions"), p)
    approvals = _parse_approvals(c.get("approvals"), sessions, p)
    hold = c.get("approvals", {}).get("holdFor", "0s") if isinstance(c.get("approvals"), Mapping) else "0s"
    approval_hold = p.take("approvals.holdFor", hold, _hold, 0.0)
    console = c.get("approvals", {}).get("consoleURL", "") if isinstance(c.get("approvals"), Mapping) else ""
    console_url = p.take("approvals.consoleURL", console, _console_url, "")
    positive = lambda v: parse_duration(v, positive=True)  # noqa: E731
    values = {
        "policies": p.take("policies", c.get("policies", "policies"), p.path) or p.base / "policies",
        "audit_key_file": p.take("audit.signingKeyFile", audit.get("signingKeyFile"), p.path),
        "write_timeout": p.take("audit.writeTimeout", audit.get("writeTimeout", "10s"), positive, 10.0),
        "forward_while_recording": p.take(
            "audit.forwardWhileRecording", audit.get("forwardWhileRecording", False), boolean, False
        ),
        "tool_names": p.take("toolNames", c.get("toolNames", AUTO), choice(AUTO, PREFIXED), AUTO),
        "session_idle_timeout": p.take(
            "downstream.sessionIdleTimeout", down.get("sessionIdleTimeout", "30m"), positive, 1800.0
        ),
        "read_header_timeout": p.take(
            "downstream.readHeaderTimeout", down.get("readHeaderTimeout", "10s"), positive, 10.0
        ),
        "read_timeout": p.take("downstream.readTimeout", down.get("readTimeout", "30s"), positive, 30.0),
        "max_sessions": p.take(
            "downstream.maxSessions", down.get("maxSessions", 10_000), positive_int, 10_000
        ),
        "max_sessions_per_caller": p.take(
            "downstream.maxSessionsPerCaller", down.get("maxSessionsPerCaller", 32), positive_int, 32
        ),
    }
    if p.items:
        listed = "\n".join(f"  - {item}" for item in p.items)
        raise GatewayConfigError(f"invalid MCP gateway configuration:\n{listed}", tuple(p.items))
    return GatewayConfig(
        audit_db=audit_db,
        sessions=sessions,
        sessions_db=sessions_db or audit_db,
        approvals=approvals,
        approval_hold=approval_hold,
        console_url=console_url,
        session_subject=session_subject,
        upstreams=tuple(upstreams),
        state_dir=state_dir,
        principal=principal,
        token=token,
        token_file=token_file,
        auth=auth,
        transport=transport,
        host=host,
        port=port,
        path=path,
        resource=resource or f"http://{shown_host}:{port}{path}",
        authorization_servers=servers or ((auth.issuer,) if auth is not None else ()),
        warnings=tuple(p.warnings),
        **values,
    )


def load_config(path: Path) -> dict[str, Any]:
    """Read a YAML configuration file; raises :class:`GatewayConfigError` naming the file."""
    try:
        data = safeyaml.load(read_text_bounded(path, MAX_CONFIG_BYTES, "configuration"), str(path))
    except (FileRefused, safeyaml.YAMLRefused) as exc:
        raise GatewayConfigError(f"cannot read the configuration {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise GatewayConfigError(f"{path} is not valid YAML: {exc}") from None
    if data is not None and not isinstance(data, Mapping):
        raise GatewayConfigError(f"{path}: expected a mapping of configuration keys")
    return dict(data or {})


__all__ = [
    "AUTO",
    "HTTP",
    "PREFIXED",
    "STDIO",
    "AuthConfig",
    "FileAttribute",
    "GatewayConfig",
    "Person",
    "UpstreamConfig",
    "load_config",
    "parse_config",
]
