"""Rendering entries for people: one-line summaries and a session's timeline (``audit replay``).

Entries an MCP gateway recorded (they carry an ``mcp`` field: ``method``, ``name``, ``server``,
``arguments_digest``) read as tool calls: ``tools/call git_commit on git``, the arguments'
digest, then the basis; the entries of one listing (``tools/list``, one per tool) are one line
saying what was shown and what was hidden. Every line is escaped (:func:`chamberlain.text.printable`):
an id or attribute holding a newline or an escape sequence cannot forge a line or drive a terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from chamberlain.text import printable

_SHORT = {"EFFECT_ALLOW": "ALLOW", "EFFECT_DENY": "DENY"}
SESSION_BASIS = "chamberlain.session#"  # chamberlain.sessions.guard.DENIED_POLICY


def _who(entry: dict[str, Any]) -> str:
    principal = (entry.get("principal") or {}).get("id", "")
    chain = entry.get("actor_chain") or []
    return principal + (f" via {' > '.join(chain)}" if chain else "")


def _mcp(entry: dict[str, Any]) -> dict[str, Any] | None:
    mcp = entry.get("mcp")
    return mcp if isinstance(mcp, dict) else None


def summary(entry: dict[str, Any]) -> str:
    """``#12  2026-01-02T03:04:05.123456Z  alice via agent-1 > tool  pay invoice:inv-1  ALLOW``."""
    who = _who(entry)
    if entry.get("kind") != "decision":
        mark = f"  TAMPERED: {entry['tampered']}" if entry.get("tampered") else ""
        return printable(
            f"#{entry.get('seq')}  {entry.get('time', '')}  {entry.get('kind')}  {who}".rstrip() + mark
        )
    resource = entry.get("resource") or {}
    mcp = _mcp(entry)
    if mcp is not None and mcp.get("name"):
        what = f"{mcp.get('method')} {mcp['name']} on {mcp.get('server') or resource.get('id')}"
    else:
        rid = resource.get("id", "(erased)" if entry.get("erased") else "")
        what = f"{entry.get('action')} {resource.get('kind')}:{rid}"
    effect = _SHORT.get(entry.get("effect", ""), entry.get("effect", ""))
    mark = f"  TAMPERED: {entry['tampered']}" if entry.get("tampered") else ""
    return printable(f"#{entry.get('seq')}  {entry.get('time', '')}  {who}  {what}  {effect}{mark}")


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
    if where.startswith(SESSION_BASIS):  # decided by the session (a transition, or a check it denied)
        check = where.removeprefix(SESSION_BASIS)
        lines = [f"by the session ({check})" if check != "transition" else "session transition"]
        lines += [
            str(o.get("val"))
            for o in entry.get("outputs") or ()
            if str(o.get("src", "")).startswith(SESSION_BASIS)
        ]
    mcp = _mcp(entry)
    if mcp is not None and mcp.get("arguments_digest"):
        lines.insert(0, f"arguments sha256 {mcp['arguments_digest']}")
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
    return [printable(line) for line in lines]


def timeline(session_id: str, entries: Sequence[dict[str, Any]]) -> Iterable[str]:
    """A session's actions in order, each with its decision and basis."""
    if not entries:
        yield printable(f"session {session_id}: no entries")
        return
    allowed = sum(1 for e in entries if e.get("effect") == "EFFECT_ALLOW")
    yield printable(
        f"session {session_id}: {len(entries)} entries, {allowed} allowed, {len(entries) - allowed} denied "
        f"({entries[0].get('time')} .. {entries[-1].get('time')})"
    )
    for group in _grouped(entries):
        if len(group) > 1:
            yield _listing(group)
            continue
        yield summary(group[0])
        for line in basis_lines(group[0]):
            yield f"      {line}"


def _grouped(entries: Sequence[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    """Each entry alone, except an MCP listing's entries (same call id), which come together."""
    group: list[dict[str, Any]] = []
    for entry in entries:
        mcp = _mcp(entry)
        listing = mcp is not None and str(mcp.get("method", "")).endswith("/list")
        if group and listing and entry.get("call_id") == group[0].get("call_id"):
            group.append(entry)
            continue
        if group:
            yield group
        group = [entry]
        if not listing:
            yield group
            group = []
    if group:
        yield group


def _listing(group: list[dict[str, Any]]) -> str:
    """``#3..#9  time  erin  tools/list on git: 6 shown, 1 hidden (git_reset)``."""
    first, last = group[0], group[-1]
    mcp = _mcp(first) or {}
    hidden = [str(e.get("action", "")).partition("::")[2] for e in group if e.get("effect") != "EFFECT_ALLOW"]
    shown = len(group) - len(hidden)
    text = f"{mcp.get('method')} on {mcp.get('server')}: {shown} shown, {len(hidden)} hidden"
    if hidden:
        text += f" ({', '.join(hidden)})"
    return printable(
        f"#{first.get('seq')}..#{last.get('seq')}  {first.get('time', '')}  {_who(first)}  {text}"
    )
