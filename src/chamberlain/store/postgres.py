"""PostgreSQL connections (psycopg 3) for chamberlain's state, in the URL's schema.

The URL's ``schema`` parameter (default ``public``) is created when missing and put first on the
``search_path``, so several logs (and tests run in parallel) can share one database.
"""

from __future__ import annotations

from typing import Any

from chamberlain.extras import needs

with needs("postgres", "a postgresql:// store"):
    import psycopg

from chamberlain.store.errors import StoreError, StoreFull, StoreUnavailable
from chamberlain.store.url import StoreURL

CONNECT_TIMEOUT = 5


def connect(
    url: StoreURL, *, autocommit: bool = True, application: str = "chamberlain"
) -> psycopg.Connection:
    """A connection to ``url`` with its schema on the search path; raises :class:`StoreUnavailable`."""
    named = {} if "application_name=" in url.dsn else {"application_name": application}
    try:
        conn = psycopg.connect(url.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT, **named)
    except psycopg.Error as exc:
        raise StoreUnavailable(f"cannot connect to {url.display}: {_first_line(exc)}") from None
    try:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{url.schema}"')
        conn.execute(f'SET search_path TO "{url.schema}"')
    except psycopg.errors.UniqueViolation:
        # Two connections creating the same schema at once: the other one won.
        conn.execute(f'SET search_path TO "{url.schema}"')
    except psycopg.Error as exc:
        conn.close()
        raise translate(exc, url) from None
    conn.autocommit = autocommit
    return conn


def translate(exc: BaseException, url: StoreURL) -> StoreError:
    """A :class:`StoreError` for a psycopg error, naming the database (password hidden)."""
    message = _first_line(exc)
    if isinstance(exc, psycopg.errors.DiskFull | psycopg.errors.OutOfMemory):
        return StoreFull(f"database {url.display} is full: {message}")
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return StoreUnavailable(f"database {url.display} is unavailable: {message}")
    return StoreError(f"database {url.display}: {message}")


def _first_line(exc: Any) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
