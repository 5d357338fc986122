"""The effective derived roles of one scope, computed once per check (``runtime.effectiveDerivedRoles``).

A derived role is effective in a scope when one of its parent roles is among the principal's (or
its role policies' parent roles) and its condition holds, its variables evaluated once per check.
Under strict evaluation a condition that fails names the role in :class:`FailedRuntime`, which a
condition reading ``runtime`` then fails on, as Cerbos does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chamberlain.engine.activation import EMPTY_RUNTIME, EMPTY_VARIABLES, FailedRuntime, runtime_value
from chamberlain.engine.conditions import StrictEvaluationError
from chamberlain.engine.ruletable import DerivedRole

if TYPE_CHECKING:
    from chamberlain.engine.walk import State


class ScopeDerivedRoles:
    """The derived roles effective in one scope, those whose condition failed, and ``runtime``."""

    __slots__ = ("failed", "roles", "runtime")

    def __init__(self, roles: set[str], failed: list[str]):
        self.roles = roles
        self.failed = failed
        self.runtime: Any = (
            FailedRuntime(failed) if failed else (runtime_value(roles) if roles else EMPTY_RUNTIME)
        )


def derived_roles(state: State, scope: str) -> ScopeDerivedRoles:
    """Evaluate the scope's derived roles for the check's principal (adding the effective ones to
    ``state.effective_derived_roles``)."""
    roles: set[str] = set()
    failed: list[str] = []
    route = state.route
    definitions: tuple[DerivedRole, ...] = state.engine.table.derived_roles.get(
        (route.kind, route.version, scope), ()
    )
    act = state.activation
    for dr in definitions:
        if "*" not in dr.parent_roles and dr.parent_roles.isdisjoint(route.including):
            continue
        key = (dr, "derived-role")
        values = state.var_cache.get(key)
        if values is None:
            values = (
                state.evaluate_variables(dr.params, unset_on_error=False)
                if dr.params.variables
                else EMPTY_VARIABLES
            )
            state.var_cache[key] = values
        act["constants"] = act["C"] = dr.params.constants
        act["variables"] = act["V"] = values
        state.params = None
        try:
            ok = dr.condition is None or dr.condition.test(state)
        except StrictEvaluationError:
            failed.append(dr.name)
            continue
        if ok:
            roles.add(dr.name)
            state.effective_derived_roles[dr.name] = None
    return ScopeDerivedRoles(roles, sorted(failed))
