"""Store URLs: ``sqlite:///relative/or/absolute/path.db`` or ``postgresql://user@host:port/db?schema=NAME``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from chamberlain.store.errors import InvalidURL

SQLITE, POSTGRES = "sqlite", "postgresql"
_POSTGRES_SCHEMES = ("postgresql", "postgres")
_IDENTIFIER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A parsed store URL: ``kind`` is ``sqlite`` (with ``path``) or ``postgresql`` (``dsn``, ``schema``)."""

    kind: str
    text: str
    path: Path | None = None
    dsn: str = ""
    schema: str = "public"

    def __str__(self) -> str:
        return self.display

    @property
    def display(self) -> str:
        """The URL as messages show it: a password is replaced by ``***``."""
        parts = urlsplit(self.text)
        if parts.password is None:
            return self.text
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def parse_url(text: str) -> StoreURL:
    """Parse ``text``; raises :class:`InvalidURL` saying which forms are accepted."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidURL("empty store URL: expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB")
    parts = urlsplit(text.strip())
    scheme = parts.scheme.lower()
    if scheme == SQLITE:
        return _sqlite(text, parts.netloc, parts.path)
    if scheme in _POSTGRES_SCHEMES:
        return _postgres(text, parts)
    shown = StoreURL(scheme, text).display
    raise InvalidURL(
        f"unsupported store URL {shown!r}: expected sqlite:///PATH (a file) or postgresql://USER@HOST:PORT/DB"
    )


def sqlite_url(path: str | Path) -> str:
    """The ``sqlite:///`` URL of a file path."""
    return f"sqlite:///{path}"


def _sqlite(text: str, netloc: str, path: str) -> StoreURL:
    if netloc:
        raise InvalidURL(
            f"store URL {text!r}: a SQLite URL has no host; write sqlite:///relative.db or sqlite:////abs/path.db"
        )
    # sqlite:///x.db is the relative path x.db, sqlite:////abs/x.db the absolute /abs/x.db (SQLAlchemy's rule).
    file = path[1:] if path.startswith("/") else path
    if not file or file.endswith("/"):
        raise InvalidURL(f"store URL {text!r} names no file: write sqlite:///PATH/TO/FILE.db")
    if file == ":memory:":
        raise InvalidURL(f"store URL {text!r}: an in-memory database keeps nothing; name a file")
    return StoreURL(SQLITE, text, path=Path(file))


def _postgres(text: str, parts) -> StoreURL:
    if not parts.path.strip("/"):
        raise InvalidURL(f"store URL {text!r} names no database: write postgresql://USER@HOST:PORT/DATABASE")
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = "public"
    rest = []
    for key, value in query:
        if key == "schema":
            schema = value
        else:
            rest.append((key, value))
    if not schema or not set(schema) <= _IDENTIFIER_CHARS or schema[0].isdigit():
        raise InvalidURL(
            f"store URL {text!r}: schema {schema!r} must be a lower-case identifier (letters, digits, _)"
        )
    dsn = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(rest), ""))
    return StoreURL(POSTGRES, text, dsn=dsn, schema=schema)
