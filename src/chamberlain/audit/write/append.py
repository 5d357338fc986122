"""Writing entries: preparing submissions, giving entries sequence numbers, leaf hashes and tree nodes.

A submission is a :class:`~chamberlain.audit.write.decisions.Call` (prepared here, on the writer thread:
its request record once, then its entries) or a list of ready :class:`~chamberlain.audit.write.entry.Entry`.

- :class:`LocalAppender` (SQLite): the writer sequences its own entries under SQLite's write lock;
  several processes may append to one file, each re-reading the tree size inside its transaction.
- :class:`PendingAppender` (PostgreSQL, any replica): request records go straight to
  ``audit_requests`` and entries become durable in ``audit_pending``; :func:`sequence_pending`
  (the elected sequencer only) moves them into the log in order.

A submission that cannot be encoded or is over a limit fails alone; the others of the batch are written.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from chamberlain.audit.storage import heads, search_index
from chamberlain.audit.storage.heads import Head
from chamberlain.audit.storage.keys import KeyRing
from chamberlain.audit.storage.tables import STRIDE
from chamberlain.audit.storage.tree import TreeStore, stored_size
from chamberlain.audit.tlog.merkle import Edge
from chamberlain.audit.write.canonical import EncodingError
from chamberlain.audit.write.content import Limits
from chamberlain.audit.write.decisions import Prepared
from chamberlain.audit.write.entry import COLUMNS, Entry, leaf_body, new_entry, numbered, public_bytes
from chamberlain.store.db import Database, as_bytes

ENTRY_COLUMNS = ("seq", "leaf", "body", "salt", "content", "request", *COLUMNS)
REQUEST_COLUMNS = ("digest", "salt", "body")
PENDING_COLUMNS = ("public", "salt", "content", "request", *COLUMNS)
NODE_COLUMNS = ("level", "idx", "hash")
DAMAGED = "damaged"  # an entry kind: a pending row that could not be read, kept rather than dropped

_sha256 = hashlib.sha256
_CHUNK = 256  # entries inserted at a time: many live bodies make allocations dear

#: Called with each head as it is signed (the log publishes it outside the database).
OnHead = Callable[[Head], None]


def prepare(submission: Any, limits: Limits) -> Prepared:
    """The request record and entries of a submission (a Call, an Entry or a list of entries)."""
    if isinstance(submission, Entry):
        return Prepared(None, [submission])
    if isinstance(submission, list):
        return Prepared(None, submission)
    return submission.prepare(limits)


#: What a sink says of each group it was given: its error, or the log index of its first entry, or None
#: when the group is durable but not yet numbered (PostgreSQL replicas: the sequencer numbers it later).
Appended = EncodingError | int | None


def prepare_all(groups: Sequence[Any], limits: Limits) -> list[Prepared | EncodingError]:
    """Each group prepared, or its error (what :func:`append_groups` takes, to hold the write lock
    only while numbering, hashing and inserting)."""
    ready: list[Prepared | EncodingError] = []
    for group in groups:
        try:
            ready.append(prepare(group, limits))
        except EncodingError as exc:
            ready.append(exc)
    return ready


def append_groups(db: Database, groups: Sequence[Any], edge: Edge, limits: Limits) -> list[Appended]:
    """Prepare (unless :func:`prepare_all` did), number, hash and insert ``groups`` on top of ``edge`` (advanced in place), inside the
    caller's transaction; then record the new tree size. Returns each group's error, or its first index."""
    errors: list[Appended] = []
    rows: list[tuple] = []
    requests: list[tuple] = []
    nodes: list[tuple[int, int, bytes]] = []
    keys: list[tuple] = []
    append = edge.append
    for group in groups:
        try:
            if isinstance(group, EncodingError):  # prepared beforehand (see prepare_all)
                raise group
            prepared = prepare(group, limits)
            seq = edge.size
            bodies = [leaf_body(e, seq + k) for k, e in enumerate(prepared.entries)]
        except EncodingError as exc:
            errors.append(exc)
            continue
        errors.append(seq)
        request = prepared.request
        if request is not None:
            requests.append((request.key, request.salt, request.body))
        for entry, body in zip(prepared.entries, bodies, strict=True):  # the hot loop of every write
            h = _sha256(b"\x00" + body).digest()
            for node in append(h):
                if node[0] % STRIDE == 0:
                    nodes.append(node)
            rows.append((seq, h, body, entry.salt, entry.content, entry.request, *entry.cols))
            seq += 1
        if len(rows) >= _CHUNK:
            db.copy_rows("audit_entries", ENTRY_COLUMNS, rows)
            keys += search_index.staged_keys(rows, ENTRY_COLUMNS)
            rows.clear()
    if requests:
        db.copy_rows("audit_requests", REQUEST_COLUMNS, requests)
    if rows:
        db.copy_rows("audit_entries", ENTRY_COLUMNS, rows)
        keys += search_index.staged_keys(rows, ENTRY_COLUMNS)
    if nodes:
        db.copy_rows("audit_nodes", NODE_COLUMNS, nodes)
    db.execute("UPDATE audit_meta SET value = ? WHERE key = 'tree_size'", (str(edge.size),))
    search_index.catch_up(db, edge.size, keys)
    return errors


class LocalAppender:
    """Appends and signs heads on SQLite, where the writer is its own sequencer."""

    def __init__(self, db: Database, limits: Limits, on_head: OnHead | None = None):
        self.db = db
        self.limits = limits
        self.on_head = on_head
        self.tree = TreeStore(db)
        self.edge: Edge | None = None
        self._uncommitted: Edge | None = None  # append_within's edge, until settled

    def append(self, groups: Sequence[Any]) -> list[Appended]:
        """Write the groups in one transaction; raises StoreError when nothing could be written."""
        # Prepared before the transaction: other processes writing to the file wait for its lock only
        # while this one numbers, hashes and inserts.
        groups = prepare_all(groups, self.limits)
        try:
            with self.db.transaction():
                # another process may have appended since: then catch up on its leaves
                edge = self.tree.edge_from(self.edge, stored_size(self.db))
                errors = append_groups(self.db, groups, edge, self.limits)
        except BaseException:
            self.edge = None  # re-read the tree from the database next time
            raise
        self.edge = edge
        return errors

    def append_within(self, groups: Sequence[Any]) -> list[Appended]:
        """:meth:`append` inside a transaction the caller holds on this appender's connection, so that the
        entries commit with the caller's other writes (a session's charge: see
        :meth:`chamberlain.audit.log.DecisionLog.appender_for`); then :meth:`settled` says whether it did."""
        edge = self.tree.edge_from(self.edge, stored_size(self.db))
        errors = append_groups(self.db, prepare_all(groups, self.limits), edge, self.limits)
        self._uncommitted = edge
        return errors

    def settled(self, committed: bool) -> None:
        """The transaction :meth:`append_within` wrote in committed (the tree's edge moves on) or not (the
        edge is read again from the database next time)."""
        edge, self._uncommitted = self._uncommitted, None
        self.edge = edge if committed else None

    def sign_head(self, keys: KeyRing, *, force: bool = False) -> Head:
        """Sign the current tree (unless the latest head already covers it and not ``force``)."""
        try:
            head, self.edge = sign_current(self.db, self.tree, self.edge, keys, force=force)
        except BaseException:
            self.edge = None
            raise
        if self.on_head is not None:
            self.on_head(head)
        return head


def sign_current(
    db: Database, tree: TreeStore, edge: Edge | None, keys: KeyRing, *, force: bool = False
) -> tuple[Head, Edge]:
    """Sign a head for the log's current size unless the latest head has that size; returns it and the edge.

    It is signed with the log's active key (``audit_meta.signing_key``), looked up in ``keys``.
    """
    with db.transaction():
        size = stored_size(db, lock=True)
        edge = tree.edge_from(edge, size)
        last = heads.latest(db)
        if last is not None and last.size == size and not force:
            return last, edge
        return heads.sign(db, keys.active(db), size, edge.root()), edge


class PendingAppender:
    """PostgreSQL replicas: request records stored, entries durable in ``audit_pending`` (the sequencer numbers them)."""

    def __init__(self, db: Database, limits: Limits):
        self.db = db
        self.limits = limits

    def append(self, groups: Sequence[Any]) -> list[Appended]:
        rows: list[tuple] = []
        requests: list[tuple] = []
        errors: list[Appended] = []
        for group in groups:
            try:
                prepared = prepare(group, self.limits)
                encoded = [(public_bytes(e), e.salt, e.content, e.request, *e.cols) for e in prepared.entries]
            except EncodingError as exc:
                errors.append(exc)
                continue
            if prepared.request is not None:
                r = prepared.request
                requests.append((r.key, r.salt, r.body))
            rows.extend(encoded)
            errors.append(None)
        with self.db.transaction():
            if requests:
                self.db.copy_rows("audit_requests", REQUEST_COLUMNS, requests)
            self.db.copy_rows("audit_pending", PENDING_COLUMNS, rows)
        return errors


def sequence_pending(db: Database, tree: TreeStore, edge: Edge | None, limit: int) -> tuple[Edge, int]:
    """Move up to ``limit`` pending entries into the log, in ``id`` order; returns the new edge and count.

    Only the sequencer calls this. Entries leave ``audit_pending`` in the transaction that adds them
    to the log, so a sequencer dying midway loses and duplicates nothing.
    """
    with db.transaction():
        edge = tree.edge_from(edge, stored_size(db, lock=True))
        pending = db.rows(
            f"SELECT id, {', '.join(PENDING_COLUMNS)} FROM audit_pending ORDER BY id LIMIT ?", (limit,)
        )
        if not pending:
            return edge, 0
        edge = edge.copy()
        rows: list[tuple] = []
        nodes: list[tuple[int, int, bytes]] = []
        for row in pending:
            seq = edge.size
            public = as_bytes(row[1])
            try:
                body = numbered(public, seq)
                stored = (body, as_bytes(row[2]), as_bytes(row[3]), as_bytes(row[4]), *row[5:])
            except (ValueError, TypeError):  # a row no replica wrote: kept as a damaged entry, not dropped
                damaged = _damaged(public)
                body = leaf_body(damaged, seq)
                stored = (body, damaged.salt, damaged.content, b"", *damaged.cols)
            h = _sha256(b"\x00" + body).digest()
            nodes.extend(node for node in edge.append(h) if node[0] % STRIDE == 0)
            rows.append((seq, h, *stored))
        db.copy_rows("audit_entries", ENTRY_COLUMNS, rows)
        if nodes:
            db.copy_rows("audit_nodes", NODE_COLUMNS, nodes)
        db.execute("UPDATE audit_meta SET value = ? WHERE key = 'tree_size'", (str(edge.size),))
        search_index.catch_up(db, edge.size, search_index.staged_keys(rows, ENTRY_COLUMNS))
        db.execute("DELETE FROM audit_pending WHERE id = ANY(?)", ([row[0] for row in pending],))
    return edge, len(pending)


def _damaged(public: bytes) -> Entry:
    return new_entry(DAMAGED, time="", raw=base64.b64encode(public).decode())
