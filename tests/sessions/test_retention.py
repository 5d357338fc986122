"""Ended sessions do not pile up: they are deleted ``chamberlain.sessions.retention`` after they end."""

from __future__ import annotations

import pytest

from chamberlain.sessions import SessionNotFound, SessionStore, parse_settings
from chamberlain.sessions.errors import InvalidSession
from chamberlain.sessions.store import PURGE_INTERVAL, Item
from tests.sessions.conftest import spec

DAILY = {"name": "daily", "per": "agent", "kind": "*", "actions": ["send"], "limit": 10}


@pytest.fixture
def kept_a_day(store_url, clock):
    settings = parse_settings({"retention": "24h", "standingBudgets": [DAILY]})
    opened = SessionStore.for_settings(store_url, settings, clock=clock)
    yield opened
    opened.close()


def test_an_ended_session_is_deleted_after_the_retention_and_a_live_one_never(kept_a_day, clock):
    ended = kept_a_day.open_session(spec(ttl="1h"), by="op")
    kept_a_day.revoke(ended.id, by="op")
    live = kept_a_day.open_session(spec(ttl="24h"), by="op")
    clock.advance(23 * 3600)
    assert kept_a_day.purge() == 0
    clock.advance(3600 + 1)
    assert kept_a_day.purge() == 1
    with pytest.raises(SessionNotFound):
        kept_a_day.get(ended.id)
    assert kept_a_day.get(live.id).id == live.id  # expired only now: kept another day


def test_standing_budget_windows_go_once_closed_that_long_ago(kept_a_day, clock):
    s = kept_a_day.open_session(spec(ttl="1h"), by="op")
    kept_a_day.charge(s.id, lambda _s: "", [Item((0, "send"), standing=(("daily", 4.0),))])
    assert kept_a_day.standing_use(s) == {"daily": 4.0}
    clock.advance(2 * 86400 + 1)  # the window closed more than a day ago
    kept_a_day.purge()
    with kept_a_day._using() as db:
        assert db.value("SELECT count(*) FROM chamberlain_standing_use") == 0


def test_opening_sessions_purges_at_most_once_a_minute(kept_a_day, clock):
    old = kept_a_day.open_session(spec(ttl="1h"), by="op")
    clock.advance(3600 + 86400 + 1)  # expired an hour in, then a day passed
    kept_a_day.sweep()
    clock.advance(PURGE_INTERVAL)
    kept_a_day.open_session(spec(), by="op")
    with pytest.raises(SessionNotFound):
        kept_a_day.get(old.id)


def test_retention_zero_keeps_every_session(store_url, clock):
    store = SessionStore.for_settings(store_url, parse_settings({"retention": "0s"}), clock=clock)
    s = store.open_session(spec(ttl="1h"), by="op")
    store.revoke(s.id, by="op")
    clock.advance(10 * 365 * 86400)
    assert store.purge() == 0 and store.get(s.id).state == "REVOKED"
    store.close()


def test_a_malformed_retention_is_refused_naming_the_key():
    with pytest.raises(InvalidSession, match=r"chamberlain\.sessions\.retention: "):
        parse_settings({"retention": "forever"})


def test_a_tokens_record_outlives_its_purged_session_until_the_token_expires(kept_a_day, clock):
    """A token's session revoked, then purged while the token is still valid: the token finds it gone
    (SessionNotFound, a denial), not a fresh session that would undo the kill switch; once the token
    has expired too, its record goes."""
    exp = clock() + 3 * 86400  # a token living longer than the retention (a day)
    first = kept_a_day.session_for_token("tok-1", spec(ttl="1h"), by="gw", expires_at=exp)
    kept_a_day.revoke(first, by="op")
    clock.advance(86400 + 1)
    assert kept_a_day.purge() == 1
    assert kept_a_day.session_for_token("tok-1", spec(ttl="1h"), by="gw", expires_at=exp) == first
    with pytest.raises(SessionNotFound):
        kept_a_day.get(first)
    clock.advance(2 * 86400)
    kept_a_day.purge()
    assert kept_a_day.session_for_token("tok-1", spec(ttl="1h"), by="gw", expires_at=exp) != first


def test_a_token_sessions_table_from_before_expiry_gains_the_column(store_url, clock):
    settings = parse_settings({"retention": "24h"})
    old = SessionStore.for_settings(store_url, settings, clock=clock)
    with old._using() as db:
        db.execute("DROP TABLE chamberlain_token_sessions")
        db.execute(
            "CREATE TABLE chamberlain_token_sessions (token_key TEXT PRIMARY KEY, session_id TEXT NOT NULL)"
        )
    old.close()
    reopened = SessionStore.for_settings(store_url, settings, clock=clock)
    try:
        assert reopened.session_for_token("tok-2", spec(ttl="1h"), by="gw", expires_at=clock() + 60)
    finally:
        reopened.close()
