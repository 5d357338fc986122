"""Compiling a policy set into Cerbos's rule table: one row per (rule, action, role), indexed.

This mirrors ``internal/ruletable``: every resource rule becomes rows for each of its actions and
roles, plus rows for each parent role of each derived role it names (carrying the derived role's
condition); principal policy rules become rows for any role (``*``); role policy rules become
"allow actions" rows that only ever narrow (the check synthesises DENYs from them). Rows keep the
order of the policies and rules, which is the order the check visits them in.

Variables and constants are resolved here (imports, local definitions, only the variables the
conditions use, in dependency order); conditions and outputs are compiled once.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chamberlain.cel import Program
from chamberlain.cel.cerbos_env import from_json
from chamberlain.engine import glob
from chamberlain.engine.activation import EMPTY_VARIABLES, VariablesMap
from chamberlain.engine.conditions import Condition, compile_condition, none_of, program
from chamberlain.engine.names import DEFAULT_VERSION, policy_key, sanitize
from chamberlain.policy import PolicySet
from chamberlain.policy import model as m
from chamberlain.policy.cel_check import check_expression
from chamberlain.policy.imports import constant_sources, merged, variable_sources

OVERRIDE_PARENT = m.OVERRIDE_PARENT
REQUIRE_PARENTAL_CONSENT = m.REQUIRE_PARENTAL_CONSENT
RESOURCE, PRINCIPAL = "resource", "principal"

ROLE_ANY, ROLE_LITERAL, ROLE_GLOB = 0, 1, 2


@dataclass(frozen=True, slots=True, eq=False)
class Params:
    """A policy's constants and the variables its conditions use, in evaluation order."""

    constants: VariablesMap
    variables: tuple[tuple[str, Program, str], ...]  # (name, program, source text)


NO_PARAMS = Params(EMPTY_VARIABLES, ())


@dataclass(frozen=True, slots=True)
class PolicyRef:
    """The policy a row comes from, as decisions name it."""

    kind: str  # "resource", "principal" or "role"
    name: str
    version: str
    scope: str
    key: str  # resource.leave_request.vdefault/acme
    file: str = ""
    source: m.Policy | None = field(default=None, compare=False, repr=False)

    def rule_fqn(self, rule_name: str) -> str:
        """``resource.leave_request.vdefault/acme#rule-001`` (the ``src`` of outputs)."""
        return f"{self.key}#{rule_name}"


@dataclass(frozen=True, slots=True, eq=False)
class DerivedRole:
    """A derived role as a resource policy imports it."""

    name: str
    parent_roles: frozenset[str]  # {"*"} for any role
    condition: Condition | None
    params: Params
    origin: str  # derived_roles.<set name>
    source: m.RoleDef | None = None


@dataclass(slots=True, eq=False)
class Row:
    """One rule table row. ``eval_key`` identifies the condition for the per-check cache."""

    policy: PolicyRef = field(repr=False)
    kind: str  # RESOURCE or PRINCIPAL (role policy rows are RESOURCE rows with allow_actions)
    version: str
    scope: str
    resource: str
    role: str
    action: str
    name: str
    effect: str
    condition: Condition | None = field(repr=False)
    params: Params = field(repr=False)
    eval_key: tuple[Any, ...] = field(repr=False)
    principal: str = ""
    allow_actions: tuple[str, ...] | None = None
    derived_role: DerivedRole | None = field(default=None, repr=False)
    output_activated: Program | None = field(default=None, repr=False)
    output_not_met: Program | None = field(default=None, repr=False)
    from_role_policy: bool = False
    no_match_for_scope_permissions: bool = False
    source: Any = field(default=None, repr=False)  # the policy model node (rule) the row was made from
    role_kind: int = field(default=ROLE_LITERAL, repr=False)
    role_matcher: Any = field(default=None, repr=False)
    # The bound tests of the condition and the derived role's condition, read once per check.
    condition_test: Any = field(default=None, repr=False)
    derived_role_test: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.condition is not None:
            self.condition_test = self.condition.test
        dr = self.derived_role
        if dr is not None and dr.condition is not None:
            self.derived_role_test = dr.condition.test
        if self.role == "*":
            self.role_kind = ROLE_ANY
        elif glob.is_pattern(self.role):
            self.role_kind = ROLE_GLOB
            self.role_matcher = glob.compile_glob(self.role)

    def matches_roles(self, roles: Iterable[str], role_set: frozenset[str] | set[str]) -> bool:
        kind = self.role_kind
        if kind == ROLE_LITERAL:
            return self.role in role_set
        if kind == ROLE_ANY:
            return True
        matcher = self.role_matcher
        return matcher is not None and any(matcher(r) for r in roles)


