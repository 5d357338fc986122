"""``chamberlain session``: open, show, list, revoke, lock, unlock and locks on a real SQLite log."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from chamberlain.audit.log import DecisionLog, LogOptions
from chamberlain.audit.storage.reader import Filter
from chamberlain.cli import app


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    DecisionLog.open(
        url, LogOptions(key_file=tmp_path / "decisions.db.key")
    ).close()  # the server's first start
    return url


def run(*args: str):
    return CliRunner().invoke(app, ["session", *args])


def test_open_show_list_revoke_and_the_log(db, tmp_path):
    budget = '{"name": "mail", "kind": "mcp_tool", "actions": ["tools/call::send_email"], "limit": 3}'
    opened = run(
        "open",
        "--db",
        db,
        "--subject",
        "alice",
        "--agent",
        "agent-7",
        "--ttl",
        "10m",
        "--budget",
        budget,
        "--by",
        "ops:carol",
    )
    assert opened.exit_code == 0, opened.output
    session_id = opened.output.strip()
    shown = json.loads(run("show", session_id, "--db", db, "--json").output)
    assert (shown["state"], shown["agent"], shown["budgets"][0]["limit"]) == ("ACTIVE", "agent-7", 3)
    listed = run("list", "--db", db, "--state", "active")
    assert listed.output.startswith(f"{session_id}  ACTIVE   agent-7  for alice  until ")
    revoked = run("revoke", session_id, "--db", db, "--reason", "done", "--by", "ops:carol")
    assert revoked.output == f"{session_id} REVOKED\n"
    with DecisionLog.open(db, LogOptions(create_key=False)) as log:
        entries = log.read(lambda r: r.search(Filter(session_id=session_id)))
    assert [(e["principal"]["id"], e["action"]) for e in entries] == [
        ("ops:carol", "session:open"),
        ("ops:carol", "session:revoke"),
    ]


def test_revoke_all_of_an_agent_and_locks(db):
    for subject in ("alice", "bob"):
        run("open", "--db", db, "--subject", subject, "--agent", "agent-7")
    result = run("revoke", "--agent", "agent-7", "--db", db)
    assert result.output.startswith("revoked 2 sessions\n")
    lock_id = run("lock", "agent", "agent-7", "--reason", "compromised", "--db", db).output.strip()
    assert lock_id.startswith("lck_")
    refused = run("open", "--db", db, "--subject", "alice", "--agent", "agent-7")
    assert refused.exit_code == 2 and "agent 'agent-7' is locked" in refused.output
    assert run("locks", "--db", db).output.startswith(f"{lock_id}  agent agent-7  by ")
    assert run("unlock", lock_id, "--db", db).output == "unlocked agent agent-7\n"
    assert run("open", "--db", db, "--subject", "alice", "--agent", "agent-7").exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--budget", '{"name": "b", "kind": "k", "actions": ["a"], "limit": -1}'),
            "budgets[0].limit: must not be negative",
        ),
        (("--budget", "{nope"), "--budget '{nope': not JSON"),
        (("--ttl", "99h"), "ttl: '99h' is longer than the allowed maximum of 86400s"),
    ],
)
def test_bad_input_is_named(db, args, message):
    result = run("open", "--db", db, "--subject", "alice", "--agent", "agent-7", *args)
    assert result.exit_code == 2 and message in result.output


def test_revoke_needs_one_target_and_unknown_ids_are_named(db):
    assert "exactly one of --agent ID or --subject ID" in run("revoke", "--db", db).output
    assert (
        "no session ses_00000000000000000000000000"
        in run("show", "ses_00000000000000000000000000", "--db", db).output
    )
