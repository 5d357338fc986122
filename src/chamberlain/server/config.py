"""The server configuration: Cerbos's configuration file format plus a ``chamberlain:`` section.

Every key has a default (:data:`DEFAULTS`), values are validated at start-up (all problems are
reported together), unknown keys produce warnings naming them, and environment variables override
the file: ``CHAMBERLAIN__ENGINE__STRICTEVALUATION=true`` sets ``engine.strictEvaluation`` (path
segments joined by ``__``, matched case-insensitively, values read as YAML scalars). ``${VAR}`` and
``${VAR:default}`` in the file are replaced from the environment, as Cerbos does.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from chamberlain import safeyaml
from chamberlain.approvals import settings as approval_settings
from chamberlain.approvals.errors import InvalidApproval
from chamberlain.approvals.settings import ApprovalSettings
from chamberlain.audit.log import (
    PROCESS,
    STATE_KEY,
    THREAD,
    LogOptions,
    check_writer,
    default_head_file,
    default_key_file,
)
from chamberlain.config_values import boolean, choice, int_between, listen_address, positive_int, string
from chamberlain.console import settings as console_settings
from chamberlain.console.settings import ConsoleConfig
from chamberlain.delegation import config as delegation_config
from chamberlain.delegation.config import DelegationConfig
from chamberlain.delegation.errors import DelegationConfigError
from chamberlain.durations import parse_duration
from chamberlain.engine.request_validation import RequestLimits
from chamberlain.errors import Error
from chamberlain.files import MAX_CONFIG_BYTES, FileRefused, read_bounded, read_text_bounded
from chamberlain.gateways.proxy import settings as gateway_settings
from chamberlain.gateways.proxy.settings import GatewayConfigError, GatewaySettings
from chamberlain.server.admin import settings as admin_settings
from chamberlain.server.admin.settings import AdminConfig
from chamberlain.server.tls import TLSError, TLSFiles, build_context
from chamberlain.sessions import settings as session_settings
from chamberlain.sessions.errors import InvalidSession
from chamberlain.sessions.settings import SessionSettings
from chamberlain.store import SQLITE, StoreError, StoreURL, parse_url, sqlite_url

ENV_PREFIX = "CHAMBERLAIN__"
REQUEST_ITEMS_MAX = 500  # Cerbos's upper bound for both request limits
MAX_PAGE_SIZE = 5000  # chamberlain.admin.maxPageSize at most (a page is read in one query)
MAX_PROCESSES = 64  # chamberlain.processes at most

#: Every key the server reads, with its default (Cerbos's defaults where Cerbos has the key).
DEFAULTS: dict[str, Any] = {
    "server": {
        "httpListenAddr": "127.0.0.1:3592",
        # "" = no gRPC port (Cerbos binds :3593 by default; chamberlain opens only what is named).
        "grpcListenAddr": "",
        "requestLimits": {"maxActionsPerResource": 50, "maxResourcesPerRequest": 50},
        "metricsEnabled": True,
        # The admin surface (docs/security.md): off by default; basic-auth credentials as Cerbos has them.
        "adminAPI": copy.deepcopy(admin_settings.SERVER_DEFAULTS),
        # HTTPS (chamberlain.server.tls), Cerbos's keys: cert and key; caCert requires client certificates.
        "tls": {"cert": "", "key": "", "caCert": ""},
        "advanced": {
            "http": {
                "readTimeout": "30s",
                "readHeaderTimeout": "15s",
                "writeTimeout": "30s",
                "idleTimeout": "120s",
            },
            "grpc": {"maxRecvMsgSizeBytes": 4 * 1024 * 1024},
        },
    },
    "storage": {"driver": "disk", "disk": {"directory": "./policies", "watchForChanges": True}},
    "auxData": {"jwt": {"keySets": [], "acceptableTimeSkew": "0s", "disableVerification": False}},
    "schema": {"enforcement": "none"},
    "engine": {
        "defaultPolicyVersion": "default",
        "defaultScope": "",
        "lenientScopeSearch": False,
        "strictEvaluation": False,
        "globals": {},
    },
    "audit": {"enabled": False},
    "chamberlain": {
        "stateDir": "./.chamberlain",
        # The URL clients reach this server at (metadata documents name it; "" = the listen address).
        "publicURL": "",
        "tlsReloadInterval": "1s",  # how often server.tls files are checked for a new certificate
        "httpServer": "uvicorn",
        "processes": 1,  # serving processes on the port (chamberlain.server.processes)
        "logLevel": "info",
        "logFormat": "auto",  # text on a terminal, JSON lines otherwise
        "shutdownTimeout": "10s",
        "watchInterval": "500ms",
        # The tamper-evident decision log (README "Decision log"): every decided action an entry.
        "audit": {
            "enabled": True,
            "db": "",  # "" = sqlite:///<stateDir>/decisions.db
            "durability": "sync",  # sync: answer once the entry is durable; async: once it is queued
            "queueSize": 100000,  # async: entries waiting at most
            "overflow": "block",  # async, queue full: block (up to overflowTimeout, then DENY) or deny
            "overflowTimeout": "1s",
            "writeTimeout": "10s",  # sync: longest wait for durability before the decision is a DENY
            "batchSize": 4096,  # entries per transaction at most
            "commitDelay": "2ms",  # under load, how long a batch may wait for as many callers as the last one
            # thread: the writer thread; process (SQLite only): a writer process numbers, hashes and commits
            # on another core; auto: process for one serving process on SQLite, else thread (measured:
            # docs/concepts/decision-log.md#durability)
            "writer": "auto",
            "headInterval": "10s",  # sign a tree head this often (when the log grew)
            "signingKeyFile": "",  # "" = <stateDir>/decision-log.key, generated on first start
            "keyName": "",  # name of a generated key; "" = chamberlain/<host>-<random>
            "sequencerInterval": "50ms",  # PostgreSQL: poll for pending entries / the sequencer role
            "apiEnabled": True,  # GET /api/audit/entries, /head, /proof/inclusion, /proof/consistency
            "maxRequestBytes": 1048576,  # a call's request record at most (larger: the check is denied)
            "maxEntryBytes": 65536,  # an entry's own content at most (conditions, outputs, errors)
            "redact": [],  # attribute paths stored as salted digests only, e.g. R.attr.iban
            "headFile": "",  # "" = <stateDir>/decision-log.head: each signed head, published outside the database
            "witnesses": [],  # [{url, key}]: C2SP tlog-witness witnesses each signed head is sent to
            "witnessTimeout": "2s",
            "retention": "",  # "" = keep; a duration (e.g. 2160h) = erase the content of older entries
            # [{name, jsonl: PATH or "-"} or {name, otlp: {endpoint, protocol, headers, timeout}}, batchSize, interval]
            "export": [],
        },
        # Bounds on what one request may cost (docs/security.md).
        "limits": {
            "maxJSONDepth": 64,  # objects and arrays nested deeper in a body, token or message: 400
            "maxHeaderBytes": 65536,  # request line and headers; more: 431 and the connection closed
            "evaluationTimeout": "1s",  # a request's conditions; past it, undecided actions are DENY
            "eventLoopSlice": "10ms",  # a check still evaluating after this long moves to a worker thread
            "largeRequestBytes": 65536,  # bodies larger than this are decided in a worker thread
            "workerThreads": 4,  # threads deciding the checks moved off the event loop
        },
        # The admin surface's policies, people's roles, limits (docs/security.md "The admin surface").
        "admin": copy.deepcopy(admin_settings.DEFAULTS),
        # Token exchange and delegated checks (README "Delegation"); keys documented there.
        "delegation": copy.deepcopy(delegation_config.DEFAULTS),
        # Agent sessions (docs/concepts/sessions.md): defaults a new session takes, and maxima.
        "sessions": copy.deepcopy(session_settings.DEFAULTS),
        # Human approval of one exact action (docs/concepts/approvals.md); needs sessions' store.
        "approvals": copy.deepcopy(approval_settings.DEFAULTS),
        # The web console under /console (docs/concepts/console.md); served with the admin surface.
        "console": copy.deepcopy(console_settings.DEFAULTS),
        # Proxy checks at /_chamberlain/authz (docs/guides/proxies.md): routes, trusted proxies, answers.
        "gateway": copy.deepcopy(gateway_settings.DEFAULTS),
    },
}

#: Keys of Cerbos's configuration (its full reference, 0.55) that chamberlain accepts and ignores, with a
#: warning naming them, so that Cerbos configurations load; everything below a listed key is Cerbos's too.
#: A key that neither Cerbos nor chamberlain knows is an error (with a did-you-mean hint).
IGNORED = (
    "server.cors",
    "server.udsFileMode",
    "server.embeddedMode",
    "server.logRequestPayloads",
    "server.playgroundEnabled",
    "server.apiExplorerEnabled",
    "server.advanced.grpc",
    "audit.backend",
    "audit.accessLogsEnabled",
    "audit.decisionLogsEnabled",
    "audit.local",
    "audit.file",
    "audit.hub",
    "audit.kafka",
    "audit.decisionLogFilters",
    "audit.includeMetadataKeys",
    "audit.excludeMetadataKeys",
    "auxData.jwt.cacheSize",
    "engine.numWorkers",
    "engine.celErrorLogLevel",
    "engine.policyLoaderTimeout",
    "schema.cacheSize",
    "storage.blob",
    "storage.git",
    "storage.hub",
    "storage.mysql",
    "storage.overlay",
    "storage.postgres",
    "storage.sqlite3",
    "hub",
    "telemetry",
    "tracing",
    "compile",
    "ruleTable",
)
_LEAF_MAPPINGS = (
    "engine.globals",
    "chamberlain.delegation.scopeMapping",
    "chamberlain.gateway",  # validated key by key by chamberlain.gateways.proxy.settings
)  # mappings whose contents are data, not keys
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


class ConfigError(Error):
    """A configuration that cannot be used; the message lists every problem."""


@dataclass(frozen=True, slots=True)
class KeySetConfig:
    """One ``auxData.jwt.keySets`` entry (local keys only)."""

    id: str
    data: bytes
    pem: bool = False
    optional_alg: bool = False
    optional_kid: bool = False


@dataclass(frozen=True, slots=True)
class DecisionLogConfig:
    """``chamberlain.audit``: where the decision log is and how it is written."""

    url: StoreURL
    options: LogOptions
    api_enabled: bool


@dataclass(frozen=True, slots=True)
class Config:
    """The validated configuration the server runs with."""

    host: str
    port: int
    max_actions_per_resource: int
    max_resources_per_request: int
    max_body_bytes: int
    read_timeout: float
    read_header_timeout: float
    write_timeout: float
    idle_timeout: float
    metrics_enabled: bool
    policy_dir: Path
    watch_for_changes: bool
    key_sets: tuple[KeySetConfig, ...]
    jwt_skew: float
    jwt_disable_verification: bool
    engine_options: dict[str, Any]
    audit_enabled: bool
    state_dir: Path
    http_server: str
    log_level: str
    log_format: str
    shutdown_timeout: float
    watch_interval: float
    public_url: str
    max_json_depth: int = 64
    grpc_listen: tuple[str, int] | None = None  # server.grpcListenAddr (chamberlain.server.grpc); None: off
    tls: TLSFiles | None = None  # None: plain HTTP
    tls_reload_interval: float = 1.0
    max_header_bytes: int = 65536
    event_loop_slice: float = 0.01
    large_request_bytes: int = 65536
    worker_threads: int = 4
    processes: int = 1  # chamberlain.processes: serving processes on the port
    decision_log: DecisionLogConfig | None = None  # None: chamberlain.audit.enabled is false
    delegation: DelegationConfig | None = None  # the token service and delegated checks
    sessions: SessionSettings | None = None  # None: chamberlain.sessions.enabled is false
    sessions_url: StoreURL | None = None  # where sessions live (the decision log's database by default)
    approvals: ApprovalSettings | None = (
        None  # None: off (chamberlain.approvals.enabled false, or no sessions)
    )
    admin: AdminConfig = field(default_factory=AdminConfig)  # the admin surface (off by default)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)  # /console, with the admin surface
    gateway: GatewaySettings = field(default_factory=GatewaySettings)  # proxy checks (off without routes)
    warnings: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def request_limits(self) -> RequestLimits:
        """``server.requestLimits``, as every entry point checks them."""
        return RequestLimits(self.max_resources_per_request, self.max_actions_per_resource)

    @property
    def url(self) -> str:
        return base_url(self.host, self.port, https=self.tls is not None)


def base_url(host: str, port: int, *, https: bool = False) -> str:
    """The URL a client reaches a listen address at (loopback for all interfaces)."""
    host = "127.0.0.1" if host in ("", "0.0.0.0") else host
    return f"{'https' if https else 'http'}://{f'[{host}]' if ':' in host else host}:{port}"


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _unknown_keys(data: Mapping[str, Any], defaults: Mapping[str, Any], prefix: str = "") -> list[str]:
    unknown = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if path in IGNORED or path in _LEAF_MAPPINGS:
            continue
        if key not in defaults:
            unknown.append(path)
        elif isinstance(value, Mapping) and isinstance(defaults[key], Mapping):
            unknown.extend(_unknown_keys(value, defaults[key], f"{path}."))
    return unknown


def _unknown_key_problem(path: str) -> str:
    """``path`` is unknown: say so, with the closest key of the same section when one is close."""
    parent, _, key = path.rpartition(".")
    section: Any = _get(DEFAULTS, parent) if parent else DEFAULTS
    siblings = [k for k in section] if isinstance(section, Mapping) else []
    siblings += [p.rpartition(".")[2] for p in IGNORED if p.rpartition(".")[0] == parent]
    close = [k for k in siblings if k.lower() == key.lower()] or difflib.get_close_matches(key, siblings, n=1)
    meant = ".".join(filter(None, (parent, close[0]))) if close else ""
    hint = f"; did you mean {meant!r}?" if meant else ""
    if meant == path:  # the known key, written with dots in one name
        hint = "; a key is one name: write it as nested mappings (storage: {disk: {directory: ...}})"
    return f"{path}: unknown configuration key (neither Cerbos nor chamberlain has it){hint}"


def _ignored_present(data: Mapping[str, Any]) -> list[str]:
    found = []
    for path in IGNORED:
        node: Any = data
        for part in path.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is not None:
            found.append(path)
    return found


def _expand_env(text: str, env: Mapping[str, str]) -> str:
    return _ENV_REF.sub(lambda m: env.get(m.group(1), m.group(2) or ""), text)


def _env_overrides(env: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """``CHAMBERLAIN__A__B=value`` as a nested mapping, keys resolved against :data:`DEFAULTS`."""
    out: dict[str, Any] = {}
    problems = []
    for name, text in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].split("__")
        node, target, defaults = out, parts, DEFAULTS
        keys = []
        for part in target:
            match = (
                next((k for k in defaults if k.lower() == part.lower()), None)
                if isinstance(defaults, Mapping)
                else None
            )
            if match is None:
                problems.append(
                    f"environment variable {name}: no configuration key {'.'.join([*keys, part])}"
                )
                break
            keys.append(match)
            defaults = defaults[match]
        else:
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            try:
                node[keys[-1]] = safeyaml.load(text, name) if text != "" else ""
            except (yaml.YAMLError, safeyaml.YAMLRefused):
                node[keys[-1]] = text
    return out, problems


def _get(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        node = node[part]
    return node


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Read ``path`` (optional), apply environment variables then ``overrides``, validate, return the config.

    Raises :class:`ConfigError` listing every invalid value.
    """
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    base_dir = Path.cwd()
    if path is not None:
        try:
            text = read_text_bounded(path, MAX_CONFIG_BYTES, "configuration file")
        except FileRefused as exc:
            raise ConfigError(f"cannot read configuration file {path}: {exc}") from None
        try:
            loaded = safeyaml.load(_expand_env(text, env), f"configuration file {path}")
        except safeyaml.YAMLRefused as exc:
            raise ConfigError(str(exc)) from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"configuration file {path} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, Mapping):
            raise ConfigError(
                f"configuration file {path} must hold a mapping of sections, not {type(loaded).__name__}"
            )
        data = dict(loaded or {})
    from_env, problems = _env_overrides(env)
    data = _merge(_merge(data, from_env), overrides or {})
    problems += [_unknown_key_problem(k) for k in _unknown_keys(data, DEFAULTS)]
    warnings = [
        f"configuration key {k!r} is not supported by chamberlain and is ignored"
        for k in _ignored_present(data)
    ]
    merged = _merge(copy.deepcopy(DEFAULTS), data)
    return _validate(merged, problems, warnings, base_dir)


