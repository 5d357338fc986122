"""Reading a decision log: entries, search, export, signed heads and proofs.

Works on any connection to the log's database (read-only is enough), so the CLI can read a log
that a server is writing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from chamberlain.audit.errors import AuditError
from chamberlain.audit.storage import heads
from chamberlain.audit.storage.heads import Head
from chamberlain.audit.storage.search_index import PRINCIPAL, RESOURCE, SESSION, Index, search_parts
from chamberlain.audit.storage.tables import FORMAT_1, check_format, exists, read_meta
from chamberlain.audit.storage.tree import TreeStore, stored_size
from chamberlain.audit.tlog.merkle import ProofError, consistency_path, inclusion_path
from chamberlain.audit.write.entry import has_actor, timestamp
from chamberlain.store import POSTGRES
from chamberlain.store.db import Database, as_bytes
from chamberlain.store.errors import StoreUnavailable

MAX_LIMIT = 10_000
_EFFECTS = {"allow": "EFFECT_ALLOW", "deny": "EFFECT_DENY"}


class QueryError(AuditError):
    """A search or proof request with a bad parameter (the message names it)."""


@dataclass(frozen=True, slots=True)
class Filter:
    """What :meth:`AuditReader.search` selects; every field set must match (``None``: any)."""

    session_id: str | None = None
    principal: str | None = None
    actor: str | None = None
    resource_kind: str | None = None
    resource_id: str | None = None
    action: str | None = None
    effect: str | None = None
    kind: str | None = None
    since: str | None = None  # RFC 3339; entries at or after
    until: str | None = None  # RFC 3339; entries before
    after: int = -1  # only entries with seq > after (paging)
    limit: int = 100


@dataclass(frozen=True, slots=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    root_hash: bytes
    audit_path: list[bytes]

    def to_json(self) -> dict[str, Any]:
        return {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "leaf_hash": self.leaf_hash.hex(),
            "root_hash": self.root_hash.hex(),
            "audit_path": [h.hex() for h in self.audit_path],
        }


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    first: int
    second: int
    first_root: bytes
    second_root: bytes
    consistency_path: list[bytes]

    def to_json(self) -> dict[str, Any]:
        return {
            "first": self.first,
            "second": self.second,
            "consistency_path": [h.hex() for h in self.consistency_path],
        }


def _json(value: Any) -> Any:
    try:
        return orjson.loads(as_bytes(value))
    except orjson.JSONDecodeError:
        return {"unreadable": as_bytes(value).decode("utf-8", "replace")}


_ENTRY_COLUMNS = "e.seq, e.body, e.content, e.erased_by, r.body"
_ENTRY_FROM = "audit_entries e LEFT JOIN audit_requests r ON r.digest = e.request"
#: What a row of :data:`ENTRY_SELECT` holds: the leaf body, the content, its erasure, the request record.
ENTRY_SELECT = f"{_ENTRY_COLUMNS} FROM {_ENTRY_FROM}"
_LEGACY_COLUMNS, _LEGACY_FROM = "e.seq, e.body, NULL, NULL, NULL", "audit_entries e"
_LEGACY_SELECT = f"{_LEGACY_COLUMNS} FROM {_LEGACY_FROM}"


def entry_view(body: Any, content: Any, erased_by: Any, request: Any) -> dict[str, Any]:
    """An entry as people and tools read it: format 1 as stored; format 2 joined with its content and
    the attributes it read from its call's request (``erased`` instead, once erased), and its ``leaf``."""
    data = _json(body)
    if not isinstance(data, dict) or data.get("v", 1) == 1:
        return data if isinstance(data, dict) else {"unreadable": str(data)}
    out: dict[str, Any] = {
        k: v for k, v in data.items() if k not in ("content", "request", "basis", "resource_kind")
    }
    out["leaf"] = data  # exactly what the Merkle leaf holds (its canonical JSON is the leaf data)
    basis = dict(data.get("basis") or {})
    if content is None:
        out["erased"] = {"by": erased_by} if erased_by is not None else {"missing": True}
        out["resource"] = {"kind": data.get("resource_kind", "")}
        if basis:
            out["basis"] = basis
        return out
    c = _json(content)
    if not isinstance(c, dict):
        return {**out, "unreadable_content": str(c)}
    record = _json(request) if request is not None else None
    inp, principal = _input(record, c.get("input", 0))
    reads = c.get("read") or {"principal": "*", "resource": "*"}
    resource = (inp or {}).get("resource") or {}
    if record is None:  # an entry built with new_entry: its detail is in its content
        principal = c.get("principal_detail") if isinstance(c.get("principal_detail"), dict) else {}
        resource = c.get("resource") if isinstance(c.get("resource"), dict) else {}
    out["principal"] = {
        "id": c.get("principal", ""),
        "roles": principal.get("roles", []),
        "scope": principal.get("scope", ""),
        "policy_version": principal.get("policyVersion", principal.get("policy_version", "")),
        "attr": _pick(principal.get("attr"), reads.get("principal")),
    }
    out["resource"] = {
        "kind": data.get("resource_kind", ""),
        "id": c.get("resource_id", ""),
        "scope": resource.get("scope", ""),
        "policy_version": resource.get("policyVersion", resource.get("policy_version", "")),
        "attr": _pick(resource.get("attr"), reads.get("resource")),
    }
    for name in ("actor_chain", "session_id", "request_id", "outputs", "approval"):
        out[name] = c.get(name)
    basis.update(
        conditions=c.get("conditions", []),
        errors=c.get("errors", []),
        validation_errors=c.get("validation_errors", []),
    )
    out["basis"] = basis
    for name, value in c.items():
        if name not in out and name not in _CONTENT_ONLY:
            out[name] = value
    if record is None and data.get("request"):
        out["request_missing"] = True
    return out


