"""Console logins and pending OpenID requests kept in the state database.

Every replica on one database then knows every login (a browser may land on any of them behind a load
balancer, and an identity provider may send it back to another), logging out ends a login everywhere
at once, and logins outlive a restart until they expire. The key that signs login cookies is kept
there too (created once, by whichever replica comes first). Values are JSON; each kind holds at most
its limit of unexpired items (the oldest dropped first) and expired ones are deleted as new ones come.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from chamberlain.store.db import Database
from chamberlain.store.owned import OwnedStore
from chamberlain.store.url import POSTGRES

T = TypeVar("T")

_TABLES = [
    """CREATE TABLE IF NOT EXISTS chamberlain_console_items (kind TEXT NOT NULL, name TEXT NOT NULL,
    value TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL, created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (kind, name))""",
    "CREATE INDEX IF NOT EXISTS chamberlain_console_items_age ON chamberlain_console_items (kind, created_at)",
]
_KEY = ("key", "cookies")
_NEVER = 1e18  # the signing key does not expire


class ConsoleStore(OwnedStore):
    """The console's items (logins, pending OpenID requests, the cookie key) in one table."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time):
        self.setup(db, None)
        self.clock = clock
        with db.creating(7412105):  # 7412103 and 7412104 are the approvals' row locks
            for statement in _TABLES:
                db.execute(statement)

    def cookie_key(self) -> bytes:
        """The key that signs login cookies, shared by every replica (made by the first)."""
        with self._using() as db, db.transaction():
            db.execute(
                "INSERT INTO chamberlain_console_items (kind, name, value, expires_at, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, name) DO NOTHING",
                (*_KEY, secrets.token_hex(32), _NEVER, self.clock()),
            )
            row = db.row("SELECT value FROM chamberlain_console_items WHERE kind = ? AND name = ?", _KEY)
        assert row is not None
        return bytes.fromhex(row[0])

    def put(self, kind: str, name: str, value: Any, expires_at: float, limit: int) -> None:
        """Keep ``value`` (JSON) under ``name`` until ``expires_at``; at most ``limit`` of ``kind``."""
        now = self.clock()
        with self._using() as db, db.transaction():
            db.execute(
                "DELETE FROM chamberlain_console_items WHERE kind = ? AND expires_at <= ?", (kind, now)
            )
            db.execute(
                "INSERT INTO chamberlain_console_items (kind, name, value, expires_at, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, name) DO UPDATE SET value = excluded.value, "
                "expires_at = excluded.expires_at, created_at = excluded.created_at",
                (kind, name, json.dumps(value), expires_at, now),
            )
            db.execute(
                "DELETE FROM chamberlain_console_items WHERE kind = ? AND name IN (SELECT name FROM "
                "chamberlain_console_items WHERE kind = ? ORDER BY created_at DESC, name LIMIT -1 OFFSET ?)"
                if db.kind != POSTGRES
                else "DELETE FROM chamberlain_console_items WHERE kind = ? AND name IN (SELECT name FROM "
                "chamberlain_console_items WHERE kind = ? ORDER BY created_at DESC, name OFFSET ?)",
                (kind, kind, limit),
            )

    def get(self, kind: str, name: str) -> Any | None:
        """The value under ``name`` while it lasts, else None."""
        with self._using() as db:
            row = db.row(
                "SELECT value FROM chamberlain_console_items WHERE kind = ? AND name = ? AND expires_at > ?",
                (kind, name, self.clock()),
            )
        return None if row is None else json.loads(row[0])

    def pop(self, kind: str, name: str) -> Any | None:
        """Take the value under ``name`` (once: a second pop, here or on another replica, finds none)."""
        with self._using() as db, db.transaction():
            row = db.row(
                "DELETE FROM chamberlain_console_items WHERE kind = ? AND name = ? RETURNING value, expires_at",
                (kind, name),
            )
        return None if row is None or float(row[1]) <= self.clock() else json.loads(row[0])


class Stored(Generic[T]):
    """One kind of :class:`ConsoleStore` item with the interface of ``logins.Expiring`` (put, get, pop)."""

    def __init__(
        self,
        store: ConsoleStore,
        kind: str,
        limit: int,
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
    ):
        self.store = store
        self.kind = kind
        self.limit = limit
        self.encode = encode
        self.decode = decode

    def put(self, key: str, value: T, expires_at: float) -> None:
        self.store.put(self.kind, key, self.encode(value), expires_at, self.limit)

    def get(self, key: str) -> T | None:
        found = self.store.get(self.kind, key)
        return None if found is None else self.decode(found)

    def pop(self, key: str) -> T | None:
        found = self.store.pop(self.kind, key)
        return None if found is None else self.decode(found)
