"""Request records keyed by the call's time, then their salted digest (appended at the end of their
index), on SQLite and PostgreSQL; logs written before, keyed by the bare digest, still verify,
replay and erase; an edited key is caught."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from chamberlain import PDP, Principal, Resource
from chamberlain.audit.log import DecisionLog, LogOptions
from chamberlain.audit.storage.reader import AuditReader
from chamberlain.audit.tools.erase import erase
from chamberlain.audit.tools.replay import replay_input
from chamberlain.audit.tools.verify import verify
from chamberlain.audit.write.content import DIGEST_BYTES, request_digest, request_key, salted
from chamberlain.store.db import as_bytes, open_database

START = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


def _ns(when: dt.datetime) -> int:
    return (when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1) * 1000


@pytest.fixture
def written(log_url, policies, tmp_path):
    """A closed log of 12 checks (two actions each), made 7 seconds apart, newest last."""
    with DecisionLog.open(log_url, LogOptions(key_file=tmp_path / "k", head_interval=3600)) as log:
        pdp = PDP.from_directory(policies, audit=log)
        for i in range(12):
            who = "bob" if i % 3 == 0 else "alice"
            pdp.check(
                Principal(who, ["user"], {"level": i}),
                Resource("document", f"d{i}", {"owner": "alice", "status": "draft"}),
                ["edit", "view"],
                now=START + dt.timedelta(seconds=7 * i),
            )
    return log_url


def test_a_request_record_is_keyed_by_its_calls_time_then_its_digest(written):
    db = open_database(written)
    records = db.rows("SELECT digest, salt, body FROM audit_requests ORDER BY digest")
    assert len(records) == 12
    times = []
    for key, salt, body in records:
        key, body = as_bytes(key), as_bytes(body)
        assert len(key) == 8 + DIGEST_BYTES
        assert key[8:] == salted(as_bytes(salt), body)  # the digest the leaves hold
        assert int.from_bytes(key[:8], "big") == orjson.loads(body)["now"]  # the call's time leads
        times.append(orjson.loads(body)["now"])
    assert times == sorted(times) and times[0] == _ns(START)  # key order is time order
    for request, leaf in db.rows("SELECT request, body FROM audit_entries ORDER BY seq"):
        assert orjson.loads(as_bytes(leaf))["request"] == request_digest(as_bytes(request)).hex()
    assert verify(db).ok


def test_keys_clamp_times_outside_eight_bytes():
    digest = bytes(range(32))
    assert request_key(-5, digest) == bytes(8) + digest
    assert request_key(1 << 70, digest) == b"\xff" * 8 + digest
    assert request_digest(request_key(123, digest)) == digest
    assert request_digest(digest) == digest  # a bare digest (logs written before) is its own


def _strip_keys(db) -> None:
    """Rewrite the log as the earlier format stored it: every request record keyed by its bare digest."""
    tail = "substr({0}, 9)" if db.kind == "sqlite" else "substring({0} from 9)"
    db.execute(f"UPDATE audit_requests SET digest = {tail.format('digest')}")
    db.execute(f"UPDATE audit_entries SET request = {tail.format('request')} WHERE length(request) > 0")


def test_a_log_keyed_by_bare_digests_still_verifies_replays_and_erases(written):
    db = open_database(written)
    _strip_keys(db)
    assert {len(as_bytes(k)) for (k,) in db.rows("SELECT digest FROM audit_requests")} == {DIGEST_BYTES}
    assert verify(db).ok
    replayed = replay_input(AuditReader(db), 4)
    assert replayed.inputs[0].principal.id == "alice" and replayed.inputs[0].resource.id == "d2"
    result = erase(db, principal="bob", by="dpo")
    assert len(result.erased) == 8  # 4 checks of bob, two actions each
    assert int(db.value("SELECT count(*) FROM audit_requests")) == 8  # their records deleted
    report = verify(db)
    assert report.ok and report.erased == 8, report.problem


def test_an_edited_key_is_caught(written):
    db = open_database(written)
    # the time part alone: the entry no longer finds its call's record
    key = as_bytes(db.value("SELECT request FROM audit_entries WHERE seq = 4"))
    db.execute("UPDATE audit_entries SET request = ? WHERE seq = 4", (b"\x00" * 8 + key[8:],))
    report = verify(db)
    assert not report.ok and report.first_bad == 4
    assert "entry 4: the request record of its call is missing" in report.problem


def test_an_edited_digest_in_a_key_is_caught(written):
    db = open_database(written)
    key = as_bytes(db.value("SELECT request FROM audit_entries WHERE seq = 6"))
    forged = key[:-1] + bytes([key[-1] ^ 1])
    db.execute("UPDATE audit_requests SET digest = ? WHERE digest = ?", (forged, key))
    db.execute("UPDATE audit_entries SET request = ? WHERE request = ?", (forged, key))
    report = verify(db)
    assert not report.ok and report.first_bad == 6
    assert "entry 6: its request column differs from its leaf" in report.problem


def test_statement_journals_stay_in_memory(tmp_path):
    """The log's multi-row INSERTs keep their statement journal in memory, not in temporary files."""
    db = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    assert int(db.value("PRAGMA temp_store")) == 2  # MEMORY