def _validate(c: dict[str, Any], problems: list[str], warnings: list[str], base_dir: Path) -> Config:
    values: dict[str, Any] = {}

    def take(key: str, path: str, convert: Any) -> None:
        try:
            values[key] = convert(_get(c, path))
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(f"{path}: {exc}")

    limit = int_between(1, REQUEST_ITEMS_MAX)

    def mapping(v: Any) -> dict[str, Any]:
        if not isinstance(v, Mapping):
            raise ValueError(f"expected a mapping, got {v!r}")
        return dict(v)

    take("listen", "server.httpListenAddr", listen_address)
    take("grpc_listen", "server.grpcListenAddr", lambda v: listen_address(v) if v else None)
    take("max_actions_per_resource", "server.requestLimits.maxActionsPerResource", limit)
    take("max_resources_per_request", "server.requestLimits.maxResourcesPerRequest", limit)
    take("max_body_bytes", "server.advanced.grpc.maxRecvMsgSizeBytes", positive_int)
    for key, name in (
        ("read_timeout", "readTimeout"),
        ("read_header_timeout", "readHeaderTimeout"),
        ("write_timeout", "writeTimeout"),
        ("idle_timeout", "idleTimeout"),
    ):
        take(key, f"server.advanced.http.{name}", parse_duration)
    take("metrics_enabled", "server.metricsEnabled", boolean)
    take("driver", "storage.driver", choice("disk"))
    take("policy_dir", "storage.disk.directory", lambda v: base_dir / string(v))
    take("watch_for_changes", "storage.disk.watchForChanges", boolean)
    take("jwt_skew", "auxData.jwt.acceptableTimeSkew", parse_duration)
    take("jwt_disable_verification", "auxData.jwt.disableVerification", boolean)
    take("schema_enforcement", "schema.enforcement", choice("none", "warn", "reject"))
    take("default_policy_version", "engine.defaultPolicyVersion", string)
    take("default_scope", "engine.defaultScope", string)
    take("lenient_scope_search", "engine.lenientScopeSearch", boolean)
    take("strict_evaluation", "engine.strictEvaluation", boolean)
    take("globals", "engine.globals", lambda v: mapping(v or {}))
    take("audit_enabled", "audit.enabled", boolean)
    take("state_dir", "chamberlain.stateDir", lambda v: base_dir / string(v))
    take("http_server", "chamberlain.httpServer", choice("uvicorn", "granian"))
    take("processes", "chamberlain.processes", int_between(1, MAX_PROCESSES))
    take("log_level", "chamberlain.logLevel", choice("debug", "info", "warning", "error"))
    take("log_format", "chamberlain.logFormat", choice("auto", "json", "text"))
    take("shutdown_timeout", "chamberlain.shutdownTimeout", parse_duration)
    take("watch_interval", "chamberlain.watchInterval", parse_duration)
    take("public_url", "chamberlain.publicURL", lambda v: _public_url(string(v)))
    take("tls_reload_interval", "chamberlain.tlsReloadInterval", _seconds)
    values["tls"] = _tls(c["server"]["tls"], problems, base_dir)
    if values["tls"] is not None and values.get("http_server") == "granian":
        problems.append("chamberlain.httpServer: granian does not serve server.tls here; use uvicorn")
    processes = values.get("processes", 1)
    if processes > 1:
        if values.get("http_server") == "granian":
            problems.append("chamberlain.processes: several processes are served with uvicorn only")
        if values.get("grpc_listen") is not None:
            problems.append(
                "chamberlain.processes: server.grpcListenAddr is not supported with several processes yet"
            )
    if values.get("grpc_listen") is not None and values.get("http_server") == "granian":
        problems.append("server.grpcListenAddr: gRPC is served with uvicorn only (chamberlain.httpServer)")
    take("max_json_depth", "chamberlain.limits.maxJSONDepth", positive_int)
    take("max_header_bytes", "chamberlain.limits.maxHeaderBytes", positive_int)
    take("evaluation_timeout", "chamberlain.limits.evaluationTimeout", _seconds)
    take("event_loop_slice", "chamberlain.limits.eventLoopSlice", _seconds)
    take("large_request_bytes", "chamberlain.limits.largeRequestBytes", positive_int)
    take("worker_threads", "chamberlain.limits.workerThreads", positive_int)
    key_sets = _key_sets(c["auxData"]["jwt"].get("keySets"), problems, base_dir)
    decision_log = _decision_log(
        c["chamberlain"]["audit"], values.get("state_dir"), problems, base_dir, processes
    )
    delegation = _delegation(c["chamberlain"]["delegation"], values, problems, base_dir)
    sessions, sessions_url = _sessions(
        c["chamberlain"]["sessions"], decision_log, values.get("state_dir"), problems, base_dir
    )
    approvals = _approvals(c["chamberlain"]["approvals"], sessions_url, problems)
    admin = _admin(c, 0 if delegation is None else len(delegation.trusted_issuers), problems, base_dir)
    issuers = tuple(t.issuer for t in delegation.trusted_issuers) if delegation is not None else ()
    if admin.enabled and approvals is not None and delegation is not None:
        warnings.extend(_shared_audience_warnings(delegation))
    console = console_settings.parse_settings(c["chamberlain"]["console"], issuers, problems)
    if processes > 1 and admin.enabled and console.enabled and sessions_url is None:
        problems.append(
            "chamberlain.processes: the console keeps its logins in the state database, and with "
            "chamberlain.sessions.enabled: false there is none; each serving process would know only "
            "its own logins (turn sessions on, or the console off with chamberlain.console.enabled: false)"
        )
    gateway = GatewaySettings()
    try:
        gateway = gateway_settings.parse_settings(c["chamberlain"]["gateway"])
    except GatewayConfigError as exc:
        problems.extend(exc.problems)
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
    host, port = values.pop("listen")
    values["public_url"] = values["public_url"] or base_url(host, port, https=values["tls"] is not None)
    values.pop("driver")
    engine_options = {
        k: values.pop(k)
        for k in (
            "default_policy_version",
            "default_scope",
            "lenient_scope_search",
            "strict_evaluation",
            "globals",
            "schema_enforcement",
            "evaluation_timeout",
        )
    }
    return Config(
        host=host,
        port=port,
        key_sets=key_sets,
        engine_options=engine_options,
        decision_log=decision_log,
        delegation=delegation,
        admin=admin,
        console=console,
        sessions=sessions,
        sessions_url=sessions_url,
        approvals=approvals,
        warnings=tuple(warnings),
        raw=c,
        gateway=gateway,
        **values,
    )


