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
from chamberlain.engine.request import CheckInput
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
        return self.describe().prepare(limits)

    def describe(self) -> Facts:
        """The plain data this call's record is made of (what the engine's objects hold that the record needs);
        tuples stay tuples (JSON arrays all the same)."""
        # the request record asks of each input only whether its principal and aux data are the first's
        first: Any = self.inputs[0] if self.inputs else None
        first_pf = first_af = ()
        inputs = []
        for i, inp in enumerate(self.inputs):
            p, aux, r = inp.principal, inp.aux_data, inp.resource
            if i and p is first.principal:
                pf = first_pf
            else:
                pf = (p.id, p.roles, _plain(p.attr), p.policy_version, p.scope)
                first_pf = first_pf or pf
            if i and aux is first.aux_data:
                af = first_af
            else:
                jwts = {name: _plain(v) for name, v in aux.jwts.items()} if aux.jwts else {}
                af = (_plain(aux.jwt), jwts, aux.delegation)
                first_af = first_af or af
            inputs.append(
                (
                    pf,
                    (r.kind, r.id, _plain(r.attr), r.policy_version, r.scope),
                    inp.actions,
                    af,
                    inp.request_id,
                    inp.session_id,
                    inp.approval_id,
                    inp.actor_chain,
                )
            )
        empty_reads = {"principal": [], "resource": []}
        outputs = []
        for out in self.outputs:
            rows_by_action: dict[str, tuple[Any, ...]] = {}
            held: set[int] = set()
            for action, _scope, row, outcome in out.trace:
                rows_by_action[action] = (*rows_by_action.get(action, ()), row)
                if outcome == HELD:
                    held.add(id(row))
            explained: dict[int, list[dict[str, Any]]] = {}  # by row: actions decided by one rule share it
            decided = []
            for action, effect in out.actions.items():
                row = effect.row
                rows = rows_by_action.get(action)
                if row is None:
                    version = rule = ""
                    conditions: list[dict[str, Any]] = []
                else:
                    version, rule = row.policy.version, row.name
                    conditions = explained.get(id(row))  # type: ignore[assignment]
                    if conditions is None:
                        conditions = explained[id(row)] = _conditions(out, row, id(row) in held)
                decided.append(
                    (
                        action,
                        effect.effect,
                        effect.policy,
                        effect.scope,
                        version,
                        rule,
                        conditions,
                        _outputs(out, action) if out.outputs else [],
                        attributes.read_names(rows) if rows else empty_reads,
                    )
                )
            outputs.append(
                (
                    list(out.effective_derived_roles),
                    [{"expr": e.expression, "message": e.message} for e in out.evaluation_errors],
                    [
                        {"path": e.path, "message": e.message, "source": e.source}
                        for e in out.validation_errors
                    ],
                    decided,
                )
            )
        return Facts(
            self.ns, self.call_id, self.point, self.extra, self.context, inputs, outputs, self._count
        )


