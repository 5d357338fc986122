"""Sessions, budgets, rate limits and locks: the records, and their specifications read from JSON.

Every reader takes the JSON path of what it reads (``budgets[0].limit``) and raises
:class:`~chamberlain.sessions.errors.InvalidSession` naming it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chamberlain.cel import CompileError
from chamberlain.durations import parse_duration
from chamberlain.engine.glob import compile_glob
from chamberlain.sessions.errors import InvalidSession

ACTIVE, SUSPENDED, EXPIRED, REVOKED = "ACTIVE", "SUSPENDED", "EXPIRED", "REVOKED"
STATES = (ACTIVE, SUSPENDED, EXPIRED, REVOKED)
#: The states a session can leave: every other one is final.
OPEN_STATES = (ACTIVE, SUSPENDED)
#: ``ses_`` and a ULID: sorts by opening time.
SESSION_ID = re.compile(r"^ses_[0-9A-HJKMNP-TV-Z]{26}$")
LOCK_ID = re.compile(r"^lck_[0-9A-HJKMNP-TV-Z]{26}$")
_NAME = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
LOCK_TARGETS = ("agent", "subject", "root", "tool")
MAX_TEXT = 256  # subject, agent, kinds, actions, reasons: characters at most
MAX_ACTIONS = 64
MAX_CHAIN = 16
MAX_METADATA_BYTES = 16 << 10


def text(value: Any, path: str, *, required: bool = True, limit: int = MAX_TEXT) -> str:
    """A string of at most ``limit`` characters (non-empty when ``required``)."""
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise InvalidSession(f"{path}: expected a non-empty string, got {value!r}"[: 200 + len(path)])
    if len(value) > limit:
        raise InvalidSession(f"{path}: at most {limit} characters, got {len(value)}")
    return value


def duration(value: Any, path: str, maximum: float) -> float:
    """A positive Go duration (``10m``) or number of seconds, at most ``maximum`` seconds."""
    try:
        seconds = parse_duration(value, positive=True)
    except ValueError as exc:
        raise InvalidSession(f"{path}: {exc}") from None
    if not math.isfinite(seconds) or seconds > maximum:
        raise InvalidSession(f"{path}: {value!r} is longer than the allowed maximum of {maximum:g}s")
    return seconds


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidSession(f"{path}: expected a number, got {value!r}")
    if value < 0:
        raise InvalidSession(f"{path}: must not be negative, got {value!r}")
    return float(value)


def _actions(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise InvalidSession(f"{path}: expected a non-empty list of actions")
    if len(value) > MAX_ACTIONS:
        raise InvalidSession(f"{path}: at most {MAX_ACTIONS} actions, got {len(value)}")
    found = tuple(text(a, f"{path}[{i}]") for i, a in enumerate(value))
    for i, pattern in enumerate(found):
        if compile_glob(pattern) is None:
            raise InvalidSession(f"{path}[{i}]: {pattern!r} is not a valid action pattern")
    return found


def _fields(value: Any, path: str, allowed: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidSession(f"{path}: expected an object")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise InvalidSession(f"{path}: unknown field {unknown[0]!r} (allowed: {', '.join(allowed)})")
    return value


def _matches(patterns: Sequence[str], value: str) -> bool:
    for pattern in patterns:
        matcher = compile_glob(pattern)
        if matcher is not None and matcher(value):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Budget:
    """At most ``limit`` of ``cost`` (a CEL expression over the request, default ``1``) spent on ``actions``
    of resources of ``kind`` (``*``: any kind) in one session; ``used`` so far."""

    name: str
    kind: str
    actions: tuple[str, ...]
    limit: float
    cost: str = "1"
    used: float = 0.0

    def applies(self, kind: str, action: str) -> bool:
        return (self.kind == "*" or _matches((self.kind,), kind)) and _matches(self.actions, action)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "actions": list(self.actions),
            "limit": _plain(self.limit),
            "cost": self.cost,
            "used": _plain(self.used),
            "remaining": _plain(max(0.0, self.limit - self.used)),
        }


HOLDERS = ("agent", "subject")


@dataclass(frozen=True, slots=True)
class StandingBudget:
    """A budget that spans sessions: at most ``budget.limit`` per ``per`` (each agent, or each subject) in
    every window of ``period`` seconds, counted from the Unix epoch (``24h``: each UTC day)."""

    budget: Budget
    per: str  # one of HOLDERS
    period: float

    @property
    def name(self) -> str:
        return self.budget.name

    def holder(self, s: Session) -> str:
        return s.agent if self.per == "agent" else s.subject

    def window(self, now: float) -> float:
        """The start of the window ``now`` falls in."""
        return now - now % self.period

    def to_json(self) -> dict[str, Any]:
        out = self.budget.to_json()
        del out["used"], out["remaining"]
        return {**out, "per": self.per, "period": f"{self.period:g}s"}


def parse_standing_budget(value: Any, path: str, max_limit: float, max_period: float) -> StandingBudget:
    """``{name, per, period, kind, actions, limit, cost}`` (``per``: agent or subject; ``period`` default 24h)."""
    data = dict(_fields(value, path, ("name", "per", "period", "kind", "actions", "limit", "cost")))
    per = data.pop("per", None)
    if per not in HOLDERS:
        raise InvalidSession(f"{path}.per: expected one of {', '.join(HOLDERS)}, got {per!r}")
    period = duration(data.pop("period", "24h"), f"{path}.period", max_period)
    return StandingBudget(parse_budget(data, path, max_limit), per, period)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``max`` allowed ``actions`` on ``kind`` in any window of ``per`` seconds (sliding)."""

    kind: str
    actions: tuple[str, ...]
    max: int
    per: float

    def applies(self, kind: str, action: str) -> bool:
        return (self.kind == "*" or _matches((self.kind,), kind)) and _matches(self.actions, action)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "actions": list(self.actions), "max": self.max, "per": f"{self.per:g}s"}


