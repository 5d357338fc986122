"""What the vault map is about: each resource kind (with its policy version and scope) and its actions.

Actions are the ones the policies name for the kind (resource policy rules, principal policy rules
and role policy rules for it, rules for every kind included); a wildcard action (``tools/call::*``,
``*``) stands for the actions it matches that no rule names on its own. A kind is **sensitive**
when it is listed (``--sensitive invoice`` or ``invoice:pay`` for one action) or when its resource
policy says so in its metadata: ``annotations: {chamberlain.dev/sensitive: "true"}`` (every action)
or ``"pay,approve"`` (those actions).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chamberlain.policy import PolicySet

SENSITIVE_ANNOTATION = "chamberlain.dev/sensitive"
ALL_ACTIONS = "*"


@dataclass(frozen=True, slots=True)
class Target:
    """A resource kind at a policy version and scope, its actions, and which of them are sensitive."""

    kind: str
    version: str = "default"
    scope: str = ""
    actions: tuple[str, ...] = ()
    sensitive: frozenset[str] = field(default_factory=frozenset)  # actions, or {"*"} for all

    @property
    def label(self) -> str:
        suffix = "" if self.version == "default" else f"@{self.version}"
        return f"{self.kind}{suffix}" + (f" (scope {self.scope})" if self.scope else "")

    def is_sensitive(self, action: str) -> bool:
        return ALL_ACTIONS in self.sensitive or action in self.sensitive

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "version": self.version,
            "scope": self.scope,
            "label": self.label,
            "actions": list(self.actions),
            "sensitive": sorted(self.sensitive),
        }


def parse_sensitive(items: Iterable[str]) -> dict[str, set[str]]:
    """``["invoice", "payment:refund"]`` -> ``{"invoice": {"*"}, "payment": {"refund"}}``."""
    out: dict[str, set[str]] = {}
    for item in items:
        for part in item.split(","):
            kind, _, action = part.strip().partition(":")
            if kind:
                out.setdefault(kind, set()).add(action or ALL_ACTIONS)
    return out


def policy_targets(policies: PolicySet, sensitive: Iterable[str] = ()) -> list[Target]:
    """Every concrete resource kind the policies name, sorted by kind, version and scope."""
    marked = parse_sensitive(sensitive)
    actions: dict[str, set[str]] = {}
    every_kind: set[str] = set()
    places: set[tuple[str, str, str]] = set()
    for policy in policies:
        rp, pp, role = policy.resource_policy, policy.principal_policy, policy.role_policy
        if rp is not None:
            places.add((rp.resource, policy.version, rp.scope))
            for rule in rp.rules:
                actions.setdefault(rp.resource, set()).update(rule.actions)
            note = ((policy.metadata.annotations if policy.metadata else {}) or {}).get(SENSITIVE_ANNOTATION)
            if note:
                marked.setdefault(rp.resource, set()).update(_annotated(note))
        for kind, named in _other_rules(pp, role):
            if kind == "*":
                every_kind.update(named)
            elif "*" not in kind:
                places.add((kind, "default", ""))
                actions.setdefault(kind, set()).update(named)
    out = []
    for kind, version, scope in sorted(places):
        wanted = actions.get(kind, set()) | every_kind
        out.append(
            Target(kind, version or "default", scope, tuple(sorted(wanted)), frozenset(marked.get(kind, ())))
        )
    return out


def _annotated(note: str) -> set[str]:
    if note.strip().lower() in ("true", "yes", "*"):
        return {ALL_ACTIONS}
    return {a.strip() for a in note.split(",") if a.strip()}


def _other_rules(pp: Any, role: Any) -> Iterable[tuple[str, list[str]]]:
    if pp is not None:
        for rule in pp.rules:
            yield rule.resource, [a.action for a in rule.actions]
    if role is not None:
        for rule in role.rules:
            yield rule.resource, list(rule.allow_actions)
