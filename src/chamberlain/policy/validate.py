"""The checks Cerbos's compiler runs over a policy set, each reported with file, line and field.

Per policy (``internal/policy/validate.go``): duplicate rule names, duplicate principal rule
resources, duplicate derived role definitions. Across the set (``internal/compile``): imports that
do not exist, derived roles not imported or defined twice, constants and variables invalid,
redefined, undefined or cyclic, CEL that does not compile, empty outputs, rules matching no role,
scripts, schemas that do not load, and missing ancestors of scoped policies.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chamberlain.cel.golang import quote as go_quote
from chamberlain.policy import model as m
from chamberlain.policy.cel_check import check_expression
from chamberlain.policy.errors import Issue
from chamberlain.policy.imports import Source, constant_sources, variable_sources
from chamberlain.policy.scopes import scope_chain
from chamberlain.policy.source import Position

_IDENTIFIER = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")
_KEYWORDS = frozenset({"false", "in", "null", "true"})

SchemaLoader = Callable[[str], str | None]  # ref -> error message, None when it loads


def identifier_error(name: str) -> str | None:
    """Why ``name`` cannot name a constant or variable, or ``None`` (CEL identifier rules)."""
    if name in _KEYWORDS:
        return f"{_q(name)} is a reserved keyword and can't be used as an identifier"
    if not _IDENTIFIER.match(name):
        return f"{_q(name)} is not a valid identifier"
    return None


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sq(s: str) -> str:
    return '"' + s.replace('"', '\\"') + '"'


def rule_name(name: str, index: int) -> str:
    """A rule's name, or the one Cerbos generates for an unnamed rule (``rule-003``)."""
    return name or f"rule-{index:03d}"


def check_policy(policy: m.Policy) -> list[Issue]:
    """The per-policy checks of Cerbos's ``policy.Validate`` (duplicates inside one policy)."""
    issues: list[Issue] = []

    def dup(kind_path: str, index: int, first: int, message: str) -> None:
        pos = policy.position(f"{kind_path}[{index}]")
        prev = policy.position(f"{kind_path}[{first}]")
        where = f" defined at {prev}" if prev else ""
        issues.append(
            _issue(policy, "validation error", message.format(where=where) + ": give it a unique name", pos)
        )

    body = policy.body
    if isinstance(body, m.ResourcePolicy):
        seen: dict[str, int] = {}
        for i, rule in enumerate(body.rules):
            if rule.name and rule.name in seen:
                j = seen[rule.name]
                dup(
                    "resource_policy.rules",
                    i,
                    j,
                    f"duplicate rule name {_q(rule.name)}: rule #{i + 1} has the same name as rule #{j + 1}{{where}}",
                )
            elif rule.name:
                seen[rule.name] = i
    elif isinstance(body, m.PrincipalPolicy):
        resources: dict[str, int] = {}
        for i, prule in enumerate(body.rules):
            if prule.resource in resources:
                j = resources[prule.resource]
                dup(
                    "principal_policy.rules",
                    i,
                    j,
                    f"duplicate resource {_q(prule.resource)} at rule #{i + 1}: previous definition in rule #{j + 1}{{where}}",
                )
            else:
                resources[prule.resource] = i
            action_names: dict[str, int] = {}
            for k, action_rule in enumerate(prule.actions):
                if action_rule.name and action_rule.name in action_names:
                    j = action_names[action_rule.name]
                    dup(
                        f"principal_policy.rules[{i}].actions",
                        k,
                        j,
                        f"duplicate action rule name {_q(action_rule.name)}: action rule #{k + 1} for resource {_q(prule.resource)} has the same name as action rule #{j + 1}{{where}}",
                    )
                elif action_rule.name:
                    action_names[action_rule.name] = k
    elif isinstance(body, m.DerivedRoles):
        defs: dict[str, int] = {}
        for i, definition in enumerate(body.definitions):
            if definition.name in defs:
                j = defs[definition.name]
                dup(
                    "derived_roles.definitions",
                    i,
                    j,
                    f"duplicate derived role definition {_q(definition.name)}: definition #{i + 1} has the same name as definition #{j + 1}{{where}}",
                )
            else:
                defs[definition.name] = i
    elif isinstance(body, m.ExportVariables | m.ExportConstants) and policy.variables:
        kind = "export variables" if isinstance(body, m.ExportVariables) else "export constants"
        issues.append(
            _issue(
                policy,
                "validation error",
                f"{kind} policies do not support the deprecated top-level variables field: move them to definitions",
                policy.position("variables"),
            )
        )
    return issues


