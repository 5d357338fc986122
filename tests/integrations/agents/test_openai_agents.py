"""An OpenAI Agents SDK agent (a scripted Model through the SDK's public interface: no network) with guarded tools."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agents import function_tool

from chamberlain import PDP
from chamberlain.integrations.openai_agents import guard_tool
from chamberlain.integrations.tools import ToolGuard
from tests.integrations.agents.support import example, support_tools


def test_the_agent_runs_what_policy_allows_and_the_model_reads_the_denials(tmp_path: Path) -> None:
    s = support_tools()
    agent = example("openai_agents_agent")
    output = agent.run(str(tmp_path))
    assert sorted(s.RAN, key=str) == [
        ("lookup_order", {"order_id": "A-1"}),
        ("refund", {"order_id": "A-1", "amount": 40}),
    ]
    assert agent.SEEN["offered"] == ["lookup_order", "refund"]  # delete_customer is disabled by policy
    results = agent.SEEN["results"]
    assert results["c1"] == "order A-1: delivered, 120.00 EUR" and results["c2"] == "refunded 40.0 on A-1"
    assert "chamberlain denied the call to tool 'refund'" in results["c3"]
    assert "rule 'small-refunds': its condition did not hold" in results["c3"]
    assert "delete_customer" in results["c4"] and "delete_customer" not in [n for n, _ in s.RAN]
    assert output.startswith("Refunded 40")


def test_arguments_that_are_not_an_object_are_denied() -> None:
    s = support_tools()
    guarded = guard_tool(
        function_tool(s.lookup_order), ToolGuard(PDP.from_directory(s.POLICIES), s.AGENT, server="billing")
    )
    answer = asyncio.run(guarded.on_invoke_tool(None, "[1, 2]"))  # type: ignore[arg-type]
    assert "its arguments are not a JSON object" in answer and s.RAN == []


def test_arguments_the_sdk_would_coerce_are_denied(tmp_path: Path) -> None:
    """The SDK validates a call's arguments in Pydantic's lax mode after the guard: ``"amount": "5000"``
    reached the policy as a string (the guarding DENY ``amount > 100`` failed on it and was skipped, as Cerbos
    skips it) and the tool as 5000.0: a refund of 5000 ran."""
    import json

    from agents.tool_context import ToolContext

    from tests.integrations.agents.test_tools import REFUNDS_UP_TO_100

    s = support_tools()
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "refunds.yaml").write_text(REFUNDS_UP_TO_100)
    guarded = guard_tool(
        function_tool(s.refund), ToolGuard(PDP.from_directory(folder), s.AGENT, server="billing")
    )

    def call(arguments: dict[str, object]) -> str:
        raw = json.dumps(arguments)
        context = ToolContext(context=None, tool_name="refund", tool_call_id="c1", tool_arguments=raw)
        return asyncio.run(guarded.on_invoke_tool(context, raw))

    assert call({"order_id": "A-1", "amount": 50}) == "refunded 50.0 on A-1"
    answer = call({"order_id": "A-1", "amount": "5000"})
    assert answer.startswith("chamberlain denied the call to tool 'refund'"), answer
    assert "do not match the tool's schema: amount: '5000' is not of type 'number'" in answer
    assert s.RAN == [("refund", {"order_id": "A-1", "amount": 50.0})]
