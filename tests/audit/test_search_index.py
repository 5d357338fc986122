"""The search indexes kept apart in sorted batches: searches across the mark, old logs, erasure."""

from __future__ import annotations

import itertools
import threading

import pytest

from chamberlain.audit import Filter
from chamberlain.audit.log import DecisionLog, LogOptions
from chamberlain.audit.storage import search_index
from chamberlain.audit.storage.reader import AuditReader
from chamberlain.audit.storage.search_index import (
    INDEXES,
    LEGACY_INDEXES,
    PRINCIPAL,
    SESSION,
    STAGED,
    STAGING,
    indexed_size,
)
from chamberlain.audit.storage.tables import _has_index
from chamberlain.audit.tools.erase import erase
from chamberlain.store.db import open_database
from tests.audit.support import decision, verified_size

ENTRIES = 61


@pytest.fixture
def small_tail(monkeypatch):
    """Index every 8 entries, so that a few dozen entries lie on both sides of the mark."""
    monkeypatch.setattr(search_index, "TAIL", 8)


def _write(url: str, tmp_path, numbers: range) -> None:
    with DecisionLog.open(url, LogOptions(key_file=tmp_path / "log.key")) as log:
        for start in range(numbers.start, numbers.stop, 5):  # several appends: the mark moves in steps
            log.record([_varied(i) for i in range(start, min(start + 5, numbers.stop))])


def _write_across_the_mark(url: str, tmp_path) -> None:
    """ENTRIES entries, the last 3 written apart (on PostgreSQL the sequencer may take the rest at once)."""
    _write(url, tmp_path, range(ENTRIES - 3))
    _write(url, tmp_path, range(ENTRIES - 3, ENTRIES))


def _varied(i: int):
    return decision(
        i,
        session=f"s-{i % 4}",
        principal=("alice", "bob", "carol")[i % 3],
        effect="EFFECT_DENY" if i % 7 == 0 else "EFFECT_ALLOW",
        actors=("agent-1",) if i % 2 else (),
        resource_kind=("doc", "sheet")[i % 2],
    )


def _expected(entries, f: Filter) -> list[int]:
    def keep(e) -> bool:
        return (
            (f.session_id is None or e["session_id"] == f.session_id)
            and (f.principal is None or e["principal"]["id"] == f.principal)
            and (f.resource_kind is None or e["resource"]["kind"] == f.resource_kind)
            and (f.resource_id is None or e["resource"]["id"] == f.resource_id)
            and (f.effect is None or e["effect"] == f.effect)
            and e["seq"] > f.after
        )

    return [e["seq"] for e in entries if keep(e)][: f.limit]


def test_searches_across_the_mark_find_what_a_scan_finds(log_url, tmp_path, small_tail):
    _write_across_the_mark(log_url, tmp_path)
    reader = AuditReader(open_database(log_url))
    marks = [indexed_size(reader.db, index) for index in INDEXES]
    assert max(marks) >= 8 and min(marks) < ENTRIES, marks  # entries on both sides of a mark
    staged = [r[0] for r in reader.db.rows(f"SELECT seq FROM {STAGING} ORDER BY seq")]
    assert staged == list(range(min(marks), ENTRIES))  # the keys some table does not hold yet, and only those
    everything = reader.search(Filter(limit=ENTRIES))
    assert [e["seq"] for e in everything] == list(range(ENTRIES))
    filters = [
        *(Filter(session_id=f"s-{n}") for n in range(5)),
        *(Filter(principal=p) for p in ("alice", "bob", "carol", "dave")),
        Filter(resource_kind="doc"),
        Filter(resource_kind="sheet", resource_id="d7"),
        Filter(resource_kind="doc", resource_id="d8"),
        Filter(session_id="s-1", principal="bob", effect="EFFECT_ALLOW"),
        Filter(principal="alice", effect="EFFECT_DENY"),
    ]
    paged = [
        Filter(
            **{
                **{k: getattr(f, k) for k in ("session_id", "principal", "resource_kind")},
                "after": a,
                "limit": n,
            }
        )
        for f, a, n in itertools.product(
            filters[:9], (-1, 3, *(m + d for m in marks for d in (-2, 1))), (1, 2, 7)
        )
    ]
    for f in [*filters, *paged]:
        assert [e["seq"] for e in reader.search(f)] == _expected(everything, f), f
    newest = reader.select(" AND e.session_id = ?", ("s-2",), 4, by=(SESSION, ("s-2",)), newest_first=True)
    assert [r[0] for r in newest] == _expected(everything, Filter(session_id="s-2", limit=ENTRIES))[::-1][:4]
    assert verified_size(log_url) == ENTRIES


def test_a_search_by_key_reads_the_index_table(tmp_path, small_tail):
    url = f"sqlite:///{tmp_path / 'log.db'}"
    _write_across_the_mark(url, tmp_path)
    reader = AuditReader(open_database(url))
    # an append fills only the table furthest behind: 5-entry appends leave the three at different marks
    assert [indexed_size(reader.db, index) for index in INDEXES] == [55, 58, 61]
    captured: list[str] = []
    reader.db.conn.set_trace_callback(captured.append)
    reader.search(Filter(principal="bob"))
    (indexed,) = [sql for sql in captured if "FROM audit_by_principal" in sql]
    plan = " ".join(str(r[-1]) for r in reader.db.rows(f"EXPLAIN QUERY PLAN {indexed}"))
    assert "SEARCH x USING PRIMARY KEY (principal=? AND seq>? AND seq<?)" in plan, plan
    assert "SCAN" not in plan, plan


