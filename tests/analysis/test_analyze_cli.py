"""``chamberlain analyze``: hand-checked vault map answers, usage and proposals, impact replay, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chamberlain import PDP, Principal, Resource
from chamberlain.cli import app
from tests.analysis.support import (
    INVOICE,
    POLICIES,
    delegation_service,
    log_delegated_check,
    without_clerk_view,
)
from tests.analysis.support import candidate as candidate_folder

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _cells(data: dict) -> dict[tuple[str, str, str], dict]:
    return {(c["subject"], c["resource"], c["action"]): c for c in data["cells"]}


def test_access_map_known_answers(tmp_path: Path) -> None:
    html = tmp_path / "map.html"
    code, out = _run(
        "analyze",
        "access",
        "--policies",
        str(POLICIES),
        "--sensitive",
        "invoice:pay",
        "--json",
        "--html",
        str(html),
        "--principal",
        "release-bot=developer",
    )
    assert code == 0, out
    cells = _cells(json.loads(out))
    # auditors view every invoice, and nothing else
    assert cells[("role:auditor", "invoice", "view")]["access"] == "ALWAYS"
    assert cells[("role:auditor", "invoice", "pay")]["access"] == "NEVER"
    # a bare agent's derived roles read P.attr.delegator: conditional on it, never a false NEVER
    view = cells[("role:agent", "invoice", "view")]
    assert view["access"] == "CONDITIONALLY"
    assert '"finance_clerk" in P.attr.delegator.roles' in view["conditions"][0]["condition"]
    # clerks pay what is approved, or submitted and small, never what is paid
    pay = cells[("role:finance_clerk", "invoice", "pay")]["conditions"][0]["condition"]
    assert (
        pay
        == 'R.attr.status != "PAID" && (R.attr.status == "APPROVED" || (R.attr.status == "SUBMITTED" && double(R.attr.amount) <= 1000))'
    )
    # approving needs the approver derived role: a manager, not the submitter
    assert cells[("role:finance_clerk", "invoice", "approve")]["access"] == "NEVER"
    approver = cells[("derived_role:approver", "invoice", "approve")]
    assert approver["conditions"][0]["via"] == "as finance_manager"
    assert "R.attr.submittedBy != P.id" in approver["conditions"][0]["condition"]
    # the release bot's principal policy denies every invoice action whatever its roles say
    assert cells[("principal:release-bot", "invoice", "view")]["access"] == "NEVER"
    lead = json.loads(out)["sensitive"][0]
    assert lead["resource"] == "invoice" and lead["action"] == "pay"
    assert "role:finance_clerk" in lead["can"] and "role:auditor" not in lead["can"]
    report = html.read_text()
    assert "<svg" in report and "Sensitive systems" in report and "finance_clerk" in report


def test_chains_intersect_with_the_registry(tmp_path: Path) -> None:
    agents = tmp_path / "agents.yaml"
    agents.write_text("agents:\n  pay-bot: {roles: [invoice_assistant]}\n")
    db = tmp_path / "log.db"
    with PDP.from_directory(POLICIES, audit=db) as pdp:
        pdp.check(
            Principal("carol", ("finance_clerk",)),
            Resource("invoice", "i1", INVOICE),
            ["view"],
            actor_chain=["pay-bot"],
        )
    code, out = _run(
        "analyze",
        "access",
        "--policies",
        str(POLICIES),
        "--db",
        f"sqlite:///{db}",
        "--agents",
        str(agents),
        "--json",
    )
    assert code == 0, out
    cells = _cells(json.loads(out))
    chain = "chain:carol → pay-bot"
    assert cells[(chain, "invoice", "view")]["access"] == "ALWAYS"  # both always may
    assert cells[(chain, "invoice", "create")]["access"] == "NEVER"  # the assistant never may
    pay = cells[(chain, "invoice", "pay")]  # both conditionally: both conditions, each named
    assert pay["access"] == "CONDITIONALLY"
    assert [c["via"] for c in pay["conditions"]] == ["carol", "pay-bot"]


def _log(tmp_path: Path) -> Path:
    db = tmp_path / "log.db"
    with PDP.from_directory(POLICIES, audit=db) as pdp:
        carol = Principal("carol", ("finance_clerk",))
        for i in range(3):
            pdp.check(carol, Resource("invoice", f"inv-{i}", INVOICE), ["view"])
        pdp.check(carol, Resource("invoice", "inv-9", INVOICE), ["pay"])
        pdp.check(
            Principal("dave", ("finance_manager",)),
            Resource("invoice", "inv-7", {**INVOICE, "status": "SUBMITTED"}),
            ["approve"],
        )
    return db


def test_usage_proposal_round_trip(tmp_path: Path) -> None:
    db = _log(tmp_path)
    proposals = tmp_path / "proposals"
    code, out = _run(
        "analyze",
        "usage",
        "--policies",
        str(POLICIES),
        "--db",
        f"sqlite:///{db}",
        "--since",
        "30d",
        "--propose",
        str(proposals),
        "--json",
    )
    assert code == 0, out
    data = json.loads(out)
    carol = next(s for s in data["subjects"] if s["principal"] == "carol")
    used = {(g["action"], g["uses"]) for g in carol["grants"]}
    assert ("view", 3) in used and ("pay", 1) in used
    assert {u["action"] for u in carol["unused"]} == {"create", "submit"}
    # the proposal compiles and its generated tests pass: used still allowed, unused now denied
    candidate = candidate_folder(tmp_path, *proposals.iterdir())
    code, out = _run("compile", str(candidate))
    assert code == 0, out
    assert "least_privilege_carol_test.yaml: LeastPrivilege_carol [PASSED]" in out
    # replaying the log against it flips nothing
    code, out = _run(
        "analyze",
        "impact",
        "--db",
        f"sqlite:///{db}",
        "--policies",
        str(candidate),
        "--json",
        "--fail-on-change",
    )
    assert code == 0, out
    assert json.loads(out)["replayed"] == 5 and json.loads(out)["changed"] == []


def test_impact_reports_flips_and_fails_on_change(tmp_path: Path) -> None:
    db = _log(tmp_path)
    candidate = candidate_folder(tmp_path)
    without_clerk_view(candidate)
    code, out = _run(
        "analyze",
        "impact",
        "--db",
        f"sqlite:///{db}",
        "--policies",
        str(candidate),
        "--json",
        "--current",
        str(POLICIES),
    )
    assert code == 0, out
    data = json.loads(out)
    assert data["replayed"] == 5
    flips = data["changed"]
    assert [(c["principal"], c["action"], c["before"], c["after"]) for c in flips] == [
        ("carol", "view", "EFFECT_ALLOW", "EFFECT_DENY")
    ] * 3
    assert set(flips[0]) >= {"index", "principal", "kind", "resourceId", "action", "before", "after"}
    assert [c["index"] for c in flips] == [0, 1, 2]
    assert any(c["subject"] == "role:finance_clerk" and c["action"] == "view" for c in data["mapChanges"])
    assert data["groups"] == [
        {
            "policy": "resource.invoice.vdefault",
            "principal": "carol",
            "action": "view",
            "before": "EFFECT_ALLOW",
            "after": "EFFECT_DENY",
            "count": 3,
            "examples": [0, 1, 2],
        }
    ]
    code, _ = _run(
        "analyze", "impact", "--db", f"sqlite:///{db}", "--policies", str(candidate), "--fail-on-change"
    )
    assert code == 1


def test_impact_refuses_a_tampered_log(tmp_path: Path) -> None:
    import sqlite3

    db = _log(tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_entries SET effect = 'EFFECT_DENY' WHERE seq = 1")
    code, out = _run("analyze", "impact", "--db", f"sqlite:///{db}", "--policies", str(POLICIES))
    assert code == 1
    assert "does not verify" in out


@pytest.mark.parametrize("since", ["yesterday", "-3d"])
def test_bad_window_is_a_clear_error(tmp_path: Path, since: str) -> None:
    db = _log(tmp_path)
    code, out = _run(
        "analyze", "usage", "--policies", str(POLICIES), "--db", f"sqlite:///{db}", "--since", since
    )
    assert code == 2
    assert "--since" in out


def test_time_budget_stops_and_says_so() -> None:
    from chamberlain.analysis import Budget, build_map, policy_subjects, policy_targets

    pdp = PDP.from_directory(POLICIES)
    ticks = iter(range(1000))
    budget = Budget(seconds=5, clock=lambda: float(next(ticks)))  # a clock that moves 1 s per reading
    vault = build_map(pdp.engine, policy_subjects(pdp.policies), policy_targets(pdp.policies), budget=budget)
    assert not vault.complete
    assert "time budget of 5 s" in vault.stopped
    assert 0 < len(vault.cells) < budget.total


def test_delegated_decisions_replay_every_party(tmp_path: Path) -> None:
    """A delegated check is logged with its chain's roles; the replay asks the person and each agent."""
    db = tmp_path / "log.db"
    with PDP.from_directory(POLICIES, audit=db) as pdp:
        log_delegated_check(delegation_service(pdp, tmp_path), pdp)
    # the assistant may view but never create: view ALLOW, create DENY (by the agent) were logged
    candidate = candidate_folder(tmp_path)
    invoice = candidate / "resource_policies" / "invoice.yaml"
    text = invoice.read_text()
    invoice.write_text(
        text.replace(
            '    - name: assistant-view\n      actions: ["view"]',
            '    - name: assistant-view\n      actions: ["list"]',
        )
    )
    assert invoice.read_text() != text
    code, out = _run("analyze", "impact", "--db", f"sqlite:///{db}", "--policies", str(candidate), "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["replayed"] == 2 and data["notReplayable"] == {}
    # the person still may view; the agent no longer may: the chain's view flips
    assert [(c["principal"], c["action"], c["before"], c["after"]) for c in data["changed"]] == [
        ("carol", "view", "EFFECT_ALLOW", "EFFECT_DENY")
    ]
