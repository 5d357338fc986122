"""A Pydantic AI agent (FunctionModel / TestModel: no network) with chamberlain's guarded toolset."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import ModelResponse, ToolCallPart
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.models.test import TestModel
from pydantic_ai.toolsets import FunctionToolset

from chamberlain import PDP
from chamberlain.integrations.pydantic_ai import guard_toolset
from chamberlain.integrations.tools import ToolDenied, ToolGuard
from tests.integrations.agents.support import example, support_tools


def test_the_agent_runs_what_policy_allows_and_the_model_reads_the_denials(tmp_path: Path) -> None:
    s = support_tools()
    agent = example("pydantic_ai_agent")
    output = agent.run(str(tmp_path))
    # Pydantic AI runs a turn's tool calls concurrently: compare what ran, not in which order.
    assert sorted(s.RAN, key=str) == [
        ("lookup_order", {"order_id": "A-1"}),
        ("refund", {"order_id": "A-1", "amount": 40}),
    ]
    assert agent.SEEN["offered"] == ["lookup_order", "refund"]  # delete_customer is not listed by policy
    results = agent.SEEN["results"]
    assert results["c1"] == "order A-1: delivered, 120.00 EUR" and results["c2"] == "refunded 40.0 on A-1"
    assert "chamberlain denied the call to tool 'refund'" in results["c3"]
    assert "rule 'small-refunds': its condition did not hold" in results["c3"]
    assert '"approval":"required"' in results["c3"]
    assert "Unknown tool name: 'delete_customer'" in results["c4"]  # never offered, never run
    assert output.startswith("Refunded 40")


def test_test_model_calls_only_the_offered_tools() -> None:
    """Pydantic AI's TestModel calls every tool it is offered: the hidden one is never among them."""
    s = support_tools()
    toolset = guard_toolset(
        FunctionToolset([s.lookup_order, s.delete_customer]),
        ToolGuard(PDP.from_directory(s.POLICIES), s.AGENT, server="billing"),
    )
    Agent(TestModel(), toolsets=[toolset]).run_sync("go")
    assert [name for name, _ in s.RAN] == ["lookup_order"]


def test_on_deny_raise_ends_the_run() -> None:
    s = support_tools()
    toolset = guard_toolset(
        FunctionToolset([s.refund]),
        ToolGuard(PDP.from_directory(s.POLICIES), s.AGENT, server="billing", on_deny="raise"),
    )
    model = FunctionModel(
        lambda messages, info: ModelResponse(
            parts=[ToolCallPart("refund", {"order_id": "A-1", "amount": 500})]
        )
    )
    with pytest.raises(ToolDenied, match="small-refunds"):
        Agent(model, toolsets=[toolset]).run_sync("go")
    assert s.RAN == []
