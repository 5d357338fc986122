"""Export records: each entry joined with its content (as ``audit show`` gives it), its leaf index and hash.

A record's ``leaf`` is exactly what the Merkle tree commits to: its RFC 8785 canonical JSON hashes
(with the 0x00 prefix) to ``leaf_hash``, and ``chamberlain audit prove --index SEQ`` (or
``GET /api/audit/proof/inclusion?index=SEQ``) proves that leaf is in a signed head. An erased
entry is exported with what remains of it (its leaf and who erased it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chamberlain.audit.storage.reader import entry_view
from chamberlain.store.db import Database, as_bytes

_SELECT = (
    "SELECT e.seq, e.leaf, e.body, e.content, e.erased_by, r.body FROM audit_entries e "
    "LEFT JOIN audit_requests r ON r.digest = e.request WHERE e.seq >= ? ORDER BY e.seq LIMIT ?"
)


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    leaf_hash: bytes
    data: dict[str, Any]  # the JSON object exported


def read_records(db: Database, start: int, limit: int, origin: str) -> list[Record]:
    """Up to ``limit`` records from entry ``start`` on, in log order."""
    out = []
    for seq, leaf, body, content, erased_by, request in db.rows(_SELECT, (start, limit)):
        view = entry_view(body, content, erased_by, request)
        h = as_bytes(leaf)
        out.append(Record(int(seq), h, {"seq": int(seq), "leaf_hash": h.hex(), "origin": origin, **view}))
    return out
