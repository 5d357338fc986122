"""``chamberlain.gateway``: how a proxy's request becomes a check (docs/guides/proxies.md).

```yaml
chamberlain:
  gateway:
    routes:
      - request: POST /invoices/{id}/pay   # method (or *) and path template; {name} is one segment
        kind: invoice
        id: "{id}"                          # template over the path parameters ("" = the path)
        action: pay                         # template over the path parameters
        attr:                               # path.<p>, query.<q>, header.<h>, body.<a.b>, or {cel: ...}
          amount: body.amount
          big: {cel: "request.body.amount > 1000"}
    trustedProxies: [127.0.0.1, "::1"]      # whose X-Original-* / X-Forwarded-* headers are believed
    maxBodyBytes: 65536
    denyBody: explain                       # explain (no policy internals) or detailed
    principal: {rolesClaim: roles, defaultRoles: [], audiences: [], subjects: {}}   # subjects: {<sub>: {roles, attr, issuer}}
    mcp: {paths: [/mcp], resourceKind: mcp_server}   # MCP endpoints decided by Mcp-Method / Mcp-Name
    upstreamHeaders: {subject: X-Chamberlain-Subject, actors: X-Chamberlain-Actors,
                      decision: X-Chamberlain-Decision, logIndex: X-Chamberlain-Log-Index}
    realm: chamberlain
```
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chamberlain import cel
from chamberlain.config_values import unknown_keys
from chamberlain.errors import Error

DEFAULTS: dict[str, Any] = {
    "routes": [],  # none: the endpoint is off (404) and ServerState.proxy is None
    "trustedProxies": ["127.0.0.1", "::1"],
    "maxBodyBytes": 65536,
    "denyBody": "explain",
    # audiences: a token of auxData.jwt.keySets must name one of them in aud ([]: not checked, as in Cerbos)
    "principal": {"rolesClaim": "roles", "defaultRoles": [], "audiences": [], "subjects": {}},
    "mcp": {"paths": [], "resourceKind": "mcp_server"},  # paths where Mcp-Method/Mcp-Name decide
    "upstreamHeaders": {
        "subject": "X-Chamberlain-Subject",
        "actors": "X-Chamberlain-Actors",
        "decision": "X-Chamberlain-Decision",
        "logIndex": "X-Chamberlain-Log-Index",  # sent when the entry is numbered before the answer (SQLite, sync)
    },
    "realm": "chamberlain",
}
MAX_ROUTES = 1000
MAX_BODY_BYTES_LIMIT = 16 * 1024 * 1024
SOURCES = ("path", "query", "header", "body")
_METHOD = re.compile(r"^(\*|[A-Z]{1,20})$")
_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_TEMPLATE_REF = re.compile(r"\{([^{}]*)\}")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,100}$")
_ATTR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


class GatewayConfigError(Error):
    """``chamberlain.gateway`` cannot be used; ``problems`` name each key."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Attribute:
    """One resource attribute: from ``source`` (path, query, header, body) at ``name``, or a CEL program."""

    source: str  # one of SOURCES, or "cel"
    name: str = ""  # a parameter, query or header name; a dotted body path
    program: cel.Program | None = None
    expression: str = ""


