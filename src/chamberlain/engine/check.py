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

Which rows a check walks is :mod:`~chamberlain.engine.rows`; the fast path's generated walks are
:mod:`~chamberlain.engine.fastpath`; ``C``/``V`` are :class:`~chamberlain.engine.conditions.Evaluation`'s,
the effective derived roles :mod:`~chamberlain.engine.derived_roles`. This module reads in the order
a decision happens: :class:`Engine` (the request's route, schema validation, a plan per action), then
:class:`State` (the walk over one plan: roles, scopes, rows, what each row's conditions say), then
:class:`FastState` (the state of ``PDP.is_allowed``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from chamberlain.caches import ENTRY_OVERHEAD
from chamberlain.cel import EvaluationError
from chamberlain.cel.budget import BUDGET_KEY, EVALUATION_TIMEOUT, Budget, EvaluationTimeout, limit
from chamberlain.cel.jsonvalue import output_json
from chamberlain.cel.values import Timestamp
from chamberlain.engine.activation import EMPTY_VARIABLES, RequestClock, VariablesMap, base_activation
from chamberlain.engine.attribute_validation import validate
from chamberlain.engine.conditions import Evaluation, StrictEvaluationError, cel_message
from chamberlain.engine.derived_roles import ScopeDerivedRoles, derived_roles
from chamberlain.engine.fastpath import final_effect, generate_walks, generated_walks_apply
from chamberlain.engine.names import NO_MATCH, NO_MATCH_FOR_SCOPE_PERMISSIONS
from chamberlain.engine.options import EngineOptions
from chamberlain.engine.request import EMPTY_AUX, AuxData, CheckInput, Principal, Resource
from chamberlain.engine.result import (
    CONDITION_NOT_MET,
    DERIVED_ROLE_NOT_MET,
    FAILED,
    HELD,
    LIFTED,
    ActionEffect,
    CheckOutput,
    ExpressionError,
    OutputEntry,
)
from chamberlain.engine.rows import CACHE_LIMIT, Group, Plan, Route, RowIndex
from chamberlain.engine.ruletable import (
    NO_PARAMS,
    OVERRIDE_PARENT,
    REQUIRE_PARENTAL_CONSENT,
    RESOURCE,
    Row,
    RuleTable,
)
from chamberlain.engine.walkgen import NO_MATCH_EFFECT, WalkResult
from chamberlain.policy import PolicySet
from chamberlain.policy.model import EFFECT_ALLOW, EFFECT_DENY


class Engine:
    """A compiled policy set and the options to check requests against it. Thread-safe."""

    def __init__(self, policies: PolicySet, table: RuleTable, options: EngineOptions):
        self.policies = policies
        self.table = table
        self.options = options
        self.globals = VariablesMap(options.globals)
        self.rows = RowIndex(table, options)
        self.generated_walks = generated_walks_apply(table, options)
        self.fast_state = FastState if self.generated_walks else State  # the state decide() walks with
        self.strict = options.strict_evaluation  # read by every State: one attribute lookup, not two
        self.reads_runtime = table.reads_runtime

    def check(
        self,
        inputs: Sequence[CheckInput],
        now: dt.datetime | Timestamp | None = None,
        lifted: frozenset[str] = frozenset(),
    ) -> list[CheckOutput]:
        """Decide every input; ``now`` (one instant for the whole call) defaults to the current time;
        ``lifted``: DENY rules that do not apply (see :meth:`check_one`).

        The inputs share one evaluation budget (``evaluation_timeout``, see :mod:`chamberlain.cel.budget`).
        """
        when = _instant(now)
        budget = Budget(self.options.evaluation_timeout)
        return [self.check_one(inp, when, budget, lifted) for inp in inputs]

    def check_one(
        self,
        inp: CheckInput,
        now: dt.datetime | Timestamp | RequestClock,
        budget: Budget | float | None = None,
        lifted: frozenset[str] = frozenset(),
    ) -> CheckOutput:
        """Decide one input at ``now`` (a UTC datetime, a CEL timestamp, or a clock giving one), within
        ``budget`` (default: the engine's timeout).

        ``lifted``: DENY rules (by their output ``src``, ``<policy key>#<rule>``) that do not apply to this
        decision, as if their condition did not hold (an approved action lifts the rule that asked for it).

        When the budget runs out, every action not decided yet is a DENY by :data:`EVALUATION_TIMEOUT`.
        """
        principal, resource = inp.principal, inp.resource
        actions = list(dict.fromkeys(inp.actions))
        effects: dict[str, ActionEffect] = {}
        out = CheckOutput(
            inp.request_id,
            resource.id,
            effects,
            session_id=inp.session_id,
            actor_chain=inp.actor_chain,
            approval_id=inp.approval_id,
        )
        route = self.rows.route(principal, resource)
        if route is None:
            return _finish(out, actions)
        if route.schemas is not None:
            errors = validate(self.policies.schemas, route.schemas, principal.attr, resource.attr, actions)
            if errors:
                out.validation_errors = errors
                if self.options.schema_enforcement == "reject":
                    for action in actions:
                        effects[action] = ActionEffect(EFFECT_DENY, route.r_key)
                    return _finish(out, actions)
        if not route.p_exists and not route.r_exists:
            return _finish(out, actions)
        activation = base_activation(
            principal.cel(),
            resource.cel(),
            inp.aux_cel(),
            self.globals,
            now,
            self.options.evaluation_timeout if budget is None else budget,
        )
        state = State(self, activation, route, lifted=lifted)
        out.state = state
        try:
            for action in actions:
                effects[action] = state.decide(action)
        except EvaluationTimeout as exc:  # not a condition that failed: nothing undecided may be allowed
            state.errors[("", str(exc))] = None
            for action in actions:
                effects.setdefault(action, _TIMED_OUT)
        out.effective_derived_roles = sorted(state.effective_derived_roles)  # Cerbos: Go map order
        out.outputs = state.outputs
        out.trace = state.trace or []
        out.evaluation_errors = [ExpressionError(e, msg) for e, msg in sorted(state.errors)]
        return _finish(out, actions)

    def decide(
        self,
        principal: Principal,
        resource: Resource,
        action: str,
        aux_data: AuxData = EMPTY_AUX,
        now: dt.datetime | None = None,
    ) -> ActionEffect:
        """The effect of one action (no outputs, errors or explanation kept): the fast path."""
        key = (
            principal.id,
            principal.scope,
            principal.policy_version,
            principal.roles,
            resource.kind,
            resource.scope,
            resource.policy_version,
        )
        route = self.rows.routes.get(key, _MISSING)  # RowIndex.route's lookup, inline: this is the hot path
        if route is _MISSING:
            route = self.rows.route(principal, resource)
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
        activation = base_activation(
            principal._cel or principal.cel(),
            resource._cel or resource.cel(),
            aux_data.cel(),
            self.globals,
            _instant(now),
            self.options.evaluation_timeout,
        )
        try:
            return self.fast_state.fast(self, activation, route).walk(plan, action)
        except EvaluationTimeout:
            return _TIMED_OUT

    def plan(self, route: Route, action: str) -> Plan:
        """The walk for ``action`` on ``route``: rows looked up and filtered by role, once per route.

        A plan whose rows have no condition gets its effect (``constant``) now; otherwise, where the
        fast path may run generated walks, it gets them.
        """
        kinds, conditional = self.rows.groups(route, action)
        plan = Plan(kinds)
        if not conditional and not self.table.reads_runtime:
            plan.constant = self.fast_state.fast(self, {}, route).walk(plan, action)
        elif self.generated_walks:
            generate_walks(plan, self.rows)
        if len(route.plans) >= CACHE_LIMIT:
            route.plans.clear()
        self.rows.charge(ENTRY_OVERHEAD + 2 * len(action))
        route.plans[action] = plan
        return plan


class State(Evaluation):
    """The mutable state of one check input: caches, outputs, errors and the trace.

    It is the :class:`Evaluation` its conditions read (activation, ``C``/``V``, errors) too. A
    full check's state keeps the trace, outputs and effective derived roles; a fast one
    (:meth:`Engine.decide`, :meth:`fast`) keeps no trace or outputs and computes the effective
    derived roles only when some condition can read them.
    """

    __slots__ = (
        "condition_cache",
        "derived_role_misses",
        "effective_derived_roles",
        "engine",
        "generated",
        "lifted",
        "outputs",
        "route",
        "scope_derived_roles",
        "trace",
        "track_derived_roles",
    )

    def __init__(
        self,
        engine: Engine,
        activation: dict[str, Any],
        route: Route,
        *,
        lifted: frozenset[str] = frozenset(),
    ):
        """A full check's state: the trace, outputs and effective derived roles are kept."""
        # Evaluation's fields, set here rather than through its __init__: this runs once per check.
        self.activation = activation
        self.strict = engine.strict
        self.errors = {}
        self.var_cache = {}
        self.params = NO_PARAMS
        self.engine = engine
        self.route = route
        self.condition_cache: dict[tuple[Any, ...], bool] = {}
        self.lifted = lifted  # DENY rules an approval lifts for this decision
        self.trace: list[tuple[str, str, Row, str]] | None = []  # (action, scope, row, outcome)
        self.derived_role_misses: set[tuple[Any, ...]] = set()  # eval keys: why a row was skipped
        self.outputs: list[OutputEntry] = []
        self.track_derived_roles = True
        self.scope_derived_roles: dict[str, ScopeDerivedRoles] = {}
        self.effective_derived_roles: dict[str, None] = {}
        self.generated = False  # which walk runs: see walk()

    @classmethod
    def fast(cls, engine: Engine, activation: dict[str, Any], route: Route) -> State:
        """A fast check's state (no trace or outputs) where the plan's generated walks do not apply
        (strict evaluation, or a condition reading the effective derived roles); else :class:`FastState`."""
        state = cls.__new__(cls)
        state.activation = activation
        state.strict = engine.strict
        state.errors = {}
        state.var_cache = {}
        state.params = NO_PARAMS
        state.engine = engine
        state.route = route
        state.condition_cache = {}
        state.lifted = _NOTHING_LIFTED
        state.trace = None
        state.derived_role_misses = state.outputs = _NOT_KEPT
        track = state.track_derived_roles = engine.reads_runtime
        state.scope_derived_roles = {} if track else _NOT_KEPT
        state.effective_derived_roles = {} if track else _NOT_KEPT
        state.generated = engine.generated_walks
        return state

    # -- the decision -----------------------------------------------------------------------------

    def decide(self, action: str) -> ActionEffect:
        """The effect of ``action`` (Cerbos's per-action loop over policy kinds, roles and scopes)."""
        route = self.route
        plan = route.plans.get(action)
        if plan is None:
            plan = self.engine.plan(route, action)
        if plan.constant is not None and self.trace is None:  # no condition can change the answer
            return plan.constant
        return self.walk(plan, action)

    def walk(self, plan: Plan, action: str) -> ActionEffect:
        """Walk a plan: the first role that ALLOWs wins, else the first decision, else NO_MATCH.

        A fast state runs the plan's generated walks where it has them (the only group's alone when
        there is one), any other state the generic :meth:`walk_group`.
        """
        generated = self.generated
        if generated and plan.single is not None:
            return final_effect(plan.single(self))
        decided = _UNDECIDED
        for pt, groups in plan.kinds:
            for group in groups:
                if generated and group.walk is not None:
                    walked = group.walk(self)
                else:
                    walked = self.walk_group(group, action, pt == RESOURCE)
                    if walked.effect is _STRICT_DENY:
                        return ActionEffect(EFFECT_DENY, walked.policy, walked.scope, walked.row)
                if decided.effect == NO_MATCH_EFFECT:
                    decided = walked
                if walked.effect == EFFECT_ALLOW:
                    decided = walked
                    break
                if (
                    walked.effect == EFFECT_DENY
                    and decided.policy == NO_MATCH_FOR_SCOPE_PERMISSIONS
                    and walked.policy != NO_MATCH_FOR_SCOPE_PERMISSIONS
                ):
                    decided = walked
            if decided.effect in (EFFECT_ALLOW, EFFECT_DENY):
                break
        return final_effect(decided)

    def walk_group(self, group: Group, action: str, is_resource: bool) -> WalkResult:
        """One role's walk through the scopes.

        The effect is ``_STRICT_DENY`` when a condition failed under strict evaluation, which
        ends the whole check of the action with a DENY by that row.
        """
        trace = self.trace
        full = trace is not None  # outputs and the trace are kept; the fast path wants only the effect
        track_roles = is_resource and self.track_derived_roles
        allow_row: Row | None = None
        policy, scope_hit = group.policy_key, ""
        for scope, rows, permissions in group.steps:
            if track_roles:
                self.enter_scope(scope)
            for row in rows:
                try:
                    satisfied = self.satisfied(row)
                except StrictEvaluationError:
                    if full:
                        trace.append((action, scope, row, FAILED))
                    return _new(WalkResult, (_STRICT_DENY, row.policy.key, scope, row))
                if full:
                    trace.append((action, scope, row, self.outcome(row, satisfied)))
                if satisfied is None:
                    continue
                if satisfied and self.lifted and self.is_lifted(row):
                    continue  # approved for this one decision: the rule and its output do not apply
                if satisfied:
                    if row.output_activated is not None and full:
                        self.output(row, action, row.output_activated)
                    if row.effect == EFFECT_ALLOW:
                        if allow_row is None:
                            allow_row = row
                    elif row.effect == EFFECT_DENY:
                        deny_policy = row.policy.key if row.from_role_policy else policy
                        return _new(WalkResult, (EFFECT_DENY, deny_policy, scope, row))
                    elif row.no_match_for_scope_permissions:
                        policy, scope_hit = NO_MATCH_FOR_SCOPE_PERMISSIONS, scope
                elif row.output_not_met is not None and full:
                    self.output(row, action, row.output_not_met)
            if allow_row is not None:
                if permissions == REQUIRE_PARENTAL_CONSENT:
                    allow_row = None
                elif permissions == OVERRIDE_PARENT:
                    return _new(WalkResult, (EFFECT_ALLOW, policy, scope, allow_row))
        return _new(WalkResult, (NO_MATCH_EFFECT, policy, scope_hit, None))

    # -- rows -------------------------------------------------------------------------------------

    def satisfied(self, row: Row) -> bool | None:
        """Whether a row's derived role condition and condition hold (cached per check).

        ``None`` when the derived role's condition does not hold on first evaluation: Cerbos then
        skips the row without its ``conditionNotMet`` output, while a later cache hit for the same
        row reports plain ``False`` (and so emits it) — reproduced as is.
        """
        params = row.params
        if params.variables and params not in self.var_cache:
            self.var_cache[params] = self.evaluate_variables(params, unset_on_error=True)
        cache = self.condition_cache
        key = row.eval_key
        cached = cache.get(key)
        if cached is not None:
            return cached
        test = row.derived_role_test
        if test is not None:
            dr_params = row.derived_role.params  # type: ignore[union-attr]
            if dr_params is not self.params:
                self.use_params(dr_params)
            if not test(self):
                cache[key] = False
                if self.trace is not None:
                    self.derived_role_misses.add(key)
                return None
        test = row.condition_test
        if test is None:
            result = True
        else:
            if params is not self.params:
                self.use_params(params)
            result = test(self)
        cache[key] = result
        return result

    def outcome(self, row: Row, satisfied: bool | None) -> str:
        """What the trace says of a row that did not fail (Cerbos's tracer: activated, or why skipped)."""
        if satisfied:
            return LIFTED if self.lifted and self.is_lifted(row) else HELD
        if row.eval_key in self.derived_role_misses:
            return DERIVED_ROLE_NOT_MET
        return CONDITION_NOT_MET

    def is_lifted(self, row: Row) -> bool:
        """Whether an approval lifts this DENY row for this decision."""
        return row.effect == EFFECT_DENY and row.policy.rule_fqn(row.name) in self.lifted

    def output(self, row: Row, action: str, prog: Any) -> None:
        self.use_params(row.params)
        src = row.policy.rule_fqn(row.name)
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
            sdr = self.scope_derived_roles[scope] = derived_roles(self, scope)
        self.activation["runtime"] = sdr.runtime

    def explain_condition(self, row: Row) -> list[Any]:
        """Re-evaluate a row's condition expressions (for explanations), within a budget of their own."""
        act = dict(self.activation)
        act[BUDGET_KEY] = self.engine.options.evaluation_timeout
        sdr = self.scope_derived_roles.get(row.scope)
        if sdr is not None:
            act["runtime"] = sdr.runtime
        act["constants"] = act["C"] = row.params.constants
        act["variables"] = act["V"] = self.var_cache.get(row.params, EMPTY_VARIABLES)
        assert row.condition is not None
        with limit(None):  # not the request's budget (its deadline may have passed, or it may preempt)
            return row.condition.explain(act)


class FastState(State):
    """The state :meth:`Engine.decide` walks with where generated walks apply (no strict evaluation,
    no condition reading the effective derived roles): what it never changes is a class constant.

    Measured with callgrind on the engine benchmark's conditional check: :meth:`State.fast` (17
    fields) was 5,295 of its 29,028 instructions; this (7 fields) is 4,696, the call 28,245.
    """

    __slots__ = ()
    strict = False
    lifted: frozenset[str] = frozenset()
    trace = None
    derived_role_misses = outputs = scope_derived_roles = effective_derived_roles = None
    track_derived_roles = False
    generated = True

    @classmethod
    def fast(cls, engine: Engine, activation: dict[str, Any], route: Route) -> State:
        state = cls.__new__(cls)
        state.activation = activation
        state.errors = {}
        state.var_cache = {}
        state.params = NO_PARAMS
        state.engine = engine
        state.route = route
        state.condition_cache = {}
        return state


def _finish(out: CheckOutput, actions: list[str]) -> CheckOutput:
    """Every action not decided is a DENY by ``NO_MATCH``."""
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


_MISSING: Any = object()
_STRICT_DENY = "STRICT_DENY"  # a group walk ended by a condition error under strict evaluation
_UNDECIDED = WalkResult(NO_MATCH_EFFECT, "", "", None)
_new = tuple.__new__  # _new(WalkResult, (...)): a WalkResult without its Python-level __new__ (hot path)
_NOT_KEPT: Any = None  # a container the fast path never reads
_NOTHING_LIFTED: frozenset[str] = frozenset()
_DENIED = ActionEffect(EFFECT_DENY, NO_MATCH)
_TIMED_OUT = ActionEffect(EFFECT_DENY, EVALUATION_TIMEOUT)