def _admin(c: Mapping[str, Any], trusted_issuers: int, problems: list[str], base_dir: Path) -> AdminConfig:
    """``server.adminAPI`` and ``chamberlain.admin`` (problems appended, naming each key)."""
    server, section = c["server"]["adminAPI"], c["chamberlain"]["admin"]
    if not isinstance(server, Mapping) or not isinstance(section, Mapping):
        problems.append("server.adminAPI and chamberlain.admin: expected mappings")
        return AdminConfig()
    before = len(problems)
    values: dict[str, Any] = {}
    checks: dict[str, tuple[Mapping[str, Any], str, Any]] = {
        "enabled": (server, "server.adminAPI.enabled", boolean),
        "roles_claim": (
            section,
            "chamberlain.admin.rolesClaim",
            lambda v: string(v) or _fail("expected a claim name"),
        ),
        "credential_cache_ttl": (section, "chamberlain.admin.credentialCacheTTL", _seconds),
        "max_failed_logins": (section, "chamberlain.admin.maxFailedLogins", positive_int),
        "max_page_size": (section, "chamberlain.admin.maxPageSize", _page_size),
        "max_response_bytes": (section, "chamberlain.admin.maxResponseBytes", positive_int),
        "policies": (section, "chamberlain.admin.policies", lambda v: base_dir / v if string(v) else None),
    }
    for name, (source, key, convert) in checks.items():
        try:
            values[name] = convert(source.get(key.rpartition(".")[2]))
        except (ValueError, TypeError) as exc:
            problems.append(f"{key}: {exc}")
    credentials = server.get("adminCredentials") or {}
    if not isinstance(credentials, Mapping):
        problems.append("server.adminAPI.adminCredentials: expected a mapping with username and passwordHash")
        credentials = {}
    username, password_hash = admin_settings.credentials(credentials, problems)
    if values.get("enabled") and not username and trusted_issuers == 0:
        problems.append(
            "server.adminAPI.enabled is true but nobody can sign in: set server.adminAPI.adminCredentials "
            "(username and passwordHash) or chamberlain.delegation.trustedIssuers; chamberlain has no "
            "default credentials"
        )
    if len(problems) > before:
        return AdminConfig()
    return AdminConfig(username=username, password_hash=password_hash, **values)