@dataclass(frozen=True, slots=True)
class Route:
    """``request`` (method, path segments) mapped to kind, id and action templates and attributes."""

    where: str  # chamberlain.gateway.routes[i], for messages
    method: str  # upper case, or "*"
    segments: tuple[str, ...]  # literal segments, or "{param}"
    kind: str
    id: str
    action: str
    attr: Mapping[str, Attribute]

    @property
    def reads_body(self) -> bool:
        return any(a.source == "body" or "body" in a.expression for a in self.attr.values())

    @property
    def template(self) -> str:
        return f"{self.method} /{'/'.join(self.segments)}"


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    routes: tuple[Route, ...] = ()
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    max_body_bytes: int = 65536
    detailed_denials: bool = False
    roles_claim: str = "roles"
    default_roles: tuple[str, ...] = ()
    #: Roles and attributes of the people tokens are issued for, by subject (a token naming no roles, as
    #: chamberlain's own exchanged tokens do, takes them from here, then from ``default_roles``).
    subjects: Mapping[str, Subject] = field(default_factory=dict)
    audiences: tuple[str, ...] = ()
    mcp_paths: frozenset[str] = frozenset()
    mcp_kind: str = "mcp_server"
    subject_header: str = "X-Chamberlain-Subject"
    actors_header: str = "X-Chamberlain-Actors"
    decision_header: str = "X-Chamberlain-Decision"
    log_index_header: str = "X-Chamberlain-Log-Index"
    realm: str = "chamberlain"

    @property
    def enabled(self) -> bool:
        return bool(self.routes)

    def trusts(self, peer: str | None) -> bool:
        """Whether ``peer`` (an IP address) is one of ``trustedProxies``."""
        if not peer:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)


def _text(value: Any, what: str = "a non-empty string") -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected {what}, got {value!r}")
    return value


def _template(value: Any, params: set[str], default: str) -> str:
    if value is None or value == "":
        return default
    text = _text(value)
    for ref in _TEMPLATE_REF.findall(text):
        if ref not in params:
            raise ValueError(
                f"{{{ref}}} is not a parameter of the path (parameters: {sorted(params) or 'none'})"
            )
    return text


def _attribute(value: Any, params: set[str]) -> Attribute:
    if isinstance(value, Mapping):
        if set(value) != {"cel"}:
            raise ValueError(f"expected {{cel: <expression>}}, got keys {sorted(value)}")
        expression = _text(value["cel"], "a CEL expression")
        try:
            return Attribute("cel", program=cel.compile(expression), expression=expression)
        except cel.CelError as exc:
            raise ValueError(f"CEL expression does not compile: {exc}") from None
    text = _text(value, "path.<p>, query.<q>, header.<h>, body.<a.b> or {cel: ...}")
    source, _, name = text.partition(".")
    if source not in SOURCES or not name:
        raise ValueError(
            f"expected path.<p>, query.<q>, header.<h>, body.<a.b> or {{cel: ...}}, got {text!r}"
        )
    if source == "path" and name not in params:
        raise ValueError(f"{name!r} is not a parameter of the path (parameters: {sorted(params) or 'none'})")
    return Attribute(source, name.lower() if source == "header" else name)


def _route(value: Any, where: str, problems: list[str]) -> Route | None:
    if not isinstance(value, Mapping):
        problems.append(f"{where}: expected a mapping with request, kind and action")
        return None
    unknown = sorted(set(value) - {"request", "kind", "id", "action", "attr"})
    if unknown:
        problems.append(
            f"{where}: unknown keys {', '.join(unknown)} (allowed: request, kind, id, action, attr)"
        )
    before = len(problems)
    request = value.get("request")
    method, _, path = request.partition(" ") if isinstance(request, str) else ("", "", "")
    segments: tuple[str, ...] = ()
    params: set[str] = set()
    if not _METHOD.match(method) or not path.startswith("/") or " " in path:
        problems.append(
            f"{where}.request: expected 'METHOD /path/{{param}}' (METHOD upper case or *), got {request!r}"
        )
    else:
        segments = tuple(path[1:].split("/")) if path != "/" else ()
        for segment in segments:
            found = _PARAM.match(segment)
            if found:
                if found.group(1) in params:
                    problems.append(f"{where}.request: parameter {{{found.group(1)}}} appears twice")
                params.add(found.group(1))
            elif not segment or "{" in segment or "}" in segment or segment in (".", ".."):
                problems.append(
                    f"{where}.request: segment {segment!r} is neither a literal nor one {{param}}"
                )
    fields: dict[str, Any] = {}
    for key, convert in (
        ("kind", _text),
        ("id", lambda v: _template(v, params, "")),
        ("action", lambda v: _template(v, params, "")),
    ):
        try:
            fields[key] = convert(value.get(key))
        except ValueError as exc:
            problems.append(f"{where}.{key}: {exc}")
    if fields.get("action") == "":
        problems.append(f"{where}.action: expected a non-empty string")
    attr: dict[str, Attribute] = {}
    raw_attr = value.get("attr") or {}
    if not isinstance(raw_attr, Mapping):
        problems.append(f"{where}.attr: expected a mapping of attribute name to source")
        raw_attr = {}
    for name, source in raw_attr.items():
        if not isinstance(name, str) or not _ATTR_NAME.match(name):
            problems.append(f"{where}.attr: {name!r} is not an attribute name (letters, digits, _)")
            continue
        try:
            attr[name] = _attribute(source, params)
        except ValueError as exc:
            problems.append(f"{where}.attr.{name}: {exc}")
    if len(problems) > before:
        return None
    return Route(where, method, segments, fields["kind"], fields["id"], fields["action"], attr)


