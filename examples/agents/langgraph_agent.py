"""A LangGraph agent whose tools chamberlain guards (``python examples/agents/langgraph_agent.py``).

The scripted model asks for a lookup, a small refund, a big refund and a hidden tool; the graph runs
the allowed calls and hands the model chamberlain's denials for the others.
"""

from __future__ import annotations

import sys
import tempfile
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
import support_tools as s

from chamberlain.integrations.langchain import guard_tools

SCRIPT = [
    AIMessage("", tool_calls=[
        {"name": "lookup_order", "args": {"order_id": "A-1"}, "id": "c1"},
        {"name": "refund", "args": {"order_id": "A-1", "amount": 40}, "id": "c2"},
        {"name": "refund", "args": {"order_id": "A-1", "amount": 400}, "id": "c3"},
        {"name": "delete_customer", "args": {"customer_id": "cu-9"}, "id": "c4"},
    ]),
    AIMessage("Refunded 40; the 400 refund needs a person's approval."),
]  # fmt: skip


def build(pdp: Any, model: Any = None) -> tuple[Any, list[str]]:
    """The graph (model -> tools -> model ...) and the names of the tools offered to the model."""
    tools = guard_tools([tool(s.lookup_order), tool(s.refund), tool(s.delete_customer)], s.guard_for(pdp))
    model = GenericFakeChatModel(messages=iter(SCRIPT)) if model is None else model.bind_tools(tools)

    def agent(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [model.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    # A hidden tool is not in the node: a model that names it anyway gets LangGraph's "not a valid tool".
    graph.add_node("tools", ToolNode(tools, handle_tool_errors=True))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition, {"tools": "tools", END: END})
    graph.add_edge("tools", "agent")
    return graph.compile(), [t.name for t in tools]


def run(log_dir: str, model: Any = None) -> list[BaseMessage]:
    with s.open_pdp(log_dir) as pdp:
        graph, _ = build(pdp, model)
        return graph.invoke({"messages": [HumanMessage("Refund order A-1")]})["messages"]


def real_model() -> Any:
    """``OPENAI_API_KEY`` set: a real model (needs ``pip install langchain-openai``); else the scripted one."""
    if not s.real_model_wanted():
        return None
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model="gpt-4o-mini")


if __name__ == "__main__":
    for message in run(tempfile.mkdtemp(), real_model()):
        print(f"{message.type}: {message.content}")
