"""The lead of a vault map: who can reach each sensitive action, and who without a condition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chamberlain.analysis.vault import VaultMap

_KIND_NOUNS = {
    "agent": "agents",
    "principal": "principals",
    "role": "roles",
    "derived_role": "derived roles",
    "chain": "delegation chains",
}


def sensitive_summary(vault: VaultMap) -> list[dict[str, Any]]:
    """Per sensitive (resource, action): the subjects that can, and those that can without a condition."""
    from chamberlain.analysis.vault import Access

    found: dict[tuple[str, str], dict[str, Any]] = {}
    for cell in vault.cells:
        if not cell.sensitive:
            continue
        entry = found.setdefault(
            (cell.target, cell.action),
            {"resource": cell.target, "action": cell.action, "can": [], "unconditionally": []},
        )
        if cell.access is not Access.NEVER:
            entry["can"].append(cell.subject)
        if cell.access is Access.ALWAYS:
            entry["unconditionally"].append(cell.subject)
    for entry in found.values():
        entry["summary"] = sentence(entry)
    return list(found.values())


def sentence(entry: dict[str, Any]) -> str:
    """``these 4 agents can pay invoice; 2 of them without a condition`` (one clause per kind of subject)."""
    clauses = []
    by_kind: dict[str, list[str]] = {}
    for label in entry["can"]:
        by_kind.setdefault(label.split(":", 1)[0], []).append(label)
    for kind, labels in by_kind.items():
        always = sum(1 for label in labels if label in entry["unconditionally"])
        noun = _KIND_NOUNS.get(kind, kind)
        clauses.append(
            f"{len(labels)} {noun} can {entry['action']} {entry['resource']}; "
            f"{always} of them without a condition"
        )
    if not clauses:
        return f"nobody can {entry['action']} {entry['resource']}"
    return " — ".join(clauses)
