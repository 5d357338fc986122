"""``chamberlain.sessions``: where sessions live, the defaults a new session takes, and the maxima.

```yaml
chamberlain:
  sessions:
    enabled: true
    db: ""                 # "" = the decision log's database
    defaults: {ttl: 1h, idleTimeout: 15m, budgets: [], rateLimits: []}
    standingBudgets: []    # budgets that span sessions: [{name, per: agent|subject, period: 24h, kind, actions, limit, cost}]
    retention: 720h        # ended sessions are deleted this long after they end (0s: kept for ever)
    maxima: {ttl: 24h, idleTimeout: 24h, budgets: 16, rateLimits: 16, budgetLimit: 1000000000000, ratePer: 24h, rateMax: 100000}
```
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chamberlain.config_values import boolean, is_zero_duration
from chamberlain.sessions.errors import InvalidSession
from chamberlain.sessions.model import (
    MAX_CHAIN,
    MAX_METADATA_BYTES,
    Budget,
    RateLimit,
    StandingBudget,
    duration,
    parse_budget,
    parse_rate_limit,
    parse_standing_budget,
    text,
)

DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "db": "",  # "" = the decision log's database (chamberlain.audit.db)
    "defaults": {"ttl": "1h", "idleTimeout": "15m", "budgets": [], "rateLimits": []},
    "standingBudgets": [],
    "retention": "720h",
    "maxima": {
        "ttl": "24h",
        "idleTimeout": "24h",
        "budgets": 16,
        "rateLimits": 16,
        "budgetLimit": 10**12,
        "ratePer": "24h",
        "rateMax": 100000,
    },
}
#: The longest any duration may be, whatever the maxima say (about 10 years).
ABSOLUTE_MAX_SECONDS = 315_576_000.0
#: The longest window of a budget that spans sessions (a leap year).
MAX_STANDING_PERIOD = 366 * 86400.0


@dataclass(frozen=True, slots=True)
class Maxima:
    ttl: float = 86400.0
    idle_timeout: float = 86400.0
    budgets: int = 16
    rate_limits: int = 16
    budget_limit: float = 1e12
    rate_per: float = 86400.0
    rate_max: int = 100_000


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """The validated ``chamberlain.sessions`` section."""

    enabled: bool = True
    db: str = ""
    ttl: float = 3600.0
    idle_timeout: float = 900.0
    budgets: tuple[Budget, ...] = ()
    rate_limits: tuple[RateLimit, ...] = ()
    maxima: Maxima = Maxima()
    standing_budgets: tuple[StandingBudget, ...] = ()
    retention: float = 30 * 86400.0  # 0: ended sessions are kept for ever


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """What a new session is opened with (defaults filled in, maxima checked)."""

    subject: str
    agent: str
    chain: tuple[str, ...]
    ttl: float
    idle_timeout: float
    budgets: tuple[Budget, ...]
    rate_limits: tuple[RateLimit, ...]
    metadata: Mapping[str, Any]


def _idle(value: Any, path: str, maximum: float) -> float:
    """An idle timeout: a duration, or 0 / ``0s`` for none."""
    if is_zero_duration(value):
        return 0.0
    return duration(value, path, maximum)


def _count(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidSession(f"{path}: expected a non-negative integer, got {value!r}")
    return value


def _positive_number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidSession(f"{path}: expected a positive number, got {value!r}")
    return float(value)


def parse_settings(section: Any, prefix: str = "chamberlain.sessions") -> SessionSettings:
    """Validate the section; raises InvalidSession listing every problem, each naming its key."""
    data = copy.deepcopy(DEFAULTS)
    problems: list[str] = []
    if section is not None and not isinstance(section, Mapping):
        raise _invalid([f"{prefix}: expected a mapping"])
    for key, value in (section or {}).items():
        if key not in data:
            problems.append(f"{prefix}.{key}: unknown key (known: {', '.join(DEFAULTS)})")
        elif isinstance(data[key], dict):
            if not isinstance(value, Mapping):
                problems.append(f"{prefix}.{key}: expected a mapping")
                continue
            for sub, v in value.items():
                if sub not in data[key]:
                    problems.append(f"{prefix}.{key}.{sub}: unknown key (known: {', '.join(data[key])})")
                data[key][sub] = v
        else:
            data[key] = value
    found: dict[str, Any] = {}

    def take(name: str, key: str, convert: Any) -> None:
        try:
            found[name] = convert(key)
        except InvalidSession as exc:
            problems.append(str(exc))

    m, d = data["maxima"], data["defaults"]
    mp, dp = f"{prefix}.maxima", f"{prefix}.defaults"
    take("ttl", f"{mp}.ttl", lambda k: duration(m["ttl"], k, ABSOLUTE_MAX_SECONDS))
    take("idle_timeout", f"{mp}.idleTimeout", lambda k: duration(m["idleTimeout"], k, ABSOLUTE_MAX_SECONDS))
    take("budgets", f"{mp}.budgets", lambda k: _count(m["budgets"], k))
    take("rate_limits", f"{mp}.rateLimits", lambda k: _count(m["rateLimits"], k))
    take("budget_limit", f"{mp}.budgetLimit", lambda k: _positive_number(m["budgetLimit"], k))
    take("rate_per", f"{mp}.ratePer", lambda k: duration(m["ratePer"], k, ABSOLUTE_MAX_SECONDS))
    take("rate_max", f"{mp}.rateMax", lambda k: int(_positive_number(m["rateMax"], k)))
    if problems:
        raise _invalid(problems)
    maxima = Maxima(**found)
    defaults: dict[str, Any] = {}

    def take_default(name: str, key: str, convert: Any) -> None:
        try:
            defaults[name] = convert(key)
        except InvalidSession as exc:
            problems.append(str(exc))

    take_default("ttl", f"{dp}.ttl", lambda k: duration(d["ttl"], k, maxima.ttl))
    take_default(
        "idle_timeout", f"{dp}.idleTimeout", lambda k: _idle(d["idleTimeout"], k, maxima.idle_timeout)
    )
    take_default("budgets", f"{dp}.budgets", lambda k: _budgets(d["budgets"], k, maxima))
    take_default("rate_limits", f"{dp}.rateLimits", lambda k: _rate_limits(d["rateLimits"], k, maxima))
    take_default(
        "retention", f"{prefix}.retention", lambda k: _idle(data["retention"], k, ABSOLUTE_MAX_SECONDS)
    )
    take_default(
        "standing_budgets",
        f"{prefix}.standingBudgets",
        lambda k: _standing_budgets(data["standingBudgets"], k, maxima),
    )
    try:
        boolean(data["enabled"])
    except ValueError as exc:
        problems.append(f"{prefix}.enabled: {exc}")
    if not isinstance(data["db"], str):
        problems.append(f"{prefix}.db: expected a store URL string, got {data['db']!r}")
    if problems:
        raise _invalid(problems)
    return SessionSettings(enabled=data["enabled"], db=data["db"], maxima=maxima, **defaults)


def _invalid(problems: list[str]) -> InvalidSession:
    error = InvalidSession("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
    error.problems = list(problems)  # type: ignore[attr-defined]
    return error


def _listed(value: Any, path: str, most: int, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidSession(f"{path}: expected a list of {what}")
    if len(value) > most:
        raise InvalidSession(f"{path}: at most {most} {what}, got {len(value)}")
    return value


def _budgets(value: Any, path: str, maxima: Maxima) -> tuple[Budget, ...]:
    listed = _listed(value, path, maxima.budgets, "budgets")
    found = tuple(parse_budget(v, f"{path}[{i}]", maxima.budget_limit) for i, v in enumerate(listed))
    _unique([b.name for b in found], path)
    return found


def _standing_budgets(value: Any, path: str, maxima: Maxima) -> tuple[StandingBudget, ...]:
    listed = _listed(value, path, maxima.budgets, "budgets")
    found = tuple(
        parse_standing_budget(v, f"{path}[{i}]", maxima.budget_limit, MAX_STANDING_PERIOD)
        for i, v in enumerate(listed)
    )
    _unique([b.name for b in found], path)
    return found


def _unique(names: list[str], path: str) -> None:
    for i, name in enumerate(names):
        if name in names[:i]:
            raise InvalidSession(f"{path}[{i}].name: budget {name!r} is named twice")


def _rate_limits(value: Any, path: str, maxima: Maxima) -> tuple[RateLimit, ...]:
    listed = _listed(value, path, maxima.rate_limits, "rate limits")
    return tuple(
        parse_rate_limit(v, f"{path}[{i}]", maxima.rate_per, maxima.rate_max) for i, v in enumerate(listed)
    )


OPEN_FIELDS = ("subject", "agent", "chain", "ttl", "idleTimeout", "budgets", "rateLimits", "metadata")


def parse_spec(body: Any, settings: SessionSettings) -> SessionSpec:
    """``POST /api/sessions``'s body (or the CLI's options) as a :class:`SessionSpec`.

    Budgets given replace the default budget of the same name; the other defaults stay. Rate limits
    given replace the default rate limits.
    """
    if not isinstance(body, Mapping):
        raise InvalidSession("session: expected a JSON object")
    unknown = sorted(set(body) - set(OPEN_FIELDS))
    if unknown:
        raise InvalidSession(f"session: unknown field {unknown[0]!r} (allowed: {', '.join(OPEN_FIELDS)})")
    m = settings.maxima
    chain_value = body.get("chain", [])
    if not isinstance(chain_value, list) or len(chain_value) > MAX_CHAIN:
        raise InvalidSession(f"chain: expected a list of at most {MAX_CHAIN} actor ids, current first")
    chain = tuple(text(a, f"chain[{i}]") for i, a in enumerate(chain_value))
    agent = text(body.get("agent"), "agent")
    if chain and chain[0] != agent:
        raise InvalidSession(f"chain[0]: the chain starts with the current agent {agent!r}, got {chain[0]!r}")
    ttl = duration(body["ttl"], "ttl", m.ttl) if "ttl" in body else settings.ttl
    idle = (
        _idle(body["idleTimeout"], "idleTimeout", m.idle_timeout)
        if "idleTimeout" in body
        else settings.idle_timeout
    )
    budgets = settings.budgets
    if "budgets" in body:
        given = _budgets(body["budgets"], "budgets", m)
        names = {b.name for b in given}
        budgets = tuple(b for b in settings.budgets if b.name not in names) + given
        if len(budgets) > m.budgets:
            raise InvalidSession(
                f"budgets: at most {m.budgets} budgets with the defaults, got {len(budgets)}"
            )
    rates = (
        _rate_limits(body["rateLimits"], "rateLimits", m) if "rateLimits" in body else settings.rate_limits
    )
    metadata = body.get("metadata", {})
    if not isinstance(metadata, Mapping):
        raise InvalidSession("metadata: expected an object")
    if len(json.dumps(metadata, default=str)) > MAX_METADATA_BYTES:
        raise InvalidSession(f"metadata: at most {MAX_METADATA_BYTES} bytes of JSON")
    return SessionSpec(
        text(body.get("subject"), "subject"), agent, chain, ttl, idle, budgets, rates, dict(metadata)
    )
