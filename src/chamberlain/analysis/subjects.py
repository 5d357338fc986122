"""Who the vault map is about: roles, derived roles, known principals and agents, delegation chains.

A :class:`Subject` says how to plan for it: which principal id and roles, and which attributes
are known (an agent's, from the agents registry) or symbolic (a bare role's, a principal's seen in
the decision log: any value they may take). A chain is a person and the agents acting for them,
current agent last: what it can do is what every one of them can do (a delegated check asks each).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chamberlain.policy import PolicySet

ROLE = "role"
DERIVED_ROLE = "derived_role"
PRINCIPAL = "principal"
AGENT = "agent"
CHAIN = "chain"
ANY_ROLE = "(any role)"  # a derived role whose parent roles are "*" is planned for this stand-in


@dataclass(frozen=True, slots=True)
class Subject:
    """One row of the map.

    ``principal_id`` ``None``: the id is symbolic (a bare role); ``attr`` ``None``: the attributes
    are symbolic. ``derived_role``/``parents``: a derived role, planned once per parent role with
    only the ALLOW rules that grant it. ``chain``: the subjects of a delegation, person first.
    """

    kind: str
    name: str
    roles: tuple[str, ...] = ()
    principal_id: str | None = None
    attr: Mapping[str, Any] | None = None
    derived_role: str = ""
    chain: tuple[Subject, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "name": self.name, "roles": list(self.roles)}
        if self.attr is not None:
            out["attr"] = dict(self.attr)
        if self.chain:
            out["chain"] = [s.label for s in self.chain]
        return out


@dataclass
class Subjects:
    """The subjects found, and the ones left out with the reason (``skipped``)."""

    items: list[Subject] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def policy_subjects(policies: PolicySet) -> list[Subject]:
    """Every role and derived role the policies name (sorted), each once."""
    roles: set[str] = set()
    derived: dict[str, set[str]] = {}
    for policy in policies:
        rp, role_policy, dr = policy.resource_policy, policy.role_policy, policy.derived_roles
        if rp is not None:
            for rule in rp.rules:
                roles.update(rule.roles)
        if role_policy is not None:
            roles.add(role_policy.role)
            roles.update(role_policy.parent_roles)
        if dr is not None:
            for definition in dr.definitions:
                roles.update(definition.parent_roles)
                derived.setdefault(definition.name, set()).update(definition.parent_roles)
    roles.discard("*")
    out = [Subject(ROLE, role, (role,)) for role in sorted(roles)]
    for name in sorted(derived):
        parents = tuple(sorted(derived[name])) if "*" not in derived[name] else (ANY_ROLE,)
        out.append(Subject(DERIVED_ROLE, name, parents, derived_role=name))
    return out


def principal_subject(principal_id: str, roles: Iterable[str]) -> Subject:
    """A known principal: its id and roles, its attributes symbolic (they vary from check to check)."""
    return Subject(PRINCIPAL, principal_id, tuple(roles), principal_id=principal_id)


def agent_subject(agent_id: str, roles: Iterable[str], attr: Mapping[str, Any]) -> Subject:
    """An agent of the agents registry: checked with the registry's roles and attributes."""
    return Subject(AGENT, agent_id, tuple(roles), principal_id=agent_id, attr=dict(attr))


def chain_subject(person: Subject, actors: Iterable[Subject]) -> Subject:
    """A person and the agents acting for them (current agent last)."""
    hops = (person, *actors)
    return Subject(CHAIN, " → ".join(s.name for s in hops), chain=hops)


def registry_subjects(registry: Any) -> list[Subject]:
    """The agents of an :class:`~chamberlain.delegation.registry.AgentRegistry`, sorted by id."""
    return [agent_subject(a.id, a.roles, a.attr) for a in registry.agents()]