def key_matches(pattern: str, value: str) -> bool:
    """A rule table dimension lookup: equal, or a ``*`` pattern that matches."""
    if pattern == value:
        return True
    return glob.is_pattern(pattern) and glob.matches(pattern, value)


@dataclass(slots=True)
class RuleTable:
    """Every row of a policy set, indexed the way the check looks them up."""

    rows: dict[tuple[str, str, str], list[Row]] = field(default_factory=dict)  # (kind, version, scope)
    role_rows: dict[tuple[str, str], list[Row]] = field(default_factory=dict)  # (version, scope)
    scopes: dict[str, set[str]] = field(default_factory=lambda: {RESOURCE: set(), PRINCIPAL: set()})
    scope_permissions: dict[str, str] = field(default_factory=dict)
    parent_roles: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    derived_roles: dict[tuple[str, str, str], tuple[DerivedRole, ...]] = field(default_factory=dict)
    schemas: dict[tuple[str, str, str], m.Schemas] = field(default_factory=dict)
    policies: dict[str, PolicyRef] = field(default_factory=dict)
    count: int = 0
    reads_runtime: bool = False  # some condition or output may read runtime.effectiveDerivedRoles

    def add(self, row: Row) -> None:
        self.count += 1
        if row.allow_actions is not None:
            self.role_rows.setdefault((row.version, row.scope), []).append(row)
        else:
            self.rows.setdefault((row.kind, row.version, row.scope), []).append(row)
        self.scopes[row.kind].add(row.scope)


def build(policies: PolicySet) -> RuleTable:
    """The rule table of a validated policy set."""
    table = RuleTable()
    builder = _Builder(policies, table)
    for policy in policies:
        body = policy.body
        if isinstance(body, m.ResourcePolicy):
            builder.resource_policy(policy, body)
        elif isinstance(body, m.PrincipalPolicy):
            builder.principal_policy(policy, body)
        elif isinstance(body, m.RolePolicy):
            builder.role_policy(policy, body)
    table.parent_roles = _ancestor_roles(builder.role_parents)
    table.reads_runtime = builder.reads_runtime
    return table


