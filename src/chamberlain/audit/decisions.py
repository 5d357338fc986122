"""Decision entries: one per action of a check, with the basis the engine decided on.

A decision entry adds to the common fields (:mod:`chamberlain.audit.entry`):

- ``action``, ``effect`` (``EFFECT_ALLOW`` / ``EFFECT_DENY``);
- ``resource``: ``kind``, ``id``, ``scope``, ``policy_version``, ``attr`` (only the attributes the
  evaluated conditions read, see :mod:`chamberlain.audit.attributes`) and ``attr_digest`` (SHA-256
  of the canonical JSON of *all* its attributes);
- ``principal``: ``id``, ``roles``, ``scope``, ``policy_version``, ``attr`` (those read) and
  ``attr_digest``;
- ``basis``: the deciding ``policy`` (key), its ``version``, ``scope``, ``rule``, the effective
  ``derived_roles``, ``conditions`` (each expression of the deciding rule's condition and whether
  it held), condition evaluation ``errors`` and schema ``validation_errors``;
- ``outputs`` of the action (``src`` and ``val`` or ``error``);
- ``approval``: ``{"id", "approver"}`` when the check carried an approval, else ``null``;
- ``request_digest``: SHA-256 of the canonical JSON of the whole request (the CheckResources JSON
  as received, or the equivalent built from an embedded call).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from chamberlain.audit import attributes
from chamberlain.audit.canonical import encode, normalise
from chamberlain.audit.entry import DECISION, VERSION, Entry, actors_column, timestamp
from chamberlain.engine.request import CheckInput, Resource
from chamberlain.engine.result import CheckOutput
from chamberlain.engine.wire import json_number


def request_json(inputs: Sequence[CheckInput]) -> dict[str, Any]:
    """The CheckResources JSON equivalent of an embedded check (what ``request_digest`` covers)."""
    first = inputs[0]
    principal = _with_attr(first.principal.to_json(), first.principal.attr)
    out: dict[str, Any] = {
        "requestId": first.request_id,
        "principal": principal,
        "resources": [{"actions": list(i.actions), "resource": _resource_json(i.resource)} for i in inputs],
    }
    aux = first.aux_data
    if aux.jwt or aux.jwts:
        out["auxData"] = {"jwt": dict(aux.jwt), "jwts": {k: dict(v) for k, v in aux.jwts.items()}}
    context = {k: v for k, v in (("sessionId", first.session_id), ("actorChain", list(first.actor_chain)),
                                  ("approvalId", first.approval_id)) if v}  # fmt: skip
    if context:
        out["chamberlain"] = context
    return out


def _resource_json(resource: Resource) -> dict[str, Any]:
    return _with_attr(resource.to_json(), resource.attr)


def _with_attr(out: dict[str, Any], attr: Mapping[str, Any]) -> dict[str, Any]:
    if attr:
        out["attr"] = dict(attr)
    return out


def _attr_of(plain: Any) -> dict[str, Any]:
    attr = plain.get("attr") if isinstance(plain, dict) else None
    return attr if isinstance(attr, dict) else {}


def decision_entries(inputs: Sequence[CheckInput], outputs: Sequence[CheckOutput], *, when: dt.datetime,
                     call_id: str, point: str, request: Mapping[str, Any] | None = None) -> list[Entry]:  # fmt: skip
    """One entry per decided action of every input (``request``: the request JSON, when there is one)."""
    if not inputs:
        return []
    time = timestamp(when)
    # One normalisation of the whole request serves its digest and the attributes' digests.
    plain, fast = normalise(request if request is not None else request_json(inputs))
    request_digest = hashlib.sha256(encode(plain, fast)).hexdigest()
    p_attr = _attr_of(plain.get("principal"))
    p_digest = hashlib.sha256(encode(p_attr, fast)).hexdigest()
    resources = plain.get("resources") or []
    entries = []
    for i, (inp, out) in enumerate(zip(inputs, outputs, strict=True)):
        p, r = inp.principal, inp.resource
        r_attr = _attr_of(resources[i].get("resource")) if i < len(resources) else {}
        r_digest = hashlib.sha256(encode(r_attr, fast)).hexdigest()
        approval = {"id": inp.approval_id, "approver": None} if inp.approval_id else None
        common = {"v": VERSION, "kind": DECISION, "time": time, "call_id": call_id, "request_id": inp.request_id,
                  "point": point, "session_id": inp.session_id, "actor_chain": list(inp.actor_chain),
                  "approval": approval, "request_digest": request_digest}  # fmt: skip
        rows_by_action: dict[str, list[Any]] = {}
        for action, _scope, row, _ok in out.trace:
            rows_by_action.setdefault(action, []).append(row)
        basis_common = _basis_common(out)
        actors = actors_column(inp.actor_chain)
        for action, effect in out.actions.items():
            reads = attributes.rows_reads(rows_by_action.get(action, ()))
            outputs_json, outputs_fast = _outputs(out, action)
            data = {
                **common,
                "principal": {"id": p.id, "roles": list(p.roles), "scope": p.scope,
                              "policy_version": p.policy_version, "attr": attributes.pick(p_attr, reads.principal),
                              "attr_digest": p_digest},
                "resource": {"kind": r.kind, "id": r.id, "scope": r.scope, "policy_version": r.policy_version,
                             "attr": attributes.pick(r_attr, reads.resource), "attr_digest": r_digest},
                "action": action,
                "effect": effect.effect,
                "basis": {**basis_common, **_basis(out, action, effect)},
                "outputs": outputs_json,
            }  # fmt: skip
            cols = (time, DECISION, inp.session_id, p.id, actors, r.kind, r.id, action, effect.effect)
            entries.append(Entry(data, fast and outputs_fast, cols))
    return entries


def _basis_common(out: CheckOutput) -> dict[str, Any]:
    return {
        "derived_roles": list(out.effective_derived_roles),
        "errors": [{"expr": e.expression, "message": e.message} for e in out.evaluation_errors],
        "validation_errors": [
            {"path": e.path, "message": e.message, "source": e.source} for e in out.validation_errors
        ],
    }


def _basis(out: CheckOutput, action: str, effect: Any) -> dict[str, Any]:
    row = effect.row
    conditions: list[dict[str, Any]] = []
    if row is not None and row.condition is not None and out.state is not None:
        for c in out.state.explain_condition(row):
            item: dict[str, Any] = {"expr": c.expression.strip(), "held": c.held}
            if c.error:
                item["error"] = c.error
            conditions.append(item)
    return {
        "policy": effect.policy,
        "version": row.policy.version if row is not None else "",
        "scope": effect.scope,
        "rule": row.name if row is not None else "",
        "conditions": conditions,
    }


def _outputs(out: CheckOutput, action: str) -> tuple[list[dict[str, Any]], bool]:
    if not out.outputs:
        return [], True
    found = []
    fast = True
    for o in out.outputs:
        if o.action != action:
            continue
        if o.error:
            found.append({"src": o.src, "error": o.error})
            continue
        value, ok = normalise(json_number(o.val))
        fast = fast and ok
        found.append({"src": o.src, "val": value})
    return found, fast