def _page_size(v: Any) -> int:
    if positive_int(v) > MAX_PAGE_SIZE:
        raise ValueError(f"must be at most {MAX_PAGE_SIZE}, got {v!r}")
    return v


def _fail(message: str) -> Any:
    raise ValueError(message)


def _delegation(
    section: Any, values: Mapping[str, Any], problems: list[str], base_dir: Path
) -> DelegationConfig | None:
    """``chamberlain.delegation``, validated (problems appended); the default issuer is the server's URL."""
    listen, state_dir = values.get("listen"), values.get("state_dir")
    if listen is None or state_dir is None or "public_url" not in values:
        return None  # already reported
    default = values["public_url"] or base_url(*listen, https=values.get("tls") is not None)
    try:
        return delegation_config.parse_config(
            section, state_dir=state_dir, base_url=default, base_dir=base_dir
        )
    except DelegationConfigError as exc:
        problems.extend(exc.problems)
        return None


def _shared_audience_warnings(delegation: DelegationConfig) -> list[str]:
    """A warning per trusted issuer whose people sign in to the admin API with the token they hand agents."""
    return [
        f"chamberlain.delegation.trustedIssuers: {t.issuer!r} has no adminAudience, so the token a person "
        "hands an agent for the token exchange also signs the agent in to the admin API as that person: it "
        "can decide the approvals the person may decide (other people's requests, where the person holds an "
        "approver role); set adminAudience to an audience of its own"
        for t in delegation.trusted_issuers
        if not t.admin_audience
    ]


