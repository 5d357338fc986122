"""The example policies (examples/policies/): real Cerbos and chamberlain both compile them and pass their test suites."""

from __future__ import annotations

from typer.testing import CliRunner

from chamberlain import PDP, Principal, Resource
from chamberlain.cli import app
from tests.support.cerbos_server import REPO_ROOT, require_cerbos, run_compile

EXAMPLES = REPO_ROOT / "examples" / "policies"


def test_real_cerbos_compiles_examples_and_passes_their_tests() -> None:
    result = run_compile(require_cerbos(), EXAMPLES)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "tests executed" in output and "FAILED" not in output, output


def test_chamberlain_compiles_examples_and_passes_their_tests() -> None:
    result = CliRunner().invoke(app, ["compile", str(EXAMPLES)])
    assert result.exit_code == 0, result.output


def test_agent_pays_within_its_limit_only() -> None:
    pdp = PDP.from_directory(EXAMPLES)
    agent = Principal(
        "agent-7", roles={"agent"}, attr={"delegator": {"id": "alice", "roles": ["finance_clerk"]}}
    )

    def invoice(amount: int, status: str) -> Resource:
        attrs = {"amount": amount, "currency": "EUR", "status": status, "submittedBy": "alice"}
        return Resource("invoice", "inv-1", attr=attrs)

    assert pdp.is_allowed(agent, invoice(800, "SUBMITTED"), "pay")
    assert not pdp.is_allowed(agent, invoice(4200, "SUBMITTED"), "pay")
    assert pdp.is_allowed(agent, invoice(4200, "APPROVED"), "pay")
    assert not pdp.is_allowed(agent, invoice(800, "SUBMITTED"), "approve")
