"""A format 1 log (written by the previous version) opens, upgrades in place, and verifies with both formats."""

from __future__ import annotations

import shutil

import pytest

from chamberlain import PDP, Principal, Resource
from chamberlain.audit.log import DecisionLog, LogOptions
from chamberlain.audit.storage.reader import AuditReader
from chamberlain.audit.tools.replay import NotReplayable, replay_input
from chamberlain.audit.tools.verify import verify
from chamberlain.store.db import open_database
from tests.audit.support import VECTORS


@pytest.fixture
def old_log(tmp_path) -> str:
    for name in ("decisions.db", "decisions.db.key"):
        shutil.copy(VECTORS / "format1" / name, tmp_path / name)
    return f"sqlite:///{tmp_path / 'decisions.db'}"


def test_a_format_1_log_reads_without_upgrading(old_log):
    db = open_database(old_log, create=False, readonly=True)
    report = verify(db, max_unsigned_age=None)
    assert report.ok and report.size == 6 and report.legacy == 6
    assert AuditReader(db).entry(0)["principal"]["id"] == "alice"
    with pytest.raises(NotReplayable, match="format 1"):
        replay_input(AuditReader(db), 0)


def test_upgraded_in_place_old_entries_keep_their_leaves(old_log, policies, tmp_path):
    with DecisionLog.open(old_log, LogOptions(head_interval=3600)) as log:
        root_before = log.read(lambda r: r.tree.root(6))
        PDP.from_directory(policies, audit=log).check(
            Principal("alice", ["user"], {"level": 3}), Resource("document", "new"), ["view"]
        )
    db = open_database(old_log)
    reader = AuditReader(db)
    assert reader.meta["format"] == "chamberlain-decision-log/2" and reader.meta["v1_size"] == "6"
    assert reader.tree.root(6) == root_before  # the old heads still verify
    report = verify(db)
    assert report.ok, report.problem
    assert (report.size, report.legacy) == (7, 6)
    assert replay_input(reader, 6).inputs[0].resource.id == "new"
    with pytest.raises(NotReplayable, match="format 1"):
        replay_input(reader, 2)
    from chamberlain.audit.tools.erase import erase

    result = erase(db, principal="alice", by="test")
    assert result.erased == [6] and result.legacy == 6  # old entries cannot be erased: counted, not touched
    assert verify(db).ok