class _Builder:
    def __init__(self, policies: PolicySet, table: RuleTable):
        self.policies = policies
        self.table = table
        self.role_parents: dict[str, dict[str, tuple[str, ...]]] = {}
        self.derived_cache: dict[str, list[DerivedRole]] = {}
        self.reads_runtime = False
        self.stated_scopes: set[str] = set()  # scopes whose permission some policy states

    def scope_permissions(self, scope: str, stated: str) -> None:
        """Record a policy's scope permission: one per scope name, as in Cerbos's rule table.

        ``cerbos compile`` refuses two policies stating different permissions for a scope, but
        lets others leave it unstated; Cerbos then keeps whichever its map iteration stores last
        (a different one from one start to the next). Here a stated permission always wins, and
        ``OVERRIDE_PARENT`` holds only where no policy of the scope states one.
        """
        if stated:
            self.table.scope_permissions[scope] = stated
            self.stated_scopes.add(scope)
        elif scope not in self.stated_scopes:
            self.table.scope_permissions[scope] = OVERRIDE_PARENT

    # -- resource policies ------------------------------------------------------------------------

    def resource_policy(self, policy: m.Policy, rp: m.ResourcePolicy) -> None:
        version = rp.version or DEFAULT_VERSION
        name = sanitize(rp.resource)
        ref = self.ref(policy, RESOURCE, rp.resource, version, rp.scope)
        require_consent = rp.scope_permissions == REQUIRE_PARENTAL_CONSENT
        exprs = [e for rule in rp.rules for e in _rule_exprs(rule.condition, rule.output)]
        params = self.params(policy, rp.constants, rp.variables, exprs)
        derived = self.imported_derived_roles(rp)
        referenced = {n: derived[n] for rule in rp.rules for n in rule.derived_roles if n in derived}
        if referenced:
            self.table.derived_roles[(name, version, rp.scope)] = tuple(referenced.values())
        root = self.policies.get("resource", rp.resource, version, "")
        root_body = root.resource_policy if root is not None else None
        if root_body is not None and root_body.schemas is not None:
            self.table.schemas[(name, version, rp.scope)] = root_body.schemas
        self.scope_permissions(rp.scope, rp.scope_permissions)
        if not rp.rules:
            self.table.add(_noop(ref, RESOURCE, name, NO_PARAMS))
        for i, rule in enumerate(rp.rules):
            rule_name = rule.name or f"rule-{i + 1:03d}"
            condition, effect, activated, not_met = _compile_rule(rule, require_consent)
            roles = ("*",) if "*" in rule.roles else _unique(rule.roles)
            for action in _unique(rule.actions):
                common = dict(
                    policy=ref,
                    kind=RESOURCE,
                    version=version,
                    scope=rp.scope,
                    resource=name,
                    action=action,
                    name=rule_name,
                    effect=effect,
                    condition=condition,
                    params=params,
                    output_activated=activated,
                    output_not_met=not_met,
                    source=rule,
                )
                key = ("resource", name, version, rp.scope, rule_name)
                for role in roles:
                    self.table.add(Row(role=role, eval_key=key, **common))
                for dr_name in _unique(rule.derived_roles):
                    dr = referenced.get(dr_name)
                    if dr is None:
                        continue
                    dr_key = ("derived_roles", dr_name, name, version, rp.scope, rule_name)
                    for parent in sorted(dr.parent_roles):
                        self.table.add(Row(role=parent, eval_key=dr_key, derived_role=dr, **common))

    def imported_derived_roles(self, rp: m.ResourcePolicy) -> dict[str, DerivedRole]:
        found: dict[str, DerivedRole] = {}
        for set_name in rp.import_derived_roles:
            policy = self.policies.derived_roles.get(set_name)
            if policy is None or policy.derived_roles is None:
                continue
            for role in self.derived_role_set(policy):
                found.setdefault(role.name, role)
        return found

    def derived_role_set(self, policy: m.Policy) -> list[DerivedRole]:
        cached = self.derived_cache.get(policy.name)
        if cached is not None:
            return cached
        dr = policy.derived_roles
        assert dr is not None
        roles = []
        for definition in dr.definitions:
            parents = frozenset(("*",) if "*" in definition.parent_roles else definition.parent_roles)
            exprs = list(_match_exprs(definition.condition.match if definition.condition else None))
            roles.append(
                DerivedRole(
                    name=definition.name,
                    parent_roles=parents,
                    condition=compile_condition(definition.condition),
                    params=self.params(policy, dr.constants, dr.variables, exprs),
                    origin=f"derived_roles.{dr.name}",
                    source=definition,
                )
            )
        self.derived_cache[policy.name] = roles
        return roles

    # -- principal policies -----------------------------------------------------------------------

    def principal_policy(self, policy: m.Policy, pp: m.PrincipalPolicy) -> None:
        version = pp.version or DEFAULT_VERSION
        ref = self.ref(policy, PRINCIPAL, pp.principal, version, pp.scope)
        require_consent = pp.scope_permissions == REQUIRE_PARENTAL_CONSENT
        exprs = [e for rule in pp.rules for a in rule.actions for e in _rule_exprs(a.condition, a.output)]
        params = self.params(policy, pp.constants, pp.variables, exprs)
        self.scope_permissions(pp.scope, pp.scope_permissions)
        if not pp.rules:
            self.table.add(_noop(ref, PRINCIPAL, "", NO_PARAMS, principal=pp.principal))
        for rule in pp.rules:
            resource = sanitize(rule.resource)
            for i, action in enumerate(rule.actions):
                rule_name = action.name or f"{rule.resource}_rule-{i + 1:03d}"
                condition, effect, activated, not_met = _compile_rule(action, require_consent)
                self.table.add(
                    Row(
                        policy=ref,
                        kind=PRINCIPAL,
                        version=version,
                        scope=pp.scope,
                        resource=resource,
                        role="*",
                        action=action.action,
                        name=rule_name,
                        effect=effect,
                        condition=condition,
                        params=params,
                        eval_key=("principal", pp.principal, version, pp.scope, rule_name),
                        principal=pp.principal,
                        output_activated=activated,
                        output_not_met=not_met,
                        source=action,
                    )
                )

    # -- role policies ----------------------------------------------------------------------------

    def role_policy(self, policy: m.Policy, rp: m.RolePolicy) -> None:
        version = rp.version or DEFAULT_VERSION
        ref = self.ref(policy, "role", rp.role, version, rp.scope)
        exprs = [e for rule in rp.rules for e in _rule_exprs(rule.condition, rule.output)]
        params = self.params(policy, rp.constants, rp.variables, exprs)
        per_resource: dict[str, int] = {}
        for rule in rp.rules:
            idx = per_resource.get(rule.resource, 0)
            per_resource[rule.resource] = idx + 1
            activated, not_met = _outputs(rule.output)
            self.table.add(
                Row(
                    policy=ref,
                    kind=RESOURCE,
                    version=version,
                    scope=rp.scope,
                    resource=rule.resource,
                    role=rp.role,
                    action="",
                    name=rule.name,
                    effect="",
                    condition=compile_condition(rule.condition),
                    params=params,
                    eval_key=("role", rp.role, version, rp.scope, idx),
                    allow_actions=_unique(rule.allow_actions),
                    output_activated=activated,
                    output_not_met=not_met,
                    from_role_policy=True,
                    source=rule,
                )
            )
        self.table.scopes[RESOURCE].add(rp.scope)
        self.role_parents.setdefault(rp.scope, {})[rp.role] = tuple(rp.parent_roles)

    # -- shared -----------------------------------------------------------------------------------

    def ref(self, policy: m.Policy, kind: str, name: str, version: str, scope: str) -> PolicyRef:
        ref = PolicyRef(
            kind, name, version, scope, policy_key(kind, name, version, scope), policy.file, policy
        )
        self.table.policies[ref.key] = ref
        return ref

    def params(
        self,
        policy: m.Policy,
        constants: m.Constants | None,
        variables: m.Variables | None,
        used_by: Iterable[str],
    ) -> Params:
        used_by = list(used_by)
        if not self.reads_runtime and any("runtime" in e for e in used_by):
            self.reads_runtime = True
        consts = merged(constant_sources(policy, constants, self.policies.export_constants))
        definitions: dict[str, str] = merged(
            variable_sources(policy, variables, self.policies.export_variables)
        )
        ordered = _used_in_order(definitions, used_by)
        if any("runtime" in definitions[name] for name in ordered):
            self.reads_runtime = True
        if not consts and not ordered:
            return NO_PARAMS
        return Params(
            VariablesMap({k: from_json(v) for k, v in consts.items()}),
            tuple((name, program(definitions[name]), definitions[name]) for name in ordered),
        )


