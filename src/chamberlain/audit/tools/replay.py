"""The input to re-run a logged decision: the full request of its call, as the engine took it.

:func:`replay_input` gives, for one entry, the engine's ``CheckInput`` list of its call (every
resource with every attribute, the principal, the auxiliary data conditions read, the session, the
actor chain, the approval), the decision's own ``now`` (nanoseconds), which input and action the
entry decided and the logged effect. Whether the salted digests still match is checked (a
replayed request must be the one the leaf commits to); full verification of the log against its
signed head is :func:`chamberlain.audit.tools.verify.verify`'s.

Entries that cannot be replayed say why (:class:`NotReplayable`): format 1 entries (they kept only
the attributes the old policies read), erased entries, entries of kinds other than ``decision``,
and requests with redacted attributes (``redacted`` lists the paths; the caller decides whether a
replay without them means anything).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from chamberlain.audit.errors import AuditError
from chamberlain.audit.storage.reader import AuditReader
from chamberlain.audit.write.content import request_digest, salted
from chamberlain.engine.request import AuxData, CheckInput, Principal, Resource
from chamberlain.store.db import as_bytes


class NotReplayable(AuditError):
    """An entry whose request was not (or is no longer) logged in full; the message says why."""


@dataclass(frozen=True, slots=True)
class ReplayInput:
    """What re-running entry ``seq`` needs: its call's inputs, ``now``, and what the entry decided."""

    seq: int
    now_ns: int
    inputs: list[CheckInput]
    input: int  # which of ``inputs`` the entry decided
    action: str
    effect: str  # the logged effect (the engine's, before budgets and approvals)
    context: dict[str, Any]
    redacted: tuple[str, ...] = ()
    basis: dict[str, Any] | None = None  # the leaf's basis: which policy (or delegation check) decided

    @property
    def now(self) -> dt.datetime:
        """``now`` as a datetime (microseconds: Python's precision; :attr:`now_ns` keeps the rest)."""
        return dt.datetime.fromtimestamp(self.now_ns // 1000 / 1_000_000, dt.UTC)


def replay_input(reader: AuditReader, seq: int) -> ReplayInput:
    """The replay input of entry ``seq``; raises :class:`NotReplayable` saying why there is none."""
    raw = reader.db.row(f"SELECT {_ENTRY} WHERE e.seq = ?", (seq,)) if not reader.legacy else None
    if raw is None:
        if reader.legacy or reader.entry(seq) is not None:
            raise NotReplayable(
                f"entry {seq} is in format 1: only the attributes its policies read were logged"
            )
        raise NotReplayable(f"no entry {seq} (the log has {reader.tree_size()} entries)")
    return _replay(_Calls(reader), *raw)


def replay_inputs(
    reader: AuditReader, start: int = 0, end: int | None = None
) -> Iterator[ReplayInput | NotReplayable]:
    """Each entry of ``[start, end)`` in order: its replay input, or why it has none.

    A call's request record is read, checked against its digest and parsed once for all the
    entries of the call (a call of 100 resources and 2 actions has 200 entries).
    """
    end = reader.tree_size() if end is None else end
    if reader.legacy:
        for seq in range(start, end):
            yield NotReplayable(
                f"entry {seq} is in format 1: only the attributes its policies read were logged"
            )
        return
    calls = _Calls(reader)
    for chunk in reader.db.stream(
        f"SELECT {_ENTRY} WHERE e.seq >= ? AND e.seq < ? ORDER BY e.seq", (start, end)
    ):
        for row in chunk:
            try:
                yield _replay(calls, *row)
            except NotReplayable as exc:
                yield exc


_ENTRY = "e.seq, e.body, e.content, e.salt, e.request, e.erased_by FROM audit_entries e"


class _Calls:
    """The request record of the latest call read (by key): its inputs, or why it cannot be replayed."""

    __slots__ = ("found", "key", "reader")

    def __init__(self, reader: AuditReader):
        self.reader = reader
        self.key: bytes | None = None
        self.found: tuple[int, list[CheckInput], dict[str, Any], tuple[str, ...]] | str = ""

    def get(self, key: bytes) -> tuple[int, list[CheckInput], dict[str, Any], tuple[str, ...]] | str:
        if key != self.key:
            self.key, self.found = key, self._read(key)
        return self.found

    def _read(self, key: bytes) -> tuple[int, list[CheckInput], dict[str, Any], tuple[str, ...]] | str:
        row = self.reader.db.row("SELECT salt, body FROM audit_requests WHERE digest = ?", (key,))
        if row is None:
            return "its request record is missing"
        body = as_bytes(row[1])
        if salted(as_bytes(row[0]), body) != request_digest(key):
            return "its request record does not match its leaf (tampered: run audit verify)"
        record = orjson.loads(body)
        return (
            int(record["now"]),
            inputs_of(record),
            record.get("context") or {},
            tuple(record.get("redacted") or ()),
        )


def _replay(
    calls: _Calls, seq: Any, body: Any, content: Any, salt: Any, request: Any, erased_by: Any
) -> ReplayInput:
    seq = int(seq)
    data = orjson.loads(as_bytes(body))
    if data.get("v", 1) == 1:
        raise NotReplayable(f"entry {seq} is in format 1: only the attributes its policies read were logged")
    if data.get("kind") != "decision":
        raise NotReplayable(f"entry {seq} is a {data.get('kind')} entry, not a decision")
    if content is None:
        raise NotReplayable(f"entry {seq} was erased (by entry {erased_by})")
    content_b = as_bytes(content)
    if salted(as_bytes(salt), content_b).hex() != data.get("content"):
        raise NotReplayable(f"entry {seq}: its content does not match its leaf (tampered: run audit verify)")
    key = as_bytes(request)
    if request_digest(key).hex() != data.get("request"):
        raise NotReplayable(
            f"entry {seq}: its request record does not match its leaf (tampered: run audit verify)"
        )
    found = calls.get(key)
    if isinstance(found, str):
        raise NotReplayable(f"entry {seq}: {found}")
    now_ns, inputs, context, redacted = found
    c = orjson.loads(content_b)
    return ReplayInput(
        seq,
        now_ns,
        inputs,
        int(c.get("input", 0)),
        data.get("action", ""),
        data.get("effect", ""),
        context,
        redacted,
        data.get("basis"),
    )


def inputs_of(record: dict[str, Any]) -> list[CheckInput]:
    """The engine inputs a request record describes."""
    base_p = _principal(record["principal"])
    base_aux = _aux(record.get("auxData") or {})
    out = []
    for item in record.get("resources") or []:
        p = _principal(item["principal"]) if "principal" in item else base_p
        aux = _aux(item["auxData"]) if "auxData" in item else base_aux
        r = item["resource"]
        resource = Resource.prevalidated(
            r["kind"], r.get("id", ""), r.get("attr") or {}, r.get("policyVersion", ""), r.get("scope", "")
        )
        out.append(
            CheckInput(
                p,
                resource,
                tuple(item.get("actions") or ()),
                aux,
                item.get("requestId", record.get("requestId", "")),
                item.get("sessionId", record.get("sessionId", "")),
                tuple(item.get("actorChain", record.get("actorChain") or ())),
                item.get("approvalId", record.get("approvalId", "")),
            )
        )
    return out


def _principal(p: dict[str, Any]) -> Principal:
    return Principal.prevalidated(
        p["id"],
        tuple(p.get("roles") or ()),
        p.get("attr") or {},
        p.get("policyVersion", ""),
        p.get("scope", ""),
    )


def _aux(a: dict[str, Any]) -> AuxData:
    return AuxData(jwt=a.get("jwt") or {}, jwts=a.get("jwts") or {}, delegation=a.get("delegation"))
