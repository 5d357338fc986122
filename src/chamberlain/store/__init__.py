"""Persistence for chamberlain's state: SQLite (embedded default) and PostgreSQL (several replicas).

A URL chooses the store: ``sqlite:///path/to/file.db`` or ``postgresql://user@host:port/db?schema=name``.
Each consumer (the decision log; later sessions and approvals) owns its tables and queries; this
package opens connections, checks that a database is chamberlain's, and turns driver errors into
:class:`StoreError` messages that name the database.
"""

from chamberlain.store.errors import (
    DatabaseLocked,
    ForeignDatabase,
    InvalidURL,
    NotADatabase,
    StoreError,
    StoreFull,
    StoreUnavailable,
)
from chamberlain.store.url import POSTGRES, SQLITE, StoreURL, parse_url, sqlite_url

__all__ = [
    "POSTGRES",
    "SQLITE",
    "DatabaseLocked",
    "ForeignDatabase",
    "InvalidURL",
    "NotADatabase",
    "StoreError",
    "StoreFull",
    "StoreURL",
    "StoreUnavailable",
    "parse_url",
    "sqlite_url",
]