def _noop(ref: PolicyRef, kind: str, resource: str, params: Params, principal: str = "") -> Row:
    """The row a policy without rules gets, so that its scope exists."""
    return Row(
        policy=ref,
        kind=kind,
        version=ref.version,
        scope=ref.scope,
        resource=resource,
        role="",
        action="",
        name="",
        effect="",
        condition=None,
        params=params,
        eval_key=("noop", ref.key),
        principal=principal,
    )


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _compile_rule(
    rule: Any, require_consent: bool
) -> tuple[Condition | None, str, Program | None, Program | None]:
    """A resource or principal rule's condition, effect and outputs, compiled.

    Under ``REQUIRE_PARENTAL_CONSENT_FOR_ALLOWS`` a conditional ALLOW becomes a DENY of the
    condition's negation, as Cerbos compiles it (the ALLOW itself comes from the parent scope).
    """
    condition = compile_condition(rule.condition)
    effect = rule.effect
    if require_consent and effect == m.EFFECT_ALLOW and condition is not None:
        condition, effect = none_of(condition), m.EFFECT_DENY
    activated, not_met = _outputs(rule.output)
    return condition, effect, activated, not_met


def _outputs(output: m.Output | None) -> tuple[Program | None, Program | None]:
    if output is None:
        return None, None
    activated = output.rule_activated
    not_met = output.condition_not_met
    return (program(activated) if activated else None, program(not_met) if not_met else None)


def _match_exprs(match: m.Match | None) -> Iterable[str]:
    if match is None:
        return
    if match.op == "expr":
        yield match.expr
    for sub in match.of:
        yield from _match_exprs(sub)


def _rule_exprs(condition: m.Condition | None, output: m.Output | None) -> list[str]:
    exprs = list(_match_exprs(condition.match if condition else None))
    if output is not None:
        exprs += [e for e in (output.rule_activated, output.condition_not_met) if e]
    return exprs


def _used_in_order(definitions: dict[str, str], used_by: Iterable[str]) -> list[str]:
    """The variables the expressions use (transitively), dependencies first, ties by name."""
    refs = {name: check_expression(text).variables & definitions.keys() for name, text in definitions.items()}
    used: set[str] = set()
    stack = [v for e in used_by for v in check_expression(e).variables if v in definitions]
    while stack:
        name = stack.pop()
        if name not in used:
            used.add(name)
            stack.extend(refs[name])
    pending = {name: {r for r in refs[name] if r in used and r != name} for name in used}
    ready = [name for name, deps in pending.items() if not deps]
    heapq.heapify(ready)
    ordered: list[str] = []
    while ready:
        name = heapq.heappop(ready)
        ordered.append(name)
        for other, deps in pending.items():
            if name in deps:
                deps.discard(name)
                if not deps:
                    heapq.heappush(ready, other)
    return ordered


def _ancestor_roles(parents: dict[str, dict[str, tuple[str, ...]]]) -> dict[str, dict[str, tuple[str, ...]]]:
    """Per scope, each role policy role's parent roles, transitively."""
    compiled: dict[str, dict[str, tuple[str, ...]]] = {}
    for scope, roles in parents.items():
        compiled[scope] = {}
        for role in roles:
            found: dict[str, None] = {}
            seen = {role}
            stack = list(roles[role])
            while stack:
                parent = stack.pop(0)
                found[parent] = None
                if parent not in seen:
                    seen.add(parent)
                    stack.extend(roles.get(parent, ()))
            compiled[scope][role] = tuple(found)
    return compiled
