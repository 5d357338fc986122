"""Verifying a decision log: every entry, every hash, the tree and every signed head, recomputed.

Checks, in log order: sequence numbers run 0, 1, 2, ... without gaps; each entry's own ``seq``
is its position; its leaf hash is SHA-256(0x00 || body); its search columns are the entry's
values; every stored tree node equals the one recomputed from the leaves; every signed head's
signature verifies with the log's key and its root equals the recomputed root at its size; no
signed head (nor the trusted head) is larger than the log. The first difference is named: an
entry edited, deleted, inserted or moved is reported at its sequence number; an edit that also
rewrote the leaf hash and the stored nodes shows as a signed head that no longer matches, naming
the range of entries since the previous matching head.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from chamberlain.audit import heads as heads_mod
from chamberlain.audit.append import stored_size
from chamberlain.audit.entry import columns
from chamberlain.audit.errors import AuditError
from chamberlain.audit.merkle import Edge, leaf_hash
from chamberlain.audit.note import Checkpoint, NoteError, Verifier, open_checkpoint
from chamberlain.audit.reader import AuditReader
from chamberlain.audit.schema import STRIDE
from chamberlain.store.db import Database, as_bytes

CHUNK = 20_000
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class TrustedHead:
    """A head the verifier trusts from outside the log: a signed checkpoint and the key to check it."""

    checkpoint: str
    verifier_key: str = ""

    @classmethod
    def parse(cls, text: str) -> TrustedHead:
        """The JSON ``chamberlain audit head --json`` prints, or a bare signed checkpoint note."""
        stripped = text.strip()
        if stripped.startswith("{"):
            try:
                data = orjson.loads(stripped)
            except orjson.JSONDecodeError as exc:
                raise AuditError(f"trusted head: invalid JSON: {exc}") from None
            if not isinstance(data, dict) or not isinstance(data.get("checkpoint"), str):
                raise AuditError('trusted head: expected {"checkpoint": "...", "verifier_key": "..."}')
            return cls(data["checkpoint"], str(data.get("verifier_key") or ""))
        return cls(text if text.endswith("\n") else text + "\n")


@dataclass(slots=True)
class Report:
    """The outcome: ``ok`` when nothing differs; otherwise ``problem`` names the first difference."""

    size: int = 0
    heads: int = 0
    root: bytes = b""
    pending: int = 0
    problem: str = ""
    first_bad: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problem

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "tree_size": self.size, "signed_heads": self.heads, "root_hash": self.root.hex(),
                "pending": self.pending, "problem": self.problem or None, "first_bad_entry": self.first_bad,
                "notes": self.notes}  # fmt: skip


class _Tampered(Exception):
    def __init__(self, message: str, seq: int | None):
        super().__init__(message)
        self.seq = seq


def verify(db: Database, *, trusted: TrustedHead | None = None, progress: Progress | None = None) -> Report:
    """Verify the log in ``db`` (see the module docstring)."""
    report = Report()
    with db.snapshot():  # a log being written meanwhile is verified as of this moment
        reader = AuditReader(db)
        report.pending = reader.pending()
        try:
            _verify(db, reader, trusted, progress, report)
        except _Tampered as exc:
            report.problem = str(exc)
            report.first_bad = exc.seq
    return report


def _verify(db: Database, reader: AuditReader, trusted: TrustedHead | None, progress: Progress | None,
            report: Report) -> None:  # fmt: skip
    verifier = Verifier.parse(reader.verifier_key)
    expected = _signed_roots(db, verifier, report)
    signed_sizes = sorted(expected)
    trusted_size = _trusted(trusted, verifier, expected)
    recorded = stored_size(db)
    total = max(recorded, _max_seq(db) + 1)  # for the progress bar
    edge = Edge()
    next_seq = 0
    last_good_head = 0
    for chunk in db.stream(
        "SELECT seq, leaf, body, time, kind, session_id, principal, actors, resource_kind, resource_id, action, "
        "effect FROM audit_entries ORDER BY seq",
        chunk=CHUNK,
    ):
        stored_nodes = _stored_nodes(db, chunk[0][0], chunk[-1][0] + 1)
        for row in chunk:
            seq = row[0]
            if seq != next_seq:
                raise _Tampered(f"entry {next_seq} is missing (deleted): the next entry is {seq}", next_seq)
            body = as_bytes(row[2])
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise _Tampered(f"entry {seq} is not valid JSON (edited)", seq) from None
            if not isinstance(data, dict) or data.get("seq") != seq:
                inner = data.get("seq") if isinstance(data, dict) else None
                first = min(seq, inner) if isinstance(inner, int) and inner >= 0 else seq
                raise _Tampered(f"entry {seq} holds sequence number {inner}: entries were inserted, moved or "
                                f"reordered from entry {first} on", first)  # fmt: skip
            h = leaf_hash(body)
            if h != as_bytes(row[1]):
                raise _Tampered(f"entry {seq} was edited: its content does not match its leaf hash", seq)
            if columns(data) != tuple(row[3:]):
                raise _Tampered(f"entry {seq}: its search columns differ from its content (edited)", seq)
            for level, index, node in edge.append(h):
                if level % STRIDE == 0 and stored_nodes.get((level, index)) != node:
                    first = index << level
                    raise _Tampered(
                        f"tree node at level {level}, index {index} does not match entries {first}..{seq}: "
                        "an entry there was altered (with its leaf hash) or the node was", first)  # fmt: skip
            next_seq = seq + 1
            root = expected.get(next_seq)
            if root is not None:
                if edge.root() != root:
                    raise _Tampered(
                        f"the signed head at size {next_seq} does not match the entries: one of entries "
                        f"{last_good_head}..{seq} was altered, removed, inserted or reordered", last_good_head)  # fmt: skip
                last_good_head = next_seq
        if progress is not None:
            progress(next_seq, total)
    report.size = next_seq
    report.root = edge.root()
    if next_seq > recorded:
        raise _Tampered(f"entries {recorded}..{next_seq - 1} lie beyond the log's recorded size of {recorded} "
                        "(inserted)", recorded)  # fmt: skip
    if recorded > next_seq:
        raise _Tampered(f"the log was cut off: it recorded {recorded} entries but holds {next_seq}", next_seq)
    if trusted_size is not None and trusted_size > next_seq:
        raise _Tampered(f"the log was cut off: the trusted head covers {trusted_size} entries, the log "
                        f"holds {next_seq}", next_seq)  # fmt: skip
    if signed_sizes and signed_sizes[-1] > next_seq:
        raise _Tampered(f"the log was cut off after a signed head: the head at size {signed_sizes[-1]} covers "
                        f"entries up to {signed_sizes[-1] - 1}, the log ends at {next_seq - 1}", next_seq)  # fmt: skip
    if 0 in expected and expected[0] != Edge().root():
        raise _Tampered("the signed head at size 0 has a root other than the empty tree's", 0)
    if report.pending:
        report.notes.append(f"{report.pending} entries are durable but not yet sequenced (audit_pending)")


def _signed_roots(db: Database, verifier: Verifier, report: Report) -> dict[int, bytes]:
    """Every stored head, signature checked: size -> root. Two different roots for one size is a fork."""
    roots: dict[int, bytes] = {}
    for head in heads_mod.all_heads(db):
        try:
            checkpoint = open_checkpoint(head.note, verifier)
        except NoteError as exc:
            raise _Tampered(f"the signed head at size {head.size} does not verify: {exc}", None) from None
        if (checkpoint.size, checkpoint.root) != (head.size, head.root):
            raise _Tampered(f"the head row at size {head.size} differs from its signed checkpoint", None)
        if roots.get(head.size, head.root) != head.root:
            raise _Tampered(
                f"two signed heads at size {head.size} have different roots (the log forked)", None
            )
        roots[head.size] = head.root
        report.heads += 1
    return roots


def _trusted(trusted: TrustedHead | None, log_key: Verifier, expected: dict[int, bytes]) -> int | None:
    if trusted is None:
        return None
    key = log_key
    if trusted.verifier_key:
        try:
            key = Verifier.parse(trusted.verifier_key)
        except NoteError as exc:
            raise AuditError(f"trusted head: {exc}") from None
        if str(key) != str(log_key):
            raise _Tampered(f"the log is signed by {log_key}, not by the trusted key {key}", None)
    try:
        checkpoint: Checkpoint = open_checkpoint(trusted.checkpoint, key)
    except NoteError as exc:
        raise _Tampered(f"the trusted head does not verify with the log's key: {exc}", None) from None
    if expected.get(checkpoint.size, checkpoint.root) != checkpoint.root:
        raise _Tampered(
            f"the log's signed head at size {checkpoint.size} differs from the trusted head", None
        )
    expected[checkpoint.size] = checkpoint.root
    return checkpoint.size


def _max_seq(db: Database) -> int:
    return int(db.value("SELECT max(seq) FROM audit_entries", (), -1))


def _stored_nodes(db: Database, start: int, end: int) -> dict[tuple[int, int], bytes]:
    """Stored nodes that close while leaves ``[start, end)`` are appended."""
    found: dict[tuple[int, int], bytes] = {}
    level = STRIDE
    while (1 << level) <= end:
        rows = db.rows("SELECT idx, hash FROM audit_nodes WHERE level = ? AND idx >= ? AND idx < ?",
                       (level, start >> level, end >> level))  # fmt: skip
        for idx, h in rows:
            found[(level, idx)] = as_bytes(h)
        level += STRIDE
    return found
