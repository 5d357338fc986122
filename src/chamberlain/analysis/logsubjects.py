"""Subjects seen in the decision log: principals (with the roles of their latest check) and chains.

A chain's agents take their roles and attributes from the agents registry, as a delegated check
does; a chain with an agent the registry does not list is left out, saying so (its roles came
from its token, which the log does not keep).
"""

from __future__ import annotations

from typing import Any

from chamberlain.analysis.subjects import Subject, Subjects, chain_subject, principal_subject

MAX_SUBJECTS = 1000


def log_subjects(reader: Any, registry: Any = None, *, limit: int = MAX_SUBJECTS) -> Subjects:
    """Principals and delegation chains of the log's decisions (at most ``limit`` of each)."""
    found = Subjects()
    rows = reader.db.rows(
        "SELECT principal, MAX(seq) FROM audit_entries WHERE kind = 'decision' AND principal <> '' "
        "GROUP BY principal ORDER BY principal LIMIT ?",
        (limit + 1,),
    )
    if len(rows) > limit:
        found.skipped.append(f"more than {limit} principals in the log: the first {limit} (by id) are mapped")
    people: dict[str, Subject] = {}
    for principal_id, seq in rows[:limit]:
        entry = reader.entry(int(seq)) or {}
        roles = (entry.get("principal") or {}).get("roles") or []
        people[principal_id] = principal_subject(principal_id, roles)
    found.items.extend(people.values())
    chains = reader.db.rows(
        "SELECT DISTINCT principal, actors FROM audit_entries WHERE kind = 'decision' AND actors <> '' "
        "AND principal <> '' ORDER BY principal, actors LIMIT ?",
        (limit + 1,),
    )
    if len(chains) > limit:
        found.skipped.append(f"more than {limit} delegation chains in the log: the first {limit} are mapped")
    for principal_id, actors in chains[:limit]:
        person = people.get(principal_id)
        ids = [a for a in str(actors).split("\n") if a]
        agents = [_agent(registry, a) for a in reversed(ids)]  # the column lists the current actor first
        missing = [a for a, agent in zip(reversed(ids), agents, strict=True) if agent is None]
        if person is None or missing:
            found.skipped.append(
                f"chain {' → '.join([principal_id, *reversed(ids)])}: "
                f"{', '.join(missing) or principal_id} not in the agents registry"
            )
            continue
        found.items.append(chain_subject(person, [a for a in agents if a is not None]))
    return found


def _agent(registry: Any, agent_id: str) -> Subject | None:
    from chamberlain.analysis.subjects import agent_subject

    entry = registry.lookup(agent_id, None) if registry is not None else None
    return agent_subject(entry.id, entry.roles, entry.attr) if entry is not None else None
