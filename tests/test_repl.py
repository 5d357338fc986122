"""`chamberlain repl`: CEL with Cerbos's variables and REPL directives, on a terminal or piped input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from chamberlain.repl import HELP, Repl

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "policies"
REQUEST = (
    '{"principal": {"id": "agent-7", "roles": ["agent"], "attr": {"delegator": {"id": "alice"}}}, '
    '"resource": {"kind": "invoice", "id": "i1", "attr": {"amount": 8000, "status": "SUBMITTED"}}}'
)


def test_expressions_let_and_the_last_value():
    repl = Repl()
    assert repl.line("1 + 1") == "2"
    assert repl.line("_ + 5") == "7"
    assert repl.line(":let x = 12") == "x = 12"
    assert repl.line("x * 2") == "24"
    assert repl.line("now() > timestamp('2020-01-01T00:00:00Z')") == "true"


def test_cerbos_variables_stay_consistent():
    repl = Repl()
    repl.line(':let P = {"id": "alice", "roles": ["user"], "attr": {"dept": "eng"}}')
    assert repl.line("request.principal.attr.dept == P.attr.dept") == "true"
    repl.line(f":let request = {REQUEST}")
    assert repl.line("P.id + ' ' + R.kind") == '"agent-7 invoice"'
    assert repl.line(':let V = {"limit": 5}') == 'V = {"limit": 5}'
    assert repl.line("variables.limit") == "5"
    assert repl.line("V.missing").startswith("error: undefined field 'missing'")


def test_load_a_policy_and_exec_its_conditions():
    repl = Repl()
    out = repl.line(f":load {EXAMPLES / 'resource_policies' / 'invoice.yaml'}")
    assert "variables import 'finance' is not loaded" in out  # exports first, as in Cerbos's REPL
    repl.line(f":load {EXAMPLES / 'export_constants' / 'limits.yaml'}")
    repl.line(f":load {EXAMPLES / 'export_variables' / 'finance.yaml'}")
    assert "rules #1 to #7 have conditions" in repl.line(
        f":load {EXAMPLES / 'resource_policies' / 'invoice.yaml'}"
    )
    assert "#3 " in repl.line(":rules") and "rule 'agent-approve'" in repl.line(":rules")
    repl.line(f":let request = {REQUEST}")
    assert repl.line(":exec #3").splitlines() == [
        "[all] -> false",
        '  R.attr.status == "SUBMITTED" -> true',
        "  V.amount <= C.agent_approval_limit -> false",  # 8000 > 5000
    ]
    assert repl.line(":exec #99").startswith("error: expected :exec #N with N from 1 to 7")


def test_directives_help_reset_quit_and_bad_input():
    repl = Repl()
    assert repl.line(":help") == HELP and repl.line(":h") == HELP
    repl.line(":let x = 1")
    assert repl.line(":reset") == "variables and rules cleared"
    assert repl.line("x").startswith("error: ")
    assert repl.line(":nope") == "error: unknown directive :nope (:help lists them)"
    assert repl.line(":let = 3") == "error: expected :let NAME = EXPR"
    assert repl.line(":let P = [1]") == "error: P must be a JSON object, got list"
    assert repl.line(":load /no/such/file.yaml").startswith("error: cannot load /no/such/file.yaml")
    assert repl.line("1 +").startswith("error: Syntax error")
    assert repl.line(":q") is None


def test_piped_input_runs_to_quit():
    script = ":let x = 20\nx + 22\n:vars\n:q\nnot reached\n"
    done = subprocess.run(
        [sys.executable, "-m", "chamberlain", "repl"],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["x = 20", "42"] and "x = 20" in lines[2:] and "not reached" not in done.stdout


def test_the_cli_reference_sample_runs_as_shown(tmp_path):
    """docs/reference/cli.md's repl sample, run from the repository root by the page runner's matching."""
    import re

    from tests.docs.page_runner import matches

    root = EXAMPLES.parents[1]
    page = (root / "docs" / "reference" / "cli.md").read_text()
    sample = re.search(r"```console\n\$ (printf .*? \| chamberlain repl)\n(.*?)```", page, re.S)
    assert sample is not None
    command = sample.group(1).replace("| chamberlain repl", f"| {sys.executable} -m chamberlain repl")
    done = subprocess.run(command, shell=True, cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert matches(sample.group(2), done.stdout), done.stdout
