"""A lone MCP call's session charge and decision-log entry commit in one transaction (``DecisionLog.appender_for``):
both or neither, the tree intact when the log's own writer appends in between, and the log's way kept for what
that transaction cannot hold (concurrent callers, an entry that cannot be encoded, a store that fails)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from chamberlain import PDP, Principal, Resource
from chamberlain.audit.log import DecisionLog, LogOptions
from chamberlain.audit.storage.tree import TreeStore
from chamberlain.audit.tlog.merkle import root_of
from chamberlain.gateways.mcp import mapping
from chamberlain.gateways.mcp.config import parse_config
from chamberlain.gateways.mcp.decide import Decider, Decision
from chamberlain.gateways.mcp.identity import Identities
from chamberlain.gateways.mcp.run import open_pdp, open_sessions
from chamberlain.sessions.settings import SessionSpec
from chamberlain.sessions.store import Held
from chamberlain.store.db import open_database
from tests.audit.support import verified_size
from tests.gateways.support import TIME_SERVER, entries, policy_folder, write_config

ERIN = {"id": "erin", "roles": ["developer"]}


def leaves(url: str, size: int) -> list[bytes]:
    db = open_database(url)
    try:
        return TreeStore(db).hashes(0, 0, size)
    finally:
        db.close()


def stored_root(url: str, size: int) -> bytes:
    """The tree's root from the stored subtree hashes (what proofs are built from), not from every leaf."""
    db = open_database(url)
    try:
        return TreeStore(db).root(size)
    finally:
        db.close()


ACTION = mapping.action(mapping.TOOLS_CALL, "get_current_time")


class Gateway:
    """The gateway's decider over a real log and session store in ``tmp`` (one SQLite file), no upstream."""

    def __init__(self, tmp: Path):
        policy_folder(tmp)
        self.db = tmp / "decisions.db"
        path = write_config(
            tmp,
            [{"name": "time", "command": TIME_SERVER}],
            principal=ERIN,
            policies=str(tmp / "policies"),
            audit={"db": f"sqlite:///{self.db}"},
        )
        self.config = parse_config(yaml.safe_load(path.read_text()), base_dir=tmp)
        self.pdp = open_pdp(self.config)
        self.sessions = open_sessions(self.config, self.pdp)
        assert self.sessions is not None
        self.decider = Decider(
            self.pdp, self.config.auth, self.config.audiences, self.sessions.guard, self.sessions.approvals
        )
        self.lone = True
        self.decider.alone = lambda: self.lone
        caller = Identities(self.config).local("")
        self.session_id = self.sessions.local(caller.principal.id)
        self.caller = replace(caller, session_id=self.session_id)

    def call(self, arguments: dict[str, Any] | None = None) -> Decision:
        resource = mapping.resource(
            self.config.upstreams[0],
            "tools/call",
            arguments=arguments or {"timezone": "Europe/Paris"},
            tool_name="get_current_time",
        )
        mcp = {"method": "tools/call", "server": "time", "name": "get_current_time", "arguments_digest": "-"}
        return asyncio.run(self.decider.decide(self.caller, resource, [ACTION], point="mcp:time", mcp=mcp))

    def calls_charged(self) -> int:
        session = self.sessions.store.load(self.session_id)
        assert session is not None
        return session.calls

    def with_charge(self) -> int:
        return self.pdp.log.stats()["entries_with_charge"]  # type: ignore[union-attr]

    def wait_until_up(self) -> None:
        """Until the log's writer has probed the store and is up again (after an outage)."""
        deadline = time.monotonic() + 30
        while self.pdp.log.writer.down and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.05)

    def close(self) -> None:
        self.sessions.close()
        self.pdp.close()


@pytest.fixture
def gateway(tmp_path):
    found = Gateway(tmp_path)
    yield found
    found.close()


def test_lone_calls_commit_their_charge_and_entry_together_and_the_tree_stays_whole(gateway):
    for i in range(6):
        decision = gateway.call()
        assert decision.allowed(ACTION) and not decision.log_error
        if i % 2:  # the log's own writer appends in between (a session's transitions): the tree stays whole
            gateway.sessions.store.open_session(
                SessionSpec("sam", "agent-9", (), 60.0, 0.0, (), (), {}), by="test"
            )
    assert gateway.with_charge() == 6
    assert gateway.calls_charged() == 6
    url = f"sqlite:///{gateway.db}"
    assert len(entries(url, session_id=gateway.session_id)) == 6
    gateway.pdp.log.flush()  # type: ignore[union-attr]
    assert verified_size(url) >= 6 + 3  # the calls, the three sessions' openings


def test_the_transaction_holding_entries_is_synced_and_the_others_are_not(gateway, monkeypatch):
    """The entries' transaction commits with ``synchronous = FULL`` (set before it began) like the log's own;
    a charge holding no entry (a concurrent caller's) commits with NORMAL, as the session store's default."""
    seen: list[tuple[str, int]] = []
    charge = Held.charge

    def spy(self: Held, *args: Any) -> Any:
        seen.append(("lone" if gateway.lone else "crowded", self._db.value("PRAGMA synchronous")))
        return charge(self, *args)

    monkeypatch.setattr(Held, "charge", spy)
    for lone in (True, True, False, True):
        gateway.lone = lone
        assert gateway.call().allowed(ACTION)
    assert seen == [("lone", 2), ("lone", 2), ("crowded", 1), ("lone", 2)]  # 2: FULL, 1: NORMAL
    assert gateway.with_charge() == 3


