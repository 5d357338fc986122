"""Planning a resource kind and actions for a principal: Cerbos's PlanResources over the rule table.

For each action the rule table's rows are walked in the check's order (the same lookups:
:meth:`chamberlain.engine.Engine.plan`), resource policies before principal policies, role by role
(principal policies once), scope by scope from the request's scope up. Each row's condition
becomes a node (:mod:`.conditions`); the nodes combine as Cerbos combines them
(``internal/ruletable/plan.go``):

* in a scope, ALLOWs are or-ed, DENYs are or-ed (role-policy DENYs apart);
* across scopes, an ALLOW from a ``REQUIRE_PARENTAL_CONSENT_FOR_ALLOWS`` scope is and-ed with
  the parent scope's ALLOW; ALLOWs otherwise or-ed; once a child ``OVERRIDE_PARENT`` scope has
  allowed, a parent's DENY only applies where that ALLOW does not;
* a role whose DENY is always true contributes ``false``; a role with an unconditional ALLOW and
  no DENY decides the policy kind; a role's role-policy DENY narrows that role's ALLOW;
* per policy kind: ALLOWs of the roles or-ed, DENYs or-ed, and the result is
  ``not(deny) and allow``, the resource kind first, the principal kind around it;
* no ALLOW at all is ``false`` (deny by default); a strict evaluation error denies the action.

Several actions are and-ed (distinct conditions, sorted by their debug string).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chamberlain.cel.ast import Expr
from chamberlain.cel.values import Timestamp
from chamberlain.engine.activation import VariablesMap
from chamberlain.engine.attribute_validation import validate
from chamberlain.engine.conditions import StrictEvaluationError
from chamberlain.engine.names import NO_MATCH, scope_value
from chamberlain.engine.planner import nodes as n
from chamberlain.engine.planner.conditions import (
    NOTE_BIND,
    NOTE_LOOKUP_ORDER,
    NOTE_NESTED,
    ConditionPlanner,
    PolicyTrees,
    derived_roles_list,
    empty_roles,
)
from chamberlain.engine.planner.operands import (
    KIND_ALWAYS_ALLOWED,
    KIND_ALWAYS_DENIED,
    KIND_CONDITIONAL,
    Expression,
    Operand,
    Value,
    debug_string,
    normalise,
)
from chamberlain.engine.planner.operands import walk as walk_operands
from chamberlain.engine.planner.partial import Partial
from chamberlain.engine.request import EMPTY_AUX, AuxData, Principal, Resource
from chamberlain.engine.result import ValidationError
from chamberlain.engine.ruletable import (
    OVERRIDE_PARENT,
    PRINCIPAL,
    REQUIRE_PARENTAL_CONSENT,
    RESOURCE,
    Params,
    Row,
)
from chamberlain.policy.model import EFFECT_ALLOW, EFFECT_DENY


@dataclass(frozen=True, slots=True)
class PlanInput:
    """What to plan: which rows of ``kind`` may ``principal`` do every one of ``actions`` on.

    ``resource_attr``: the resource attributes known in advance (every row has them); the others
    are unknown and appear in the condition.
    """

    principal: Principal
    kind: str
    actions: tuple[str, ...]
    resource_attr: Mapping[str, Any] = field(default_factory=dict)
    policy_version: str = ""
    scope: str = ""
    aux_data: AuxData = EMPTY_AUX
    request_id: str = ""
    #: Names unknown besides the resource's attributes (``P.attr``, ``request.principal.attr``,
    #: ``request.aux_data``, ...): the plan then holds for every value they may take, and a
    #: condition that reads them stays in the plan (the vault map plans roles this way). The
    #: principal's schema is not applied to symbolic attributes.
    symbolic: frozenset[str] = frozenset()
    #: When set, only ALLOW rules granted to this derived role count (every DENY still does): what
    #: holding the derived role grants, as the vault map reports it.
    only_derived_role: str = ""


#: Where a plan differs from Cerbos's on purpose (QueryPlan.notes; docs/concepts/query-plans.md).
NOTE_HAS = "has() kept: Cerbos plans a presence test as true"
NOTE_ROLES = "roles combined as the check decides: Cerbos applies every role's DENY to every role's ALLOW"
NOTE_KNOWN_HAS = "has() of a known attribute is true: Cerbos plans it as the attribute's value"
NOTE_PRINCIPAL_DENY = "a principal policy's unconditional DENY kept: Cerbos drops it"
NOTE_DENY_ONLY = "resource policies that only deny allow nothing: Cerbos ors their not(deny) with a principal policy's ALLOW"


class PlanKind(StrEnum):
    """What a plan says about the rows: all allowed, none allowed, or those matching its condition."""

    ALWAYS_ALLOWED = KIND_ALWAYS_ALLOWED
    ALWAYS_DENIED = KIND_ALWAYS_DENIED
    CONDITIONAL = KIND_CONDITIONAL


@dataclass(slots=True)
class QueryPlan:
    """A query plan: ``kind``, and for ``CONDITIONAL`` the ``condition`` rows must satisfy.

    ``filter_debug`` is Cerbos's ``meta.filterDebug``; ``matched_scopes`` maps each action to the
    scope that decided it; ``validation_errors`` are schema violations of the known attributes;
    ``evaluation_errors`` the ``(expression, message)`` pairs of conditions that failed to evaluate.
    """

    kind: PlanKind
    condition: Operand | None
    resource_kind: str
    actions: tuple[str, ...]
    policy_version: str = ""
    filter_debug: str = ""
    matched_scopes: dict[str, str] = field(default_factory=dict)
    validation_errors: list[ValidationError] = field(default_factory=list)
    evaluation_errors: list[tuple[str, str]] = field(default_factory=list)
    request_id: str = ""
    log_error: str = ""  # why the decision log could not record the plan (it is then ALWAYS_DENIED)
    #: Builds :attr:`exact_condition` (on first use: only translators need it).
    exact_thunk: Any = field(default=None, repr=False, compare=False)
    #: Where this plan differs from the one Cerbos would give, and why (the ``NOTE_*`` texts).
    notes: list[str] = field(default_factory=list)

    @property
    def exact_condition(self) -> Operand | None:
        """``condition`` with each policy condition expression marked (``chamberlain.holds``): the
        check counts a failing condition as false, which exact translations need under ``not``."""
        if self.exact_thunk is None or self.condition is None:
            return None
        return self.exact_thunk()

    @property
    def always_allowed(self) -> bool:
        return self.kind is PlanKind.ALWAYS_ALLOWED

    @property
    def always_denied(self) -> bool:
        return self.kind is PlanKind.ALWAYS_DENIED

    def filter_json(self) -> dict[str, Any]:
        """The plan's ``filter`` as Cerbos's JSON: ``{"kind": ..., "condition": {...}}``."""
        out: dict[str, Any] = {"kind": self.kind.value}
        if self.condition is not None:
            out["condition"] = self.condition.to_json()
        return out


@dataclass(frozen=True, slots=True)
class _Filter:
    kind: str
    condition: Operand | None
    exact: Any = None  # () -> the marked condition

    @property
    def debug(self) -> str:
        if self.kind == KIND_ALWAYS_ALLOWED:
            return "(true)"
        if self.kind == KIND_ALWAYS_DENIED:
            return "(false)"
        assert self.condition is not None
        return debug_string(self.condition)


_DENIED = _Filter(KIND_ALWAYS_DENIED, None)


def plan_resources(
    engine: Any, inp: PlanInput, now: dt.datetime | Timestamp | None = None, *, strict: bool | None = None
) -> QueryPlan:
    """Plan ``inp`` on a compiled engine (see the module's doc for the rules); ``now`` is what ``now()`` gives.

    ``strict``: plan as if ``strict_evaluation`` were this (default: the engine's option).
    """
    plan = QueryPlan(
        PlanKind.ALWAYS_DENIED, None, inp.kind, inp.actions, inp.policy_version, request_id=inp.request_id
    )
    if now is None:
        when = Timestamp.now()
    elif isinstance(now, dt.datetime):
        when = Timestamp.from_datetime(now)
    else:
        when = now
    options = engine.options
    resource = Resource.prevalidated(inp.kind, "", inp.resource_attr, inp.policy_version, inp.scope)
    route = engine.rows.route(inp.principal, resource)
    if route is None:
        plan.filter_debug = NO_MATCH
        return plan
    validation_errors: list[ValidationError] = []
    schemas = route.schemas
    if schemas is not None and inp.symbolic:
        schemas = dataclasses.replace(schemas, principal_schema=None)
    if schemas is not None:
        validation_errors = validate(
            engine.policies.schemas,
            schemas,
            inp.principal.attr,
            inp.resource_attr,
            inp.actions,
            partial_resource=True,
        )
        plan.validation_errors = validation_errors
        if validation_errors and options.schema_enforcement == "reject":
            plan.filter_debug = "(false)"
            return plan
    strict = options.strict_evaluation if strict is None else strict
    planner = ConditionPlanner(_partial(engine, inp, when), strict, _trees(engine))
    walk = _Walk(engine, route, planner, inp.only_derived_role)
    filters = []
    matched: dict[str, str] = {}
    policy_match = False
    for action in inp.actions:
        node, scope, matched_any = walk.action(action)
        matched[action] = scope
        policy_match = policy_match or matched_any
        filters.append(_to_filter(node))
    merged, debug = _merge(filters)
    if not policy_match:
        debug = NO_MATCH
    plan.kind = PlanKind(merged.kind)
    plan.condition = merged.condition
    plan.exact_thunk = merged.exact
    plan.filter_debug = debug
    plan.matched_scopes = matched
    plan.evaluation_errors = list(planner.errors)
    if plan.condition is not None and any(
        isinstance(o, Expression) and o.operator == "has" for o in walk_operands(plan.condition)
    ):
        planner.notes[NOTE_HAS] = None
    if planner.partial.known_presence:
        planner.notes[NOTE_KNOWN_HAS] = None
    if plan.kind is not PlanKind.CONDITIONAL:
        planner.notes.pop(NOTE_ROLES, None)  # a constant answer is Cerbos's too, or the notes say why not
    plan.notes = list(planner.notes)
    return plan


# -- the request's known values --------------------------------------------------------------------------


def _partial(engine: Any, inp: PlanInput, now: Timestamp) -> Partial:
    principal = inp.principal
    p_scope = scope_value(principal.scope)
    r_scope = scope_value(inp.scope)
    p = dict(principal.cel())
    p["policy_version"] = p["policyVersion"] = ""  # Cerbos's planner request leaves it unset
    p["scope"] = p_scope
    aux = inp.aux_data.cel()
    request = {"principal": p, "aux_data": aux, "auxData": aux}
    attrs = Resource.prevalidated(inp.kind, "", inp.resource_attr).cel()["attr"]
    known: dict[str, Any] = {}
    for name, value in attrs.items():
        known[f"R.attr.{name}"] = known[f"request.resource.attr.{name}"] = value
    known["R.kind"] = known["request.resource.kind"] = inp.kind
    known["R.scope"] = known["request.resource.scope"] = r_scope
    known["P.scope"] = known["request.principal.scope"] = p_scope
    variables = {"request": request, "P": p, "globals": engine.globals, "G": engine.globals}
    return Partial(variables, known, frozenset((id(request), id(p), id(aux))), now, inp.symbolic)


def _trees(engine: Any) -> PolicyTrees:
    """The engine's prepared condition trees (they depend on its policies only)."""
    trees = _TREES.get(engine)
    if trees is None:
        trees = _TREES[engine] = PolicyTrees()
    return trees


_TREES: weakref.WeakKeyDictionary[Any, PolicyTrees] = weakref.WeakKeyDictionary()


def _with_constants(partial: Partial, params: Params) -> None:
    constants = params.constants if params.constants is not None else VariablesMap()
    partial.variables["C"] = partial.variables["constants"] = constants  # type: ignore[index]


# -- the walk ---------------------------------------------------------------------------------------------


class _Walk:
    """Cerbos's per-action combination of row conditions."""

    def __init__(self, engine: Any, route: Any, planner: ConditionPlanner, only_derived_role: str = ""):
        self.engine = engine
        self.route = route
        self.planner = planner
        self.permissions = engine.table.scope_permissions
        self.only_derived_role = only_derived_role

    def action(self, action: str) -> tuple[n.Node, str, bool]:
        """The action's node, its matched scope, and whether any policy matched."""
        kinds = _rows_by_kind(self.engine, self.route, action)
        matched_scope = ""
        root: n.Node | None = None
        has_allow = False
        scoped_roles: dict[str, Any] = {}
        unallowed_deny = False
        # (kind, what its earlier roles allowed, when the walk stops) for each role whose walk can reach a
        # condition that fails under strict evaluation: the check denies the action there, unless allowed before.
        stops: list[tuple[str, n.Node | None, n.Node]] = []
        kind_allows: dict[str, n.Node | None] = {}
        try:
            for pt, groups in kinds:
                results: list[tuple[n.Node | None, n.Node | None]] = []
                decided: n.Node | None = None
                for steps in groups:
                    role_allow, role_deny, role_policy_deny, scope, stop = self._role(pt, steps, scoped_roles)
                    if scope is not None:
                        matched_scope = scope
                    if stop is not None:
                        stops.append((pt, self._combine(results)[0] if results else None, stop))
                    if n.const_bool(role_deny) is True or n.const_bool(role_policy_deny) is True:
                        if pt == PRINCIPAL:
                            # A principal policy's DENY decides the action whatever the resource
                            # policies say; Cerbos turns it into an ALLOW of false and loses it.
                            results.append((None, n.TRUE_NODE))
                            if root is not None or unallowed_deny:
                                # Cerbos answers with the resource policies' plan (for DENYs alone,
                                # their not(deny))
                                self.planner.notes[NOTE_PRINCIPAL_DENY] = None
                            continue
                        role_allow, role_deny, role_policy_deny = n.FALSE_NODE, None, None
                    elif role_deny is None and role_policy_deny is None and n.const_bool(role_allow) is True:
                        decided = role_allow
                        break  # an unconditional ALLOW of one role decides the policy kind
                    if role_policy_deny is not None and role_allow is not None:
                        role_allow = n.join(n.AND, [role_allow, n.invert(role_policy_deny)])
                    results.append((role_allow, role_deny))
                allow_pt, deny_pt = (decided, None) if decided is not None else self._combine(results)
                kind_allows[pt] = allow_pt
                if root is None and allow_pt is None and any(deny is not None for _, deny in results):
                    unallowed_deny = (
                        True  # DENYs alone (Cerbos plans their not(deny)), whatever _combine kept
                    )
                if allow_pt is not None:
                    has_allow = True
                    root = allow_pt if root is None else n.join(n.OR, [allow_pt, root])
                    if unallowed_deny:
                        self.planner.notes[NOTE_DENY_ONLY] = None
                if deny_pt is not None:
                    if root is None:
                        # DENYs with no ALLOW before them narrow nothing; Cerbos keeps not(deny) as
                        # the plan so far, and a later kind's ALLOW is or-ed with it (rows that no
                        # policy allows would pass).
                        unallowed_deny = True
                    else:
                        root = n.join(n.AND, [n.invert(deny_pt), root])
        except StrictEvaluationError:
            return n.FALSE_NODE, matched_scope, True
        if root is None and not stops:
            return n.FALSE_NODE, matched_scope, False
        return (
            _stopped(root if has_allow and root is not None else n.FALSE_NODE, stops, kind_allows),
            matched_scope,
            True,
        )

    def _combine(
        self, results: list[tuple[n.Node | None, n.Node | None]]
    ) -> tuple[n.Node | None, n.Node | None]:
        """One policy kind's ALLOW and DENY from its roles' (the first role that allows wins).

        When every role has the same DENY this is Cerbos's ``not(deny) and (allow1 or allow2 ...)``.
        Otherwise Cerbos still ands every role's DENY with every role's ALLOW, which drops rows a
        role allows because another role would deny them; chamberlain plans what the check
        decides: ``(not(deny1) and allow1) or (not(deny2) and allow2) ...``.
        """
        allow: n.Node | None = None
        deny: n.Node | None = None
        if len({n.node_key(d) if d is not None else None for _, d in results}) <= 1:
            for role_allow, role_deny in results:
                allow = n.add(allow, role_allow, n.OR)
                deny = n.add(deny, role_deny, n.OR)
            return allow, deny
        self.planner.notes[NOTE_ROLES] = None
        for role_allow, role_deny in results:
            if role_allow is None:
                continue
            part = role_allow if role_deny is None else n.join(n.AND, [n.invert(role_deny), role_allow])
            allow = n.add(allow, part, n.OR)
        return allow, None

    def _role(
        self, pt: str, steps: list[tuple[str, tuple[Row, ...], str | None]], scoped_roles: dict[str, Any]
    ) -> tuple[Any, Any, Any, str | None, n.Node | None]:
        """One role's ``(allow, deny, role policy deny, matched scope, stop)`` over its scopes.

        ``stop`` is ``None`` unless the walk reaches a condition that fails under strict evaluation:
        then it is the condition under which the check gets there (no DENY met and no child
        OVERRIDE_PARENT scope allowed before it), and allow and deny are what was decided before.
        """
        role_allow: n.Node | None = None
        role_deny: n.Node | None = None
        role_policy_deny: n.Node | None = None
        pending = False
        child_override_allow: n.Node | None = None
        matched_scope: str | None = None
        for scope, rows, permissions in steps:
            if n.const_bool(child_override_allow) is True:
                break
            roles = self._derived_roles(scope, scoped_roles) if pt == RESOURCE else empty_roles
            scope_allow: n.Node | None = None
            scope_deny: n.Node | None = None
            scope_policy_deny: n.Node | None = None
            for row in rows:
                if row.effect not in (EFFECT_ALLOW, EFFECT_DENY) or self._skipped(row):
                    continue
                try:
                    node = self._row(row, roles)
                except StrictEvaluationError:
                    role_deny = n.add(role_deny, _gate(child_override_allow, scope_deny), n.OR)
                    role_policy_deny = n.add(
                        role_policy_deny, _gate(child_override_allow, scope_policy_deny), n.OR
                    )
                    return (
                        child_override_allow,
                        role_deny,
                        role_policy_deny,
                        matched_scope,
                        _reached([child_override_allow, role_deny, role_policy_deny]),
                    )
                if row.effect == EFFECT_ALLOW:
                    scope_allow = n.add(scope_allow, node, n.OR)
                elif n.const_bool(node) is not False:
                    if row.from_role_policy:
                        scope_policy_deny = n.add(scope_policy_deny, node, n.OR)
                    else:
                        scope_deny = n.add(scope_deny, node, n.OR)
            scope_deny = _gate(child_override_allow, scope_deny)
            scope_policy_deny = _gate(child_override_allow, scope_policy_deny)
            role_deny = n.add(role_deny, scope_deny, n.OR)
            role_policy_deny = n.add(role_policy_deny, scope_policy_deny, n.OR)
            if scope_allow is not None:
                if role_allow is None:
                    role_allow = scope_allow
                elif pending:
                    role_allow = n.join(n.AND, [role_allow, scope_allow])
                    pending = False
                else:
                    role_allow = n.join(n.OR, [role_allow, scope_allow])
                if permissions == REQUIRE_PARENTAL_CONSENT:
                    pending = True
            if permissions == OVERRIDE_PARENT and (
                scope_deny is not None or scope_policy_deny is not None or scope_allow is not None
            ):
                matched_scope = scope
            if scope_allow is not None and permissions == OVERRIDE_PARENT:
                child_override_allow = n.add(child_override_allow, scope_allow, n.OR)
        if pending:
            role_allow = None
        return role_allow, role_deny, role_policy_deny, matched_scope, None

    def _skipped(self, row: Row) -> bool:
        """An ALLOW not granted to the derived role the plan is restricted to (if any)."""
        wanted = self.only_derived_role
        if not wanted or row.effect != EFFECT_ALLOW:
            return False
        return row.derived_role is None or row.derived_role.name != wanted

    def _row(self, row: Row, roles: Any) -> n.Node:
        planner = self.planner
        _with_constants(planner.partial, row.params)
        node = planner.condition(row.condition, row.params, roles)
        dr = row.derived_role
        if dr is not None and dr.condition is not None:
            _with_constants(planner.partial, dr.params)
            dr_node = planner.condition(dr.condition, dr.params, roles)
            node = dr_node if row.condition is None else n.Logical(n.AND, (node, dr_node))
        return node

    def _derived_roles(self, scope: str, cache: dict[str, Any]) -> Any:
        """The scope's derived roles as a list expression (built once per scope and action)."""
        found = cache.get(scope)
        if found is not None:
            return found
        route = self.route
        definitions = self.engine.table.derived_roles.get((route.kind, route.version, scope), ())
        conditions: list[tuple[str, n.Node]] = []
        failed = False
        for dr in definitions:
            if "*" not in dr.parent_roles and dr.parent_roles.isdisjoint(route.including):
                continue
            _with_constants(self.planner.partial, dr.params)
            try:
                node = self.planner.condition(dr.condition, dr.params, empty_roles)
            except StrictEvaluationError:
                failed = True
                continue
            conditions.append((dr.name, node))
        if failed:

            def roles() -> Expr:
                raise StrictEvaluationError("runtime.effectiveDerivedRoles")

        else:
            built: list[Expr] = []

            def roles() -> Expr:
                if not built:
                    built.append(derived_roles_list(conditions))
                return built[0]

        cache[scope] = roles
        return roles


def _stopped(
    node: n.Node, stops: list[tuple[str, n.Node | None, n.Node]], kind_allows: dict[str, n.Node | None]
) -> n.Node:
    """``node`` where the check gets past every strict-evaluation stop; the check denies at a stop
    unless a role before it allowed. The check walks principal policies before resource policies
    (the planner, as Cerbos's, the other way round), so a resource policy's stop is also passed
    where the principal policies allowed."""
    in_check_order = [s for s in stops if s[0] == PRINCIPAL] + [s for s in stops if s[0] == RESOURCE]
    for pt, before, stop in reversed(in_check_order):  # before or (not stop and what follows it)
        if pt == RESOURCE:
            before = n.add(before, kind_allows.get(PRINCIPAL), n.OR)
        rest = n.join(n.AND, [n.invert(stop), node]) if n.const_bool(stop) is not True else None
        node = n.add(before, rest, n.OR) or n.FALSE_NODE
    return node


def _reached(decided_before: list[n.Node | None]) -> n.Node | None:
    """The condition under which none of ``decided_before`` holds (``None``: one always holds)."""
    nodes = [node for node in decided_before if node is not None]
    if any(n.const_bool(node) is True for node in nodes):
        return None
    either = n.join(n.OR, nodes)
    return n.TRUE_NODE if either is None else n.invert(either)


def _gate(child_override_allow: n.Node | None, deny: n.Node | None) -> n.Node | None:
    """A parent scope's DENY applies only where no child OVERRIDE_PARENT scope allowed."""
    if deny is None or child_override_allow is None:
        return deny
    inverted = n.invert(child_override_allow)
    if n.const_bool(deny) is True:
        return inverted
    return n.join(n.AND, [inverted, deny])


def _rows_by_kind(engine: Any, route: Any, action: str) -> list[tuple[str, list[Any]]]:
    """Per policy kind (resource first), per role, the (scope, rows, permissions) steps of the check."""
    walk = route.plans.get(action) or engine.plan(route, action)
    by_kind = {pt: [list(group.steps) for group in groups] for pt, groups in walk.kinds}
    return [(pt, by_kind[pt]) for pt in (RESOURCE, PRINCIPAL) if pt in by_kind]


# -- filters ----------------------------------------------------------------------------------------------


def _to_filter(node: n.Node) -> _Filter:
    condition = normalise(n.to_operand(node))
    if isinstance(condition, Value) and isinstance(condition.value, bool):
        return _Filter(KIND_ALWAYS_ALLOWED if condition.value else KIND_ALWAYS_DENIED, None)
    return _Filter(KIND_CONDITIONAL, condition, _once(lambda: normalise(n.to_operand(node, marked=True))))


def _once(build: Any) -> Any:
    """``build`` called on first use only."""
    done: list[Any] = []

    def value() -> Any:
        if not done:
            done.append(build())
        return done[0]

    return value


def _merge(filters: list[_Filter]) -> tuple[_Filter, str]:
    """Several actions: every one must hold (Cerbos's ``MergeWithAnd``)."""
    conditional: dict[str, _Filter] = {}
    for f in filters:
        if f.kind == KIND_ALWAYS_DENIED:
            return _DENIED, f.debug
        if f.kind == KIND_CONDITIONAL:
            conditional[f.debug] = f
    if not conditional:
        merged = _Filter(KIND_ALWAYS_ALLOWED, None)
    elif len(conditional) == 1:
        merged = next(iter(conditional.values()))
    else:
        ordered = [conditional[k] for k in sorted(conditional)]
        merged = _Filter(
            KIND_CONDITIONAL,
            Expression("and", tuple(f.condition for f in ordered)),  # type: ignore[misc]
            _once(lambda: Expression("and", tuple(f.exact() for f in ordered))),
        )
    return merged, merged.debug


__all__ = [
    "NOTE_BIND",
    "NOTE_DENY_ONLY",
    "NOTE_HAS",
    "NOTE_KNOWN_HAS",
    "NOTE_LOOKUP_ORDER",
    "NOTE_NESTED",
    "NOTE_PRINCIPAL_DENY",
    "NOTE_ROLES",
    "PlanInput",
    "PlanKind",
    "QueryPlan",
    "plan_resources",
]
