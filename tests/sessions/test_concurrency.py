"""Charges from several processes at once never overspend a budget, not even by one (SQLite and PostgreSQL)."""

from __future__ import annotations

import multiprocessing

from chamberlain.sessions import SessionStore
from chamberlain.sessions.store import Item
from tests.sessions.conftest import spec

ATTEMPTS = 10
PROCESSES = 5


def _spend(
    url: str, session_id: str, start: multiprocessing.synchronize.Event, out: multiprocessing.Queue
) -> None:
    store = SessionStore.open(url)
    start.wait(60)
    allowed = 0
    for i in range(ATTEMPTS):
        charged = store.charge(
            session_id, lambda s: "", [Item((i, "tools/call::send_email"), (("mail", 1.0),))]
        )
        allowed += not charged.denial and not charged.refused
    store.close()
    out.put(allowed)


def test_a_budget_of_ten_allows_exactly_ten_across_processes(store_url):
    store = SessionStore.open(store_url)
    budget = {"name": "mail", "kind": "*", "actions": ["tools/call::send_email"], "limit": 10}
    session = store.open_session(spec(budgets=[budget]), by="test")
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_spend, args=(store_url, session.id, start, out)) for _ in range(PROCESSES)]
    for w in workers:
        w.start()
    start.set()
    allowed = [out.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(60)
    assert sum(allowed) == 10
    assert store.get(session.id).budgets[0].used == 10
    store.close()