def _make_old(url: str) -> None:
    """Put the log back in the layout of logs written before the tables: ordinary indexes, no mark."""
    db = open_database(url)
    with db.transaction():
        for index in INDEXES:
            db.execute(f"DROP TABLE {index.table}")
        db.execute("DELETE FROM audit_meta WHERE key LIKE ?", ("indexed:%",))
        for name, index in zip(LEGACY_INDEXES, INDEXES, strict=True):
            db.execute(f"CREATE INDEX {name} ON audit_entries ({', '.join(index.columns)}, seq)")
    db.close()


def test_an_old_log_is_read_as_it_is_and_indexed_when_a_writer_opens_it(
    log_url, tmp_path, small_tail, caplog
):
    _write(log_url, tmp_path, range(23))
    _make_old(log_url)
    old = AuditReader(open_database(log_url))
    assert indexed_size(old.db, SESSION) is None
    assert [e["seq"] for e in old.search(Filter(principal="bob"))] == list(range(1, 23, 3))

    _write(log_url, tmp_path, range(5))  # a writer opens it: the tables are built, the old indexes dropped
    assert "indexing its 23 entries for search (once)" in caplog.text
    reader = AuditReader(open_database(log_url))
    assert all((indexed_size(reader.db, index) or 0) >= 23 for index in INDEXES)
    assert [e["seq"] for e in reader.search(Filter(principal="bob"))] == [*range(1, 23, 3), 24, 27]
    assert [e["seq"] for e in reader.search(Filter(session_id="s-3"))] == [3, 7, 11, 15, 19, 26]
    assert not [name for name in LEGACY_INDEXES if _has_index(reader.db, name)]


def test_erasing_a_principal_removes_its_keys_from_the_tables(log_url, tmp_path, small_tail):
    _write_across_the_mark(log_url, tmp_path)
    db = open_database(log_url)
    mark = indexed_size(db, PRINCIPAL)
    erased = erase(db, principal="carol", by="dpo@example")
    assert erased.erased and min(erased.erased) < mark  # some of them were indexed
    for index in INDEXES:
        rows = db.rows(f"SELECT {', '.join(index.columns)}, seq FROM {index.table}")
        assert not [r for r in rows if "carol" in r or r[-1] in erased.erased], index.table
    staged = db.rows(f"SELECT {', '.join(STAGED)} FROM {STAGING}")
    assert staged and not [r for r in staged if "carol" in r or r[0] in erased.erased]
    reader = AuditReader(db)
    assert reader.search(Filter(principal="carol")) == []
    assert [e["seq"] for e in reader.search(Filter(principal="bob"))] == [
        s for s in range(1, ENTRIES, 3) if s not in erased.erased
    ]


def test_policy_proposals_find_the_latest_use_on_both_sides_of_the_mark(tmp_path, small_tail):
    from chamberlain.analysis.propose import example_entries

    url = f"sqlite:///{tmp_path / 'log.db'}"
    _write_across_the_mark(url, tmp_path)
    db = open_database(url)
    everything = AuditReader(db).search(Filter(limit=ENTRIES))
    for principal in ("alice", "bob", "carol"):
        direct = [
            e
            for e in everything
            if e["principal"]["id"] == principal and e["effect"] == "EFFECT_ALLOW" and not e["actor_chain"]
        ]
        latest = {(e["resource"]["kind"], e["action"]): e["seq"] for e in direct}
        assert example_entries(db, principal, None) == [latest[k] for k in sorted(latest)], principal
        since = "2026-01-01T00:00:30.000000Z"  # as the CLI passes it (normalised)
        latest = {(e["resource"]["kind"], e["action"]): e["seq"] for e in direct if e["time"] >= since}
        assert example_entries(db, principal, since) == [latest[k] for k in sorted(latest)], principal


def test_two_writers_on_one_file_index_each_entry_once(tmp_path, small_tail):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    logs = [DecisionLog.open(url, LogOptions(key_file=tmp_path / "log.key")) for _ in range(2)]
    try:
        threads = [
            threading.Thread(
                target=lambda log=log, n=n: [log.record([_varied(n * 100 + i)]) for i in range(40)]
            )
            for n, log in enumerate(logs)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for log in logs:
            log.close()
    assert verified_size(url) == 80
    db = open_database(url)
    for index in INDEXES:  # every entry below the table's mark once, none above it
        mark = indexed_size(db, index)
        seqs = [r[0] for r in db.rows(f"SELECT seq FROM {index.table} ORDER BY seq")]
        assert mark is not None and mark >= 8 and seqs == list(range(mark)), index.table
    reader = AuditReader(db)
    everything = reader.search(Filter(limit=80))
    for principal in ("alice", "bob", "carol"):
        found = [e["seq"] for e in reader.search(Filter(principal=principal))]
        assert found == [e["seq"] for e in everything if e["principal"]["id"] == principal]
