"""A Pydantic AI agent whose toolset chamberlain guards (``python examples/agents/pydantic_ai_agent.py``).

The scripted model (Pydantic AI's ``FunctionModel``) asks for a lookup, a small refund, a big refund
and a hidden tool, then answers with what it saw; ``OPENAI_API_KEY`` set: a real model instead.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.toolsets import FunctionToolset

sys.path.insert(0, str(Path(__file__).parent))
import support_tools as s  # noqa: E402

from chamberlain.integrations.pydantic_ai import GuardedToolset  # noqa: E402

CALLS = [
    ToolCallPart("lookup_order", {"order_id": "A-1"}, "c1"),
    ToolCallPart("refund", {"order_id": "A-1", "amount": 40}, "c2"),
    ToolCallPart("refund", {"order_id": "A-1", "amount": 400}, "c3"),
    ToolCallPart("delete_customer", {"customer_id": "cu-9"}, "c4"),
]

#: What the scripted model was offered and read, for the tests.
SEEN: dict[str, Any] = {}


def scripted(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """First turn: the calls; then: report the tools offered and every tool result read."""
    SEEN["offered"] = [t.name for t in info.function_tools]
    returns = [
        p for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, ToolReturnPart)
    ]
    if not returns and not SEEN.get("called"):
        SEEN["called"] = True
        return ModelResponse(parts=list(CALLS))
    SEEN["results"] = {p.tool_call_id: str(p.content) for p in returns}
    return ModelResponse(parts=[TextPart("Refunded 40; the 400 refund needs a person's approval.")])


def build(pdp: Any, model: Any = None) -> Agent[None, str]:
    toolset = GuardedToolset(FunctionToolset([s.lookup_order, s.refund, s.delete_customer]), s.guard_for(pdp))
    return Agent(model or FunctionModel(scripted), toolsets=[toolset])


def run(log_dir: str, model: Any = None) -> str:
    SEEN.clear()
    with s.open_pdp(log_dir) as pdp:
        return build(pdp, model).run_sync("Refund order A-1").output


if __name__ == "__main__":
    print(run(tempfile.mkdtemp(), "openai:gpt-4o-mini" if s.real_model_wanted() else None))