def _approvals(section: Any, sessions_url: StoreURL | None, problems: list[str]) -> ApprovalSettings | None:
    """``chamberlain.approvals``, validated; on only where sessions have a store (approvals live there too)."""
    try:
        found = approval_settings.parse_settings(section)
    except InvalidApproval as exc:
        problems.append(str(exc))
        return None
    return found if found.enabled and sessions_url is not None else None


def _sessions(
    section: Any,
    decision_log: DecisionLogConfig | None,
    state_dir: Path | None,
    problems: list[str],
    base_dir: Path,
) -> tuple[SessionSettings | None, StoreURL | None]:
    """``chamberlain.sessions``, validated; sessions live in the decision log's database unless ``db`` says."""
    try:
        found = session_settings.parse_settings(section)
    except InvalidSession as exc:
        problems.extend(getattr(exc, "problems", [str(exc)]))
        return None, None
    if not found.enabled or state_dir is None:
        return None, None
    try:
        if found.db:
            url = parse_url(found.db)
        elif decision_log is not None:
            url = decision_log.url
        else:
            url = parse_url(sqlite_url(state_dir / "decisions.db"))
    except StoreError as exc:
        problems.append(f"chamberlain.sessions.db: {exc}")
        return None, None
    if url.path is not None and not url.path.is_absolute():
        url = parse_url(sqlite_url(base_dir / url.path))
    return found, url


