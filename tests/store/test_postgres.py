"""PostgreSQL connections: the schema of the URL, and clear errors when the server is not there."""

from __future__ import annotations

import pytest

from chamberlain.store import StoreUnavailable
from chamberlain.store.db import open_database
from tests.audit.support import fresh_schema_url
from tests.support.cerbos_server import free_port


@pytest.fixture
def url():
    yield from fresh_schema_url()


def test_schema_is_created_and_used(url):
    db = open_database(url)
    try:
        db.execute("CREATE TABLE probe (x INTEGER)")
        with db.transaction():
            db.copy_rows("probe", ("x",), [(1,), (2,)])
        assert db.rows("SELECT x FROM probe ORDER BY x") == [(1,), (2,)]
        assert db.value("SELECT current_schema()") == url.rsplit("schema=", 1)[1]
        assert [r for chunk in db.stream("SELECT x FROM probe ORDER BY x", chunk=1) for r in chunk] == [
            (1,),
            (2,),
        ]
    finally:
        db.close()


def test_unreachable_server_names_the_url_without_password():
    port = free_port()  # nothing listens there
    with pytest.raises(
        StoreUnavailable, match=rf"cannot connect to postgresql://u:\*\*\*@127.0.0.1:{port}/x"
    ):
        open_database(f"postgresql://u:pw@127.0.0.1:{port}/x")


def test_failed_statement_names_the_database(url):
    db = open_database(url)
    try:
        with pytest.raises(Exception, match=r"no_such_table") as exc:
            db.execute("SELECT * FROM no_such_table")
        assert "database postgresql://" in str(exc.value)
    finally:
        db.close()