_CONTENT_ONLY = frozenset(
    {
        "input",
        "principal",
        "resource_id",
        "read",
        "conditions",
        "errors",
        "validation_errors",
        "derived_roles",
        "principal_detail",
        "resource",
    }
)


def _input(record: Any, index: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The request record's resource entry ``index`` and its principal (its own, or the record's)."""
    if not isinstance(record, dict):
        return None, {}
    items = record.get("resources") or []
    item = items[index] if isinstance(index, int) and 0 <= index < len(items) else None
    principal = (item or {}).get("principal") or record.get("principal") or {}
    return item, principal


def _pick(attr: Any, names: Any) -> dict[str, Any]:
    if not isinstance(attr, dict):
        return {}
    if names == "*":
        return attr
    return {k: attr[k] for k in names or () if k in attr}


def normalise_effect(effect: str) -> str:
    """``allow``/``deny`` (any case) or ``EFFECT_ALLOW``/``EFFECT_DENY``; raises :class:`QueryError`."""
    found = _EFFECTS.get(effect.lower()) or (effect if effect in _EFFECTS.values() else None)
    if found is None:
        raise QueryError(f"effect must be allow, deny, EFFECT_ALLOW or EFFECT_DENY, not {effect!r}")
    return found


def normalise_time(text: str, name: str) -> str:
    """An RFC 3339 time as the log writes times (UTC, microseconds); raises :class:`QueryError`."""
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f"{name}: {text!r} is not an RFC 3339 time such as 2026-01-31T12:00:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return timestamp(when)


def _index_for(f: Filter) -> tuple[Index, tuple[str, ...]] | None:
    """The search index that narrows ``f`` best: its session, its resource, its principal, its resource kind."""
    if f.session_id is not None:
        return SESSION, (f.session_id,)
    if f.resource_kind is not None and f.resource_id is not None:
        return RESOURCE, (f.resource_kind, f.resource_id)
    if f.principal is not None:
        return PRINCIPAL, (f.principal,)
    if f.resource_kind is not None:
        return RESOURCE, (f.resource_kind,)
    return None


class AuditReader:
    """Read access to the log in ``db``; raises StoreUnavailable when the database holds no log."""

    def __init__(self, db: Database):
        self.db = db
        meta = read_meta(db)
        if not exists(db):
            raise StoreUnavailable(f"{db.url.display} holds no decision log yet")
        check_format(db, meta)
        self.meta = meta
        self.legacy = meta.get("format") == FORMAT_1  # not upgraded yet: format 1 tables
        self._select = _LEGACY_SELECT if self.legacy else ENTRY_SELECT
        self._columns, self._from = (
            (_LEGACY_COLUMNS, _LEGACY_FROM) if self.legacy else (_ENTRY_COLUMNS, _ENTRY_FROM)
        )
        self.tree = TreeStore(db)

    @property
    def verifier_key(self) -> str:
        """The key that signs the log's heads now (its first key until ``rotate-key``)."""
        from chamberlain.audit.storage.keys import active_key

        return active_key(self.db) if not self.legacy else self.meta["verifier_key"]

    @property
    def origin(self) -> str:
        return self.meta["origin"]

    def tree_size(self) -> int:
        return stored_size(self.db)

    def pending(self) -> int:
        """Entries written by replicas and not yet sequenced (PostgreSQL; 0 on SQLite)."""
        if self.db.kind != POSTGRES:
            return 0
        return int(self.db.value("SELECT count(*) FROM audit_pending", (), 0))

    # -- heads ------------------------------------------------------------------------------------

    def head(self) -> Head | None:
        return heads.latest(self.db)

    def heads(self) -> list[Head]:
        return heads.all_heads(self.db)

    # -- proofs -----------------------------------------------------------------------------------

    def proof_size(self, size: int | None, least: int) -> int:
        """The tree size a proof is made against: ``size``, else the latest head's, else the current size."""
        current = self.tree_size()
        if size is None:
            head = heads.latest(self.db)
            size = head.size if head is not None and head.size >= least else current
        if size > current:
            raise QueryError(f"tree size {size} is larger than the log ({current} entries)")
        return size

    def inclusion(self, index: int, size: int | None = None) -> InclusionProof:
        """The inclusion proof of entry ``index`` in the tree of ``size`` (default: :meth:`proof_size`)."""
        if index < 0:
            raise QueryError(f"index must be >= 0, got {index}")
        size = self.proof_size(size, index + 1)
        if index >= size:
            raise QueryError(f"entry {index} is not in a tree of {size} entries")
        try:
            path = inclusion_path(self.tree, index, size)
        except ProofError as exc:
            raise QueryError(str(exc)) from None
        return InclusionProof(index, size, self.tree.hash_at(0, index), self.tree.root(size), path)

    def consistency(self, first: int, second: int | None = None) -> ConsistencyProof:
        second = self.proof_size(second, first)
        try:
            path = consistency_path(self.tree, first, second)
        except ProofError as exc:
            raise QueryError(str(exc)) from None
        return ConsistencyProof(first, second, self.tree.root(first), self.tree.root(second), path)

    # -- entries ----------------------------------------------------------------------------------

    def entry(self, seq: int) -> dict[str, Any] | None:
        row = self.db.row(f"SELECT {self._select} WHERE e.seq = ?", (seq,))
        return entry_view(*row[1:]) if row else None

    def raw(self, seq: int) -> tuple[bytes, bytes | None, bytes | None] | None:
        """Entry ``seq`` as stored: its leaf body, its content and its request record (None when erased)."""
        row = self.db.row(f"SELECT {self._select} WHERE e.seq = ?", (seq,))
        if row is None:
            return None
        return (
            as_bytes(row[1]),
            None if row[2] is None else as_bytes(row[2]),
            None if row[4] is None else as_bytes(row[4]),
        )

    def search(self, f: Filter) -> list[dict[str, Any]]:
        """Entries matching ``f`` in log order, at most ``f.limit`` (<= 10,000)."""
        if not 1 <= f.limit <= MAX_LIMIT:
            raise QueryError(f"limit must be between 1 and {MAX_LIMIT}, got {f.limit}")
        where, params = [], []
        for column, value in (
            ("session_id", f.session_id),
            ("principal", f.principal),
            ("kind", f.kind),
            ("resource_kind", f.resource_kind),
            ("resource_id", f.resource_id),
            ("action", f.action),
        ):
            if value is not None:
                where.append(f" AND e.{column} = ?")
                params.append(value)
        if f.effect is not None:
            where.append(" AND e.effect = ?")
            params.append(normalise_effect(f.effect))
        if f.actor is not None:
            acted, needle = has_actor(self.db.kind, "e.actors", f.actor)
            where.append(f" AND {acted}")
            params.append(needle)
        if f.since is not None:
            where.append(" AND e.time >= ?")
            params.append(normalise_time(f.since, "since"))
        if f.until is not None:
            where.append(" AND e.time < ?")
            params.append(normalise_time(f.until, "until"))
        rows = self.select("".join(where), tuple(params), f.limit, by=_index_for(f), after=f.after)
        return [entry_view(*r[1:]) for r in rows]

    def select(
        self,
        where: str,
        params: tuple[Any, ...],
        limit: int,
        *,
        by: tuple[Index, tuple[str, ...]] | None = None,
        after: int = -1,
        newest_first: bool = False,
    ) -> list[Any]:
        """Rows of :data:`ENTRY_SELECT` after ``after`` meeting ``where`` (`` AND ...`` on ``e``), in log
        order (or newest first), at most ``limit``; ``by``: a search index and the values its leading
        columns must have, which ``where`` must require of ``e`` too."""
        if by is None or self.legacy:
            parts = [(f"FROM {self._from} WHERE e.seq > ?", (after,))]
        else:
            parts = search_parts(self.db, by[0], by[1], after, self._from)
        order = "DESC" if newest_first else ""
        rows: list[Any] = []
        for part, part_params in reversed(parts) if newest_first else parts:
            if len(rows) >= limit:
                break
            rows += self.db.rows(
                f"SELECT {self._columns} {part}{where} ORDER BY e.seq {order} LIMIT ?",
                (*part_params, *params, limit - len(rows)),
            )
        return rows

    def export(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bodies of entries ``[start, end)`` in order: each is exactly its Merkle leaf data."""
        if end is None:
            yield from self._stream("SELECT body FROM audit_entries WHERE seq >= ? ORDER BY seq", (start,))
        else:
            yield from self._stream(
                "SELECT body FROM audit_entries WHERE seq >= ? AND seq < ? ORDER BY seq", (start, end)
            )

    def _stream(self, sql: str, params: tuple[Any, ...]) -> Iterator[bytes]:
        for chunk in self.db.stream(sql, params):
            for (body,) in chunk:
                yield as_bytes(body)
