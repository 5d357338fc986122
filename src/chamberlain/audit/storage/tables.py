"""The decision log's tables, the same on SQLite and PostgreSQL.

- ``audit_meta``: ``format``, ``origin`` and ``verifier_key`` of the log (fixed at creation),
  ``tree_size`` (updated by every append) and, for a log created in format 1, ``v1_size`` (the
  entries before the upgrade, which keep their format 1 leaves).
- ``audit_entries``: ``seq`` (the leaf index), ``leaf`` (its RFC 9162 leaf hash), ``body`` (the
  leaf data: public fields and salted digests), ``salt`` and ``content`` (the erasable detail;
  NULL once erased), ``request`` (its call's request record's key), ``erased_by``
  (the erasure entry that erased it) and search columns (``time`` indexed here; session, principal and
  resource in ``audit_by_session``, ``audit_by_principal`` and ``audit_by_resource``, filled in sorted
  batches up to their marks in ``audit_meta``: see :mod:`~chamberlain.audit.storage.search_index`).
- ``audit_requests``: each call's request, stored once: ``digest`` (its key: the call's time in 8
  bytes, then ``sha256(salt || body)``, which the leaves hold; a bare digest in logs written before
  2026-12-07, see :func:`chamberlain.audit.write.content.request_key`), ``salt``, ``body``; deleted
  when erased.
- ``audit_nodes``: hashes of complete subtrees at every fourth level (4, 8, 12, ...), so proofs
  and restarts read a handful of rows instead of recomputing from the leaves.
- ``audit_heads``: every signed tree head (checkpoint note) with its size and root; the head of
  size 0 is signed in the transaction that creates the log, so a log without heads lost them.
- ``audit_cosignatures``: witnesses' cosignatures (``cosignature/v1`` signature lines) on signed heads,
  by tree size and witness key;
- ``audit_export_cursors``: for each exporter, the next entry to export (at-least-once delivery);
- ``audit_pending`` (PostgreSQL only): entries written by any replica, durable, waiting for the
  sequencer to give them a ``seq``.

A format 1 log (``chamberlain-decision-log/1``) is upgraded in place when a writer opens it: the
new columns and tables are added, old entries keep their leaves (they are not replayable and not
erasable: their content is the leaf itself); readers of this version read both.
"""

from __future__ import annotations

from collections.abc import Callable

from chamberlain.audit.storage import search_index
from chamberlain.errors import Error
from chamberlain.store import POSTGRES
from chamberlain.store.db import Database
from chamberlain.store.errors import ForeignDatabase

FORMAT = "chamberlain-decision-log/2"
FORMAT_1 = "chamberlain-decision-log/1"
STRIDE = 4  # levels whose complete subtree hashes are stored

_COLUMNS = """time TEXT NOT NULL, kind TEXT NOT NULL, session_id TEXT NOT NULL, principal TEXT NOT NULL,
    actors TEXT NOT NULL, resource_kind TEXT NOT NULL, resource_id TEXT NOT NULL, action TEXT NOT NULL,
    effect TEXT NOT NULL"""

_COSIGNATURES = """CREATE TABLE IF NOT EXISTS audit_cosignatures (tree_size BIGINT NOT NULL, witness TEXT NOT NULL,
    timestamp BIGINT NOT NULL, line TEXT NOT NULL, received_at TEXT NOT NULL, PRIMARY KEY (tree_size, witness))"""
_EXPORT_CURSORS = """CREATE TABLE IF NOT EXISTS audit_export_cursors (name TEXT PRIMARY KEY, next_seq BIGINT NOT NULL,
    exported BIGINT NOT NULL, updated_at TEXT NOT NULL)"""