def _default_key_file(url: StoreURL, state_dir: Path) -> Path:
    """The layout every command shares (audit.log.default_key_file); a server that kept the key of a
    differently named SQLite log in ``<stateDir>/decision-log.key`` (before 0.2) keeps using it."""
    key = default_key_file(url, state_dir)
    earlier = state_dir / STATE_KEY
    return earlier if not key.exists() and earlier.exists() else key


def _decision_log(
    section: Any, state_dir: Path | None, problems: list[str], base_dir: Path, processes: int = 1
) -> DecisionLogConfig | None:
    """``chamberlain.audit``, validated (problems appended, naming each key); ``processes``: serving
    processes (``writer: auto`` chooses by them and the store)."""
    if not isinstance(section, Mapping):
        problems.append("chamberlain.audit: expected a mapping")
        return None
    found: dict[str, Any] = {}
    checks: dict[str, tuple[str, Any]] = {
        "enabled": ("enabled", boolean),
        "durability": ("durability", choice("sync", "async")),
        "overflow": ("overflow", choice("block", "deny")),
        "queue_size": ("queueSize", positive_int),
        "batch_size": ("batchSize", positive_int),
        "writer": ("writer", choice("auto", "thread", "process")),
        "commit_delay": ("commitDelay", _commit_delay),
        "overflow_timeout": ("overflowTimeout", _seconds),
        "write_timeout": ("writeTimeout", _seconds),
        "head_interval": ("headInterval", _seconds),
        "sequencer_interval": ("sequencerInterval", _seconds),
        "key_name": ("keyName", string),
        "key_file": ("signingKeyFile", string),
        "db": ("db", string),
        "api": ("apiEnabled", boolean),
        "max_request_bytes": ("maxRequestBytes", positive_int),
        "max_entry_bytes": ("maxEntryBytes", positive_int),
        "redact": ("redact", _texts),
        "head_file": ("headFile", string),
        "witnesses": ("witnesses", _witnesses),
        "witness_timeout": ("witnessTimeout", _seconds),
        "retention": ("retention", _optional_seconds),
        "exports": ("export", _exports),
    }
    for name, (key, convert) in checks.items():
        try:
            found[name] = convert(section.get(key))
        except (ValueError, TypeError) as exc:
            problems.append(f"chamberlain.audit.{key}: {exc}")
    if len(found) != len(checks) or not found["enabled"] or state_dir is None:
        return None
    try:
        url = parse_url(found["db"] or sqlite_url(state_dir / "decisions.db"))
    except StoreError as exc:
        problems.append(f"chamberlain.audit.db: {exc}")
        return None
    if url.path is not None and not url.path.is_absolute():
        url = parse_url(sqlite_url(base_dir / url.path))
    writer = found["writer"]
    if writer == "auto":
        writer = PROCESS if url.kind == SQLITE and processes == 1 else THREAD
    key_file = base_dir / found["key_file"] if found["key_file"] else _default_key_file(url, state_dir)
    head_file = base_dir / found["head_file"] if found["head_file"] else default_head_file(key_file)
    try:
        options = LogOptions(
            durability=found["durability"],
            queue_size=found["queue_size"],
            overflow=found["overflow"],
            overflow_timeout=found["overflow_timeout"],
            write_timeout=found["write_timeout"],
            batch_size=found["batch_size"],
            writer=writer,
            commit_delay=found["commit_delay"],
            head_interval=found["head_interval"],
            sequencer_interval=found["sequencer_interval"],
            key_file=key_file,
            key_name=found["key_name"],
            max_request_bytes=found["max_request_bytes"],
            max_entry_bytes=found["max_entry_bytes"],
            redact=found["redact"],
            head_file=head_file,
            witnesses=found["witnesses"],
            witness_timeout=found["witness_timeout"],
            retention=found["retention"],
            exports=tuple(_resolve_jsonl(e, base_dir) for e in found["exports"]),
        )
        options.limits()
        check_writer(writer, url)
    except (ValueError, Error) as exc:
        problems.append(f"chamberlain.audit: {exc}")
        return None
    return DecisionLogConfig(url, options, found["api"])


