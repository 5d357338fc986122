"""The decision log's tables, the same on SQLite and PostgreSQL.

- ``audit_meta``: ``format``, ``origin`` and ``verifier_key`` of the log (fixed at creation) and
  ``tree_size`` (updated by every append).
- ``audit_entries``: ``seq`` (the leaf index), ``leaf`` (its RFC 9162 leaf hash), ``body`` (the
  entry's canonical JSON, the leaf data) and search columns copied from the body.
- ``audit_nodes``: hashes of complete subtrees at every fourth level (4, 8, 12, ...), so proofs
  and restarts read a handful of rows instead of recomputing from the leaves.
- ``audit_heads``: every signed tree head (checkpoint note) with its size and root.
- ``audit_pending`` (PostgreSQL only): entries written by any replica, durable, waiting for the
  sequencer to give them a ``seq``.
"""

from __future__ import annotations

from chamberlain.errors import Error
from chamberlain.store import POSTGRES
from chamberlain.store.db import Database
from chamberlain.store.errors import ForeignDatabase

FORMAT = "chamberlain-decision-log/1"
STRIDE = 4  # levels whose complete subtree hashes are stored

_COLUMNS = """time TEXT NOT NULL, kind TEXT NOT NULL, session_id TEXT NOT NULL, principal TEXT NOT NULL,
    actors TEXT NOT NULL, resource_kind TEXT NOT NULL, resource_id TEXT NOT NULL, action TEXT NOT NULL,
    effect TEXT NOT NULL"""

_SQLITE = [
    "CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    f"""CREATE TABLE IF NOT EXISTS audit_entries (seq INTEGER PRIMARY KEY, leaf BLOB NOT NULL,
    body BLOB NOT NULL, {_COLUMNS})""",
    """CREATE TABLE IF NOT EXISTS audit_nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS audit_heads (id INTEGER PRIMARY KEY, tree_size INTEGER NOT NULL,
    root BLOB NOT NULL, signed_at TEXT NOT NULL, note TEXT NOT NULL)""",
]
_POSTGRES = [
    "CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    f"""CREATE TABLE IF NOT EXISTS audit_entries (seq BIGINT PRIMARY KEY, leaf BYTEA NOT NULL,
    body BYTEA NOT NULL, {_COLUMNS})""",
    """CREATE TABLE IF NOT EXISTS audit_nodes (level INTEGER NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL,
    PRIMARY KEY (level, idx))""",
    """CREATE TABLE IF NOT EXISTS audit_heads (id BIGSERIAL PRIMARY KEY, tree_size BIGINT NOT NULL,
    root BYTEA NOT NULL, signed_at TEXT NOT NULL, note TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS audit_pending (id BIGSERIAL PRIMARY KEY, body BYTEA NOT NULL,
    fast BOOLEAN NOT NULL)""",
]
_INDEXES = [
    "CREATE INDEX IF NOT EXISTS audit_entries_session ON audit_entries (session_id, seq)",
    "CREATE INDEX IF NOT EXISTS audit_entries_principal ON audit_entries (principal, seq)",
    "CREATE INDEX IF NOT EXISTS audit_entries_resource ON audit_entries (resource_kind, resource_id, seq)",
    "CREATE INDEX IF NOT EXISTS audit_entries_time ON audit_entries (time)",
]
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


def create(db: Database, *, origin: str, verifier_key: str) -> dict[str, str]:
    """Create the tables (once) and fix the log's origin and key; returns the log's meta values.

    Several processes may race here: the first one's origin and key win, and the returned meta
    tells each what the log's key is.
    """
    statements = _POSTGRES if db.kind == POSTGRES else _SQLITE
    with db.transaction():
        if db.kind == POSTGRES:
            # One creator at a time (CREATE TABLE IF NOT EXISTS races in PostgreSQL's catalog).
            db.execute("SELECT pg_advisory_xact_lock(7412001, hashtext(current_schema()))")
        meta = read_meta(db)
        if not meta and any(_has_table(db, t) for t in _TABLES[1:]):
            raise ForeignDatabase(
                f"{db.url.display} has audit tables but no decision log metadata: refusing to use it"
            )
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
    check_format(db, meta)
    return meta


def check_format(db: Database, meta: dict[str, str]) -> None:
    found = meta.get("format")
    if found != FORMAT:
        raise LogFormatError(f"{db.url.display}: decision log format {found!r} is not {FORMAT!r}")


def _has_table(db: Database, name: str) -> bool:
    if db.kind == POSTGRES:
        return bool(db.value("SELECT to_regclass(?) IS NOT NULL", (name,), False))
    return db.row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)) is not None
