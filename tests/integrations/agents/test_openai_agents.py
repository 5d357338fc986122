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
