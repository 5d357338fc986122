"""The walk over one check's rows (Cerbos's ``internal/ruletable/check.go``): :class:`State`.

For one action, :meth:`State.walk` goes through the plan :mod:`~chamberlain.engine.rows` found: principal
policies first, then resource policies, role by role, scope by scope from the request's scope up, the
rows of each scope in order, each row's derived role and condition evaluated (and cached) on the
request's activation. :class:`FastState` is the state :meth:`Engine.decide` (``PDP.is_allowed``) walks
with. :mod:`~chamberlain.engine.check` is the check around it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chamberlain.cel import EvaluationError
from chamberlain.cel.budget import BUDGET_KEY, limit
from chamberlain.cel.jsonvalue import output_json
from chamberlain.engine.activation import EMPTY_VARIABLES, VariablesMap
from chamberlain.engine.conditions import Evaluation, LazyVariables, StrictEvaluationError, cel_message
from chamberlain.engine.derived_roles import ScopeDerivedRoles, derived_roles
from chamberlain.engine.fastpath import final_effect
from chamberlain.engine.names import NO_MATCH_FOR_SCOPE_PERMISSIONS
from chamberlain.engine.result import (
    CONDITION_NOT_MET,
    DERIVED_ROLE_NOT_MET,
    FAILED,
    HELD,
    LIFTED,
    ActionEffect,
    OutputEntry,
)
from chamberlain.engine.rows import Group, Plan, Route
from chamberlain.engine.ruletable import (
    NO_PARAMS,
    OVERRIDE_PARENT,
    REQUIRE_PARENTAL_CONSENT,
    RESOURCE,
    Params,
    Row,
)
from chamberlain.engine.walkgen import NO_MATCH_EFFECT, WalkResult
from chamberlain.policy.model import EFFECT_ALLOW, EFFECT_DENY

if TYPE_CHECKING:
    from chamberlain.engine.check import Engine


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

    def evaluate_variables(self, params: Params, *, unset_on_error: bool) -> VariablesMap:
        """Rules' variables evaluated on first read (:class:`LazyVariables`): the fast path reports no
        errors, so evaluating a variable no condition reads changes nothing it returns."""
        if not unset_on_error:
            return super().evaluate_variables(params, unset_on_error=unset_on_error)
        return LazyVariables(self, params)


_STRICT_DENY = "STRICT_DENY"  # a group walk ended by a condition error under strict evaluation
_UNDECIDED = WalkResult(NO_MATCH_EFFECT, "", "", None)
_new = tuple.__new__  # _new(WalkResult, (...)): a WalkResult without its Python-level __new__ (hot path)
_NOT_KEPT: Any = None  # a container the fast path never reads
_NOTHING_LIFTED: frozenset[str] = frozenset()