def _networks(value: Any, problems: list[str]) -> tuple[Any, ...]:
    key = "chamberlain.gateway.trustedProxies"
    if not isinstance(value, list):
        problems.append(f"{key}: expected a list of addresses or CIDRs, got {value!r}")
        return ()
    found = []
    for i, entry in enumerate(value):
        try:
            found.append(ipaddress.ip_network(_text(entry, "an address or CIDR"), strict=False))
        except ValueError as exc:
            problems.append(f"{key}[{i}]: {exc}")
    return tuple(found)


def _section(section: Mapping[str, Any], name: str, problems: list[str]) -> Mapping[str, Any]:
    value = section.get(name)
    if not isinstance(value, Mapping):
        problems.append(f"chamberlain.gateway.{name}: expected a mapping, got {value!r}")
        return DEFAULTS[name]
    return value


def parse_settings(section: Any) -> GatewaySettings:
    """The validated ``chamberlain.gateway`` section (merged with :data:`DEFAULTS`); raises
    :class:`GatewayConfigError` listing every problem, each naming its key."""
    problems: list[str] = []
    if not isinstance(section, Mapping):
        raise GatewayConfigError([f"chamberlain.gateway: expected a mapping, got {section!r}"])
    merged = {**copy.deepcopy(DEFAULTS), **section}
    key = "chamberlain.gateway"
    routes_raw = merged["routes"]
    routes: list[Route] = []
    if not isinstance(routes_raw, list) or len(routes_raw) > MAX_ROUTES:
        problems.append(f"{key}.routes: expected a list of at most {MAX_ROUTES} routes")
    else:
        for i, raw in enumerate(routes_raw):
            route = _route(raw, f"{key}.routes[{i}]", problems)
            if route is not None:
                routes.append(route)
    trusted = _networks(merged["trustedProxies"], problems)
    body = merged["maxBodyBytes"]
    if isinstance(body, bool) or not isinstance(body, int) or not 0 <= body <= MAX_BODY_BYTES_LIMIT:
        problems.append(
            f"{key}.maxBodyBytes: expected an integer from 0 to {MAX_BODY_BYTES_LIMIT}, got {body!r}"
        )
    deny = merged["denyBody"]
    if deny not in ("explain", "detailed"):
        problems.append(f"{key}.denyBody: expected explain or detailed, got {deny!r}")
    principal = {**DEFAULTS["principal"], **_section(merged, "principal", problems)}
    mcp = {**DEFAULTS["mcp"], **_section(merged, "mcp", problems)}
    headers = {**DEFAULTS["upstreamHeaders"], **_section(merged, "upstreamHeaders", problems)}
    for name, allowed, given in (
        ("principal", DEFAULTS["principal"], principal),
        ("mcp", DEFAULTS["mcp"], mcp),
        ("upstreamHeaders", DEFAULTS["upstreamHeaders"], headers),
    ):
        problems.extend(sorted(unknown_keys(given, allowed, f"{key}.{name}")))
    if not isinstance(principal["rolesClaim"], str) or not principal["rolesClaim"]:
        problems.append(f"{key}.principal.rolesClaim: expected a claim name, got {principal['rolesClaim']!r}")
    roles = principal["defaultRoles"]
    if not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles):
        problems.append(f"{key}.principal.defaultRoles: expected a list of role names, got {roles!r}")
    paths = mcp["paths"]
    if not isinstance(paths, list) or not all(isinstance(p, str) and p.startswith("/") for p in paths):
        problems.append(f"{key}.mcp.paths: expected a list of paths such as /mcp, got {paths!r}")
        paths = []
    subjects = _subjects(principal["subjects"], f"{key}.principal.subjects", problems)
    audiences = principal["audiences"]
    if not isinstance(audiences, list) or not all(isinstance(a, str) and a for a in audiences):
        problems.append(f"{key}.principal.audiences: expected a list of audiences, got {audiences!r}")
    if not isinstance(mcp["resourceKind"], str) or not mcp["resourceKind"]:
        problems.append(f"{key}.mcp.resourceKind: expected a resource kind, got {mcp['resourceKind']!r}")
    for name, value in headers.items():
        if not isinstance(value, str) or not _HEADER_NAME.match(value):
            problems.append(f"{key}.upstreamHeaders.{name}: expected a header name, got {value!r}")
    realm = merged["realm"]
    if not isinstance(realm, str) or not realm or '"' in realm or "\\" in realm or not realm.isprintable():
        problems.append(f"{key}.realm: expected printable text without quotes, got {realm!r}")
    problems.extend(sorted(unknown_keys(section, DEFAULTS, key)))
    if problems:
        raise GatewayConfigError(problems)
    return GatewaySettings(
        routes=tuple(routes),
        trusted_proxies=trusted,
        max_body_bytes=body,
        detailed_denials=deny == "detailed",
        roles_claim=principal["rolesClaim"],
        default_roles=tuple(roles),
        subjects=subjects,
        audiences=tuple(audiences),
        mcp_paths=frozenset(paths),
        mcp_kind=mcp["resourceKind"],
        subject_header=headers["subject"],
        actors_header=headers["actors"],
        decision_header=headers["decision"],
        log_index_header=headers["logIndex"],
        realm=realm,
    )


