"""Rendering entries for people: one-line summaries and a session's timeline (``audit replay``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

_SHORT = {"EFFECT_ALLOW": "ALLOW", "EFFECT_DENY": "DENY"}


def summary(entry: dict[str, Any]) -> str:
    """``#12  2026-01-02T03:04:05.123456Z  alice via agent-1 > tool  pay invoice:inv-1  ALLOW``."""
    principal = (entry.get("principal") or {}).get("id", "")
    chain = entry.get("actor_chain") or []
    who = principal + (f" via {' > '.join(chain)}" if chain else "")
    if entry.get("kind") != "decision":
        return f"#{entry.get('seq')}  {entry.get('time', '')}  {entry.get('kind')}  {who}".rstrip()
    resource = entry.get("resource") or {}
    what = f"{entry.get('action')} {resource.get('kind')}:{resource.get('id')}"
    effect = _SHORT.get(entry.get("effect", ""), entry.get("effect", ""))
    return f"#{entry.get('seq')}  {entry.get('time', '')}  {who}  {what}  {effect}"


def basis_lines(entry: dict[str, Any]) -> list[str]:
    """The decision's basis: policy, rule, conditions and what they read, one item a line."""
    basis = entry.get("basis") or {}
    if not basis:
        return []
    where = basis.get("policy") or "no policy"
    if basis.get("scope"):
        where += f" (scope {basis['scope']!r})"
    rule = f"rule {basis['rule']!r}" if basis.get("rule") else "no rule matched"
    lines = [f"by {where}, {rule}"]
    if basis.get("derived_roles"):
        lines.append(f"derived roles: {', '.join(basis['derived_roles'])}")
    for c in basis.get("conditions") or ():
        mark = "error" if c.get("error") else ("held" if c.get("held") else "did not hold")
        lines.append(f"{c.get('expr')}  -> {mark}" + (f": {c['error']}" if c.get("error") else ""))
    attr = (entry.get("resource") or {}).get("attr") or {}
    if attr:
        lines.append("read: " + ", ".join(f"{k}={orjson.dumps(v).decode()}" for k, v in sorted(attr.items())))
    if entry.get("approval"):
        approval = entry["approval"]
        lines.append(
            f"approval {approval.get('id')}"
            + (f" by {approval['approver']}" if approval.get("approver") else "")
        )
    for e in basis.get("errors") or ():
        lines.append(f"evaluation error: {e.get('expr')}: {e.get('message')}")
    return lines


def timeline(session_id: str, entries: Sequence[dict[str, Any]]) -> Iterable[str]:
    """A session's actions in order, each with its decision and basis."""
    if not entries:
        yield f"session {session_id}: no entries"
        return
    allowed = sum(1 for e in entries if e.get("effect") == "EFFECT_ALLOW")
    yield (f"session {session_id}: {len(entries)} entries, {allowed} allowed, {len(entries) - allowed} denied "
           f"({entries[0].get('time')} .. {entries[-1].get('time')})")  # fmt: skip
    for entry in entries:
        yield summary(entry)
        for line in basis_lines(entry):
            yield f"      {line}"