def _tls(section: Any, problems: list[str], base_dir: Path) -> TLSFiles | None:
    """``server.tls``, checked by building it (a certificate that cannot serve stops start-up)."""
    if not isinstance(section, Mapping):
        problems.append("server.tls: expected a mapping with cert, key and caCert")
        return None
    texts = {}
    for key in ("cert", "key", "caCert"):
        value = section.get(key) or ""
        if not isinstance(value, str):
            problems.append(f"server.tls.{key}: expected a file path, got {value!r}")
            return None
        texts[key] = value
    cert, key, ca = texts["cert"], texts["key"], texts["caCert"]
    if not cert and not key:
        if ca:
            problems.append("server.tls.caCert: client certificates need TLS: set cert and key too")
        return None
    if not cert or not key:
        problems.append("server.tls: cert and key go together: set both (or neither, for plain HTTP)")
        return None
    files = TLSFiles(base_dir / cert, base_dir / key, base_dir / ca if ca else None)
    try:
        build_context(files)
    except TLSError as exc:
        problems.append(str(exc))
    return files


def _public_url(v: str) -> str:
    """``""`` or an http(s) URL without query or fragment, as metadata documents name the server."""
    if not v:
        return ""
    parsed = urlparse(v)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query or parsed.fragment:
        raise ValueError(f"expected the server's URL such as https://pdp.example.com, got {v!r}")
    return v.rstrip("/")


def _seconds(v: Any) -> float:
    return parse_duration(v, positive=True)


def _commit_delay(v: Any) -> float:
    seconds = parse_duration(v)
    if seconds > 1:
        raise ValueError(f"at most 1s (a check waits this long at worst), got {v!r}")
    return seconds


def _optional_seconds(v: Any) -> float | None:
    return None if v in ("", None) else parse_duration(v, positive=True)