def test_concurrent_callers_go_the_log_writers_way(gateway):
    gateway.lone = False
    assert gateway.call().allowed(ACTION)
    assert gateway.with_charge() == 0 and gateway.calls_charged() == 1
    assert len(entries(f"sqlite:///{gateway.db}", session_id=gateway.session_id)) == 1


def test_an_entry_that_cannot_be_encoded_is_decided_again_and_refused_the_logs_way(gateway):
    decision = gateway.call({"timezone": "\ud800"})  # a lone surrogate: no canonical JSON for the entry
    assert not decision.allowed(ACTION)
    assert "cannot encode" in decision.log_error
    assert gateway.with_charge() == 0
    assert not entries(f"sqlite:///{gateway.db}", session_id=gateway.session_id)


def test_an_entry_the_store_refuses_charges_nothing_and_denies(gateway):
    assert gateway.call().allowed(ACTION)
    db = open_database(f"sqlite:///{gateway.db}")
    try:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    finally:
        db.close()
    decision = gateway.call()
    assert not decision.allowed(ACTION) and decision.log_error
    assert gateway.calls_charged() == 1  # the second call's charge was rolled back with its entry
    assert gateway.with_charge() == 1
    url = f"sqlite:///{gateway.db}"
    assert len(entries(url, session_id=gateway.session_id)) == 1
    db = open_database(url)
    try:
        db.execute("DROP TRIGGER refuse")
    finally:
        db.close()
    gateway.wait_until_up()
    for _ in range(3):
        assert gateway.call().allowed(ACTION)
    assert gateway.with_charge() == 4 and gateway.calls_charged() == 4
    gateway.pdp.log.flush()  # type: ignore[union-attr]
    assert verified_size(url) >= 4  # the failed transaction left no trace in the tree


def test_only_a_sync_log_on_the_same_sqlite_file_appends_with_a_charge(tmp_path):
    options = LogOptions(key_file=tmp_path / "log.key")
    log = DecisionLog.open(f"sqlite:///{tmp_path / 'log.db'}", options)
    other = open_database(f"sqlite:///{tmp_path / 'other.db'}")
    same = open_database(f"sqlite:///{tmp_path / 'log.db'}")
    try:
        assert log.appender_for(other) is None
        assert log.appender_for(same) is not None
    finally:
        same.close()
        other.close()
        log.close()
    lazy = DecisionLog.open(
        f"sqlite:///{tmp_path / 'async.db'}", LogOptions(key_file=tmp_path / "async.key", durability="async")
    )
    same = open_database(f"sqlite:///{tmp_path / 'async.db'}")
    try:
        assert lazy.appender_for(same) is None
    finally:
        same.close()
        lazy.close()


def test_a_transaction_that_fails_to_commit_leaves_neither_and_the_tree_whole(gateway):
    """Entries appended, then the commit refused (a deferred constraint checked at COMMIT): the charge and the
    entries are rolled back, the appender forgets the edge it computed, and later appends keep the tree whole."""
    url = f"sqlite:///{gateway.db}"
    assert gateway.call().allowed(ACTION)
    db = open_database(url)
    try:
        db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        db.execute("CREATE TABLE doomed (pid INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)")
        db.execute(
            "CREATE TRIGGER late AFTER INSERT ON audit_entries BEGIN INSERT INTO doomed VALUES (42); END"
        )
    finally:
        db.close()
    gateway.sessions.store.db.execute("PRAGMA foreign_keys = ON")  # only the charge's connection enforces it
    decision = gateway.call()
    assert not decision.allowed(ACTION) and decision.log_error  # denied; the log is down, refusing its entry
    assert gateway.calls_charged() == 1 and gateway.with_charge() == 1
    gateway.sessions.store.db.execute("PRAGMA foreign_keys = OFF")
    assert gateway.pdp.log.writer.down  # type: ignore[union-attr]  # the failed commit is an outage
    gateway.wait_until_up()
    gateway.sessions.store.open_session(SessionSpec("sam", "agent-9", (), 60.0, 0.0, (), (), {}), by="test")
    for _ in range(20):  # on the log writer's entry (the opening), not the rolled-back one: past 16 leaves,
        assert gateway.call().allowed(ACTION)  # a stored subtree hash covers both
    assert gateway.calls_charged() == 21 and gateway.with_charge() == 21
    gateway.pdp.log.flush()  # type: ignore[union-attr]
    size = verified_size(url)
    assert size >= 22 and stored_root(url, size) == root_of(leaves(url, size))
    assert len(entries(url, session_id=gateway.session_id)) == 21  # the failed call left no entry


def test_another_process_appending_to_the_same_log_keeps_the_tree_whole(gateway):
    """The server sharing the gateway's database (revokes and locks reach the gateway there) appends its own
    decisions between the gateway's: each appender catches up on the other's leaves, and the tree verifies."""
    url = f"sqlite:///{gateway.db}"
    options = LogOptions(key_file=gateway.pdp.log.options.key_file)  # type: ignore[union-attr]
    server = PDP.from_directory(gateway.config.policies, audit=url, audit_options=options)
    try:
        clerk = Principal("carl", ["finance_clerk"])
        invoice = Resource("invoice", "inv-1", {"amount": 100, "status": "APPROVED", "submittedBy": "sam"})
        for i in range(24):
            assert gateway.call().allowed(ACTION)
            for _ in range(i % 3):
                assert server.check(clerk, invoice, ["pay"]).is_allowed("pay")
    finally:
        server.close()
    assert gateway.with_charge() == 24
    gateway.pdp.log.flush()  # type: ignore[union-attr]
    size = verified_size(url)
    assert size >= 24 + 24 and stored_root(url, size) == root_of(leaves(url, size))
