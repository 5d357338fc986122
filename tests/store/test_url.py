"""Store URLs: which forms are accepted, what each error says, and passwords never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from chamberlain.store import InvalidURL, parse_url, sqlite_url


def test_sqlite_relative_and_absolute():
    assert parse_url("sqlite:///state/decisions.db").path == Path("state/decisions.db")
    assert parse_url("sqlite:////var/lib/x.db").path == Path("/var/lib/x.db")
    assert parse_url(sqlite_url(Path("/tmp/a.db"))).path == Path("/tmp/a.db")


def test_postgres_schema_is_taken_out_of_the_dsn():
    url = parse_url("postgresql://u:secret@db:5432/app?schema=audit_1&sslmode=disable")
    assert (url.kind, url.schema) == ("postgresql", "audit_1")
    assert url.dsn == "postgresql://u:secret@db:5432/app?sslmode=disable"
    assert "secret" not in url.display and "***" in url.display
    assert parse_url("postgres://h/app").schema == "public"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty store URL"),
        ("mysql://h/db", "unsupported store URL"),
        ("sqlite://host/x.db", "has no host"),
        ("sqlite:///", "names no file"),
        ("sqlite:///:memory:", "in-memory"),
        ("postgresql://h", "names no database"),
        ("postgresql://h/db?schema=Bad-Name", "lower-case identifier"),
    ],
)
def test_bad_urls_say_what_is_accepted(text, needle):
    with pytest.raises(InvalidURL, match=needle):
        parse_url(text)


def test_unsupported_url_hides_the_password():
    with pytest.raises(InvalidURL) as exc:
        parse_url("mysql://root:hunter2@h/db")
    assert "hunter2" not in str(exc.value)
