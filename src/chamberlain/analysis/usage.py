"""Unused access: what the vault map grants a principal or agent against what the decision log shows it used.

A use is an allowed decision in the window, counted for the principal and for every agent of its
actor chain (an agent acting for someone uses that access too). A grant is a map cell that is not
NEVER; a wildcard action (``tools/call::*``) counts as used when any action it matches was. The log
is read with one grouped query, so a window of millions of decisions costs one scan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chamberlain.analysis.vault import Access, VaultMap
from chamberlain.engine import glob


@dataclass(frozen=True, slots=True)
class Use:
    count: int
    last: str  # RFC 3339


@dataclass
class SubjectUsage:
    """One principal or agent: every grant, whether used (with its count and last use), and the unused ones."""

    subject: str
    principal_id: str
    grants: list[dict[str, Any]] = field(default_factory=list)

    @property
    def unused(self) -> list[dict[str, Any]]:
        return [g for g in self.grants if not g["uses"]]

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "principal": self.principal_id,
            "grants": self.grants,
            "unused": [{"resource": g["resource"], "action": g["action"]} for g in self.unused],
        }


def observed_uses(
    db: Any, since: str | None = None, until: str | None = None
) -> dict[str, dict[tuple[str, str], Use]]:
    """Allowed decisions per principal and per agent: ``{id: {(kind, action): Use}}``."""
    where, params = ["kind = 'decision'", "effect = 'EFFECT_ALLOW'"], []
    if since is not None:
        where.append("time >= ?")
        params.append(since)
    if until is not None:
        where.append("time < ?")
        params.append(until)
    sql = (
        "SELECT principal, actors, resource_kind, action, COUNT(*), MAX(time) FROM audit_entries WHERE "
        f"{' AND '.join(where)} GROUP BY principal, actors, resource_kind, action"
    )
    found: dict[str, dict[tuple[str, str], Use]] = {}
    for chunk in db.stream(sql, tuple(params)):
        for principal, actors, kind, action, count, last in chunk:
            for who in [principal, *(a for a in str(actors).split("\n") if a)]:
                if not who:
                    continue
                uses = found.setdefault(who, {})
                old = uses.get((kind, action))
                uses[(kind, action)] = Use(
                    int(count) + (old.count if old else 0), max(str(last), old.last if old else "")
                )
    return found


def usage_report(vault: VaultMap, uses: dict[str, dict[tuple[str, str], Use]]) -> list[SubjectUsage]:
    """Per principal and agent of the map: each grant with its uses (kinds merged across scopes)."""
    kinds = {t.label: t.kind for t in vault.targets}
    out = []
    for subject in vault.subjects:
        if subject.principal_id is None:
            continue
        report = SubjectUsage(subject.label, subject.principal_id)
        seen: set[tuple[str, str]] = set()
        mine = uses.get(subject.principal_id, {})
        for cell in vault.cells:
            kind = kinds.get(cell.target, cell.target)
            if cell.subject != subject.label or cell.access is Access.NEVER or (kind, cell.action) in seen:
                continue
            seen.add((kind, cell.action))
            matching = [u for (k, a), u in mine.items() if k == kind and glob.matches(cell.action, a)]
            report.grants.append(
                {
                    "resource": kind,
                    "action": cell.action,
                    "access": cell.access.value,
                    "uses": sum(u.count for u in matching),
                    "last_use": max((u.last for u in matching), default=None),
                }
            )
        out.append(report)
    return out