class Facts:
    """What a :class:`Call`'s record is made of, as plain data (strings, numbers, lists, dicts, tuples).

    Why apart from the call: a writer process builds the record (``prepare``: encoding, salting and
    hashing, about five sixths of a call's preparing) from these, pickled, on another core, while the
    request path only takes them from the engine's objects (:meth:`Call.describe`). An input whose
    principal (or auxiliary data) is the first input's holds the first's very tuple (pickle keeps that):
    that is how the request record knows which resources need a principal of their own.

    ``inputs``: per resource ``(principal, resource, actions, aux, request_id, session_id, approval_id,
    actor_chain)`` with ``principal = (id, roles, attr, policyVersion, scope)``, ``resource = (kind, id,
    attr, policyVersion, scope)``, ``aux = (jwt, jwts, delegation)``; ``outputs``: per resource
    ``(derived_roles, errors, validation_errors, decided)``, ``decided`` holding per action ``(action,
    effect, policy, scope, version, rule, conditions, outputs, read)``.
    """

    __slots__ = ("call_id", "context", "count", "extra", "inputs", "ns", "outputs", "point")

    def __init__(
        self,
        ns: int,
        call_id: str,
        point: str,
        extra: Mapping[str, Any] | None,
        context: Mapping[str, Any] | None,
        inputs: list[tuple[Any, ...]],
        outputs: list[tuple[Any, ...]],
        count: int,
    ) -> None:
        self.ns = ns
        self.call_id = call_id
        self.point = point
        self.extra = extra
        self.context = context
        self.inputs = inputs
        self.outputs = outputs
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as a plain tuple: the writer process's wire form
        return (
            Facts,
            (
                self.ns,
                self.call_id,
                self.point,
                self.extra,
                self.context,
                self.inputs,
                self.outputs,
                self.count,
            ),
        )

    def prepare(self, limits: Limits) -> Prepared:
        """The request record and entries (see :meth:`Call.prepare`)."""
        if not self.inputs:
            return Prepared(None, [])
        fresh = salts(self.count + 1)
        request = request_record(self.inputs, self.ns, fresh[0], limits, self.context)
        time = timestamp_ns(self.ns)
        call_id, point, extra = self.call_id, self.point, self.extra
        # an enforcement point's fields may not name a search column's source: else make_entry reads them
        own_columns = not extra or _COLUMN_SOURCES.isdisjoint(extra)
        entries: list[Entry] = []
        n = 1
        for i, (inp, out) in enumerate(zip(self.inputs, self.outputs, strict=True)):
            principal, resource, _actions, _aux, request_id, session_id, approval_id, chain = inp
            derived, errors, validation_errors, decided = out
            kind, resource_id = resource[0], resource[1]
            common = {
                "input": i,
                "principal": principal[0],
                "actor_chain": chain,
                "session_id": session_id,
                "request_id": request_id,
                "resource_id": resource_id,
                "derived_roles": derived,
                "errors": errors,
                "validation_errors": validation_errors,
                "approval": {"id": approval_id, "approver": None} if approval_id else None,
            }
            # the search columns an entry's content and public fields give (make_entry), once per resource
            head = (
                time,
                DECISION,
                session_id or "",
                principal[0] or "",
                actors_column(chain),
                kind,
                resource_id if isinstance(resource_id, str) else "",
            )
            for action, effect, policy, scope, version, rule, conditions, outputs, read in decided:
                public = {
                    "call_id": call_id,
                    "point": point,
                    "action": action,
                    "effect": effect,
                    "resource_kind": kind,
                    "basis": {
                        "policy": policy,
                        "version": version,
                        "scope": scope,
                        "rule": rule,
                        "derived_roles": derived,
                    },
                }
                content = {**common, "conditions": conditions, "outputs": outputs, "read": read}
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
                        (*head, action, effect) if own_columns else None,
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
    inputs: Sequence[tuple[Any, ...]],
    ns: int,
    salt: bytes,
    limits: Limits,
    context: Mapping[str, Any] | None = None,
) -> RequestRecord:
    """The request record of a call (see the module docstring) from its :class:`Facts` inputs, salted,
    bounded and redacted."""
    p_paths, r_paths = _redact_paths(limits.redact) if limits.redact else ((), ())
    redacted: list[str] = []

    def principal_json(p: tuple[Any, ...]) -> dict[str, Any]:
        attr = p[2]
        if p_paths:
            attr, hit = redact(attr, p_paths, salt, "P")
            redacted.extend(hit)
        return {"id": p[0], "roles": p[1], "attr": attr, "policyVersion": p[3], "scope": p[4]}

    def resource_json(r: tuple[Any, ...]) -> dict[str, Any]:
        attr = r[2]
        if r_paths:
            attr, hit = redact(attr, r_paths, salt, "R")
            redacted.extend(hit)
        return {"kind": r[0], "id": r[1], "attr": attr, "policyVersion": r[3], "scope": r[4]}

    first = inputs[0]
    principal, _, _, aux, request_id, session_id, approval_id, chain = first
    resources = []
    for inp in inputs:
        item: dict[str, Any] = {"resource": resource_json(inp[1]), "actions": inp[2]}
        if inp[0] is not principal:
            item["principal"] = principal_json(inp[0])
        if inp[3] is not aux:
            item["auxData"] = _aux_json(inp[3])
        for name, value, base in (
            ("requestId", inp[4], request_id),
            ("sessionId", inp[5], session_id),
            ("approvalId", inp[6], approval_id),
        ):
            if value != base:
                item[name] = value
        if inp[7] != chain:
            item["actorChain"] = inp[7]
        resources.append(item)
    record: dict[str, Any] = {
        "v": VERSION,
        "now": ns,
        "principal": principal_json(principal),
        "auxData": _aux_json(aux),
        "requestId": request_id,
        "sessionId": session_id,
        "actorChain": chain,
        "approvalId": approval_id,
        "resources": resources,
    }
    if context:
        record["context"] = context
    if redacted:
        record["redacted"] = sorted(set(redacted))
    body = bounded(dumps(record), limits.max_request_bytes, "the request", "maxRequestBytes")
    return RequestRecord(request_key(ns, salted(salt, body)), salt, body)


def _aux_json(aux: tuple[Any, ...]) -> dict[str, Any]:
    """Auxiliary data as the request record keeps it: decoded claims, never raw tokens."""
    jwt, jwts, delegation = aux
    out: dict[str, Any] = {"jwt": jwt, "jwts": jwts}
    if delegation is not None:
        out["delegation"] = delegation
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
    "Facts",
    "Prepared",
    "RequestRecord",
    "actors_column",
    "decision_call",
    "request_record",
]
