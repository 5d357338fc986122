"""``chamberlain approvals list|show`` on a real SQLite log holding a request opened by a check."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from chamberlain import PDP, Principal, Resource
from chamberlain.approvals import ApprovalStore
from chamberlain.audit.log import DecisionLog, LogOptions
from chamberlain.cli import app


def run(*args: str):
    return CliRunner().invoke(app, ["approvals", *args])


def test_list_and_show_a_pending_request(policies, tmp_path):
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    DecisionLog.open(
        url, LogOptions(key_file=tmp_path / "decisions.db.key")
    ).close()  # the server's first start
    store = ApprovalStore.open(url)
    pdp = PDP.from_directory(policies)
    pdp.use_approvals(store)
    out = pdp.check(
        Principal("agent-7", roles={"agent"}), Resource("payment", "p1", attr={"amount": 5000}), ["pay"]
    )
    approval_id = out[0].outputs[0].val["approval"]["id"]
    store.close()
    listed = run("list", "--db", url, "--state", "pending")
    assert listed.exit_code == 0, listed.output
    assert listed.output == f"{approval_id}  PENDING  agent-7 pay payment:p1  approvers finance_manager\n"
    shown = json.loads(run("show", approval_id, "--db", url, "--json").output)
    assert shown["action"]["resource"]["attr"] == {"amount": 5000} and shown["state"] == "PENDING"
    bad = run("show", "apr_x", "--db", url)
    assert bad.exit_code != 0 and "is not an approval id" in bad.output
    unknown = run("show", "apr_01J00000000000000000000000", "--db", url)
    assert unknown.exit_code != 0 and "no approval" in unknown.output
