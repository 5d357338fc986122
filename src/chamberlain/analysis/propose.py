"""Least-privilege proposals: a principal policy per principal or agent that denies what it never used.

For each subject with unused grants, a Cerbos principal policy (``version: default``) whose rules
DENY each unused action on its resource kind — a principal policy's DENY wins over any resource
policy's ALLOW, so nothing else changes. A wildcard grant is denied only when no used action matches
it. When the policy set already has a principal policy for that id, its rules are kept and the DENYs
added. With it comes a Cerbos test suite that proves the proposal: every observed allowed decision
(replayed from the log with its own attributes and ``now``) still ALLOWs, every removed grant DENYs;
``chamberlain compile`` runs it.
"""

from __future__ import annotations

from typing import Any

import yaml

from chamberlain.analysis.errors import AnalysisError
from chamberlain.analysis.usage import SubjectUsage
from chamberlain.audit.storage.search_index import PRINCIPAL, search_parts
from chamberlain.audit.tools.replay import NotReplayable, replay_input
from chamberlain.engine import glob
from chamberlain.policy import PolicySet

MAX_EXAMPLES = 50  # observed decisions per subject in the generated test suite


def proposal_rules(usage: SubjectUsage) -> list[dict[str, Any]]:
    """The principal policy rules denying ``usage``'s unused grants, by resource kind."""
    used = {(g["resource"], g["action"]) for g in usage.grants if g["uses"]}
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for grant in usage.unused:
        kind, action = grant["resource"], grant["action"]
        if any(k == kind and glob.matches(action, a) for k, a in used):
            continue  # a wildcard that covers used actions stays
        by_kind.setdefault(kind, []).append(
            {"name": f"unused-{_slug(action)}", "action": action, "effect": "EFFECT_DENY"}
        )
    return [{"resource": kind, "actions": actions} for kind, actions in sorted(by_kind.items())]


def principal_policy(policies: PolicySet, usage: SubjectUsage) -> dict[str, Any] | None:
    """The proposed principal policy document (None when nothing is unused)."""
    rules = proposal_rules(usage)
    if not rules:
        return None
    existing = policies.get("principal", usage.principal_id)
    kept: list[dict[str, Any]] = []
    if existing is not None and existing.principal_policy is not None:
        kept = [_rule_json(r) for r in existing.principal_policy.rules]
    return {
        "apiVersion": "api.cerbos.dev/v1",
        "description": f"Least privilege for {usage.principal_id}: access it never used is denied (chamberlain analyze usage)",
        "principalPolicy": {"principal": usage.principal_id, "version": "default", "rules": kept + rules},
    }


def test_suite(
    reader: Any, usage: SubjectUsage, roles: tuple[str, ...], attr: dict[str, Any] | None, examples: list[int]
) -> dict[str, Any]:
    """A Cerbos test suite: the logged allowed decisions ``examples`` (seqs) ALLOW, the removed grants DENY."""
    pid = usage.principal_id
    principals: dict[str, Any] = {"subject": {"id": pid, "roles": list(roles), "attr": dict(attr or {})}}
    resources: dict[str, Any] = {}
    tests: list[dict[str, Any]] = []
    for seq in examples[:MAX_EXAMPLES]:
        try:
            found = replay_input(reader, seq)
        except NotReplayable:
            continue
        inp = found.inputs[found.input]
        name = f"observed_{seq}"
        p_attr = dict(inp.principal.attr) if inp.principal.id == pid else dict(attr or {})
        principals[name] = {
            "id": pid,
            "roles": list(roles if attr is not None else inp.principal.roles),
            "attr": p_attr,
        }
        resources[name] = {
            "kind": inp.resource.kind,
            "id": inp.resource.id or "r",
            "attr": dict(inp.resource.attr),
        }
        if inp.resource.scope:
            resources[name]["scope"] = inp.resource.scope
        tests.append(
            {
                "name": f"{pid} still may {found.action} {inp.resource.kind} as in entry {seq}",
                "options": {"now": found.now.isoformat().replace("+00:00", "Z")},
                "input": {"principals": [name], "resources": [name], "actions": [found.action]},
                "expected": [
                    {"principal": name, "resource": name, "actions": {found.action: "EFFECT_ALLOW"}}
                ],
            }
        )
    for rule in proposal_rules(usage):
        kind = rule["resource"]
        resources.setdefault(f"any_{kind}", {"kind": kind, "id": "any", "attr": {}})
        actions = [a["action"] for a in rule["actions"]]
        tests.append(
            {
                "name": f"{pid} may no longer {', '.join(actions)} {kind}",
                "input": {"principals": ["subject"], "resources": [f"any_{kind}"], "actions": actions},
                "expected": [
                    {
                        "principal": "subject",
                        "resource": f"any_{kind}",
                        "actions": dict.fromkeys(actions, "EFFECT_DENY"),
                    }
                ],
            }
        )
    return {
        "name": f"LeastPrivilege_{_slug(pid)}",
        "description": f"The proposal for {pid}: used access kept, unused removed",
        "principals": principals,
        "resources": resources,
        "tests": tests,
    }


def example_entries(db: Any, principal_id: str, since: str | None) -> list[int]:
    """One logged allowed decision (the latest) per resource kind and action the principal used directly."""
    where, params = (
        " AND e.kind = 'decision' AND e.effect = 'EFFECT_ALLOW' AND e.principal = ? AND e.actors = ''",
        [principal_id],
    )
    if since is not None:
        where += " AND e.time >= ?"
        params.append(since)
    latest: dict[tuple[str, str], int] = {}
    for part, part_params in search_parts(db, PRINCIPAL, (principal_id,), -1, "audit_entries e"):
        for kind, action, seq in db.rows(
            f"SELECT e.resource_kind, e.action, MAX(e.seq) {part}{where} GROUP BY e.resource_kind, e.action",
            (*part_params, *params),
        ):
            latest[(kind, action)] = max(int(seq), latest.get((kind, action), -1))
    return [latest[key] for key in sorted(latest)]


def dump(document: dict[str, Any]) -> str:
    return str(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-") or "any"


def _rule_json(rule: Any) -> dict[str, Any]:
    actions = []
    for a in rule.actions:
        entry: dict[str, Any] = {"action": a.action, "effect": a.effect}
        if a.name:
            entry["name"] = a.name
        if a.condition is not None:
            raise AnalysisError(
                "not supported: proposing for a principal that already has a principal policy with conditions; "
                "add the proposed DENY rules to it by hand"
            )
        actions.append(entry)
    return {"resource": rule.resource, "actions": actions}
