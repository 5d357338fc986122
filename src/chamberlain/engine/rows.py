"""Which rule rows a check walks (Cerbos's ``internal/ruletable/index``), looked up once per name.

A check's rows depend only on the request's names, never on attributes: the principal's id,
roles, scope and policy version, the resource's kind, scope and version, and the action. A
:class:`Route` is everything that depends on the principal and resource names (the scopes
searched, the policy keys, the roles with their role-policy parent roles); :meth:`RowIndex.groups`
gives, for one action on a route, the rows of each policy kind, role and scope in the order the
check walks them, with the DENYs role policies add (``appendRolePolicyDenies``). Every lookup is
memoised in tables bounded by :data:`CACHE_BYTES`, since their keys are what requests send.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chamberlain.caches import ENTRY_OVERHEAD
from chamberlain.engine import glob
from chamberlain.engine.conditions import none_of
from chamberlain.engine.names import NO_MATCH, policy_key, sanitize, scope_value
from chamberlain.engine.options import EngineOptions
from chamberlain.engine.result import ActionEffect
from chamberlain.engine.ruletable import (
    NO_PARAMS,
    PRINCIPAL,
    RESOURCE,
    ROLE_GLOB,
    ROLE_LITERAL,
    Row,
    RuleTable,
    key_matches,
)
from chamberlain.engine.walkgen import GroupWalk, Step
from chamberlain.policy.model import EFFECT_DENY
from chamberlain.policy.scopes import scope_chain

KINDS = (PRINCIPAL, RESOURCE)  # the order a check walks policy kinds in
CACHE_LIMIT = 65536
#: What the memo tables (routes, plans, candidate rows, walks) may keep together, by a byte-aware
#: measure of their keys: the keys are the request's names (principal id, roles, scope, actions),
#: so without it 65,536 routes of 100 KB principal ids would keep 6 GB.
CACHE_BYTES = 64 << 20
_NO_EVAL_KEY = ("no-match",)
_MISSING: Any = object()


@dataclass(slots=True, eq=False)
class Group:
    """One role's walk: the policy key it reports when no rule matches, and its scope steps.

    ``walk``: the same walk generated as code (:mod:`~chamberlain.engine.walkgen`) for the fast
    path, when it applies.
    """

    policy_key: str
    steps: tuple[Step, ...]
    walk: GroupWalk | None = None


Kinds = tuple[tuple[str, tuple[Group, ...]], ...]


@dataclass(slots=True, eq=False)
class Plan:
    """What a check of one action walks for one route, with every lookup done once.

    ``kinds``: principal policies, then resource policies; each a list of role groups (one for
    principal policies, which match any role). ``constant``: the effect, when no row's outcome
    depends on the request's attributes (no conditions at all), else ``None``. ``single``: the
    generated walk of the only group, when the plan has one kind with one group.
    """

    kinds: Kinds
    constant: ActionEffect | None = None
    single: GroupWalk | None = None


@dataclass(frozen=True, slots=True)
class Route:
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
    plans: dict[str, Plan] = field(default_factory=dict)  # per action, built on first use


class RowIndex:
    """The rule table's rows by request names, memoised (thread-safe: each lookup is idempotent)."""

    def __init__(self, table: RuleTable, options: EngineOptions):
        self.table = table
        self.options = options
        self.routes: dict[tuple[Any, ...], Route | None] = {}
        self.walks: dict[tuple[Any, ...], GroupWalk] = {}  # generated walks, shared by equal groups
        self._candidates: dict[tuple[Any, ...], tuple[Row, ...]] = {}
        self._role_denies: dict[tuple[Any, ...], tuple[Row, ...]] = {}
        self._resource_exists: dict[tuple[Any, ...], bool] = {}
        self._principal_exists: dict[tuple[Any, ...], bool] = {}
        self._cache_bytes = 0
        self._has_role_rows = bool(table.role_rows)

    def route(self, principal: Any, resource: Any) -> Route | None:
        """Everything about a check that depends only on names: scopes, keys, roles.

        ``None`` when no policy scope applies to either (the check is a DENY by ``NO_MATCH``).
        """
        key = (
            principal.id,
            principal.scope,
            principal.policy_version,
            principal.roles,
            resource.kind,
            resource.scope,
            resource.policy_version,
        )
        route = self.routes.get(key, _MISSING)
        if route is _MISSING:
            route = self._make_route(principal, resource)
            self.remember(self.routes, key, route)
        return route

    def groups(self, route: Route, action: str) -> tuple[Kinds, bool]:
        """The rows ``action`` walks on ``route``, by policy kind, role and scope; and whether any
        has a condition (else no attribute can change the outcome)."""
        kinds = []
        conditional = False
        for pt in KINDS:
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
                    rows = self.candidates(
                        pt, route.version, scope, route.kind, action, route.pid if pt == PRINCIPAL else ""
                    )
                    if pt == RESOURCE and self._has_role_rows:
                        denies = self.role_policy_denies(
                            route.version, scope, route.kind, action, parent_roles
                        )
                        rows = (*denies, *rows)
                    rows = tuple(row for row in rows if _applies_to(row, parent_roles, role_set))
                    conditional = conditional or any(_conditional(row) for row in rows)
                    steps.append((scope, rows, self.table.scope_permissions.get(scope)))
                groups.append(Group(main_key if exists else NO_MATCH, tuple(steps)))
            if pt == PRINCIPAL and not any(rows for g in groups for _, rows, _ in g.steps):
                continue  # a kind without rows only says NO_MATCH, which the resource kind overwrites
            kinds.append((pt, tuple(groups)))
        return tuple(kinds), conditional

    def _make_route(self, principal: Any, resource: Any) -> Route | None:
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
        return Route(
            pid=principal.id,
            version=r_version,
            kind=kind,
            roles=roles,
            role_parents=[(rp, frozenset(rp)) for rp in role_parents],
            including=frozenset(r for rp in role_parents for r in rp),
            p_scopes=p_scopes,
            p_key=p_key,
            p_exists=self._scoped_principal_exists(p_version, p_scopes),
            r_scopes=r_scopes,
            r_key=r_key,
            r_exists=self._scoped_resource_exists(r_version, kind, r_scopes),
            schemas=schemas,
        )

    # -- lookups (memoised: they depend only on the request's names, never on attributes) ---------

    def _all_scopes(self, kind: str, scope: str, name: str, version: str) -> tuple[list[str], str]:
        known = self.table.scopes[kind]
        scopes: list[str] = []
        if scope in known:
            scopes.append(scope)
        elif not self.options.lenient_scope_search:
            return [], ""
        scopes.extend(s for s in scope_chain(scope)[1:] if s in known)
        if not scopes:
            return [], ""
        return scopes, policy_key(kind, name, version, scopes[0])

    def _scoped_principal_exists(self, version: str, scopes: list[str]) -> bool:
        key = (version, *scopes)
        found = self._principal_exists.get(key)
        if found is None:
            found = any((PRINCIPAL, version, s) in self.table.rows for s in scopes)
            self.remember(self._principal_exists, key, found)
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
            self.remember(self._resource_exists, key, found)
        return found

    def _role_with_parents(self, parents_in_scope: dict[str, tuple[str, ...]] | None, role: str) -> list[str]:
        if not parents_in_scope or role not in parents_in_scope:
            return [role]
        return [role, *parents_in_scope[role]]

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
            self.remember(self._candidates, key, found)
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
            self.remember(self._role_denies, key, found)
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
                        yield _derived(
                            mb,
                            action,
                            effect="",
                            condition=None,
                            activated=mb.output_activated,
                            not_met=mb.output_not_met,
                        )
                    continue
                yield _derived(
                    mb,
                    action,
                    effect=EFFECT_DENY,
                    condition=none_of(mb.condition),
                    activated=mb.output_not_met,
                    not_met=mb.output_activated,
                )

    def remember(self, cache: dict[Any, Any], key: Any, value: Any) -> None:
        if len(cache) >= CACHE_LIMIT:
            cache.clear()
        self.charge(2 * _key_cost(key))  # the value (a route's scopes and roles) about as much again
        cache[key] = value

    def charge(self, cost: int) -> None:
        """Count ``cost`` bytes against :data:`CACHE_BYTES`; past it, every memo table is emptied."""
        self._cache_bytes += cost
        if self._cache_bytes > CACHE_BYTES:
            for table in (
                self._candidates,
                self._role_denies,
                self._resource_exists,
                self._principal_exists,
                self.routes,
                self.walks,
            ):
                table.clear()
            self._cache_bytes = cost


