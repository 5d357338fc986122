"""Whether the entries a reader shows still match their leaves: ``audit show``, ``search`` and
``replay`` mark an edited entry instead of printing it as if it were true.

This checks each shown entry on its own (its leaf hash, its content's and its request record's salted
digests, its search columns, and that missing content was erased); ``audit verify`` checks the whole
log (the tree, the signed heads, what was removed).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from chamberlain.audit.tlog.merkle import leaf_hash
from chamberlain.audit.write.content import request_digest, salted
from chamberlain.audit.write.entry import COLUMNS, LEGACY_VERSION, columns_of
from chamberlain.store.db import Database, as_bytes

_COLUMNS = ", ".join(f"e.{name}" for name in COLUMNS)
_SELECT = (
    "SELECT e.seq, e.leaf, e.body, e.salt, e.content, e.request, r.salt, r.body, e.erased_by, "
    f"{_COLUMNS} FROM audit_entries e LEFT JOIN audit_requests r ON r.digest = e.request "
    "WHERE e.seq IN ({marks})"
)
_SELECT_LEGACY = (
    f"SELECT e.seq, e.leaf, e.body, NULL, NULL, NULL, NULL, NULL, NULL, {_COLUMNS} FROM audit_entries e "
    "WHERE e.seq IN ({marks})"
)
#: Entries checked per query (SQLite's default limit on parameters is far above this).
_BATCH = 500


def mismatches(db: Database, seqs: Iterable[int], *, legacy: bool = False) -> dict[int, str]:
    """For each entry in ``seqs`` that no longer matches its leaf, what does not match."""
    wanted = sorted(set(seqs))
    found: dict[int, str] = {}
    for i in range(0, len(wanted), _BATCH):
        batch = wanted[i : i + _BATCH]
        sql = (_SELECT_LEGACY if legacy else _SELECT).format(marks=", ".join("?" * len(batch)))
        for row in db.rows(sql, batch):
            problem = _problem(row)
            if problem is not None:
                found[int(row[0])] = problem
    return found


def _problem(row: Any) -> str | None:
    _, leaf, body, salt, content, request, request_salt, request_body, erased_by = row[:9]
    body = as_bytes(body)
    if leaf_hash(body) != as_bytes(leaf):
        return "its content does not match its leaf hash (edited)"
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "it is not valid JSON (edited)"
    if not isinstance(data, dict):
        return None
    if data.get("v", LEGACY_VERSION) == LEGACY_VERSION:
        return _columns_problem(data, None, row)
    parsed: Any = None
    if content is None:
        if erased_by is None:
            return "its content was removed without an erasure entry (edited)"
    elif salt is None or salted(as_bytes(salt), as_bytes(content)).hex() != data.get("content"):
        return "its content does not match the digest in its leaf (edited)"
    else:
        try:
            parsed = orjson.loads(as_bytes(content))
        except orjson.JSONDecodeError:
            return "its content is not valid JSON (edited)"
        if not isinstance(parsed, dict):
            return "its content is not an object (edited)"
    problem = _columns_problem(data, parsed, row)
    if problem is not None:
        return problem
    digest = None if request is None else request_digest(as_bytes(request))
    if digest is not None and digest.hex() != data.get("request", ""):
        return "its request column differs from its leaf (edited)"
    if request_body is not None and salted(as_bytes(request_salt), as_bytes(request_body)) != digest:
        return "the request record of its call does not match its leaf (edited)"
    return None


def _columns_problem(data: dict[str, Any], content: dict[str, Any] | None, row: Any) -> str | None:
    """The search columns (what ``search`` and a session's replay select by) must say what the entry does:
    an entry moved into or out of a session, or to another principal, by editing a column is marked."""
    if columns_of(data, content) != tuple(row[9:]):
        return "its search columns (session, principal, actors, resource) differ from its content (edited)"
    return None


def mark(db: Database, entries: list[dict[str, Any]], *, legacy: bool = False) -> list[int]:
    """Add ``"tampered": reason`` to each entry that does not match its leaf; their sequence numbers."""
    found = mismatches(db, (e["seq"] for e in entries if isinstance(e.get("seq"), int)), legacy=legacy)
    for entry in entries:
        if entry.get("seq") in found:
            entry["tampered"] = found[entry["seq"]]
    return sorted(found)