def _texts(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError(f"expected a list of strings, got {v!r}")
    return tuple(v)


_EXPORT_KEYS = {"name", "jsonl", "otlp", "batchSize", "interval"}
_OTLP_KEYS = {"endpoint", "protocol", "headers", "timeout"}


def _exports(v: Any) -> tuple[Any, ...]:
    """``[{name, jsonl: PATH | "-"}, {name, otlp: {endpoint, protocol, headers, timeout}}]`` (+ batchSize, interval)."""
    from chamberlain.audit.tools.export import ExportConfig

    if not isinstance(v, list):
        raise ValueError(f"expected a list of exporters, got {v!r}")
    out, names = [], set()
    for i, item in enumerate(v):
        if not isinstance(item, Mapping) or not set(item) <= _EXPORT_KEYS:
            raise ValueError(
                f"[{i}]: expected a mapping with keys among {', '.join(sorted(_EXPORT_KEYS))}, got {item!r}"
            )
        otlp = item.get("otlp") or {}
        if not isinstance(otlp, Mapping) or not set(otlp) <= _OTLP_KEYS:
            raise ValueError(f"[{i}].otlp: expected keys among {', '.join(sorted(_OTLP_KEYS))}")
        headers = otlp.get("headers") or {}
        if not isinstance(headers, Mapping) or not all(
            isinstance(x, str) for x in (*headers, *headers.values())
        ):
            raise ValueError(f"[{i}].otlp.headers: expected a mapping of strings")
        try:
            config = ExportConfig(
                name=string(item.get("name")),
                jsonl=string(item.get("jsonl", "")),
                otlp_endpoint=string(otlp.get("endpoint", "")),
                otlp_protocol=choice("http/protobuf", "http/json", "grpc")(
                    otlp.get("protocol", "http/protobuf")
                ),
                headers=dict(headers),
                timeout=_seconds(otlp.get("timeout", "10s")),
                batch_size=positive_int(item.get("batchSize", 512)),
                interval=_seconds(item.get("interval", "1s")),
            )
        except Error as exc:
            raise ValueError(f"[{i}]: {exc}") from None
        except ValueError as exc:
            raise ValueError(f"[{i}]: {exc}") from None
        if config.name in names:
            raise ValueError(f"[{i}]: exporter name {config.name!r} is used twice (each is a cursor)")
        names.add(config.name)
        out.append(config)
    return tuple(out)


def _resolve_jsonl(config: Any, base_dir: Path) -> Any:
    import dataclasses

    if config.jsonl and config.jsonl != "-" and not Path(config.jsonl).is_absolute():
        return dataclasses.replace(config, jsonl=str(base_dir / config.jsonl))
    return config


def _witnesses(v: Any) -> tuple[Any, ...]:
    """``[{url: http://witness.example, key: name+hash+base64}]`` (the key: the witness's cosigner key)."""
    from chamberlain.audit.tlog.note import NoteError
    from chamberlain.audit.tools.witness.client import WitnessConfig

    if not isinstance(v, list):
        raise ValueError(f"expected a list of {{url, key}} mappings, got {v!r}")
    out = []
    for i, item in enumerate(v):
        if (
            not isinstance(item, Mapping)
            or set(item) != {"url", "key"}
            or not all(isinstance(x, str) for x in item.values())
        ):
            raise ValueError(f"[{i}]: expected a mapping with `url` and `key` (strings), got {item!r}")
        try:
            out.append(WitnessConfig.parse(item["url"], item["key"]))
        except NoteError as exc:
            raise ValueError(f"[{i}]: {exc}") from None
    return tuple(out)


def _key_sets(entries: Any, problems: list[str], base_dir: Path) -> tuple[KeySetConfig, ...]:
    """``auxData.jwt.keySets``: each needs a unique ``id`` and exactly one ``local`` source."""
    if entries is None:
        return ()
    if not isinstance(entries, list):
        problems.append("auxData.jwt.keySets: expected a list of key sets")
        return ()
    out: list[KeySetConfig] = []
    seen: set[str] = set()
    for i, ks in enumerate(entries):
        where = f"auxData.jwt.keySets[{i}]"
        if not isinstance(ks, Mapping) or not isinstance(ks.get("id"), str) or not ks["id"]:
            problems.append(f"{where}: needs an `id` (a non-empty string)")
            continue
        ks_id = ks["id"]
        if ks_id in seen:
            problems.append(f"{where}: duplicate keyset id '{ks_id}'")
            continue
        seen.add(ks_id)
        if "remote" in ks:
            problems.append(
                f"keyset '{ks_id}': remote key sets are not supported yet; use `local.file` or `local.data`"
            )
            continue
        local = ks.get("local")
        if not isinstance(local, Mapping):
            problems.append(f"keyset '{ks_id}': should have `local` defined")
            continue
        file, data = local.get("file"), local.get("data")
        if bool(file) == bool(data):
            problems.append(f"keyset '{ks_id}': exactly one of 'local.data' or 'local.file' must be defined")
            continue
        try:
            raw = (
                read_bounded(base_dir / str(file), MAX_CONFIG_BYTES, "keyset file")
                if file
                else _b64(str(data))
            )
        except FileRefused as exc:
            problems.append(f"keyset '{ks_id}': failed to open keyset file {file}: {exc}")
            continue
        except ValueError:
            problems.append(f"keyset '{ks_id}': failed to decode base64 encoded keyset data")
            continue
        insecure = ks.get("insecure") or {}
        out.append(
            KeySetConfig(
                ks_id,
                raw,
                bool(local.get("pem", False)),
                bool(insecure.get("optionalAlg", False)),
                bool(insecure.get("optionalKid", False)),
            )
        )
    return tuple(out)


def _b64(text: str) -> bytes:
    import base64
    import binascii

    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None
