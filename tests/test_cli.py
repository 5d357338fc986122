"""The `check` and `compile` commands."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from chamberlain.cli import app
from tests.engine.test_engine import DERIVED, DOCUMENT

runner = CliRunner()

SUITE = """
name: document tests
tests:
  - name: owner edits a draft
    input:
      principals: [alice]
      resources: [draft]
      actions: [edit, delete]
    expected:
      - principal: alice
        resource: draft
        actions:
          edit: EFFECT_ALLOW
        outputs:
          - action: edit
            expected:
              - src: resource.document.vdefault#owner-edits-drafts
                val: edited by alice
principals:
  alice: {id: alice, roles: [user]}
resources:
  draft: {kind: document, id: d1, attr: {owner: alice, status: draft}}
"""


def _policies(tmp_path: Path, suite: str = SUITE) -> Path:
    root = tmp_path / "policies"
    root.mkdir()
    (root / "derived.yaml").write_text(DERIVED)
    (root / "document.yaml").write_text(DOCUMENT)
    (root / "document_test.yaml").write_text(suite)
    return root


def test_check_prints_the_cerbos_response(tmp_path: Path):
    policies = _policies(tmp_path)
    request = tmp_path / "req.json"
    request.write_text(
        json.dumps(
            {
                "requestId": "x",
                "principal": {"id": "alice", "roles": ["user"]},
                "resources": [
                    {
                        "actions": ["edit"],
                        "resource": {
                            "kind": "document",
                            "id": "d1",
                            "attr": {"owner": "alice", "status": "draft"},
                        },
                    }
                ],
            }
        )
    )
    result = runner.invoke(app, ["check", "--policies", str(policies), "--request", str(request)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["results"][0]["actions"] == {"edit": "EFFECT_ALLOW"}


def test_check_rejects_a_bad_request(tmp_path: Path):
    policies = _policies(tmp_path)
    request = tmp_path / "req.json"
    request.write_text(json.dumps({"principal": {"id": "alice"}, "resources": []}))
    result = runner.invoke(app, ["check", "--policies", str(policies), "--request", str(request)])
    assert result.exit_code == 2
    assert "principal.roles" in result.output


def test_plan_prints_the_cerbos_response(tmp_path: Path):
    policies = _policies(tmp_path)
    request = tmp_path / "plan.yaml"
    request.write_text("action: edit\nprincipal: {id: alice, roles: [user]}\nresource: {kind: document}\n")
    result = runner.invoke(app, ["plan", "--policies", str(policies), "--request", str(request)])
    assert result.exit_code == 0, result.output
    condition = json.loads(result.output)["filter"]["condition"]["expression"]
    assert condition["operator"] == "and"  # the derived role's condition (owner) and the rule's (a draft)
    assert {
        "expression": {
            "operator": "eq",
            "operands": [{"variable": "request.resource.attr.status"}, {"value": "draft"}],
        }
    } in condition["operands"]
    request.write_text("principal: {id: alice, roles: [user]}\nresource: {kind: document}\n")
    result = runner.invoke(app, ["plan", "--policies", str(policies), "--request", str(request)])
    assert (
        result.exit_code == 2
        and "validation error: Exactly one of 'action' or 'actions' field must be set" in result.output
    )


def test_compile_runs_the_suites(tmp_path: Path):
    policies = _policies(tmp_path)
    result = runner.invoke(app, ["compile", str(policies)])
    assert result.exit_code == 0, result.output
    assert "PASSED: 2 tests" in result.output
    junit = runner.invoke(app, ["compile", str(policies), "--output", "junit"])
    assert junit.exit_code == 0 and "<testsuites>" in junit.output
    as_json = json.loads(runner.invoke(app, ["compile", str(policies), "--output", "json"]).output)
    assert as_json["summary"]["overallResult"] == "RESULT_PASSED"


def test_compile_fails_on_a_failing_test(tmp_path: Path):
    result = runner.invoke(
        app, ["compile", str(_policies(tmp_path, SUITE.replace("edit: EFFECT_ALLOW", "edit: EFFECT_DENY")))]
    )
    assert result.exit_code == 1
    assert (
        "FAIL owner edits a draft / alice / draft / edit: expected EFFECT_DENY, got EFFECT_ALLOW"
        in result.output
    )


def test_version_and_python_dash_m():
    import subprocess
    import sys

    from chamberlain import __version__

    done = subprocess.run(
        [sys.executable, "-m", "chamberlain", "--version"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"chamberlain {__version__}"


def test_the_cli_does_not_import_the_mcp_sdk_until_mcp_proxy_runs():
    import subprocess
    import sys

    code = "import sys, chamberlain.cli; print(any(m == 'mcp' or m.startswith('mcp.') for m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


def test_check_names_a_json_mistake_as_invalid_json(tmp_path):
    bad = tmp_path / "request.json"
    bad.write_text('{"principal": ')
    result = runner.invoke(app, ["check", "--policies", str(_policies(tmp_path)), "--request", str(bad)])
    assert result.exit_code == 2
    assert "invalid JSON: unexpected end of data" in result.output


def test_compile_warns_on_an_empty_folder_and_counts_in_english(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["compile", str(empty)])
    assert "warning: " in result.output and "holds no policies" in result.output
    assert "0 policies compiled" in result.output
    single = tmp_path / "single"
    single.mkdir()
    (single / "derived.yaml").write_text(DERIVED)
    one = runner.invoke(app, ["compile", "--skip-tests", str(single)])
    assert one.output == "1 policy compiled\n"


def test_compile_reports_a_suite_that_fails_to_load_in_the_summary(tmp_path):
    folder = _policies(tmp_path)
    (folder / "broken_test.yaml").write_text("name: broken\nresources: [\n")
    result = runner.invoke(app, ["compile", str(folder)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].endswith("; 1 suite failed to load")


def test_the_cli_reference_shows_what_compile_prints_for_the_examples():
    """docs/reference/cli.md's sample is the real output of `chamberlain compile examples/policies`."""
    import re

    root = Path(__file__).resolve().parents[1]
    page = (root / "docs/reference/cli.md").read_text()
    sample = re.search(r"```console\n\$ chamberlain compile examples/policies\n(.*?)```", page, re.S)
    assert sample is not None
    result = runner.invoke(app, ["compile", str(root / "examples/policies")])
    assert result.exit_code == 0, result.output
    assert result.output == sample.group(1)


def test_every_command_reports_errors_in_one_style(tmp_path):
    """`error: ...` on stderr and exit 2, from the root command and from each command group."""
    missing = str(tmp_path / "missing")
    for argv in (
        ["check", "--policies", missing, "--request", missing],
        ["audit", "head", "--db", f"sqlite:///{missing}/x.db"],
        ["token", "inspect", "not-a-token"],
    ):
        result = runner.invoke(app, argv)
        assert result.exit_code == 2, (argv, result.output)
        assert result.stderr.startswith("error: "), (argv, result.stderr)