def _applies_to(row: Row, parent_roles: list[str], role_set: frozenset[str]) -> bool:
    """Whether a row applies to a role (with its role-policy parent roles)."""
    if row.role_kind == ROLE_LITERAL:
        return row.role in role_set or row.from_role_policy
    return row.role_kind != ROLE_GLOB or row.matches_roles(parent_roles, role_set)


def _conditional(row: Row) -> bool:
    dr = row.derived_role
    return row.condition is not None or (dr is not None and dr.condition is not None)


def _derived(mb: Row, action: str, *, effect: str, condition: Any, activated: Any, not_met: Any) -> Row:
    return Row(
        policy=mb.policy,
        kind=RESOURCE,
        version=mb.version,
        scope=mb.scope,
        resource=mb.resource,
        role=mb.role,
        action=action,
        name=mb.name,
        effect=effect,
        condition=condition,
        params=mb.params,
        eval_key=mb.eval_key,
        output_activated=activated,
        output_not_met=not_met,
        from_role_policy=True,
        source=mb.source,
    )


def _no_match_deny(rep: Row, resource: str, action: str) -> Row:
    return Row(
        policy=rep.policy,
        kind=RESOURCE,
        version=rep.version,
        scope=rep.scope,
        resource=resource,
        role=rep.role,
        action=action,
        name="",
        effect=EFFECT_DENY,
        condition=None,
        params=NO_PARAMS,
        eval_key=_NO_EVAL_KEY,
        from_role_policy=True,
        no_match_for_scope_permissions=True,
    )


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
