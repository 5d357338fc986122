"""The CEL activation of one check: built once per request, updated in place per rule.

Cerbos exposes ``variables``/``V``, ``constants``/``C`` and ``globals``/``G`` as its own map type,
whose missing entries fail with ``undefined field 'x'`` (not ``no such key``):
:class:`VariablesMap` reproduces that through the CEL runtime's ``cel_select`` hook.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from chamberlain.cel import EvaluationError
from chamberlain.cel.budget import BUDGET_KEY, DEFAULT_TIMEOUT, Budget
from chamberlain.cel.cerbos_env import NOW_KEY
from chamberlain.cel.values import Timestamp


class Unconvertible:
    """A variable's value that Cerbos cannot adapt back from its Go native value (a SPIFFE ID, trust
    domain or matcher): reading the variable is an error, in cel-go's words."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message

    def __repr__(self) -> str:
        return f"Unconvertible({self.message!r})"


def readable(value: Any) -> Any:
    """``value`` as a variable read gives it (raises for an :class:`Unconvertible`)."""
    if type(value) is Unconvertible:
        raise EvaluationError(value.message)
    return value


class VariablesMap(Mapping[str, Any]):
    """A read-only name -> value map for ``V``, ``C`` and ``G``."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any] | None = None):
        self._values: dict[str, Any] = dict(values) if values else {}

    def __getitem__(self, key: str) -> Any:
        return readable(self._values[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"VariablesMap({self._values!r})"

    def cel_select(self, field: str) -> Any:
        try:
            value = self._values[field]
        except KeyError:
            raise EvaluationError(f"undefined field '{field}'") from None
        return readable(value)

    def cel_has(self, field: str) -> bool:
        return field in self._values

    def cel_index(self, key: Any) -> Any:
        return self.cel_select(key) if isinstance(key, str) else self._missing(key)

    def _missing(self, key: Any) -> Any:
        raise EvaluationError(f"undefined field '{key}'")


EMPTY_VARIABLES = VariablesMap()


class FailedRuntime:
    """``runtime`` when (under strict evaluation) some derived role conditions failed."""

    __slots__ = ("message",)

    def __init__(self, failed_roles: list[str]):
        self.message = f"failed to compute effective derived roles [{', '.join(failed_roles)}]"

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)  # the fast path falls back to the exact one, which calls cel_select

    def cel_select(self, field: str) -> Any:
        raise EvaluationError(self.message)

    def cel_has(self, field: str) -> bool:
        raise EvaluationError(self.message)


def runtime_value(roles: frozenset[str] | set[str]) -> dict[str, Any]:
    """``runtime``: the effective derived roles, sorted, under both spellings."""
    ordered = sorted(roles)
    return {"effective_derived_roles": ordered, "effectiveDerivedRoles": ordered}


EMPTY_RUNTIME = runtime_value(frozenset())


class RequestClock:
    """``now`` for one request, read from the system clock (to the nanosecond, as Cerbos's) on first
    use and fixed from then on.

    Most conditions never ask for the time, so the fast path does not pay for reading it.
    """

    __slots__ = ("_now",)

    def __init__(self) -> None:
        self._now: Timestamp | None = None

    def __call__(self) -> Timestamp | dt.datetime:
        now = self._now
        if now is None:
            now = self._now = Timestamp.now()
        return now


def base_activation(
    principal: dict[str, Any],
    resource: dict[str, Any],
    aux_data: dict[str, Any],
    globals_map: VariablesMap,
    now: dt.datetime | Timestamp | RequestClock,
    budget: Budget | float = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """The activation for a request whose principal and resource are already in CEL form.

    ``budget``: the evaluation budget of the check, or its timeout in seconds (started by the first
    long loop), see :mod:`chamberlain.cel.budget`.
    """
    return {
        "request": {"principal": principal, "resource": resource, "aux_data": aux_data, "auxData": aux_data},
        "P": principal,
        "R": resource,
        "runtime": EMPTY_RUNTIME,
        "variables": EMPTY_VARIABLES,
        "V": EMPTY_VARIABLES,
        "constants": EMPTY_VARIABLES,
        "C": EMPTY_VARIABLES,
        "globals": globals_map,
        "G": globals_map,
        NOW_KEY: now,
        BUDGET_KEY: budget,
    }
