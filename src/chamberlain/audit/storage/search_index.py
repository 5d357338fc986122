"""The decision log's search indexes (session, principal, resource), maintained in sorted batches.

Ordinary indexes on ``audit_entries`` made every commit dirty one index leaf page per distinct key,
written whole to the WAL: measured on SQLite with 16-entry transactions (a server at 16
connections) and keys varying as in use, an insert cost 68 µs of CPU per row with them against 25
without. So each index is a table of ``(key..., seq)`` instead, filled from ``audit_entries`` in key
order once :data:`TAIL` entries wait, which touches each leaf page once per batch (32 to 40 µs per
row with batches of 1,024 to 4,096). A table's mark (``audit_meta`` key ``indexed:<table>``) says up to
which entry it reaches; a search reads the table below its mark and scans the entries above it
(:func:`search_parts`), at most :data:`TAIL` plus a few appends. An append fills at most one table
(the one furthest behind), so the pause it adds is a third of a batch's. The ``time`` index stays
an ordinary index: times grow with the log, so it appends to its last page.

Erasing entries deletes their rows here too (:func:`forget`): the keys are personal data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chamberlain.store import POSTGRES
from chamberlain.store.db import Database

log = logging.getLogger("chamberlain.audit")

TAIL = 2048  # entries a table lags before an append fills it (bounds a search's scan and the pause)


@dataclass(frozen=True, slots=True)
class Index:
    """One search index: its table and the ``audit_entries`` columns it is keyed by (then ``seq``)."""

    table: str
    columns: tuple[str, ...]

    @property
    def mark(self) -> str:
        """Its ``audit_meta`` key: entries with ``seq`` below the value are in the table."""
        return f"indexed:{self.table}"


SESSION = Index("audit_by_session", ("session_id",))
PRINCIPAL = Index("audit_by_principal", ("principal",))
RESOURCE = Index("audit_by_resource", ("resource_kind", "resource_id"))
INDEXES = (SESSION, PRINCIPAL, RESOURCE)
#: Each entry's keys, written beside it (a narrow row appended by ``seq``) until every table holds them: a
#: fill reads these rather than the entries, whose wide rows made reading 2,048 of them back cost more than
#: the ordinary indexes saved when keys repeat (measured: the server with 5 resources x 5 actions per check).
STAGING = "audit_index_staging"
STAGED = ("seq", "session_id", "principal", "resource_kind", "resource_id")
#: The ordinary indexes of logs written before these tables (dropped when a writer opens the log).
LEGACY_INDEXES = ("audit_entries_session", "audit_entries_principal", "audit_entries_resource")


def create_statements(kind: str) -> list[str]:
    """The tables' DDL for the database ``kind``."""
    seq, suffix = ("BIGINT", "") if kind == POSTGRES else ("INTEGER", " WITHOUT ROWID")
    keys = ", ".join(f"{c} TEXT NOT NULL" for c in STAGED[1:])
    return [
        *(
            f"CREATE TABLE IF NOT EXISTS {i.table} ({', '.join(f'{c} TEXT NOT NULL' for c in i.columns)}, "
            f"seq {seq} NOT NULL, PRIMARY KEY ({', '.join(i.columns)}, seq)){suffix}"
            for i in INDEXES
        ),
        f"CREATE TABLE IF NOT EXISTS {STAGING} (seq {seq} PRIMARY KEY, {keys})",
    ]


def staged_keys(rows: Sequence[Sequence[Any]], names: Sequence[str]) -> list[tuple[Any, ...]]:
    """The :data:`STAGED` values of ``rows`` of ``audit_entries`` whose columns are ``names``."""
    picks = [names.index(c) for c in STAGED]
    return [tuple(r[p] for p in picks) for r in rows]


def install(db: Database, meta: dict[str, str], has_index: Any) -> None:
    """Inside the creating transaction: make the tables and, for a log indexed the old way (or by an
    older version since), build them from the whole log and drop the ordinary indexes; then stage the keys
    of the entries some table does not hold yet."""
    for statement in create_statements(db.kind):
        db.execute(statement)
    size = int(meta.get("tree_size", "0"))
    legacy = [name for name in LEGACY_INDEXES if has_index(name)]
    if legacy or not all(i.mark in meta for i in INDEXES):
        _build(db, meta, size)
        for name in legacy:
            db.execute(f"DROP INDEX {name}")
    lowest = min(int(meta[i.mark]) for i in INDEXES)
    db.execute(f"DELETE FROM {STAGING}")
    db.execute(
        f"INSERT INTO {STAGING} ({', '.join(STAGED)}) SELECT {', '.join(STAGED)} FROM audit_entries "
        "WHERE seq >= ?",
        (lowest,),
    )