@dataclass(frozen=True, slots=True)
class Subject:
    """A person's roles and attributes, for tokens that name none."""

    roles: tuple[str, ...]
    attr: Mapping[str, Any]
    #: The issuer that vouches for this subject (a key set's token's ``iss``, a chamberlain token's
    #: ``sub_id``); "" takes the subject from any trusted issuer.
    issuer: str = ""


def _subjects(value: Any, key: str, problems: list[str]) -> dict[str, Subject]:
    if not isinstance(value, Mapping):
        problems.append(f"{key}: expected a mapping {{<sub>: {{roles, attr}}}}")
        return {}
    found = {}
    for sub, entry in value.items():
        if not isinstance(entry, Mapping) or set(entry) - {"roles", "attr", "issuer"}:
            problems.append(f"{key}.{sub}: expected a mapping {{roles, attr, issuer}}")
            continue
        issuer = entry.get("issuer", "")
        if not isinstance(issuer, str):
            problems.append(f"{key}.{sub}.issuer: expected the issuer's URL, a string")
            continue
        roles, attr = entry.get("roles", []), entry.get("attr", {})
        if not isinstance(roles, list) or not roles or not all(isinstance(r, str) and r for r in roles):
            problems.append(
                f"{key}.{sub}.roles: expected a non-empty list of role names, got {roles!r}"[:300]
            )
            continue
        if not isinstance(attr, Mapping):
            problems.append(f"{key}.{sub}.attr: expected a mapping")
            continue
        found[str(sub)] = Subject(tuple(roles), dict(attr), issuer)
    return found