def _issue(policy: m.Policy, kind: str, message: str, pos: Position | None) -> Issue:
    if pos is None:
        return Issue(policy.file, kind, message)
    return Issue(policy.file, kind, message, pos.line, pos.column, pos.path)


@dataclass(slots=True)
class _Definition:
    """A constant or variable definition and where it came from."""

    name: str
    value: Any
    source: str  # "import 'x'", "policy local constants", ...
    policy: m.Policy
    path: str  # proto path of the definition

    @property
    def where(self) -> str:
        pos = self.policy.positions.get(self.path)
        return f"{self.source} ({self.policy.file}:{pos})" if pos else f"{self.source} ({self.policy.file})"


@dataclass(slots=True)
class _Scope:
    """The constants and variables visible in one policy (Cerbos's module context)."""

    policy: m.Policy
    constants: dict[str, _Definition] = field(default_factory=dict)
    variables: dict[str, _Definition] = field(default_factory=dict)
    used_variables: set[str] = field(default_factory=set)


class Checker:
    """Runs the compile-time checks over every policy of a set; collects :class:`Issue` s."""

    def __init__(self, policies: Iterable[m.Policy], load_schema: SchemaLoader | None = None):
        self.policies = list(policies)
        self.load_schema = load_schema
        self.issues: list[Issue] = []
        self.by_key: dict[str, m.Policy] = {}
        self.named: dict[str, dict[str, m.Policy]] = {
            "derived_roles": {},
            "export_variables": {},
            "export_constants": {},
        }
        self._export_scopes: dict[str, _Scope] = {}
        self._derived_done: set[str] = set()
        for policy in self.policies:
            self.by_key.setdefault(policy.key, policy)
            if policy.kind in self.named:
                self.named[policy.kind].setdefault(policy.name, policy)

    def run(self) -> list[Issue]:
        for policy in self.policies:
            self.issues.extend(check_policy(policy))
            body = policy.body
            if isinstance(body, m.ResourcePolicy):
                self.resource_policy(policy, body)
            elif isinstance(body, m.PrincipalPolicy):
                self.principal_policy(policy, body)
            elif isinstance(body, m.RolePolicy):
                self.role_policy(policy, body)
        self.ancestors()
        self.unimported_derived_roles()
        return self.issues

    def error(
        self, policy: m.Policy, kind: str, message: str, path: str | None = None, key: bool = False
    ) -> None:
        pos = None
        if path is not None:
            pos = policy.key_positions.get(path) if key else policy.positions.get(path)
            if pos is None:
                pos = policy.position(path)
        self.issues.append(_issue(policy, kind, message, pos))

    # -- policies ---------------------------------------------------------------------------------

    def resource_policy(self, policy: m.Policy, rp: m.ResourcePolicy) -> None:
        self.derived_role_imports(policy, rp)
        if self.load_schema is not None and rp.schemas is not None:
            for label, attr in (("principal", "principal_schema"), ("resource", "resource_schema")):
                ref = getattr(rp.schemas, attr)
                if ref is not None and ref.ref and (problem := self.load_schema(ref.ref)) is not None:
                    self.error(
                        policy,
                        "invalid schema",
                        f"Failed to load {label} schema {_sq(ref.ref)}: {problem}",
                        f"resource_policy.schemas.{attr}.ref",
                    )
        scope = self.scope(policy, rp.constants, rp.variables)
        for i, rule in enumerate(rp.rules):
            path = f"resource_policy.rules[{i}]"
            if not rule.roles and not rule.derived_roles:
                self.error(
                    policy,
                    "invalid resource rule",
                    f"Rule '{rule_name(rule.name, i + 1)}' does not specify any roles or derived roles to be matched: add roles or derivedRoles",
                    path,
                )
            self.condition(scope, f"{path}.condition", rule.condition)
            self.output(scope, path, rule.output)

    def principal_policy(self, policy: m.Policy, pp: m.PrincipalPolicy) -> None:
        scope = self.scope(policy, pp.constants, pp.variables)
        for i, rule in enumerate(pp.rules):
            for j, action in enumerate(rule.actions):
                path = f"principal_policy.rules[{i}].actions[{j}]"
                self.condition(scope, f"{path}.condition", action.condition)
                self.output(scope, path, action.output)

    def role_policy(self, policy: m.Policy, rp: m.RolePolicy) -> None:
        scope = self.scope(policy, rp.constants, rp.variables)
        for i, rule in enumerate(rp.rules):
            path = f"role_policy.rules[{i}]"
            self.condition(scope, f"{path}.condition", rule.condition)
            self.output(scope, path, rule.output)

    def ancestors(self) -> None:
        """Report each missing ancestor of a scoped policy once, on its most specific descendant."""
        missing: dict[str, m.Policy] = {}
        for policy in self.policies:
            if policy.kind not in ("resource", "principal") or not policy.scope:
                continue
            for parent in scope_chain(policy.scope)[1:]:
                key = m.policy_key(policy.kind, policy.name, policy.version, parent)
                if key in self.by_key:
                    continue
                current = missing.get(key)
                if current is None or (len(policy.scope), current.file) > (len(current.scope), policy.file):
                    missing[key] = policy
        for key, policy in missing.items():
            self.error(
                policy,
                "missing policy definition",
                f"Missing ancestor policy {_sq(key)}: a scoped policy needs a policy for every parent scope, up to the unscoped one",
            )

    # -- derived roles ----------------------------------------------------------------------------

    def derived_role_imports(self, policy: m.Policy, rp: m.ResourcePolicy) -> None:
        provided: dict[str, list[tuple[str, m.Policy, int]]] = {}
        for i, name in enumerate(rp.import_derived_roles):
            dr_policy = self.named["derived_roles"].get(name)
            if dr_policy is None:
                self.error(
                    policy,
                    "import not found",
                    f"cannot find derived roles {_dq(name)} imported by {_importer(policy)}: check the name of the derivedRoles policy",
                    f"resource_policy.import_derived_roles[{i}]",
                )
                continue
            self.derived_roles(dr_policy)
            assert isinstance(dr_policy.derived_roles, m.DerivedRoles)
            for definition in dr_policy.derived_roles.definitions:
                provided.setdefault(definition.name, []).append((name, dr_policy, i))
        unknown: dict[str, str] = {}  # one error per role, at its last reference, as in Cerbos
        reported: set[str] = set()
        for i, rule in enumerate(rp.rules):
            for j, role in enumerate(rule.derived_roles):
                sources = provided.get(role)
                if sources is None:
                    unknown[role] = f"resource_policy.rules[{i}].derived_roles[{j}]"
                elif len({id(p) for _, p, _ in sources}) > 1 and role not in reported:
                    reported.add(role)
                    places = []
                    for imp, dr_policy, k in sources:
                        pos = policy.positions.get(f"resource_policy.import_derived_roles[{k}]")
                        at = f" at {pos}" if pos else ""
                        places.append(f"{dr_policy.file} (imported as {_sq(imp)}{at})")
                    self.error(
                        policy,
                        "ambiguous derived role",
                        f"Derived role {_sq(role)} is defined in more than one import: {', '.join(places)}",
                    )
        for role, path in unknown.items():
            self.error(
                policy,
                "unknown derived role",
                f"Derived role {_sq(role)} is not defined in any imports: import the derivedRoles policy that defines it",
                path,
            )

    def unimported_derived_roles(self) -> None:
        """Missing imports of derived roles no policy imports: Cerbos's index checks every file's imports
        (its conditions are only compiled when imported, so their CEL errors are not reported)."""
        for policy in self.named["derived_roles"].values():
            if policy.key in self._derived_done:
                continue
            dr = policy.derived_roles
            assert dr is not None
            for noun, block in (("constants", dr.constants), ("variables", dr.variables)):
                for i, name in enumerate(block.imports if block else ()):
                    if self.export_scope(f"export_{noun}", name) is None:
                        self.missing_import(policy, noun, name, f"derived_roles.{noun}.import[{i}]")

    def missing_import(self, policy: m.Policy, noun: str, name: str, path: str) -> None:
        """An ``import`` of exported constants or variables that no policy exports."""
        self.error(
            policy,
            "import not found",
            f"cannot find {noun} {_dq(name)} imported by {_importer(policy)}: check the name of the export{noun.capitalize()} policy",
            path,
        )

    def derived_roles(self, policy: m.Policy) -> None:
        if policy.key in self._derived_done:
            return
        self._derived_done.add(policy.key)
        dr = policy.derived_roles
        assert dr is not None
        scope = self.scope(policy, dr.constants, dr.variables)
        for i, definition in enumerate(dr.definitions):
            self.condition(scope, f"derived_roles.definitions[{i}].condition", definition.condition)

    # -- constants and variables ------------------------------------------------------------------

    def scope(self, policy: m.Policy, constants: m.Constants | None, variables: m.Variables | None) -> _Scope:
        scope = _Scope(policy)
        sources = constant_sources(policy, constants, self.named["export_constants"])
        const_defs = self.collect(policy, sources, "export_constants", "constant")
        scope.constants = self.resolve_redefinitions(policy, const_defs, "Constant", "constant redefined")
        sources = variable_sources(policy, variables, self.named["export_variables"])
        var_defs = self.collect(policy, sources, "export_variables", "variable")
        scope.variables = self.resolve_redefinitions(policy, var_defs, "Variable", "variable redefined")
        self.resolve_variables(scope)
        return scope

    def collect(
        self, policy: m.Policy, sources: list[Source], kind: str, noun: str
    ) -> dict[str, list[_Definition]]:
        """Every definition of each name, from each source in order (a missing import reported)."""
        defs: dict[str, list[_Definition]] = {}
        for source in sources:
            if not source.imported:
                self.definitions(policy, source.definitions or {}, source.path, source.where, noun, defs)
                continue
            export = self.export_scope(kind, source.imported)
            if export is None:
                self.missing_import(policy, f"{noun}s", source.imported, source.path)
                continue
            for d in (export.constants if noun == "constant" else export.variables).values():
                defs.setdefault(d.name, []).append(
                    _Definition(d.name, d.value, source.where, d.policy, d.path)
                )
        return defs

    def export_scope(self, kind: str, name: str) -> _Scope | None:
        key = f"{kind}.{name}"
        if key in self._export_scopes:
            return self._export_scopes[key]
        policy = self.named[kind].get(name)
        if policy is None:
            return None
        scope = _Scope(policy)
        defs: dict[str, list[_Definition]] = {}
        body = policy.body
        assert isinstance(body, m.ExportConstants | m.ExportVariables)
        noun = "constant" if kind == "export_constants" else "variable"
        self.definitions(policy, body.definitions, f"{kind}.definitions", "definitions", noun, defs)
        flat = {n: d[0] for n, d in defs.items()}
        if kind == "export_constants":
            scope.constants = flat
        else:
            scope.variables = flat
        self._export_scopes[key] = scope
        return scope

    def definitions(
        self,
        policy: m.Policy,
        values: Mapping[str, Any],
        path: str,
        source: str,
        noun: str,
        out: dict[str, list[_Definition]],
    ) -> None:
        for name, value in values.items():
            def_path = f'{path}["{name}"]'
            if (problem := identifier_error(name)) is not None:
                self.error(
                    policy,
                    f"invalid {noun} name",
                    f"{problem}: use letters, digits and underscores, not starting with a digit",
                    def_path,
                    key=True,
                )
            if noun == "variable":
                self.expression(policy, def_path, value)
            out.setdefault(name, []).append(_Definition(name, value, source, policy, def_path))

    def resolve_redefinitions(
        self, policy: m.Policy, defs: dict[str, list[_Definition]], noun: str, kind: str
    ) -> dict[str, _Definition]:
        for name, places in defs.items():
            if len(places) > 1:
                where = [p.where for p in places]
                listed = (
                    " and ".join(where) if len(where) == 2 else f"{', '.join(where[:-1])}, and {where[-1]}"
                )
                self.error(policy, kind, f"{noun} '{name}' has multiple definitions in {listed}")
        return {name: places[-1] for name, places in defs.items()}

    def resolve_variables(self, scope: _Scope) -> None:
        edges: dict[str, set[str]] = {}
        for name, d in scope.variables.items():
            refs = check_expression(d.value)
            for const in sorted(refs.constants):
                if const not in scope.constants:
                    self.error(
                        d.policy,
                        "undefined constant",
                        f"Undefined constant '{const}' referenced in variable '{name}'",
                        d.path,
                    )
            edges[name] = set()
            for var in sorted(refs.variables):
                if var == name:
                    self.error(
                        d.policy,
                        "cyclical variable definitions",
                        f"Variable '{name}' references itself",
                        d.path,
                    )
                elif var not in scope.variables:
                    self.error(
                        d.policy,
                        "undefined variable",
                        f"Undefined variable '{var}' referenced in variable '{name}'",
                        d.path,
                    )
                else:
                    edges[name].add(var)
        for cycle in _cycles(edges):
            names = sorted(cycle)
            parts = []
            for n in names:
                d = scope.variables[n]
                pos = d.policy.positions.get(d.path)
                parts.append(f"'{n}' ({d.policy.file}:{pos})" if pos else f"'{n}'")
            listed = " and ".join(parts) if len(parts) == 2 else f"{', '.join(parts[:-1])}, and {parts[-1]}"
            first = scope.variables[names[0]]
            self.error(
                first.policy, "cyclical variable definitions", f"Variables {listed} form a cycle", first.path
            )
        scope.used_variables = set()

    # -- conditions and expressions ---------------------------------------------------------------

    def condition(self, scope: _Scope, path: str, condition: m.Condition | None) -> None:
        if condition is None:
            return
        if condition.match is None:
            self.error(
                scope.policy,
                "scripts in conditions are no longer supported",
                "Unsupported feature: rewrite the script as a CEL match expression",
                path,
            )
            return
        self.match(scope, f"{path}.match", condition.match)

    def match(self, scope: _Scope, path: str, match: m.Match) -> None:
        if match.op == "expr":
            self.used_expression(scope, f"{path}.expr", match.expr)
            return
        for i, sub in enumerate(match.of):
            self.match(scope, f"{path}.{match.op}.of[{i}]", sub)

    def output(self, scope: _Scope, path: str, output: m.Output | None) -> None:
        if output is None:
            return
        empty = True
        for expr, sub in (
            (output.expr, "output.expr"),
            (output.when.rule_activated if output.when else "", "output.when.rule_activated"),
            (output.when.condition_not_met if output.when else "", "output.when.condition_not_met"),
        ):
            if expr:
                empty = False
                self.used_expression(scope, f"{path}.{sub}", expr)
        if empty:
            self.error(
                scope.policy,
                "empty output",
                "output must have at least one expression: set when.ruleActivated or when.conditionNotMet",
                f"{path}.output",
            )

    def expression(self, policy: m.Policy, path: str, expr: str) -> Any:
        result = check_expression(expr)
        if result.errors:
            self.error(
                policy,
                "invalid expression",
                f"Invalid expression `{expr}`: [{', '.join(result.errors)}]",
                path,
            )
        return result

    def used_expression(self, scope: _Scope, path: str, expr: str) -> None:
        result = self.expression(scope.policy, path, expr)
        for const in sorted(result.constants):
            if const not in scope.constants:
                self.error(scope.policy, "undefined constant", f"Undefined constant '{const}'", path)
        for var in sorted(result.variables):
            if var not in scope.variables:
                self.error(scope.policy, "undefined variable", f"Undefined variable '{var}'", path)
            else:
                self.use_variable(scope, var)

    def use_variable(self, scope: _Scope, name: str) -> None:
        if name in scope.used_variables:
            return
        scope.used_variables.add(name)
        d = scope.variables[name]
        for const in sorted(check_expression(d.value).constants):
            if const not in scope.constants:
                self.error(d.policy, "undefined constant", f"Undefined constant '{const}'", d.path)
        for ref in sorted(check_expression(d.value).variables):
            if ref in scope.variables:
                self.use_variable(scope, ref)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(component)
    return out


def _dq(text: str) -> str:
    """Go's ``%q``, as Cerbos quotes an import's name (``cannot find variables "x" imported by ...``)."""
    return go_quote(text)


def _importer(policy: m.Policy) -> str:
    """The importing policy as Cerbos names it: its key with names sanitised
    (``principal.fleet_bot.vdefault``, ``resource.doc.vdefault/acme``, ``derived_roles.common``)."""
    from chamberlain.engine.names import policy_key  # the engine imports this module's package

    if policy.kind in ("derived_roles", "export_variables", "export_constants"):
        return policy.key
    return policy_key(policy.kind, policy.name, policy.version, policy.scope)
