"""The stored Merkle tree: complete subtree hashes from the log's tables, and the tree's right edge.

Leaf hashes live in ``audit_entries.leaf``; hashes of complete subtrees at levels that are
multiples of :data:`~chamberlain.audit.storage.tables.STRIDE` in ``audit_nodes``. A subtree at any other
level is computed from at most ``2**(STRIDE-1)`` stored hashes one stored level below.
"""

from __future__ import annotations

from chamberlain.audit.storage.tables import STRIDE
from chamberlain.audit.tlog.merkle import Edge, edge_levels, root_of
from chamberlain.store.db import Database, as_bytes
from chamberlain.store.errors import StoreError

#: Leaves another process may have appended for :meth:`TreeStore.edge_from` to catch up on (else re-read).
CATCH_UP_LEAVES = 4096


class TreeStore:
    """A :class:`~chamberlain.audit.tlog.merkle.NodeSource` reading a log's tables."""

    def __init__(self, db: Database):
        self.db = db

    def hash_at(self, level: int, index: int) -> bytes:
        base = level - level % STRIDE
        count = 1 << (level - base)
        start = index << (level - base)
        hashes = self.hashes(base, start, start + count)
        if len(hashes) != count:
            raise StoreError(
                f"{self.db.url.display}: the decision log's tree is damaged: hashes missing at level {base} "
                f"from index {start} (run `chamberlain audit verify`)"
            )
        return hashes[0] if count == 1 else root_of(hashes)

    def hashes(self, level: int, start: int, end: int) -> list[bytes]:
        """Stored hashes at ``level`` (0: leaves; else a multiple of STRIDE) with index in ``[start, end)``."""
        if level == 0:
            rows = self.db.rows(
                "SELECT leaf FROM audit_entries WHERE seq >= ? AND seq < ? ORDER BY seq", (start, end)
            )
        else:
            rows = self.db.rows(
                "SELECT hash FROM audit_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx",
                (level, start, end),
            )
        return [as_bytes(r[0]) for r in rows]

    def edge(self, size: int) -> Edge:
        """The right edge of the stored tree of ``size`` leaves."""
        return Edge(size, [(level, self.hash_at(level, index)) for level, index in edge_levels(size)])

    def root(self, size: int) -> bytes:
        return self.edge(size).root()

    def edge_from(self, known: Edge | None, size: int) -> Edge:
        """The right edge at ``size``, from ``known`` (an earlier edge of this tree, not changed) when it
        is close: its leaves since are read in one query and appended (another process wrote them).

        Why: reading an edge costs a query per level (~200 µs at 100,000 entries, measured); two
        processes appending to one file in turn would pay it on every commit.
        """
        if known is None or known.size > size or size - known.size > CATCH_UP_LEAVES:
            return self.edge(size)
        edge = known.copy()
        if edge.size < size:
            leaves = self.hashes(0, edge.size, size)
            if len(leaves) != size - edge.size:
                return self.edge(size)  # says what is missing
            for h in leaves:
                edge.append(h)
        return edge


def stored_size(db: Database, *, lock: bool = False) -> int:
    """The log's tree size as ``audit_meta`` records it (``lock``: row lock on PostgreSQL)."""
    suffix = " FOR UPDATE" if lock and db.kind != "sqlite" else ""
    value = db.value(f"SELECT value FROM audit_meta WHERE key = 'tree_size'{suffix}", (), "0")
    text = str(value)
    if not (text.isascii() and text.isdigit() and len(text) <= 19):
        raise StoreError(
            f"{db.url.display}: audit_meta.tree_size is {text[:40]!r}, not a tree size (the log's "
            "metadata was edited)"
        )
    return int(text)


def stored_nodes(closed: list[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
    """The closed subtrees the log stores (levels that are multiples of STRIDE)."""
    return [node for node in closed if node[0] % STRIDE == 0]
