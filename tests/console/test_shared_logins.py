"""Console logins kept in the state database: every replica on one database knows a login, logging out
ends it everywhere, logins outlive a restart until they expire, and an OpenID request started on one
replica completes on another exactly once."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chamberlain.console.logins import Logins, login_from_json, login_json
from chamberlain.console.oidc import Pending
from chamberlain.console.stored import ConsoleStore, Stored
from chamberlain.server.admin import Caller
from chamberlain.store import parse_url
from chamberlain.store.db import Database, open_database
from tests.audit.support import fresh_schema_url
from tests.server.support import ADMIN_AUTH, ThreadServer, admin_on

ALICE = Caller("alice", ("auditor",), {"exp": 2e9, "nested": {"a": [1, 2]}}, via="jwt", issuer="https://idp")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    urls = fresh_schema_url()  # skips without PostgreSQL (fails under CI=true)
    yield next(urls)
    with contextlib.suppress(StopIteration):
        next(urls)


def _replica(url: str, clock: Clock, limit: int = 10) -> tuple[ConsoleStore, Logins]:
    store = ConsoleStore(_db(url), clock)
    items = Stored(store, "login", limit, login_json, login_from_json)
    return store, Logins(600, limit, clock, items=items, key=store.cookie_key())


def _db(url: str) -> Database:
    return open_database(parse_url(url))


def test_a_login_opened_on_one_replica_is_known_to_the_other_until_it_ends(url: str) -> None:
    clock = Clock()
    (one_store, one), (two_store, two) = _replica(url, clock), _replica(url, clock)
    try:
        assert one_store.cookie_key() == two_store.cookie_key()  # made once, by the first
        login, cookie = one.open(ALICE)
        found = two.find(cookie)
        assert found == login and found.caller == ALICE and found.csrf == login.csrf
        kept = one_store.db.rows("SELECT name, value FROM chamberlain_console_items WHERE kind = 'login'")
        assert kept and not any(login.id in f"{name}{value}" for name, value in kept)  # a digest, not the id
        forged = cookie.rsplit(".", 1)[0] + "." + "0" * 64
        assert two.find(forged) is None and two.find(login.id) is None
        two.close(login)
        assert one.find(cookie) is None  # logged out on one replica: out everywhere at once
    finally:
        one_store.close()
        two_store.close()


def test_logins_outlive_a_restart_until_they_expire_and_are_bounded(url: str) -> None:
    clock = Clock()
    store, logins = _replica(url, clock, limit=3)
    login, cookie = logins.open(ALICE)
    store.close()
    store, restarted = _replica(url, clock, limit=3)  # a restart: a new store on the same database
    try:
        assert restarted.find(cookie) == login
        clock.now += 601
        assert restarted.find(cookie) is None  # expired
        cookies = []
        for _ in range(5):
            clock.now += 1
            cookies.append(restarted.open(ALICE)[1])
        assert [restarted.find(c) is not None for c in cookies] == [False, False, True, True, True]
        [(count,)] = store.db.rows("SELECT count(*) FROM chamberlain_console_items WHERE kind = 'login'")
        assert count == 3  # the oldest dropped, the expired one deleted
    finally:
        store.close()


def test_a_pending_openid_request_is_taken_once_whichever_replica_is_called_back(url: str) -> None:
    clock = Clock()
    stores = [ConsoleStore(_db(url), clock) for _ in range(2)]
    try:
        one, two = (Stored(s, "oidc", 100, dataclasses.asdict, lambda d: Pending(**d)) for s in stores)
        pending = Pending("state-1", "verifier", "browser", "/console/approvals", "nonce-1")
        one.put(pending.state, pending, clock.now + 600)
        assert two.pop("state-1") == pending
        assert one.pop("state-1") is None and two.pop("state-1") is None  # a replayed callback
        one.put("state-2", pending, clock.now + 600)
        clock.now += 601
        assert two.pop("state-2") is None  # expired
    finally:
        for s in stores:
            s.close()


@pytest.fixture
def on_postgres(tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """A fresh PostgreSQL schema, and the overrides of a server keeping its state there (admin API on)."""
    urls = fresh_schema_url()
    pg_url = next(urls)
    (tmp_path / "policies").mkdir()
    yield (
        pg_url,
        {
            "server": admin_on(),
            "chamberlain": {"audit": {"db": pg_url, "signingKeyFile": str(tmp_path / "log.key")}},
        },
    )
    with contextlib.suppress(StopIteration):
        next(urls)


def test_two_servers_on_one_database_share_console_logins(
    tmp_path: Path, on_postgres: tuple[str, dict[str, Any]]
) -> None:
    _, overrides = on_postgres
    with (
        ThreadServer(tmp_path / "policies", overrides) as one,
        ThreadServer(tmp_path / "policies", overrides) as two,
    ):
        with httpx.Client(base_url=one.url, timeout=30) as browser:
            cookies = _log_in(browser)
        sessions = httpx.get(f"{two.url}/console/sessions", cookies=cookies, timeout=30)
        assert sessions.status_code == 200 and "Log out" in sessions.text  # the other replica knows it
        csrf = re.search(r'name="csrf" value="([^"]+)"', sessions.text).group(1)  # type: ignore[union-attr]
        out = httpx.post(f"{two.url}/console/logout", data={"csrf": csrf}, cookies=cookies, timeout=30)
        assert out.status_code == 303
        again = httpx.get(f"{one.url}/console/sessions", cookies=cookies, timeout=30)
        assert again.status_code == 303 and "/console/login" in again.headers["location"]


def test_without_the_state_database_the_console_says_so(
    tmp_path: Path, on_postgres: tuple[str, dict[str, Any]]
) -> None:
    pg_url, overrides = on_postgres
    with (
        ThreadServer(tmp_path / "policies", overrides) as server,
        httpx.Client(base_url=server.url, timeout=30) as browser,
    ):
        cookies = _log_in(browser)
        db = _db(pg_url)
        try:  # what an outage of the state database looks like to the console's queries
            db.execute("ALTER TABLE chamberlain_console_items RENAME TO console_items_away")
            page = httpx.get(f"{server.url}/console/sessions", cookies=cookies, timeout=30)
            assert page.status_code == 503 and "Logins are unavailable" in page.text
            again = _log_in(browser, expect=503)
            assert "Logins are unavailable" in again
            db.execute("ALTER TABLE console_items_away RENAME TO chamberlain_console_items")
            assert httpx.get(f"{server.url}/console/sessions", cookies=cookies, timeout=30).status_code == 200
        finally:
            db.close()


def _log_in(browser: httpx.Client, expect: int = 303) -> Any:
    """The operator's login through the form: its cookie (or, with ``expect`` not 303, the page's text)."""
    page = browser.get("/console/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    answer = browser.post(
        "/console/login", data={"username": ADMIN_AUTH[0], "password": ADMIN_AUTH[1], "csrf": csrf}
    )
    assert answer.status_code == expect, answer.text
    return {"chamberlain_console": browser.cookies["chamberlain_console"]} if expect == 303 else answer.text
