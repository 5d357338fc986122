"""Writing entries: giving them sequence numbers, leaf hashes and tree nodes, in one transaction.

- :class:`LocalAppender` (SQLite): the writer sequences its own entries under SQLite's write lock;
  several processes may append to one file, each re-reading the tree size inside its transaction.
- :class:`PendingAppender` (PostgreSQL, any replica): entries become durable in ``audit_pending``;
  :func:`sequence_pending` (the elected sequencer only) moves them into the log in order.

A group whose entries cannot be encoded fails alone; the others of the batch are written.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

import orjson

from chamberlain.audit import heads
from chamberlain.audit.canonical import EncodingError, encode
from chamberlain.audit.entry import COLUMNS, Entry, columns, entry_bytes, new_entry
from chamberlain.audit.heads import Head
from chamberlain.audit.merkle import Edge
from chamberlain.audit.note import Signer
from chamberlain.audit.schema import STRIDE
from chamberlain.audit.tree import TreeStore
from chamberlain.store.db import Database, as_bytes

ENTRY_COLUMNS = ("seq", "leaf", "body", *COLUMNS)
NODE_COLUMNS = ("level", "idx", "hash")
DAMAGED = "damaged"  # an entry kind: a pending row that could not be read, kept rather than dropped


_sha256 = hashlib.sha256
_CHUNK = 256  # entries encoded and inserted at a time: many live bodies make orjson's allocations dear


def append_groups(db: Database, groups: Sequence[Sequence[Entry]], edge: Edge) -> list[EncodingError | None]:
    """Number, encode, hash and insert ``groups`` on top of ``edge`` (advanced in place), inside the caller's
    transaction; then record the new tree size. Returns each group's encoding error, or None."""
    errors: list[EncodingError | None] = []
    rows: list[tuple] = []
    nodes: list[tuple[int, int, bytes]] = []
    for group in groups:
        errors.append(_prepare_group(group, edge, rows, nodes))
        if len(rows) >= _CHUNK:
            db.copy_rows("audit_entries", ENTRY_COLUMNS, rows)
            rows.clear()
    if rows:
        db.copy_rows("audit_entries", ENTRY_COLUMNS, rows)
    if nodes:
        db.copy_rows("audit_nodes", NODE_COLUMNS, nodes)
    db.execute("UPDATE audit_meta SET value = ? WHERE key = 'tree_size'", (str(edge.size),))
    return errors


def _prepare_group(group: Sequence[Entry], edge: Edge, rows: list[tuple],
                   nodes: list[tuple[int, int, bytes]]) -> EncodingError | None:  # fmt: skip
    mark_rows, mark_nodes, saved = len(rows), len(nodes), (edge.size, list(edge.nodes))
    append = edge.append
    try:
        for entry in group:  # the hot loop of every write: kept flat
            seq = edge.size
            body = entry_bytes(entry, seq)
            h = _sha256(b"\x00" + body).digest()
            for node in append(h):
                if node[0] % STRIDE == 0:
                    nodes.append(node)
            rows.append((seq, h, body, *(entry.cols or columns(entry.data))))
    except EncodingError as exc:
        del rows[mark_rows:], nodes[mark_nodes:]
        edge.size, edge.nodes = saved
        return exc
    return None


def stored_size(db: Database, *, lock: bool = False) -> int:
    """The log's tree size as ``audit_meta`` records it (``lock``: row lock on PostgreSQL)."""
    suffix = " FOR UPDATE" if lock and db.kind != "sqlite" else ""
    return int(db.value(f"SELECT value FROM audit_meta WHERE key = 'tree_size'{suffix}", (), "0"))


class LocalAppender:
    """Appends and signs heads on SQLite, where the writer is its own sequencer."""

    def __init__(self, db: Database):
        self.db = db
        self.tree = TreeStore(db)
        self.edge: Edge | None = None

    def append(self, groups: Sequence[Sequence[Entry]]) -> list[EncodingError | None]:
        """Write the groups in one transaction; raises StoreError when nothing could be written."""
        try:
            with self.db.transaction():
                size = stored_size(self.db)
                # another process may have appended since: then read the tree again
                edge = (
                    self.edge.copy()
                    if self.edge is not None and self.edge.size == size
                    else self.tree.edge(size)
                )
                errors = append_groups(self.db, groups, edge)
        except BaseException:
            self.edge = None  # re-read the tree from the database next time
            raise
        self.edge = edge
        return errors

    def sign_head(self, signer: Signer, *, force: bool = False) -> Head:
        """Sign the current tree (unless the latest head already covers it and not ``force``)."""
        try:
            head, self.edge = sign_current(self.db, self.tree, self.edge, signer, force=force)
        except BaseException:
            self.edge = None
            raise
        return head


def sign_current(db: Database, tree: TreeStore, edge: Edge | None, signer: Signer, *,
                 force: bool = False) -> tuple[Head, Edge]:  # fmt: skip
    """Sign a head for the log's current size unless the latest head has that size; returns it and the edge."""
    with db.transaction():
        size = stored_size(db, lock=True)
        if edge is None or edge.size != size:
            edge = tree.edge(size)
        last = heads.latest(db)
        if last is not None and last.size == size and not force:
            return last, edge
        return heads.sign(db, signer, size, edge.root()), edge


class PendingAppender:
    """PostgreSQL replicas: make entries durable in ``audit_pending`` (the sequencer numbers them)."""

    def __init__(self, db: Database):
        self.db = db

    def append(self, groups: Sequence[Sequence[Entry]]) -> list[EncodingError | None]:
        rows: list[tuple[bytes, bool]] = []
        errors: list[EncodingError | None] = []
        for group in groups:
            try:
                encoded = [(encode(e.data, e.fast), e.fast) for e in group]
            except EncodingError as exc:
                errors.append(exc)
                continue
            rows.extend(encoded)
            errors.append(None)
        with self.db.transaction():
            self.db.copy_rows("audit_pending", ("body", "fast"), rows)
        return errors


def sequence_pending(db: Database, tree: TreeStore, edge: Edge | None, limit: int) -> tuple[Edge, int]:
    """Move up to ``limit`` pending entries into the log, in ``id`` order; returns the new edge and count.

    Only the sequencer calls this. Entries leave ``audit_pending`` in the transaction that adds them
    to the log, so a sequencer dying midway loses and duplicates nothing.
    """
    with db.transaction():
        size = stored_size(db, lock=True)
        if edge is None or edge.size != size:
            edge = tree.edge(size)
        pending = db.rows("SELECT id, body, fast FROM audit_pending ORDER BY id LIMIT ?", (limit,))
        if not pending:
            return edge, 0
        groups = [[_pending_entry(as_bytes(body), fast)] for _, body, fast in pending]
        edge = edge.copy()
        errors = append_groups(db, groups, edge)
        if any(errors):  # cannot happen for a body a replica encoded (it parsed as JSON): stop, lose nothing
            raise EncodingError(
                f"pending entries {[row[0] for row, e in zip(pending, errors, strict=False) if e]} cannot be encoded"
            )
        db.execute("DELETE FROM audit_pending WHERE id = ANY(?)", ([row[0] for row in pending],))
    return edge, len(pending)


def _pending_entry(body: bytes, fast: bool) -> Entry:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        return _damaged(body)
    return Entry(data, fast)


def _damaged(body: bytes) -> Entry:
    return new_entry(DAMAGED, time="", raw=base64.b64encode(body).decode())
