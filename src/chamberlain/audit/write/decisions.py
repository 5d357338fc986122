"""A check's record: its request stored once, and one entry per decided action.

:class:`Call` is what the request path builds: it only keeps references (to the engine's inputs
and outputs), so deciding pays nothing for the log; the writer thread turns it into rows
(:meth:`Call.prepare`): encoding, salting and hashing happen there, once per call.

The **request record** (once per call, erasable, bounded by ``maxRequestBytes``) is what replaying
the decision needs (:func:`chamberlain.audit.tools.replay.replay_input`): ``now`` (nanoseconds), the
principal and every resource with all their attributes, policy versions and scopes, the actions,
the auxiliary data conditions read (decoded JWT claims, named JWTs, the delegation variable; never
the raw tokens), the session, the actor chain, the approval, and ``context`` (what an enforcement
point adds, e.g. the delegated chain with its roles). Resources whose principal, auxiliary data or
ids differ from the first one's carry their own.

Each **entry** (one per decided action) has public fields (:mod:`chamberlain.audit.write.entry`) and its
own content: ``input`` (the resource's position in the request), ``principal``, ``actor_chain``,
``session_id``, ``request_id``, ``resource_id``, ``conditions`` (each expression of the deciding
rule's condition and whether it held), ``errors``, ``validation_errors``, ``outputs``, ``read``
(the attribute names the evaluated conditions read, see :mod:`chamberlain.audit.write.attributes`:
``"*"`` for all), ``approval`` and the enforcement point's ``extra`` fields.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chamberlain.audit.write import attributes
from chamberlain.audit.write.canonical import normalise
from chamberlain.audit.write.content import (
    Limits,
    bounded,
    dumps,
    parse_path,
    redact,
    request_key,
    salted,
    salts,
)
from chamberlain.audit.write.entry import (
    DECISION,
    VERSION,
    Entry,
    actors_column,
    make_entry,
    timestamp_ns,
    to_ns,
)
from chamberlain.engine.request import AuxData, CheckInput, Principal, Resource
from chamberlain.engine.result import HELD, CheckOutput
from chamberlain.engine.wire import json_number


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """A call's request as stored: ``key`` = the call's time, then ``sha256(salt || body)`` (what leaves
    hold; see :func:`~chamberlain.audit.write.content.request_key`); entries refer to it by ``key``."""

    key: bytes
    salt: bytes
    body: bytes


@dataclass(slots=True)
class Prepared:
    """What one submission writes: at most one request record, and its entries in order."""

    request: RequestRecord | None
    entries: list[Entry]

    def __len__(self) -> int:
        return len(self.entries)

    def prepare(self, limits: Limits) -> Prepared:
        return self


class Call:
    """The decisions of one check, kept as references until the writer thread prepares them."""

    __slots__ = ("_count", "call_id", "context", "extra", "inputs", "ns", "outputs", "point")

    def __init__(
        self,
        inputs: Sequence[CheckInput],
        outputs: Sequence[CheckOutput],
        *,
        when: dt.datetime | int,
        call_id: str,
        point: str,
        extra: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.ns = to_ns(when)
        self.call_id = call_id
        self.point = point
        self.extra = extra
        self.context = context
        self._count = sum(len(o.actions) for o in outputs)

    def __len__(self) -> int:
        return self._count

    def prepare(self, limits: Limits) -> Prepared:
        """Encode the request once and every entry; raises :class:`~chamberlain.audit.write.canonical.EncodingError`
        (:class:`~chamberlain.audit.write.content.EntryTooLarge` past a limit)."""
        if not self.inputs:
            return Prepared(None, [])
        fresh = salts(self._count + 1)
        request = request_record(self.inputs, self.ns, fresh[0], limits, self.context)
        time = timestamp_ns(self.ns)
        call_id, point, extra = self.call_id, self.point, self.extra
        # an enforcement point's fields may not name a search column's source: else make_entry reads them
        own_columns = not extra or _COLUMN_SOURCES.isdisjoint(extra)
        entries: list[Entry] = []
        n = 1
        empty_reads = {"principal": [], "resource": []}
        for i, (inp, out) in enumerate(zip(self.inputs, self.outputs, strict=True)):
            r = inp.resource
            rows_by_action: dict[str, tuple[Any, ...]] = {}
            held: set[int] = set()
            for action, _scope, row, outcome in out.trace:
                rows_by_action[action] = (*rows_by_action.get(action, ()), row)
                if outcome == HELD:
                    held.add(id(row))
            derived = list(out.effective_derived_roles)
            common = {
                "input": i,
                "principal": inp.principal.id,
                "actor_chain": list(inp.actor_chain),
                "session_id": inp.session_id,
                "request_id": inp.request_id,
                "resource_id": r.id,
                "derived_roles": derived,
                "errors": [{"expr": e.expression, "message": e.message} for e in out.evaluation_errors],
                "validation_errors": [
                    {"path": e.path, "message": e.message, "source": e.source} for e in out.validation_errors
                ],
                "approval": {"id": inp.approval_id, "approver": None} if inp.approval_id else None,
            }
            # the search columns an entry's content and public fields give (make_entry), once per resource
            head = (
                time,
                DECISION,
                inp.session_id or "",
                inp.principal.id or "",
                actors_column(inp.actor_chain),
                r.kind,
                r.id if isinstance(r.id, str) else "",
            )
            explained: dict[int, list[dict[str, Any]]] = {}  # by row: actions decided by one rule share it
            for action, effect in out.actions.items():
                row = effect.row
                rows = rows_by_action.get(action)
                read = attributes.read_names(rows) if rows else empty_reads
                if row is None:
                    version = rule = ""
                    conditions: list[dict[str, Any]] = []
                else:
                    version, rule = row.policy.version, row.name
                    conditions = explained.get(id(row))  # type: ignore[assignment]
                    if conditions is None:
                        conditions = explained[id(row)] = _conditions(out, row, id(row) in held)
                public = {
                    "call_id": call_id,
                    "point": point,
                    "action": action,
                    "effect": effect.effect,
                    "resource_kind": r.kind,
                    "basis": {
                        "policy": effect.policy,
                        "version": version,
                        "scope": effect.scope,
                        "rule": rule,
                        "derived_roles": derived,
                    },
                }
                content = {
                    **common,
                    "conditions": conditions,
                    "outputs": _outputs(out, action) if out.outputs else [],
                    "read": read,
                }
                if extra:
                    content.update(extra)
                entries.append(
                    make_entry(
                        DECISION,
                        time,
                        public,
                        content,
                        fresh[n],
                        request.key,
                        limits.max_entry_bytes,
                        (*head, action, effect.effect) if own_columns else None,
                    )
                )
                n += 1
        return Prepared(request, entries)


#: The content fields the search columns come from (see entry.make_entry).
_COLUMN_SOURCES = frozenset(("session_id", "principal", "actor_chain", "resource_id"))


def decision_call(
    inputs: Sequence[CheckInput],
    outputs: Sequence[CheckOutput],
    *,
    when: dt.datetime | int,
    call_id: str,
    point: str,
    extra: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
) -> Call:
    """The :class:`Call` of a decided check (nothing is encoded yet)."""
    return Call(inputs, outputs, when=when, call_id=call_id, point=point, extra=extra, context=context)


# -- the request record -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _redact_paths(paths: tuple[str, ...]) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]:
    parsed = [parse_path(p) for p in paths]
    return (
        tuple(n for owner, n in parsed if owner == "principal"),
        tuple(n for owner, n in parsed if owner == "resource"),
    )


def request_record(
    inputs: Sequence[CheckInput],
    ns: int,
    salt: bytes,
    limits: Limits,
    context: Mapping[str, Any] | None = None,
) -> RequestRecord:
    """The request record of a call (see the module docstring), salted, bounded and redacted."""
    p_paths, r_paths = _redact_paths(limits.redact) if limits.redact else ((), ())
    redacted: list[str] = []

    def principal_json(p: Principal) -> dict[str, Any]:
        attr = _plain(p.attr)
        if p_paths:
            attr, hit = redact(attr, p_paths, salt, "P")
            redacted.extend(hit)
        return {
            "id": p.id,
            "roles": list(p.roles),
            "attr": attr,
            "policyVersion": p.policy_version,
            "scope": p.scope,
        }

    def resource_json(r: Resource) -> dict[str, Any]:
        attr = _plain(r.attr)
        if r_paths:
            attr, hit = redact(attr, r_paths, salt, "R")
            redacted.extend(hit)
        return {"kind": r.kind, "id": r.id, "attr": attr, "policyVersion": r.policy_version, "scope": r.scope}

    first = inputs[0]
    resources = []
    for inp in inputs:
        item: dict[str, Any] = {"resource": resource_json(inp.resource), "actions": list(inp.actions)}
        if inp.principal is not first.principal:
            item["principal"] = principal_json(inp.principal)
        if inp.aux_data is not first.aux_data:
            item["auxData"] = aux_json(inp.aux_data)
        for name, value, base in (
            ("requestId", inp.request_id, first.request_id),
            ("sessionId", inp.session_id, first.session_id),
            ("approvalId", inp.approval_id, first.approval_id),
        ):
            if value != base:
                item[name] = value
        if inp.actor_chain != first.actor_chain:
            item["actorChain"] = list(inp.actor_chain)
        resources.append(item)
    record: dict[str, Any] = {
        "v": VERSION,
        "now": ns,
        "principal": principal_json(first.principal),
        "auxData": aux_json(first.aux_data),
        "requestId": first.request_id,
        "sessionId": first.session_id,
        "actorChain": list(first.actor_chain),
        "approvalId": first.approval_id,
        "resources": resources,
    }
    if context:
        record["context"] = context
    if redacted:
        record["redacted"] = sorted(set(redacted))
    body = bounded(dumps(record), limits.max_request_bytes, "the request", "maxRequestBytes")
    return RequestRecord(request_key(ns, salted(salt, body)), salt, body)


def aux_json(aux: AuxData) -> dict[str, Any]:
    """Auxiliary data as the request record keeps it: decoded claims, never raw tokens."""
    out: dict[str, Any] = {"jwt": _plain(aux.jwt), "jwts": {k: _plain(v) for k, v in aux.jwts.items()}}
    if aux.delegation is not None:
        out["delegation"] = aux.delegation
    return out


def _plain(value: Mapping[str, Any]) -> Mapping[str, Any]:
    """A mapping orjson encodes in C (a dict), without copying one that is already."""
    return value if type(value) is dict else dict(value)


def _conditions(out: CheckOutput, row: Any, held: bool) -> list[dict[str, Any]]:
    """Each expression of the deciding row's condition and whether it held (``held``: the trace says the
    whole condition did). A held conjunction needs no evaluation (about a third of a call's preparing);
    any other tree is evaluated again, expression by expression."""
    conditions: list[dict[str, Any]] = []
    condition = row.condition if row is not None else None
    if condition is None:
        return conditions
    if held and condition.conjunction is not None:
        return [{"expr": expr, "held": True} for expr in condition.conjunction]
    if out.state is not None:
        for c in out.state.explain_condition(row):
            item: dict[str, Any] = {"expr": c.expression.strip(), "held": c.held}
            if c.error:
                item["error"] = c.error
            conditions.append(item)
    return conditions


def _outputs(out: CheckOutput, action: str) -> list[dict[str, Any]]:
    found = []
    for o in out.outputs:
        if o.action != action:
            continue
        if o.error:
            found.append({"src": o.src, "error": o.error})
        else:
            found.append({"src": o.src, "val": normalise(json_number(o.val))[0]})
    return found


__all__ = [
    "Call",
    "Prepared",
    "RequestRecord",
    "actors_column",
    "aux_json",
    "decision_call",
    "request_record",
]
