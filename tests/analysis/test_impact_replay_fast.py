"""The fast impact replay (outputs shared between repeated requests, the log verified on the other core)
answers exactly what deciding every logged call afresh answers, including decisions that read ``now()``
and delegated ones."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from chamberlain import PDP, Principal, Resource
from chamberlain.analysis import impact as impact_module
from chamberlain.analysis.errors import AnalysisError
from chamberlain.analysis.impact import replay, verified_replay, verify_log
from chamberlain.audit.storage.reader import AuditReader
from chamberlain.store.db import open_database
from tests.analysis.support import INVOICE, POLICIES, delegation_service, log_delegated_check
from tests.analysis.support import candidate as candidate_folder

# staff may view only in even milliseconds of the decision's own now: repeated requests decide differently
NOW_RULE = '      roles: ["finance_clerk", "finance_manager", "auditor"]\n'
NOW_CONDITION = (
    NOW_RULE + "      condition:\n        match:\n          expr: now().getMilliseconds() % 2 == 0\n"
)


def _log(tmp_path: Path) -> Path:
    db = tmp_path / "log.db"
    invoices = [Resource("invoice", f"i{i}", dict(INVOICE, amount=i * 700)) for i in range(3)]
    with PDP.from_directory(POLICIES, audit=db) as pdp:
        service = delegation_service(pdp, tmp_path)
        for n in range(30):
            who = (
                Principal("carol", ("finance_clerk",)) if n % 3 else Principal("maria", ("finance_manager",))
            )
            pdp.check(who, invoices, ["view", "pay", "approve"])
            if n % 5 == 0:
                log_delegated_check(service, pdp)
            time.sleep(0.0013)  # calls land on different milliseconds
    return db


def _candidate(tmp_path: Path) -> Path:
    folder = candidate_folder(tmp_path)
    invoice = folder / "resource_policies" / "invoice.yaml"
    text = invoice.read_text()
    changed = text.replace(NOW_RULE, NOW_CONDITION, 1).replace(
        '    - name: assistant-view\n      actions: ["view"]',
        '    - name: assistant-view\n      actions: ["list"]',
    )
    assert changed.count("now()") == 1 and 'actions: ["list"]' in changed
    invoice.write_text(changed)
    return folder


def test_shared_outputs_answer_as_deciding_every_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _log(tmp_path)
    engine = PDP.from_directory(_candidate(tmp_path)).engine
    database = open_database(f"sqlite:///{db}", create=False, readonly=True)
    try:
        reader = AuditReader(database)
        verify_log(reader)
        fresh = replay(reader, engine, share=False).to_json()
        shared = replay(reader, engine).to_json()
        both = verified_replay(reader, engine).to_json()
        monkeypatch.setattr(impact_module, "_fork_context", lambda: None)  # one core: verify, then replay
        one_core = verified_replay(reader, engine).to_json()
    finally:
        database.close()
    assert shared == fresh and both == fresh and one_core == fresh
    assert fresh["replayed"] == 30 * 9 + 6 * 2 and fresh["notReplayable"] == {}
    with sqlite3.connect(db) as conn:
        delegated = {
            s for (s,) in conn.execute("SELECT seq FROM audit_entries WHERE actors != '' AND action = 'view'")
        }
    flipped = {c["index"] for c in fresh["changed"] if c["action"] == "view"}
    # the agent may no longer view: every delegated view flips, whatever the time
    assert len(delegated) == 6 and delegated <= flipped
    # now() is each call's own: of the 90 other views (30 calls of 3), whole calls flip, not all of them
    own = len(flipped - delegated)
    assert 0 < own < 90 and own % 3 == 0, own


def test_verified_replay_refuses_a_tampered_log(tmp_path: Path) -> None:
    db = _log(tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_entries SET effect = 'EFFECT_DENY' WHERE seq = 4")
    database = open_database(f"sqlite:///{db}", create=False, readonly=True)
    try:
        with pytest.raises(AnalysisError, match="does not verify"):
            verified_replay(AuditReader(database), PDP.from_directory(POLICIES).engine)
    finally:
        database.close()
