"""LangChain tools and a LangGraph agent (GenericFakeChatModel: no network) under chamberlain's guard."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import Tool, tool

from chamberlain import PDP
from chamberlain.integrations.langchain import guard_tool, guard_tools
from chamberlain.integrations.tools import ToolDenied, ToolGuard
from tests.integrations.agents.support import example, support_tools


def test_the_langgraph_agent_runs_what_policy_allows_and_the_model_reads_the_denials(tmp_path: Path) -> None:
    tools = support_tools()
    messages = example("langgraph_agent").run(str(tmp_path))
    assert sorted(tools.RAN, key=str) == [
        ("lookup_order", {"order_id": "A-1"}),
        ("refund", {"order_id": "A-1", "amount": 40}),
    ]
    seen = {m.tool_call_id: m.content for m in messages if isinstance(m, ToolMessage)}
    assert seen["c1"] == "order A-1: delivered, 120.00 EUR" and seen["c2"] == "refunded 40.0 on A-1"
    assert "chamberlain denied the call to tool 'refund'" in seen["c3"]
    assert (
        "resource.mcp_server.vdefault: no rule allowed it (default deny) (rule 'small-refunds': its condition did not hold)"
        in seen["c3"]
    )
    assert '"approval":"required"' in seen["c3"]
    assert "delete_customer is not a valid tool" in seen["c4"]  # hidden: never offered, never run
    assert messages[-1].content.startswith("Refunded 40")


def test_hidden_tools_are_not_offered(tmp_path: Path) -> None:
    s = support_tools()
    with s.open_pdp(tmp_path) as pdp:
        _, offered = example("langgraph_agent").build(pdp)
    assert offered == ["lookup_order", "refund"]


def test_a_guarded_tool_keeps_its_schema_and_can_raise() -> None:
    s = support_tools()
    pdp = PDP.from_directory(s.POLICIES)
    original = tool(s.refund)
    [guarded] = guard_tools([original], ToolGuard(pdp, s.AGENT, server="billing", on_deny="raise"))
    assert guarded.name == "refund" and guarded.args == original.args
    assert guarded.invoke({"order_id": "A-1", "amount": 5}) == "refunded 5.0 on A-1"
    with pytest.raises(ToolDenied, match="small-refunds"):
        guarded.invoke({"order_id": "A-1", "amount": 500})
    assert s.RAN == [("refund", {"order_id": "A-1", "amount": 5})]


def test_a_tool_without_a_schema_is_checked_with_its_input() -> None:
    s = support_tools()
    plain = Tool(name="lookup_order", description="look up", func=lambda text: s.lookup_order(text))
    guarded = guard_tool(plain, ToolGuard(PDP.from_directory(s.POLICIES), s.AGENT, server="billing"))
    assert guarded.invoke("A-7") == "order A-7: delivered, 120.00 EUR"
    other = guard_tool(
        Tool(name="delete_customer", description="x", func=s.delete_customer),
        ToolGuard(PDP.from_directory(s.POLICIES), s.AGENT, server="billing"),
    )
    assert "denied" in other.invoke("cu-1") and s.RAN == [("lookup_order", {"order_id": "A-7"})]


def test_every_decision_is_in_the_log_with_the_session(tmp_path: Path) -> None:
    from chamberlain import acting_for
    from chamberlain.audit.storage.reader import AuditReader, Filter
    from chamberlain.store.db import open_database

    support_tools()
    with acting_for(session_id="sess-1"):
        example("langgraph_agent").run(str(tmp_path))
    db = open_database(f"sqlite:///{tmp_path / 'decisions.db'}")
    try:
        entries = AuditReader(db).search(Filter(limit=100))
    finally:
        db.close()
    # ToolNode may run a turn's calls concurrently: compare what was logged, not in which order.
    calls = sorted((e["action"], e["effect"]) for e in entries if e["action"].startswith("tools/call::"))
    assert calls == [
        ("tools/call::lookup_order", "EFFECT_ALLOW"),
        ("tools/call::refund", "EFFECT_ALLOW"),
        ("tools/call::refund", "EFFECT_DENY"),
    ]
    assert {e["session_id"] for e in entries} == {"sess-1"} and {e["point"] for e in entries} == {"sdk:tools"}
