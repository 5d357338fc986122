"""The policy set and its lookup index, as the engine queries it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from chamberlain.policy import model as m
from chamberlain.policy.attribute_schemas import SchemaStore
from chamberlain.policy.scopes import scope_chain


@dataclass(slots=True)
class PolicySet:
    """A validated set of enabled policies, indexed by kind, name, version and scope.

    ``resource``, ``principal`` and ``role`` map ``(name, version, scope)`` to the policy;
    ``derived_roles``, ``export_variables`` and ``export_constants`` map a name to the policy.
    ``disabled`` lists the files of policies skipped because of ``disabled: true``.
    """

    policies: list[m.Policy] = field(default_factory=list)
    schemas: SchemaStore = field(default_factory=SchemaStore)
    disabled: list[str] = field(default_factory=list)
    resource: dict[tuple[str, str, str], m.Policy] = field(default_factory=dict)
    principal: dict[tuple[str, str, str], m.Policy] = field(default_factory=dict)
    role: dict[tuple[str, str, str], m.Policy] = field(default_factory=dict)
    derived_roles: dict[str, m.Policy] = field(default_factory=dict)
    export_variables: dict[str, m.Policy] = field(default_factory=dict)
    export_constants: dict[str, m.Policy] = field(default_factory=dict)
    by_key: dict[str, m.Policy] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for policy in self.policies:
            self._add(policy)

    def _add(self, policy: m.Policy) -> None:
        self.by_key.setdefault(policy.key, policy)
        kind = policy.kind
        if kind in ("resource", "principal", "role"):
            getattr(self, kind).setdefault((policy.name, policy.version, policy.scope), policy)
        elif kind:
            getattr(self, kind).setdefault(policy.name, policy)

    def __len__(self) -> int:
        return len(self.policies)

    def __iter__(self) -> Iterator[m.Policy]:
        return iter(self.policies)

    def get(self, kind: str, name: str, version: str = m.DEFAULT_VERSION, scope: str = "") -> m.Policy | None:
        """The ``resource``/``principal``/``role`` policy for exactly this name, version and scope."""
        table: dict[tuple[str, str, str], m.Policy] = getattr(self, kind)
        return table.get((name, version or m.DEFAULT_VERSION, scope))

    def chain(
        self, kind: str, name: str, version: str = m.DEFAULT_VERSION, scope: str = ""
    ) -> list[m.Policy]:
        """The policies along ``scope``'s chain (most specific first) that exist for ``name`` and ``version``."""
        table: dict[tuple[str, str, str], m.Policy] = getattr(self, kind)
        version = version or m.DEFAULT_VERSION
        return [p for s in scope_chain(scope) if (p := table.get((name, version, s))) is not None]

    def role_policies(self, role: str, version: str = m.DEFAULT_VERSION) -> list[m.Policy]:
        """Every role policy for ``role`` and ``version``, in any scope."""
        version = version or m.DEFAULT_VERSION
        return [p for (r, v, _), p in self.role.items() if r == role and v == version]

    def validate_attributes(self, schema_ref: str, attrs: Any) -> list[str]:
        """Problems of ``attrs`` against the schema ``schema_ref`` (``cerbos:///x.json``)."""
        return self.schemas.validate_attributes(schema_ref, attrs)
