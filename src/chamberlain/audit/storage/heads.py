"""Signed tree heads: C2SP checkpoints signed by the log's key, stored in ``audit_heads``.

Which key signed a head is in its note: each signature line names the key (name and key id).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from chamberlain.audit.tlog.note import Checkpoint, Signer, sign_note
from chamberlain.audit.write.entry import timestamp
from chamberlain.store.db import Database, as_bytes


@dataclass(frozen=True, slots=True)
class Head:
    """A signed tree head: size, root hash, the signed checkpoint note and when it was signed."""

    size: int
    root: bytes
    note: str
    signed_at: str

    def to_json(self, verifier_key: str) -> dict[str, Any]:
        """``{"checkpoint", "verifier_key", "tree_size", "root_hash"}`` (``audit head --json``, ``/api/audit/head``)."""
        return {
            "checkpoint": self.note,
            "verifier_key": verifier_key,
            "tree_size": self.size,
            "root_hash": self.root.hex(),
        }


_SELECT = "SELECT tree_size, root, note, signed_at FROM audit_heads"


def latest(db: Database) -> Head | None:
    """The most recently signed head (the largest), or ``None``."""
    row = db.row(f"{_SELECT} ORDER BY tree_size DESC, id DESC LIMIT 1")
    return _head(row) if row else None


def all_heads(db: Database) -> list[Head]:
    """Every stored head, in signing order."""
    return [_head(r) for r in db.rows(f"{_SELECT} ORDER BY id")]


def sign(
    db: Database, signer: Signer | list[Signer], size: int, root: bytes, now: dt.datetime | None = None
) -> Head:
    """Sign a checkpoint of ``size`` and ``root`` and store it (inside the caller's transaction, if any).

    Several signers (of one origin) each add their signature line: a key rotation's head.
    """
    signers = signer if isinstance(signer, list) else [signer]
    note = sign_note(Checkpoint(signers[0].name, size, root).text(), signers)
    head = Head(size, root, note, timestamp(now or dt.datetime.now(dt.UTC)))
    db.execute(
        "INSERT INTO audit_heads (tree_size, root, signed_at, note) VALUES (?, ?, ?, ?)",
        (size, root, head.signed_at, note),
    )
    return head


def _head(row: tuple[Any, ...]) -> Head:
    note, signed_at = row[2], row[3]
    if not isinstance(note, str):  # SQLite keeps whatever was written: a blob is no note (it fails to verify)
        note = (
            as_bytes(note).decode("utf-8", "replace") if isinstance(note, bytes | memoryview) else str(note)
        )
    return Head(int(row[0]), as_bytes(row[1]), note, str(signed_at))
