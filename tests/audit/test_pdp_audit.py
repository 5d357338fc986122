"""The embedded PDP with a decision log: every decided action recorded with its basis, or denied."""

from __future__ import annotations

import datetime as dt
import re

import orjson

from chamberlain import PDP, Principal, Resource
from chamberlain.audit import Filter
from chamberlain.audit.log import LogOptions
from chamberlain.audit.tools.replay import replay_input
from chamberlain.audit.tools.verify import verify
from chamberlain.store.db import open_database
from tests.audit.support import wait_until

ALICE = Principal("alice", roles={"user"}, attr={"level": 3, "salary": 100})
DRAFT = Resource("document", "d1", attr={"owner": "alice", "status": "draft", "secret": "s3cr3t"})


def _entries(pdp: PDP) -> list[dict]:
    return pdp.log.read(lambda r: r.search(Filter(limit=1000)))


def _url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'decisions.db'}"


def test_every_decided_action_is_an_entry_with_its_basis(policies, tmp_path):
    with PDP.from_directory(policies, audit=_url(tmp_path)) as pdp:
        result = pdp.check(
            ALICE,
            DRAFT,
            ["edit", "view", "delete"],
            session_id="sess-1",
            actor_chain=["planner", "tool"],
            approval_id="appr-9",
            request_id="r-1",
        )
        assert [result.is_allowed(a) for a in ("edit", "view", "delete")] == [True, True, False]
        edit, view, delete = _entries(pdp)
    assert [e["seq"] for e in (edit, view, delete)] == [0, 1, 2]
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", edit["call_id"]) and edit["call_id"] == delete["call_id"]
    assert edit["time"].endswith("Z") and edit["point"] == "embedded" and edit["request_id"] == "r-1"
    assert (edit["kind"], edit["session_id"], edit["actor_chain"]) == (
        "decision",
        "sess-1",
        ["planner", "tool"],
    )
    assert edit["approval"] == {"id": "appr-9", "approver": None}
    assert edit["principal"] == {
        "id": "alice",
        "roles": ["user"],
        "scope": "",
        "policy_version": "",
        "attr": {"level": 3},
    }
    # shown: the attributes the evaluated conditions read (the request record holds all of them)
    assert edit["resource"] == {
        "kind": "document",
        "id": "d1",
        "scope": "",
        "policy_version": "",
        "attr": {"owner": "alice", "status": "draft"},
    }
    assert edit["effect"] == "EFFECT_ALLOW"
    assert edit["basis"] == {
        "policy": "resource.document.vdefault",
        "version": "default",
        "scope": "",
        "rule": "owner-edits-drafts",
        "derived_roles": ["owner"],
        "errors": [],
        "validation_errors": [],
        "conditions": [
            {"expr": 'R.attr.status == "draft"', "held": True},
            {"expr": "P.attr.level >= 2", "held": True},
        ],
    }
    assert edit["outputs"] == [
        {"src": "resource.document.vdefault#owner-edits-drafts", "val": "edited by alice"}
    ]
    assert view["basis"]["rule"] == "anyone-views" and view["resource"]["attr"] == {}
    assert delete["effect"] == "EFFECT_DENY" and delete["basis"]["rule"] == ""


def test_the_full_request_is_stored_once_per_call_and_replays(policies, tmp_path):
    request = {
        "requestId": "r-2",
        "principal": {"id": "bob", "roles": ["user"], "attr": {"level": 1, "x": [1]}},
        "resources": [
            {
                "actions": ["view", "edit"],
                "resource": {"kind": "document", "id": f"d{i}", "attr": {"owner": "x", "status": "final"}},
            }
            for i in range(3)
        ],
    }
    now = dt.datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=dt.UTC)
    with PDP.from_directory(policies, audit=_url(tmp_path)) as pdp:
        pdp.check_resources(request, now=now)
        entries = _entries(pdp)
        digests = {pdp.log.read(lambda r, s=e["seq"]: orjson.loads(r.raw(s)[0])["request"]) for e in entries}
        replays = [pdp.log.read(replay_input, e["seq"]) for e in entries]
        [(count,)] = pdp.log.read(lambda r: r.db.rows("SELECT count(*) FROM audit_requests"))
    assert len(entries) == 6 and len(digests) == 1 and count == 1  # six entries, one request record
    by = {(r.input, r.action): r for r in replays}
    first = by[(1, "view")]
    assert (first.effect, by[(1, "edit")].effect) == ("EFFECT_ALLOW", "EFFECT_DENY")
    assert first.now_ns == 1772600767891011000 and first.now == now
    assert [(i.resource.id, i.actions) for i in first.inputs] == [
        (f"d{i}", ("view", "edit")) for i in range(3)
    ]
    assert first.inputs[2].principal.attr == {"level": 1, "x": [1]} and first.inputs[0].request_id == "r-2"
    assert first.inputs[1].resource.attr == {"owner": "x", "status": "final"}  # every attribute, read or not


def test_is_allowed_is_recorded_too(policies, tmp_path):
    with PDP.from_directory(policies, audit=tmp_path / "by-path.db") as pdp:
        assert pdp.is_allowed(ALICE, DRAFT, "edit")
        assert [e["action"] for e in _entries(pdp)] == ["edit"]


def test_when_the_log_cannot_write_every_action_is_denied_with_the_reason(policies, tmp_path):
    # A full disk, simulated with SQLite's size limit (max_page_count) on the log's connection.
    with PDP.from_directory(policies, audit=_url(tmp_path)) as pdp:
        db = pdp.log._write_db
        pdp.log.writer.call(lambda: db.execute(f"PRAGMA max_page_count = {db.value('PRAGMA page_count')}"))
        # a large attribute the conditions read (so it is in the entry), on a resource alice may view
        big = Resource("document", "d9", attr={**DRAFT.attr, "status": "x" * 50_000})
        result = pdp.check(ALICE, big, ["edit", "view"])
        assert not result.is_allowed("edit") and not result.is_allowed("view")
        assert "decision log unavailable" in result.log_error and "is full" in result.log_error
        assert result[0].outputs == []
        response = pdp.check_resources(
            {
                "principal": {"id": "alice", "roles": ["user"]},
                "resources": [
                    {
                        "actions": ["edit", "view"],
                        "resource": {"kind": "document", "id": "x", "attr": {"owner": "y" * 50_000}},
                    }
                ],
            }
        )
        assert response["results"][0]["actions"] == {"edit": "EFFECT_DENY", "view": "EFFECT_DENY"}
        assert "is full" in response["chamberlain"]["decisionLog"]
        pdp.log.writer.call(lambda: db.execute("PRAGMA max_page_count = 1073741823"))
        wait_until(lambda: not pdp.log.writer.down)  # recovered on its own after its back-off
        assert pdp.check(ALICE, DRAFT, ["edit"]).is_allowed("edit")
        assert [e["resource"]["id"] for e in _entries(pdp)] == ["d1"]  # no entry claims what did not happen


def test_async_durability_records_on_close(policies, tmp_path):
    with PDP.from_directory(
        policies, audit=_url(tmp_path), audit_options=LogOptions(durability="async", key_file=tmp_path / "k")
    ) as pdp:
        for i in range(50):
            assert pdp.check(ALICE, Resource("document", f"d{i}", attr=DRAFT.attr), ["edit"]).is_allowed(
                "edit"
            )
    db = open_database(_url(tmp_path))
    try:
        report = verify(db)
    finally:
        db.close()
    assert report.ok and report.size == 50