def _build(db: Database, meta: dict[str, str], size: int) -> None:
    """Every table filled from the whole log (once, when a writer opens a log indexed the old way)."""
    if size:
        log.warning("decision log %s: indexing its %d entries for search (once)", db.url.display, size)
    started = time.monotonic()
    for index in INDEXES:
        db.execute(f"DELETE FROM {index.table}")
        _fill(db, index, 0, size, "audit_entries")
        db.execute("DELETE FROM audit_meta WHERE key = ?", (index.mark,))
        db.execute("INSERT INTO audit_meta (key, value) VALUES (?, ?)", (index.mark, str(size)))
        meta[index.mark] = str(size)
    if size:
        log.warning("decision log %s: indexed in %.1f s", db.url.display, time.monotonic() - started)


def catch_up(db: Database, size: int, keys: Sequence[Sequence[Any]]) -> None:
    """Inside an append's transaction, once the log holds ``size`` entries, ``keys`` those of the entries
    appended (:func:`staged_keys`): stage them, and fill the table furthest behind when it lags
    :data:`TAIL` entries or more (a log without the tables is left alone)."""
    marks = _marks(db)
    if not marks:
        return
    if keys:
        db.copy_rows(STAGING, STAGED, keys)
    index = min(INDEXES, key=lambda i: marks.get(i.mark, size))
    start = marks.get(index.mark, size)
    if size - start < TAIL:
        return
    _fill(db, index, start, size, STAGING)
    db.execute("UPDATE audit_meta SET value = ? WHERE key = ?", (str(size), index.mark))
    marks[index.mark] = size
    db.execute(f"DELETE FROM {STAGING} WHERE seq < ?", (min(marks.get(i.mark, size) for i in INDEXES),))


def _fill(db: Database, index: Index, start: int, end: int, source: str) -> None:
    keys = ", ".join(index.columns)
    db.execute(
        f"INSERT INTO {index.table} ({keys}, seq) SELECT {keys}, seq FROM {source} "
        f"WHERE seq >= ? AND seq < ? ORDER BY {keys}, seq",
        (start, end),
    )


def _marks(db: Database) -> dict[str, int]:
    rows = db.rows("SELECT key, value FROM audit_meta WHERE key LIKE ?", ("indexed:%",))
    return {str(k): int(v) for k, v in rows}


def indexed_size(db: Database, index: Index) -> int | None:
    """Entries below this ``seq`` are in ``index``'s table; ``None`` for a log without the tables."""
    value = db.value("SELECT value FROM audit_meta WHERE key = ?", (index.mark,))
    return None if value is None else int(value)


def forget(db: Database, seqs: Sequence[int]) -> None:
    """Delete the index rows of entries ``seqs`` (a few hundred at a time), before their keys are blanked:
    the rows are found by key."""
    if not _marks(db):
        return
    columns = sorted({c for i in INDEXES for c in i.columns})
    rows = db.rows(
        f"SELECT seq, {', '.join(columns)} FROM audit_entries WHERE seq IN ({', '.join('?' * len(seqs))})",
        seqs,
    )
    db.execute(f"DELETE FROM {STAGING} WHERE seq IN ({', '.join('?' * len(seqs))})", seqs)
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
    mark = indexed_size(db, index)
    if mark is None:
        return [(f"FROM {entries} WHERE e.seq > ?", (after,))]
    keys = " AND ".join(f"x.{c} = ?" for c in index.columns[: len(values)])
    through = entries.replace("audit_entries e", f"{index.table} x JOIN audit_entries e ON e.seq = x.seq", 1)
    return [
        (f"FROM {through} WHERE {keys} AND x.seq > ? AND x.seq < ?", (*values, after, mark)),
        (f"FROM {entries} WHERE e.seq >= ? AND e.seq > ?", (mark, after)),
    ]
