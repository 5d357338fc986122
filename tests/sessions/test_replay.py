"""The decision log replays a session from open to revoke: `chamberlain audit replay ses_...`."""

from __future__ import annotations

from typer.testing import CliRunner

from chamberlain import PDP, Principal, Resource
from chamberlain.cli import app
from chamberlain.sessions import SessionStore
from tests.sessions.conftest import PAYMENTS, spec


def test_a_session_from_open_to_revoke(policies, tmp_path):
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    store = SessionStore.open(url)
    pdp = PDP.from_directory(policies, audit=url, sessions=store)
    s = store.open_session(spec(budgets=[{**PAYMENTS, "limit": 100}]), by="ops:carol")
    agent = Principal("agent-7", ["agent"])
    pdp.check(agent, Resource("invoice", "inv-1", {"amount": 60}), ["pay"], session_id=s.id)
    pdp.check(agent, Resource("invoice", "inv-2", {"amount": 60}), ["pay"], session_id=s.id)  # over budget
    store.revoke(s.id, by="ops:carol", reason="done for today")
    pdp.check(agent, Resource("invoice", "inv-3", {"amount": 1}), ["view"], session_id=s.id)
    pdp.close()
    store.close()
    result = CliRunner().invoke(app, ["audit", "replay", s.id, "--db", url])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("#")]
    assert [(line.split()[2], line.split()[3], line.split()[-1]) for line in lines] == [
        ("ops:carol", "session:open", "ALLOW"),
        ("agent-7", "pay", "ALLOW"),
        ("agent-7", "pay", "DENY"),
        ("ops:carol", "session:revoke", "ALLOW"),
        ("agent-7", "view", "DENY"),
    ]
    assert "by the session (budget:payments)" in result.output
    assert (
        f"budget 'payments' of session {s.id} would be exceeded: used 60 of 100, this action costs 60"
        in result.output
    )
    assert f"session {s.id} is REVOKED by ops:carol (done for today)" in result.output
    assert "session:revoke by ops:carol: done for today" in result.output
    assert "session:open by ops:carol (agent=agent-7, subject=alice)" in result.output
