"""Deciding a check the way Cerbos's rule table does (``internal/ruletable/check.go``).

For each action: principal policies first, then resource policies. For each of the principal's
roles (principal policies: once, they match any role), the scopes are walked from the request's
scope up to the root; in each scope the rows for (version, resource, scope, action, role and its
role-policy parent roles) are evaluated in order. A satisfied DENY decides the role at once; a
satisfied ALLOW decides it when the scope's permissions are ``OVERRIDE_PARENT`` and otherwise
(``REQUIRE_PARENTAL_CONSENT_FOR_ALLOWS``) sends the question to the parent scope. The first role
that ALLOWs wins; otherwise the first decision stands; no decision is a DENY (``NO_MATCH``).
Role policies narrow: a role with a role policy in the scope gets a DENY for every action its
rules do not allow, and for every allowed action whose condition does not hold.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chamberlain.caches import ENTRY_OVERHEAD
from chamberlain.cel import EvaluationError
from chamberlain.cel.budget import BUDGET_KEY, EVALUATION_TIMEOUT, Budget, EvaluationTimeout, limit
from chamberlain.cel.jsonvalue import output_json
from chamberlain.cel.values import Timestamp
from chamberlain.engine import glob, walkgen
from chamberlain.engine.activation import (
    EMPTY_RUNTIME,
    FailedRuntime,
    RequestClock,
    VariablesMap,
    base_activation,
    runtime_value,
)
from chamberlain.engine.conditions import Evaluation, StrictEvaluationError, cel_message, none_of
from chamberlain.engine.names import (
    NO_MATCH,
    NO_MATCH_FOR_SCOPE_PERMISSIONS,
    policy_key,
    sanitize,
    scope_parents,
    scope_value,
)
from chamberlain.engine.options import EngineOptions
from chamberlain.engine.request import EMPTY_AUX, AuxData, CheckInput, Principal, Resource
from chamberlain.engine.result import ActionEffect, CheckOutput, OutputEntry
from chamberlain.engine.result import EvaluationError as EvalErrorEntry
from chamberlain.engine.ruletable import (
    EFFECT_ALLOW,
    EFFECT_DENY,
    NO_PARAMS,
    OVERRIDE_PARENT,
    PRINCIPAL,
    REQUIRE_PARENTAL_CONSENT,
    RESOURCE,
    ROLE_GLOB,
    ROLE_LITERAL,
    DerivedRole,
    Params,
    Row,
    RuleTable,
    key_matches,
)
from chamberlain.engine.validation import validate
from chamberlain.engine.walkgen import GroupWalk, Step
from chamberlain.policy import PolicySet

_NO_MATCH_EFFECT = walkgen.NO_MATCH_EFFECT
_KINDS = (PRINCIPAL, RESOURCE)
_CACHE_LIMIT = 65536
#: What the memo tables (routes, plans, candidate rows, walks) may keep together, by a byte-aware
#: measure of their keys: the keys are the request's names (principal id, roles, scope, actions),
#: so without it 65,536 routes of 100 KB principal ids would keep 6 GB.
CACHE_BYTES = 64 << 20
_NO_EVAL_KEY = ("no-match",)


class Engine:
    """A compiled policy set and the options to check requests against it. Thread-safe."""

    def __init__(self, policies: PolicySet, table: RuleTable, options: EngineOptions):
        self.policies = policies
        self.table = table
        self.options = options
        self.globals = VariablesMap(options.globals)
        self._candidates: dict[tuple[Any, ...], tuple[Row, ...]] = {}
        self._role_denies: dict[tuple[Any, ...], tuple[Row, ...]] = {}
        self._resource_exists: dict[tuple[Any, ...], bool] = {}
        self._principal_exists: dict[tuple[Any, ...], bool] = {}
        self._routes: dict[tuple[Any, ...], _Route | None] = {}
        self._walks: dict[tuple[Any, ...], walkgen.GroupWalk] = {}
        self._cache_bytes = 0
        self._has_role_rows = bool(table.role_rows)

    # -- public -----------------------------------------------------------------------------------

    def check(self, inputs: Sequence[CheckInput], now: dt.datetime | Timestamp | None = None,
              lifted: frozenset[str] = frozenset()) -> list[CheckOutput]:  # fmt: skip
        """Decide every input; ``now`` (one instant for the whole call) defaults to the current time;
        ``lifted``: DENY rules that do not apply (see :meth:`check_one`).

        The inputs share one evaluation budget (``evaluation_timeout``, see :mod:`chamberlain.cel.budget`).
        """
        when = _instant(now)
        budget = Budget(self.options.evaluation_timeout)
        return [self.check_one(inp, when, budget, lifted) for inp in inputs]

    def check_one(self, inp: CheckInput, now: dt.datetime | Timestamp | RequestClock,
                  budget: Budget | float | None = None, lifted: frozenset[str] = frozenset()) -> CheckOutput:  # fmt: skip
        """Decide one input at ``now`` (a UTC datetime, a CEL timestamp, or a clock giving one), within
        ``budget`` (default: the engine's timeout).

        ``lifted``: DENY rules (by their output ``src``, ``<policy key>#<rule>``) that do not apply to this
        decision, as if their condition did not hold (an approved action lifts the rule that asked for it).

        When the budget runs out, every action not decided yet is a DENY by :data:`EVALUATION_TIMEOUT`.
        """
        principal, resource = inp.principal, inp.resource
        actions = list(dict.fromkeys(inp.actions))
        effects: dict[str, ActionEffect] = {}
        out = CheckOutput(inp.request_id, resource.id, effects, session_id=inp.session_id,
                          actor_chain=inp.actor_chain, approval_id=inp.approval_id)  # fmt: skip
        route = self._route(principal, resource)
        if route is None:
            return self._finish(out, actions)
        if route.schemas is not None:
            errors = validate(self.policies.schemas, route.schemas, principal.attr, resource.attr, actions)
            if errors:
                out.validation_errors = errors
                if self.options.schema_enforcement == "reject":
                    for action in actions:
                        effects[action] = ActionEffect(EFFECT_DENY, route.r_key)
                    return self._finish(out, actions)
        if not route.p_exists and not route.r_exists:
            return self._finish(out, actions)
        state = self._state(inp, route, now, budget)
        state.lifted = lifted
        out.state = state
        try:
            for action in actions:
                effects[action] = state.decide(action, route)
        except EvaluationTimeout as exc:  # not a condition that failed: nothing undecided may be allowed
            state.errors[("", str(exc))] = None
            for action in actions:
                effects.setdefault(action, _TIMED_OUT)
        out.effective_derived_roles = sorted(state.effective_derived_roles)  # Cerbos: Go map order
        out.outputs = state.outputs
        out.trace = state.trace or []
        out.evaluation_errors = [EvalErrorEntry(e, msg) for e, msg in sorted(state.errors)]
        return self._finish(out, actions)

    def decide(self, principal: Principal, resource: Resource, action: str, aux_data: AuxData = EMPTY_AUX,
               now: dt.datetime | None = None) -> ActionEffect:  # fmt: skip
        """The effect of one action (no outputs, errors or explanation kept): the fast path."""
        key = (principal.id, principal.scope, principal.policy_version, principal.roles,
               resource.kind, resource.scope, resource.policy_version)  # fmt: skip
        route = self._routes.get(key, _MISSING)  # _route's lookup, inline: this is the hot path
        if route is _MISSING:
            route = self._route(principal, resource)
        if route is None or (not route.p_exists and not route.r_exists):
            return _DENIED
        if route.schemas is not None:
            return self.check_one(
                CheckInput(principal, resource, (action,), aux_data), _instant(now)
            ).actions[action]
        plan = route.plans.get(action)
        if plan is None:
            plan = self.plan(route, action)
        if plan.constant is not None:
            return plan.constant
        when = _instant(now)
        activation = base_activation(principal._cel or principal.cel(), resource._cel or resource.cel(),
                                     aux_data.cel(), self.globals, when, self.options.evaluation_timeout)  # fmt: skip
        try:
            if plan.single_uncached is not None:
                return _final_effect(plan.single_uncached(_State.for_generated_walk(self, activation)))
            return _State(self, activation, self.options.strict_evaluation, route, fast=True).walk(
                plan, action
            )
        except EvaluationTimeout:
            return _TIMED_OUT

    def _state(self, inp: CheckInput, route: _Route, now: dt.datetime | Timestamp | RequestClock,
               budget: Budget | float | None) -> _State:  # fmt: skip
        activation = base_activation(inp.principal.cel(), inp.resource.cel(), inp.aux_cel(), self.globals, now,
                                     self.options.evaluation_timeout if budget is None else budget)  # fmt: skip
        return _State(self, activation, self.options.strict_evaluation, route)

    def _route(self, principal: Any, resource: Any) -> _Route | None:
        """Everything about a check that depends only on names (memoised): scopes, keys, roles."""
        key = (principal.id, principal.scope, principal.policy_version, principal.roles,
               resource.kind, resource.scope, resource.policy_version)  # fmt: skip
        route = self._routes.get(key, _MISSING)
        if route is _MISSING:
            route = self._make_route(principal, resource)
            self._remember(self._routes, key, route)
        return route

    def _make_route(self, principal: Any, resource: Any) -> _Route | None:
        opts = self.options
        p_scope = scope_value(principal.scope or opts.default_scope)
        p_version = principal.policy_version or opts.default_policy_version
        r_scope = scope_value(resource.scope or opts.default_scope)
        r_version = resource.policy_version or opts.default_policy_version
        p_scopes, p_key = self._all_scopes(PRINCIPAL, p_scope, principal.id, p_version)
        r_scopes, r_key = self._all_scopes(RESOURCE, r_scope, resource.kind, r_version)
        if not p_scopes and not r_scopes:
            return None
        kind = sanitize(resource.kind)
        schemas = None
        if opts.schema_enforcement != "none" and r_scopes:
            schemas = self.table.schemas.get((kind, r_version, r_scopes[0]))
        parents_in_scope = self.table.parent_roles.get(r_scope)
        roles = principal.roles
        role_parents = [self._role_with_parents(parents_in_scope, role) for role in roles]
        return _Route(
            pid=principal.id, version=r_version, kind=kind, roles=roles,
            role_parents=[(rp, frozenset(rp)) for rp in role_parents],
            including=frozenset(r for rp in role_parents for r in rp),
            p_scopes=p_scopes, p_key=p_key, p_exists=self._scoped_principal_exists(p_version, p_scopes),
            r_scopes=r_scopes, r_key=r_key, r_exists=self._scoped_resource_exists(r_version, kind, r_scopes),
            schemas=schemas,
        )  # fmt: skip

    # -- lookups (memoised: they depend only on the request's names, never on attributes) ---------

    def _all_scopes(self, kind: str, scope: str, name: str, version: str) -> tuple[list[str], str]:
        known = self.table.scopes[kind]
        scopes: list[str] = []
        if scope in known:
            scopes.append(scope)
        elif not self.options.lenient_scope_search:
            return [], ""
        scopes.extend(s for s in scope_parents(scope) if s in known)
        if not scopes:
            return [], ""
        return scopes, policy_key(kind, name, version, scopes[0])

    def _scoped_principal_exists(self, version: str, scopes: list[str]) -> bool:
        key = (version, *scopes)
        found = self._principal_exists.get(key)
        if found is None:
            found = any((PRINCIPAL, version, s) in self.table.rows for s in scopes)
            self._remember(self._principal_exists, key, found)
        return found

    def _scoped_resource_exists(self, version: str, kind: str, scopes: list[str]) -> bool:
        key = (version, kind, *scopes)
        found = self._resource_exists.get(key)
        if found is None:
            rows = self.table.rows
            found = any(
                key_matches(row.resource, kind)
                for s in scopes
                for row in (
                    *rows.get((RESOURCE, version, s), ()),
                    *self.table.role_rows.get((version, s), ()),
                )
            )
            self._remember(self._resource_exists, key, found)
        return found

    def _role_with_parents(self, parents_in_scope: dict[str, tuple[str, ...]] | None, role: str) -> list[str]:
        if not parents_in_scope or role not in parents_in_scope:
            return [role]
        return [role, *parents_in_scope[role]]

    def plan(self, route: _Route, action: str) -> _Plan:
        """The walk for ``action`` on ``route``: rows looked up and filtered by role, once per route."""
        kinds = []
        conditional = False
        for pt in _KINDS:
            if pt == PRINCIPAL:
                main_key, scopes, exists = route.p_key, route.p_scopes, route.p_exists
            else:
                main_key, scopes, exists = route.r_key, route.r_scopes, route.r_exists
            groups = []
            for i, (parent_roles, role_set) in enumerate(route.role_parents):
                if i > 0 and pt == PRINCIPAL:
                    break  # principal policy rows match any role: one pass covers them all
                steps = []
                for scope in scopes:
                    rows = self.candidates(pt, route.version, scope, route.kind, action,
                                           route.pid if pt == PRINCIPAL else "")  # fmt: skip
                    if pt == RESOURCE and self._has_role_rows:
                        denies = self.role_policy_denies(
                            route.version, scope, route.kind, action, parent_roles
                        )
                        rows = (*denies, *rows)
                    rows = tuple(b for b in rows if _applies_to(b, parent_roles, role_set))
                    conditional = conditional or any(_conditional(b) for b in rows)
                    steps.append((scope, rows, self.table.scope_permissions.get(scope)))
                groups.append(_Group(main_key if exists else NO_MATCH, tuple(steps)))
            if pt == PRINCIPAL and not any(rows for g in groups for _, rows, _ in g.steps):
                continue  # a kind without rows only says NO_MATCH, which the resource kind overwrites
            kinds.append((pt, tuple(groups)))
        plan = _Plan(tuple(kinds), None)
        if not conditional and not self.table.reads_runtime:
            probe = _State(self, {}, self.options.strict_evaluation, route, fast=True)
            plan = _Plan(plan.kinds, probe.walk(plan, action))
        elif not self.table.reads_runtime and not self.options.strict_evaluation:
            self._generate_walks(plan)
        if len(route.plans) >= _CACHE_LIMIT:
            route.plans.clear()
        self._charge(ENTRY_OVERHEAD + 2 * len(action))
        route.plans[action] = plan
        return plan

    def _generate_walks(self, plan: _Plan) -> None:
        """Give each group of the plan its generated walk (shared between equal groups)."""
        counts = Counter(b.eval_key for _, groups in plan.kinds for g in groups for _, rows, _ in g.steps
                         for b in rows)  # fmt: skip
        shared = frozenset(key for key, n in counts.items() if n > 1)
        for _, groups in plan.kinds:
            for group in groups:
                rows_key = tuple((scope, tuple(map(id, rows)), perm) for scope, rows, perm in group.steps)
                key = (
                    group.policy_key,
                    rows_key,
                    shared & {b.eval_key for _, rows, _ in group.steps for b in rows},
                )
                walk = self._walks.get(key)
                if walk is None:
                    walk = walkgen.generate(
                        group.policy_key, group.steps, shared, NO_MATCH_FOR_SCOPE_PERMISSIONS
                    )
                    self._remember(self._walks, key, walk)
                group.walk = walk
        if len(plan.kinds) == 1 and len(plan.kinds[0][1]) == 1:
            plan.single = plan.kinds[0][1][0].walk
            if not shared:
                plan.single_uncached = plan.single

    def candidates(
        self, kind: str, version: str, scope: str, resource: str, action: str, pid: str
    ) -> tuple[Row, ...]:
        """The rows of a scope for a resource kind and action (any role), in table order."""
        key = (kind, version, scope, resource, action, pid)
        found = self._candidates.get(key)
        if found is None:
            found = tuple(
                row
                for row in self.table.rows.get((kind, version, scope), ())
                if (not pid or row.principal == pid)
                and row.action
                and key_matches(row.resource, resource)
                and key_matches(row.action, action)
            )
            self._remember(self._candidates, key, found)
        return found

    def role_policy_denies(
        self, version: str, scope: str, resource: str, action: str, roles: list[str]
    ) -> tuple[Row, ...]:
        """The DENYs role policies in the scope add for these roles (``appendRolePolicyDenies``)."""
        key = (version, scope, resource, action, *roles)
        found = self._role_denies.get(key)
        if found is None:
            found = ()
            if self._scope_has_rows_for(version, scope, resource, roles):
                found = tuple(self._synthesise_denies(version, scope, resource, action, roles))
            self._remember(self._role_denies, key, found)
        return found

    def _scope_has_rows_for(self, version: str, scope: str, resource: str, roles: list[str]) -> bool:
        """Whether any row of the scope names the resource and one of the roles.

        Cerbos's index query returns nothing, role policy DENYs included, when no row of the scope
        matches the resource and roles (whatever the action), so such a scope is passed through.
        """
        role_set = frozenset(roles)
        rows = (
            *self.table.rows.get((RESOURCE, version, scope), ()),
            *self.table.role_rows.get((version, scope), ()),
        )
        for row in rows:
            if key_matches(row.resource, resource) and row.role and row.matches_roles(roles, role_set):
                return True
        return False

    def _synthesise_denies(
        self, version: str, scope: str, resource: str, action: str, roles: list[str]
    ) -> Iterable[Row]:
        rows = self.table.role_rows.get((version, scope), ())
        by_role: dict[str, list[Row]] = {}
        for row in rows:
            if any(key_matches(row.role, r) for r in roles):
                by_role.setdefault(row.role, []).append(row)
        for role in roles:
            role_rows = by_role.get(role)
            if not role_rows:
                continue
            rep = role_rows[0]
            for_resource = [r for r in role_rows if key_matches(r.resource, resource)]
            if not for_resource:
                yield _no_match_deny(rep, resource, action)
                continue
            matched = [
                r
                for r in for_resource
                if any(a == action or glob.matches(a, action) for a in r.allow_actions or ())
            ]
            if not matched:
                yield _no_match_deny(for_resource[0], for_resource[0].resource, action)
                continue
            for mb in matched:
                if mb.condition is None:
                    if mb.output_activated is not None or mb.output_not_met is not None:
                        yield _derived(mb, action, effect="", condition=None,
                                       activated=mb.output_activated, not_met=mb.output_not_met)  # fmt: skip
                    continue
                yield _derived(mb, action, effect=EFFECT_DENY, condition=none_of(mb.condition),
                               activated=mb.output_not_met, not_met=mb.output_activated)  # fmt: skip

    def _remember(self, cache: dict[Any, Any], key: Any, value: Any) -> None:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        self._charge(2 * _key_cost(key))  # the value (a route's scopes and roles) about as much again
        cache[key] = value

    def _charge(self, cost: int) -> None:
        """Count ``cost`` bytes against :data:`CACHE_BYTES`; past it, every memo table is emptied."""
        self._cache_bytes += cost
        if self._cache_bytes > CACHE_BYTES:
            for table in (self._candidates, self._role_denies, self._resource_exists, self._principal_exists,
                          self._routes, self._walks):  # fmt: skip
                table.clear()
            self._cache_bytes = cost

    @staticmethod
    def _finish(out: CheckOutput, actions: list[str]) -> CheckOutput:
        effects = out.actions
        for action in actions:
            if action not in effects:
                effects[action] = ActionEffect(EFFECT_DENY, NO_MATCH)
        return out


def _instant(now: dt.datetime | Timestamp | None) -> dt.datetime | Timestamp | RequestClock:
    """The request time conditions see: ``now`` (a datetime in UTC), or the clock, read on first use."""
    if now is None:
        return RequestClock()
    return now.astimezone(dt.UTC) if isinstance(now, dt.datetime) else now


def _final_effect(walked: tuple[str, str, str, Row | None]) -> ActionEffect:
    """A plan's only group walk as the action's effect (no match is a DENY)."""
    effect, policy, scope, row = walked
    return ActionEffect(EFFECT_DENY if effect == _NO_MATCH_EFFECT else effect, policy, scope, row)


def _applies_to(b: Row, parent_roles: list[str], role_set: frozenset[str]) -> bool:
    """Whether a row applies to a role (with its role-policy parent roles)."""
    if b.role_kind == ROLE_LITERAL:
        return b.role in role_set or b.from_role_policy
    return b.role_kind != ROLE_GLOB or b.matches_roles(parent_roles, role_set)


def _conditional(b: Row) -> bool:
    dr = b.derived_role
    return b.condition is not None or (dr is not None and dr.condition is not None)


def _derived(mb: Row, action: str, *, effect: str, condition: Any, activated: Any, not_met: Any) -> Row:
    return Row(policy=mb.policy, kind=RESOURCE, version=mb.version, scope=mb.scope, resource=mb.resource,
               role=mb.role, action=action, name=mb.name, effect=effect, condition=condition, params=mb.params,
               eval_key=mb.eval_key, output_activated=activated, output_not_met=not_met,
               from_role_policy=True, source=mb.source)  # fmt: skip


def _no_match_deny(rep: Row, resource: str, action: str) -> Row:
    return Row(policy=rep.policy, kind=RESOURCE, version=rep.version, scope=rep.scope, resource=resource,
               role=rep.role, action=action, name="", effect=EFFECT_DENY, condition=None, params=NO_PARAMS,
               eval_key=_NO_EVAL_KEY, from_role_policy=True, no_match_for_scope_permissions=True)  # fmt: skip


def _key_cost(key: tuple[Any, ...]) -> int:
    """The bytes a memo key keeps alive, about: its strings, and the strings of the tuples in it."""
    cost = ENTRY_OVERHEAD
    for part in key:
        if type(part) is str:
            cost += len(part)
        elif type(part) is tuple or type(part) is frozenset:
            cost += 8 * len(part) + sum(len(p) for p in part if type(p) is str)
        else:
            cost += 8
    return cost


_MISSING: Any = object()
_STRICT_DENY = "STRICT_DENY"  # a group walk ended by a condition error under strict evaluation
_NOT_KEPT: Any = None  # a container the fast path never reads
_DENIED = ActionEffect(EFFECT_DENY, NO_MATCH)
_TIMED_OUT = ActionEffect(EFFECT_DENY, EVALUATION_TIMEOUT)


@dataclass(frozen=True, slots=True)
class _Route:
    """The name-dependent part of a check: scopes searched, policy keys, roles with parents."""

    pid: str
    version: str  # the resource's (Cerbos looks principal rows up with it too)
    kind: str  # sanitised resource kind
    roles: tuple[str, ...]
    role_parents: list[tuple[list[str], frozenset[str]]]
    including: frozenset[str]
    p_scopes: list[str]
    p_key: str
    p_exists: bool
    r_scopes: list[str]
    r_key: str
    r_exists: bool
    schemas: Any
    plans: dict[str, _Plan] = field(default_factory=dict)  # per action, built on first use


@dataclass(slots=True, eq=False)
class _Group:
    """One role's walk: the policy key it reports when no rule matches, and its scope steps.

    ``walk``: the same walk generated as code (walkgen) for the fast path, when it applies.
    """

    policy_key: str
    steps: tuple[Step, ...]
    walk: GroupWalk | None = None


@dataclass(slots=True, eq=False)
class _Plan:
    """What a check of one action walks for one route, with every lookup done once.

    ``kinds``: principal policies, then resource policies; each a list of role groups (one for
    principal policies, which match any role). ``constant``: the effect, when no row's outcome
    depends on the request's attributes (no conditions at all), else ``None``.
    """

    kinds: tuple[tuple[str, tuple[_Group, ...]], ...]
    constant: ActionEffect | None
    single: GroupWalk | None = None  # the generated walk of the only group, if one kind has one group
    single_uncached: GroupWalk | None = None  # the same, when it never reads the per-check caches


class _ScopeDerivedRoles:
    __slots__ = ("failed", "roles", "runtime")

    def __init__(self, roles: set[str], failed: list[str]):
        self.roles = roles
        self.failed = failed
        self.runtime: Any = (
            FailedRuntime(failed) if failed else (runtime_value(roles) if roles else EMPTY_RUNTIME)
        )


class _State(Evaluation):
    """The mutable state of one check input: caches, outputs, errors and the trace.

    It is the :class:`Evaluation` its conditions read (activation, errors, strictness) too.
    """

    __slots__ = ("condition_cache", "effective_derived_roles", "engine", "including_roles", "kind", "lifted",
                 "outputs", "params", "scope_derived_roles", "trace", "track_derived_roles", "var_cache", "version")  # fmt: skip

    def __init__(self, engine: Engine, activation: dict[str, Any], strict: bool, route: _Route, *,
                 fast: bool = False):  # fmt: skip
        # Evaluation's fields, set here rather than through its __init__: this runs once per check.
        self.activation = activation
        self.strict = strict
        self.errors = {}
        self.engine = engine
        self.version = route.version
        self.kind = route.kind
        self.including_roles = route.including
        self.var_cache: dict[Any, VariablesMap] = {}
        self.condition_cache: dict[tuple[Any, ...], bool] = {}
        # The fast path (a bare effect) keeps no trace or outputs, and computes effective derived
        # roles only when some condition can read them.
        self.trace: list[tuple[str, str, Row, bool | None]] | None = None if fast else []
        track = self.track_derived_roles = not fast or engine.table.reads_runtime
        self.scope_derived_roles: dict[str, _ScopeDerivedRoles] = {} if track else _NOT_KEPT
        self.effective_derived_roles: dict[str, None] = {} if track else _NOT_KEPT
        self.outputs: list[OutputEntry] = [] if not fast else _NOT_KEPT
        self.params: Params | None = NO_PARAMS  # whose constants and variables C and V show now
        self.lifted: frozenset[str] = frozenset()  # DENY rules an approval lifts (full checks only)

    @classmethod
    def for_generated_walk(cls, engine: Engine, activation: dict[str, Any]) -> _State:
        """A state with only what a generated walk without cached rows reads (the fast path's own).

        Such a walk calls ``use_params`` (constants and variables) and ``failed`` (CEL errors,
        never strict), nothing else; the other fields stay unset.
        """
        state = cls.__new__(cls)
        state.activation = activation
        state.strict = False
        state.errors = {}
        state.engine = engine
        state.var_cache = {}
        state.params = NO_PARAMS
        state.lifted = frozenset()
        return state

    # -- the decision -----------------------------------------------------------------------------

    def decide(self, action: str, route: _Route) -> ActionEffect:
        """The effect of ``action`` (Cerbos's per-action loop over policy kinds, roles and scopes)."""
        plan = route.plans.get(action)
        if plan is None:
            plan = self.engine.plan(route, action)
        if plan.constant is not None and self.trace is None:  # no condition can change the answer
            return plan.constant
        return self.walk(plan, action)

    def walk(self, plan: _Plan, action: str) -> ActionEffect:
        """Walk a plan: the first role that ALLOWs wins, else the first decision, else NO_MATCH."""
        # The generated walks cover the fast path only: no trace or outputs, no derived roles
        # to track, and no strict evaluation (whose errors end the walk).
        generated = self.trace is None and not self.track_derived_roles and not self.strict
        if generated and plan.single is not None:  # one kind, one role: its walk is the answer
            return _final_effect(plan.single(self))
        info_effect, info_policy, info_scope, info_row = _NO_MATCH_EFFECT, "", "", None
        for pt, groups in plan.kinds:
            info_effect = _NO_MATCH_EFFECT
            for group in groups:
                if generated and group.walk is not None:
                    effect, policy, scope_hit, row_hit = group.walk(self)
                else:
                    effect, policy, scope_hit, row_hit = self.walk_group(group, action, pt == RESOURCE)
                    if effect is _STRICT_DENY:
                        return ActionEffect(EFFECT_DENY, policy, scope_hit, row_hit)
                if info_effect == _NO_MATCH_EFFECT:
                    info_effect, info_policy, info_scope, info_row = effect, policy, scope_hit, row_hit
                if effect == EFFECT_ALLOW:
                    info_effect, info_policy, info_scope, info_row = effect, policy, scope_hit, row_hit
                    break
                if (
                    effect == EFFECT_DENY
                    and info_policy == NO_MATCH_FOR_SCOPE_PERMISSIONS
                    and policy != NO_MATCH_FOR_SCOPE_PERMISSIONS
                ):
                    info_effect, info_policy, info_scope, info_row = effect, policy, scope_hit, row_hit
            if info_effect in (EFFECT_ALLOW, EFFECT_DENY):
                break
        if info_effect == _NO_MATCH_EFFECT:
            info_effect = EFFECT_DENY
        return ActionEffect(info_effect, info_policy, info_scope, info_row)

    def walk_group(self, group: _Group, action: str, is_resource: bool) -> tuple[str, str, str, Row | None]:
        """One role's walk through the scopes: ``(effect, policy, scope, row)``.

        The effect is ``_STRICT_DENY`` when a condition failed under strict evaluation, which
        ends the whole check of the action with a DENY by that row.
        """
        trace = self.trace
        full = trace is not None  # outputs and the trace are kept; the fast path wants only the effect
        track_roles = is_resource and self.track_derived_roles
        allow_row: Row | None = None
        policy, scope_hit = group.policy_key, ""
        for scope, bindings, permissions in group.steps:
            if track_roles:
                self.enter_scope(scope)
            for b in bindings:
                try:
                    satisfied = self.satisfied(b)
                except StrictEvaluationError:
                    if full:
                        trace.append((action, scope, b, None))
                    return _STRICT_DENY, b.policy.key, scope, b
                if full:
                    trace.append((action, scope, b, bool(satisfied)))
                if satisfied is None:
                    continue
                if (
                    satisfied
                    and self.lifted
                    and b.effect == EFFECT_DENY
                    and b.policy.rule_fqn(b.name) in self.lifted
                ):
                    continue  # approved for this one decision: the rule and its output do not apply
                if satisfied:
                    if b.output_activated is not None and full:
                        self.output(b, action, b.output_activated)
                    if b.effect == EFFECT_ALLOW:
                        if allow_row is None:
                            allow_row = b
                    elif b.effect == EFFECT_DENY:
                        return EFFECT_DENY, (b.policy.key if b.from_role_policy else policy), scope, b
                    elif b.no_match_for_scope_permissions:
                        policy, scope_hit = NO_MATCH_FOR_SCOPE_PERMISSIONS, scope
                elif b.output_not_met is not None and full:
                    self.output(b, action, b.output_not_met)
            if allow_row is not None:
                if permissions == REQUIRE_PARENTAL_CONSENT:
                    allow_row = None
                elif permissions == OVERRIDE_PARENT:
                    return EFFECT_ALLOW, policy, scope, allow_row
        return _NO_MATCH_EFFECT, policy, scope_hit, None

    # -- rows -------------------------------------------------------------------------------------

    def satisfied(self, b: Row) -> bool | None:
        """Whether a row's derived role condition and condition hold (cached per check).

        ``None`` when the derived role's condition does not hold on first evaluation: Cerbos then
        skips the row without its ``conditionNotMet`` output, while a later cache hit for the same
        row reports plain ``False`` (and so emits it) — reproduced as is.
        """
        params = b.params
        if params.variables and params not in self.var_cache:
            self.var_cache[params] = self.evaluate_variables(params, unset_on_error=True)
        cache = self.condition_cache
        key = b.eval_key
        cached = cache.get(key)
        if cached is not None:
            return cached
        test = b.derived_role_test
        if test is not None:
            dr_params = b.derived_role.params  # type: ignore[union-attr]
            if dr_params is not self.params:
                self.use_params(dr_params)
            if not test(self):
                cache[key] = False
                return None
        test = b.condition_test
        if test is None:
            result = True
        else:
            if params is not self.params:
                self.use_params(params)
            result = test(self)
        cache[key] = result
        return result

    def use_params(self, params: Params) -> None:
        """Point ``C``/``V`` at a policy's constants and (evaluated once per check) variables."""
        if params is self.params:
            return
        act = self.activation
        act["constants"] = act["C"] = params.constants
        if not params.variables:
            act["variables"] = act["V"] = _EMPTY_VARS
            self.params = params
            return
        values = self.var_cache.get(params)
        if values is None:
            values = self.evaluate_variables(params, unset_on_error=True)
            self.var_cache[params] = values
        act["variables"] = act["V"] = values
        self.params = params

    def evaluate_variables(self, params: Params, *, unset_on_error: bool) -> VariablesMap:
        self.params = None  # C and V now point elsewhere
        act = self.activation
        act["constants"] = act["C"] = params.constants
        values: dict[str, Any] = {}
        view = VariablesMap.__new__(VariablesMap)
        view._values = values  # the variables evaluated so far, without copying
        act["variables"] = act["V"] = view
        for name, prog, text in params.variables:
            try:
                values[name] = prog.evaluate(act)
            except EvaluationError as exc:
                self.errors[(text, cel_message(exc))] = None
                if not unset_on_error and not self.strict:
                    values[name] = None
        return view

    def output(self, b: Row, action: str, prog: Any) -> None:
        self.use_params(b.params)
        src = b.policy.rule_fqn(b.name)
        try:
            value = output_json(prog.evaluate(self.activation))
        except EvaluationError as exc:
            self.outputs.append(OutputEntry(src, action, error=cel_message(exc)))
            return
        self.outputs.append(OutputEntry(src, action, val=value))

    # -- derived roles ----------------------------------------------------------------------------

    def enter_scope(self, scope: str) -> None:
        """Compute (once) the scope's effective derived roles and expose them as ``runtime``."""
        sdr = self.scope_derived_roles.get(scope)
        if sdr is None:
            sdr = self.compute_derived_roles(scope)
            self.scope_derived_roles[scope] = sdr
        self.activation["runtime"] = sdr.runtime

    def compute_derived_roles(self, scope: str) -> _ScopeDerivedRoles:
        roles: set[str] = set()
        failed: list[str] = []
        definitions: tuple[DerivedRole, ...] = self.engine.table.derived_roles.get(
            (self.kind, self.version, scope), ()
        )
        for dr in definitions:
            if "*" not in dr.parent_roles and dr.parent_roles.isdisjoint(self.including_roles):
                continue
            key = (dr, "derived-role")
            values = self.var_cache.get(key)
            if values is None:
                values = (
                    self.evaluate_variables(dr.params, unset_on_error=False)
                    if dr.params.variables
                    else _EMPTY_VARS
                )
                self.var_cache[key] = values
            act = self.activation
            act["constants"] = act["C"] = dr.params.constants
            act["variables"] = act["V"] = values
            self.params = None
            try:
                ok = dr.condition is None or dr.condition.test(self)
            except StrictEvaluationError:
                failed.append(dr.name)
                continue
            if ok:
                roles.add(dr.name)
                self.effective_derived_roles[dr.name] = None
        return _ScopeDerivedRoles(roles, sorted(failed))

    def explain_condition(self, row: Row) -> list[Any]:
        """Re-evaluate a row's condition expressions (for explanations), within a budget of their own."""
        act = dict(self.activation)
        act[BUDGET_KEY] = self.engine.options.evaluation_timeout
        sdr = self.scope_derived_roles.get(row.scope)
        if sdr is not None:
            act["runtime"] = sdr.runtime
        act["constants"] = act["C"] = row.params.constants
        act["variables"] = act["V"] = self.var_cache.get(row.params, _EMPTY_VARS)
        assert row.condition is not None
        with limit(None):  # not the request's budget (its deadline may have passed, or it may preempt)
            return row.condition.explain(act)


_EMPTY_VARS = VariablesMap()
