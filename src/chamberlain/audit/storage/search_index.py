"""The decision log's search indexes (session, principal, resource), maintained in sorted batches.

Ordinary indexes on ``audit_entries`` made every append transaction dirty one index leaf page per
distinct key: measured on SQLite with 64-entry transactions and keys varying as in use, an insert
cost 45 µs of CPU per row with them against 16 without, rising with the log's size (58 µs at 200,000
rows) as the pages left the cache. So each index is a table of ``(key..., seq)`` instead, filled from
``audit_entries`` in key order once :data:`TAIL` entries wait, in the transaction of the append that
reaches that mark: one pass that touches each leaf page once per batch (23 µs per row at 4,096).
``audit_meta.indexed_size`` says up to which entry the tables reach; a search reads a table below that
mark and scans the entries above it (:func:`search_parts`), at most :data:`TAIL` plus one batch.
The ``time`` index stays an ordinary index: times grow with the log, so it appends to its last page.

Erasing entries deletes their rows here too (:func:`forget`): the keys are personal data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chamberlain.store import POSTGRES
from chamberlain.store.db import Database

TAIL = 4096  # entries left unindexed before an append indexes them (bounds a search's scan)
INDEXED = "indexed_size"  # the audit_meta key: entries with seq below it are in the tables


@dataclass(frozen=True, slots=True)
class Index:
    """One search index: its table and the ``audit_entries`` columns it is keyed by (then ``seq``)."""

    table: str
    columns: tuple[str, ...]


SESSION = Index("audit_by_session", ("session_id",))
PRINCIPAL = Index("audit_by_principal", ("principal",))
RESOURCE = Index("audit_by_resource", ("resource_kind", "resource_id"))
INDEXES = (SESSION, PRINCIPAL, RESOURCE)
#: The ordinary indexes of logs written before these tables (dropped when a writer opens the log).
LEGACY_INDEXES = ("audit_entries_session", "audit_entries_principal", "audit_entries_resource")


def create_statements(kind: str) -> list[str]:
    """The tables' DDL for the database ``kind``."""
    seq, suffix = ("BIGINT", "") if kind == POSTGRES else ("INTEGER", " WITHOUT ROWID")
    return [
        f"CREATE TABLE IF NOT EXISTS {i.table} ({', '.join(f'{c} TEXT NOT NULL' for c in i.columns)}, "
        f"seq {seq} NOT NULL, PRIMARY KEY ({', '.join(i.columns)}, seq)){suffix}"
        for i in INDEXES
    ]


def install(db: Database, meta: dict[str, str], has_index: Any) -> None:
    """Inside the creating transaction: make the tables and, for a log indexed the old way (or by an
    older version since), build them from the whole log and drop the ordinary indexes."""
    for statement in create_statements(db.kind):
        db.execute(statement)
    legacy = [name for name in LEGACY_INDEXES if has_index(name)]
    if INDEXED in meta and not legacy:
        return
    for index in INDEXES:
        db.execute(f"DELETE FROM {index.table}")
    size = int(meta.get("tree_size", "0"))
    _fill(db, 0, size)
    for name in legacy:
        db.execute(f"DROP INDEX {name}")
    if INDEXED in meta:
        db.execute("UPDATE audit_meta SET value = ? WHERE key = ?", (str(size), INDEXED))
    else:
        db.execute("INSERT INTO audit_meta (key, value) VALUES (?, ?)", (INDEXED, str(size)))
    meta[INDEXED] = str(size)


def catch_up(db: Database, size: int) -> None:
    """Inside an append's transaction, once the log holds ``size`` entries: index the entries above the
    mark when at least :data:`TAIL` of them wait (a log without the tables is left alone)."""
    indexed = indexed_size(db)
    if indexed is None or size - indexed < TAIL:
        return
    _fill(db, indexed, size)
    db.execute("UPDATE audit_meta SET value = ? WHERE key = ?", (str(size), INDEXED))


def _fill(db: Database, start: int, end: int) -> None:
    for index in INDEXES:
        keys = ", ".join(index.columns)
        db.execute(
            f"INSERT INTO {index.table} ({keys}, seq) SELECT {keys}, seq FROM audit_entries "
            f"WHERE seq >= ? AND seq < ? ORDER BY {keys}, seq",
            (start, end),
        )


def indexed_size(db: Database) -> int | None:
    """Entries below this ``seq`` are in the tables; ``None`` for a log without them (indexed the old way)."""
    value = db.value("SELECT value FROM audit_meta WHERE key = ?", (INDEXED,))
    return None if value is None else int(value)


def forget(db: Database, seqs: Sequence[int]) -> None:
    """Delete the index rows of entries ``seqs`` (a few hundred at a time), before their keys are blanked:
    the rows are found by key."""
    if indexed_size(db) is None:
        return
    columns = sorted({c for i in INDEXES for c in i.columns})
    rows = db.rows(
        f"SELECT seq, {', '.join(columns)} FROM audit_entries WHERE seq IN ({', '.join('?' * len(seqs))})",
        seqs,
    )
    for index in INDEXES:
        picks = [columns.index(c) + 1 for c in index.columns]
        where = " AND ".join(f"{c} = ?" for c in (*index.columns, "seq"))
        db.executemany(
            f"DELETE FROM {index.table} WHERE {where}", [(*(r[p] for p in picks), r[0]) for r in rows]
        )


#: A part of a search: ``FROM ... WHERE ...`` over ``audit_entries e`` (and any joins) with its parameters.
Part = tuple[str, tuple[Any, ...]]


def search_parts(db: Database, index: Index, values: Sequence[str], after: int, entries: str) -> list[Part]:
    """The parts of a search for entries after ``after`` whose leading ``index`` columns equal ``values``,
    in log order: the entries below the mark through the index table, then those from the mark on.

    ``entries``: what follows ``FROM`` for the entries (``audit_entries e`` with any joins). The caller
    adds its conditions on ``e`` to every part (the keys included: a part scanning the tail needs
    them, and the entry, not its index row, decides), then ``ORDER BY e.seq``. A log without the
    tables is searched in one part (its ordinary indexes serve the caller's conditions).
    """
    mark = indexed_size(db)
    if mark is None:
        return [(f"FROM {entries} WHERE e.seq > ?", (after,))]
    keys = " AND ".join(f"x.{c} = ?" for c in index.columns[: len(values)])
    through = entries.replace("audit_entries e", f"{index.table} x JOIN audit_entries e ON e.seq = x.seq", 1)
    return [
        (f"FROM {through} WHERE {keys} AND x.seq > ? AND x.seq < ?", (*values, after, mark)),
        (f"FROM {entries} WHERE e.seq >= ? AND e.seq > ?", (mark, after)),
    ]