def _plain(value: float) -> float | int:
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def parse_budget(value: Any, path: str, max_limit: float) -> Budget:
    """A budget ``{name, kind, actions, limit, cost}``; the cost must compile as CEL."""
    from chamberlain.engine.conditions import program

    data = _fields(value, path, ("name", "kind", "actions", "limit", "cost"))
    name = text(data.get("name"), f"{path}.name")
    if not _NAME.match(name):
        raise InvalidSession(f"{path}.name: {name!r} must be 1 to 64 letters, digits or _ . : -")
    limit = _number(data.get("limit"), f"{path}.limit")
    if limit > max_limit:
        raise InvalidSession(f"{path}.limit: {limit:g} is above the allowed maximum of {max_limit:g}")
    cost = data.get("cost", "1")
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        cost = repr(_number(cost, f"{path}.cost"))
    cost = text(cost, f"{path}.cost", limit=4096)
    try:
        program(cost)
    except CompileError as exc:
        raise InvalidSession(f"{path}.cost: {cost!r} is not a valid CEL expression: {exc}") from None
    return Budget(
        name,
        text(data.get("kind"), f"{path}.kind"),
        _actions(data.get("actions"), f"{path}.actions"),
        limit,
        cost,
    )


def parse_rate_limit(value: Any, path: str, max_per: float, max_calls: int) -> RateLimit:
    """A rate limit ``{kind, actions, max, per}``."""
    data = _fields(value, path, ("kind", "actions", "max", "per"))
    count = data.get("max")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= max_calls:
        raise InvalidSession(f"{path}.max: expected an integer between 1 and {max_calls}, got {count!r}")
    return RateLimit(
        text(data.get("kind"), f"{path}.kind"),
        _actions(data.get("actions"), f"{path}.actions"),
        count,
        duration(data.get("per"), f"{path}.per", max_per),
    )


@dataclass(frozen=True, slots=True)
class Session:
    """One agent session as stored: who, until when, what it may still spend, and its state."""

    id: str
    subject: str
    agent: str
    chain: tuple[str, ...]
    state: str
    created_at: float
    expires_at: float
    idle_timeout: float
    last_used_at: float
    opened_by: str
    budgets: tuple[Budget, ...] = ()
    rate_limits: tuple[RateLimit, ...] = ()
    calls: int = 0
    metadata: Mapping[str, Any] = field(default_factory=dict)
    ended_at: float | None = None
    ended_by: str = ""
    end_reason: str = ""
    rate_hits: tuple[tuple[float, ...], ...] = ()  # per rate limit: the instants its window counted

    def charged(
        self, budgets: tuple[Budget, ...], now: float, rate_hits: tuple[tuple[float, ...], ...]
    ) -> Session:
        """This session after a charge at ``now``: its budgets and rate windows as spent, one call more.
        Built field by field (every check in a session makes one: ``dataclasses.replace`` was 8 µs of a
        53 µs charge): a field added to the class belongs here too (a test pins them)."""
        return Session(
            self.id,
            self.subject,
            self.agent,
            self.chain,
            self.state,
            self.created_at,
            self.expires_at,
            self.idle_timeout,
            now,
            self.opened_by,
            budgets,
            self.rate_limits,
            self.calls + 1,
            self.metadata,
            self.ended_at,
            self.ended_by,
            self.end_reason,
            rate_hits,
        )

    @property
    def root(self) -> str:
        """The delegation root: the first delegate of the chain (the agent itself without one)."""
        return self.chain[-1] if self.chain else self.agent

    def ended(self) -> str:
        """Why the session is not ACTIVE ("" when it is): its state, who ended or suspended it, and why."""
        if self.state == ACTIVE:
            return ""
        detail = f" ({self.end_reason})" if self.end_reason else ""
        by = f" by {self.ended_by}" if self.state in (REVOKED, SUSPENDED) and self.ended_by else ""
        return f"session {self.id} is {self.state}{by}{detail}"

    def lapsed(self, now: float) -> str:
        """Why an ACTIVE or SUSPENDED session is over at ``now`` ("" when it is not). The ttl runs while a
        session is suspended; the idle timeout does not (resuming starts it again)."""
        if now >= self.expires_at:
            return "expired (ttl)"
        if self.state == ACTIVE and self.idle_timeout and now >= self.last_used_at + self.idle_timeout:
            return "expired (idle timeout)"
        return ""

    def cel(self, now: float) -> dict[str, Any]:
        """``request.aux_data.session`` as conditions see it."""
        return {
            "id": self.id,
            "subject": self.subject,
            "agent": self.agent,
            "chain": list(self.chain),
            "state": self.state,
            "ageSeconds": max(0.0, now - self.created_at),
            "remainingSeconds": max(0.0, self.expires_at - now),
            "calls": self.calls,
            "metadata": dict(self.metadata),
            "budgets": {
                b.name: {"limit": b.limit, "used": b.used, "remaining": max(0.0, b.limit - b.used)}
                for b in self.budgets
            },
        }


@dataclass(frozen=True, slots=True)
class Lock:
    """A lock on an agent, subject, delegation root or tool: no session, check or token exchange for it."""

    id: str
    target: str  # one of LOCK_TARGETS
    value: str
    reason: str
    created_by: str
    created_at: float
    expires_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        from chamberlain.sessions.times import rfc3339

        return {
            "id": self.id,
            "target": self.target,
            "value": self.value,
            "reason": self.reason,
            "createdBy": self.created_by,
            "createdAt": rfc3339(self.created_at),
            "expiresAt": rfc3339(self.expires_at) if self.expires_at is not None else None,
        }