_SQLITE = [
    "CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    f"""CREATE TABLE IF NOT EXISTS audit_entries (seq INTEGER PRIMARY KEY, leaf BLOB NOT NULL,
    body BLOB NOT NULL, salt BLOB, content BLOB, request BLOB NOT NULL DEFAULT X'', {_COLUMNS},
    erased_by INTEGER)""",
    "CREATE TABLE IF NOT EXISTS audit_requests (digest BLOB PRIMARY KEY, salt BLOB NOT NULL, body BLOB NOT NULL)",
    """CREATE TABLE IF NOT EXISTS audit_nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS audit_heads (id INTEGER PRIMARY KEY, tree_size INTEGER NOT NULL,
    root BLOB NOT NULL, signed_at TEXT NOT NULL, note TEXT NOT NULL)""",
    _COSIGNATURES,
    _EXPORT_CURSORS,
]
_POSTGRES = [
    "CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    f"""CREATE TABLE IF NOT EXISTS audit_entries (seq BIGINT PRIMARY KEY, leaf BYTEA NOT NULL,
    body BYTEA NOT NULL, salt BYTEA, content BYTEA, request BYTEA NOT NULL DEFAULT ''::bytea, {_COLUMNS},
    erased_by BIGINT)""",
    "CREATE TABLE IF NOT EXISTS audit_requests (digest BYTEA PRIMARY KEY, salt BYTEA NOT NULL, body BYTEA NOT NULL)",
    """CREATE TABLE IF NOT EXISTS audit_nodes (level INTEGER NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL,
    PRIMARY KEY (level, idx))""",
    """CREATE TABLE IF NOT EXISTS audit_heads (id BIGSERIAL PRIMARY KEY, tree_size BIGINT NOT NULL,
    root BYTEA NOT NULL, signed_at TEXT NOT NULL, note TEXT NOT NULL)""",
    _COSIGNATURES,
    _EXPORT_CURSORS,
    f"""CREATE TABLE IF NOT EXISTS audit_pending (id BIGSERIAL PRIMARY KEY, public BYTEA NOT NULL, salt BYTEA,
    content BYTEA, request BYTEA NOT NULL, {_COLUMNS})""",
]
_UPGRADE = {  # format 1 -> 2: columns added to audit_entries
    "salt": {"sqlite": "BLOB", POSTGRES: "BYTEA"},
    "content": {"sqlite": "BLOB", POSTGRES: "BYTEA"},
    "request": {"sqlite": "BLOB NOT NULL DEFAULT X''", POSTGRES: "BYTEA NOT NULL DEFAULT ''::bytea"},
    "erased_by": {"sqlite": "INTEGER", POSTGRES: "BIGINT"},
}
# Session, principal and resource are indexed apart, in sorted batches: see search_index.
_INDEXES = ["CREATE INDEX IF NOT EXISTS audit_entries_time ON audit_entries (time)"]
_TABLES = ("audit_meta", "audit_entries", "audit_nodes", "audit_heads")


class LogFormatError(Error):
    """A decision log whose format or key this version cannot use."""


def exists(db: Database) -> bool:
    """Whether the database holds a decision log."""
    return read_meta(db).get("format") is not None


def read_meta(db: Database) -> dict[str, str]:
    if not _has_table(db, "audit_meta"):
        return {}
    return dict(db.rows("SELECT key, value FROM audit_meta"))  # type: ignore[arg-type]


def create(
    db: Database, *, origin: str, verifier_key: str, first_head: Callable[[], None] | None = None
) -> dict[str, str]:
    """Create the tables (once) and fix the log's origin and key, or upgrade a format 1 log; returns the meta.

    ``first_head``: signs the empty tree's head, called in the creating transaction (a log is never
    without a head). Several processes may race here: the first one's origin and key win, and the
    returned meta tells each what the log's key is.
    """
    statements = _POSTGRES if db.kind == POSTGRES else _SQLITE
    with db.creating(7412001):
        meta = read_meta(db)
        if not meta and any(_has_table(db, t) for t in _TABLES[1:]):
            raise ForeignDatabase(
                f"{db.url.display} has audit tables but no decision log metadata: refusing to use it"
            )
        if meta.get("format") == FORMAT_1:
            meta = _upgrade(db, meta)
        for statement in [*statements, *_INDEXES]:
            db.execute(statement)
        if not meta:
            rows = [
                ("format", FORMAT),
                ("origin", origin),
                ("verifier_key", verifier_key),
                ("tree_size", "0"),
            ]
            db.executemany("INSERT INTO audit_meta (key, value) VALUES (?, ?)", rows)
            meta = dict(rows)
            if first_head is not None:
                first_head()
        search_index.install(db, meta, lambda name: _has_index(db, name))
    check_format(db, meta)
    return meta


def _upgrade(db: Database, meta: dict[str, str]) -> dict[str, str]:
    """Format 1 -> 2 in place (inside the caller's transaction): add columns and tables, keep every leaf."""
    if db.kind == POSTGRES and _has_table(db, "audit_pending"):
        left = int(db.value("SELECT count(*) FROM audit_pending", (), 0))
        if left:
            raise LogFormatError(
                f"{db.url.display}: {left} entries of the format 1 log are not sequenced yet: let a server of "
                "the previous version sequence them (stop it cleanly) before upgrading"
            )
        db.execute("DROP TABLE audit_pending")
    have = _columns(db, "audit_entries")
    for name, types in _UPGRADE.items():
        if name not in have:
            db.execute(f"ALTER TABLE audit_entries ADD COLUMN {name} {types[db.kind]}")
    size = meta.get("tree_size", "0")
    db.executemany("INSERT INTO audit_meta (key, value) VALUES (?, ?)", [("v1_size", size)])
    db.execute("UPDATE audit_meta SET value = ? WHERE key = 'format'", (FORMAT,))
    return {**meta, "format": FORMAT, "v1_size": size}


def check_format(db: Database, meta: dict[str, str]) -> None:
    found = meta.get("format")
    if found not in (FORMAT, FORMAT_1):
        raise LogFormatError(f"{db.url.display}: decision log format {found!r} is not {FORMAT!r}")


def _columns(db: Database, table: str) -> set[str]:
    if db.kind == POSTGRES:
        rows = db.rows(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ?",
            (table,),
        )
        return {r[0] for r in rows}
    return {r[1] for r in db.rows(f"PRAGMA table_info({table})")}


def _has_index(db: Database, name: str) -> bool:
    return _has_table(db, name, "index")


def _has_table(db: Database, name: str, kind: str = "table") -> bool:
    if db.kind == POSTGRES:
        return bool(db.value("SELECT to_regclass(?) IS NOT NULL", (name,), False))
    return db.row("SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?", (kind, name)) is not None
