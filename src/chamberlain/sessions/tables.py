"""The sessions' tables, beside the decision log's in the same database (SQLite or PostgreSQL).

- ``chamberlain_sessions``: one row per session; its budgets (with what is used) and rate limits (with
  the instants of the calls in the current window) are JSON columns of the row, so that one row lock
  (``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on PostgreSQL) makes a charge atomic.
- ``chamberlain_locks``: locks on an agent, subject, delegation root or tool.
- ``chamberlain_token_sessions``: the session an enforcement point opened for a token naming none (by a digest
  of its issuer and ``jti``), so the token keeps that session, revoked or spent, in any process.
- ``chamberlain_standing_use``: what budgets that span sessions have spent, per holder (an agent or a
  subject) and window; a charge holds the row (``FOR UPDATE``) after the session's, in name order.
"""

from __future__ import annotations

from chamberlain.store.db import Database, has_column

_STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS chamberlain_sessions (id TEXT PRIMARY KEY, subject TEXT NOT NULL,
    agent TEXT NOT NULL, chain TEXT NOT NULL, state TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL, idle_timeout DOUBLE PRECISION NOT NULL,
    last_used_at DOUBLE PRECISION NOT NULL, opened_by TEXT NOT NULL, budgets TEXT NOT NULL,
    rate_limits TEXT NOT NULL, calls BIGINT NOT NULL, metadata TEXT NOT NULL, ended_at DOUBLE PRECISION,
    ended_by TEXT NOT NULL DEFAULT '', end_reason TEXT NOT NULL DEFAULT '')""",
    "CREATE INDEX IF NOT EXISTS chamberlain_sessions_state ON chamberlain_sessions (state, id)",
    "CREATE INDEX IF NOT EXISTS chamberlain_sessions_agent ON chamberlain_sessions (agent, state)",
    "CREATE INDEX IF NOT EXISTS chamberlain_sessions_subject ON chamberlain_sessions (subject, state)",
    """CREATE TABLE IF NOT EXISTS chamberlain_locks (id TEXT PRIMARY KEY, target TEXT NOT NULL, value TEXT NOT NULL,
    reason TEXT NOT NULL, created_by TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION)""",
    "CREATE INDEX IF NOT EXISTS chamberlain_locks_target ON chamberlain_locks (target, value)",
    """CREATE TABLE IF NOT EXISTS chamberlain_token_sessions (token_key TEXT PRIMARY KEY,
    session_id TEXT NOT NULL, expires_at DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS chamberlain_standing_use (name TEXT NOT NULL, holder TEXT NOT NULL,
    window_start DOUBLE PRECISION NOT NULL, used DOUBLE PRECISION NOT NULL, PRIMARY KEY (name, holder, window_start))""",
]


def create(db: Database) -> None:
    """Create the tables once (several replicas may race: PostgreSQL takes an advisory lock first)."""
    with db.creating(7412101):
        for statement in _STATEMENTS:
            db.execute(statement)
        if not has_column(db, "chamberlain_token_sessions", "expires_at"):  # a store from before it
            db.execute("ALTER TABLE chamberlain_token_sessions ADD COLUMN expires_at DOUBLE PRECISION")
