"""A check that waits for its session's row decides as of when it gets the row, not when it asked.

Two replicas on PostgreSQL: while one holds a session's row (a charge, a revoke), another replica's
check waits for it. The check used to read the clock before waiting, so a session whose ttl ran out
during the wait still allowed the check, and the rate-limit hit was recorded at the earlier instant
(leaving its window early). The clock here is a manual one shared by both replicas; the test waits
until PostgreSQL shows the second check blocked on the row lock, so nothing depends on timing.
"""

from __future__ import annotations

import threading
import time

import pytest

from chamberlain.sessions import ManualClock, SessionStore
from chamberlain.sessions.store import Charged, Item
from chamberlain.store import parse_url
from chamberlain.store.db import open_database
from tests.audit.support import POSTGRES, fresh_schema_url
from tests.sessions.conftest import spec

SEND = Item((0, "tools/call::send_email"), rate_hits=(0,))


@pytest.fixture
def postgres_url():
    yield from fresh_schema_url()


def _wait_for_a_blocked_backend() -> None:
    db = open_database(parse_url(POSTGRES))
    try:
        deadline = time.monotonic() + 30
        while not db.row(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )[0]:
            assert time.monotonic() < deadline, "the second replica's check never waited for the row"
            time.sleep(0.01)
    finally:
        db.close()


def _charge_while_the_row_is_held(
    url: str, clock: ManualClock, session_id: str, advance: float, item: Item = SEND
) -> Charged:
    """Replica B charges while replica A holds the row; the clock moves ``advance`` during the wait."""
    a, b = SessionStore.open(url, clock=clock), SessionStore.open(url, clock=clock)
    out: list[Charged] = []
    try:
        with a.held(session_id):
            waiting = threading.Thread(target=lambda: out.append(b.charge(session_id, lambda s: "", [item])))
            waiting.start()
            _wait_for_a_blocked_backend()
            clock.advance(advance)
        waiting.join(30)
    finally:
        a.close()
        b.close()
    assert out, "the waiting check did not finish"
    return out[0]


def test_a_session_that_expires_while_a_check_waits_denies_it(postgres_url):
    clock = ManualClock()
    store = SessionStore.open(postgres_url, clock=clock)
    session = store.open_session(spec(ttl="60s"), by="test")
    store.close()
    clock.advance(59)
    charged = _charge_while_the_row_is_held(postgres_url, clock, session.id, 2, Item((0, "view")))
    assert charged.denial and "expired" in charged.denial, charged


def test_a_rate_limit_hit_is_recorded_when_the_check_gets_the_row(postgres_url):
    clock = ManualClock()
    rate = {"kind": "*", "actions": ["tools/call::send_email"], "max": 1, "per": "10s"}
    store = SessionStore.open(postgres_url, clock=clock)
    session = store.open_session(spec(rateLimits=[rate]), by="test")
    store.close()
    start = clock()
    charged = _charge_while_the_row_is_held(postgres_url, clock, session.id, 5)
    assert not charged.denial and not charged.refused, charged
    store = SessionStore.open(postgres_url, clock=clock)
    try:
        assert store.get(session.id).rate_hits == ((start + 5,),)  # allowed at +5: the window runs to +15
        clock.advance(6)  # +11: one call per 10 s, and the last was allowed 6 s ago
        again = store.charge(session.id, lambda s: "", [SEND])
        assert again.refused, again
    finally:
        store.close()
