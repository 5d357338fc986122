"""An OpenAI Agents SDK agent whose function tools chamberlain guards (``python examples/agents/openai_agents_agent.py``).

The scripted model (a ``Model`` implementation, no network) asks for a lookup, a small refund, a big
refund and a hidden tool, then answers; ``OPENAI_API_KEY`` set: a real model instead. Tracing is
off: nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from agents import Agent, Model, ModelResponse, RunConfig, Runner, Usage, function_tool, set_tracing_disabled
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText

sys.path.insert(0, str(Path(__file__).parent))
import support_tools as s  # noqa: E402

from chamberlain.integrations.openai_agents import guard_tools  # noqa: E402

CALLS = [("c1", "lookup_order", '{"order_id": "A-1"}'), ("c2", "refund", '{"order_id": "A-1", "amount": 40}'),
         ("c3", "refund", '{"order_id": "A-1", "amount": 400}'), ("c4", "delete_customer", '{"customer_id": "cu-9"}')]  # fmt: skip

#: What the scripted model was offered and read, for the tests.
SEEN: dict[str, Any] = {}


class ScriptedModel(Model):
    """Turn 1: the tool calls; turn 2: an answer, having read the tool outputs."""

    async def get_response(self, system_instructions: Any, input: Any, model_settings: Any, tools: list[Any],
                           output_schema: Any, handoffs: Any, tracing: Any, **kwargs: Any) -> ModelResponse:  # fmt: skip
        SEEN["offered"] = [t.name for t in tools]
        items = input if isinstance(input, list) else []
        outputs = {i["call_id"]: i["output"] for i in items if isinstance(i, dict) and i.get("type") == "function_call_output"}  # fmt: skip
        if not outputs:
            calls = [ResponseFunctionToolCall(type="function_call", id=f"fc-{c}", call_id=c, name=name, arguments=args,
                                              status="completed") for c, name, args in CALLS]  # fmt: skip
            return ModelResponse(output=calls, usage=Usage(), response_id=None)
        SEEN["results"] = outputs
        text = ResponseOutputText(type="output_text", text="Refunded 40; the 400 refund needs a person's approval.",
                                  annotations=[])  # fmt: skip
        message = ResponseOutputMessage(
            type="message", id="m1", role="assistant", status="completed", content=[text]
        )
        return ModelResponse(output=[message], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError("the scripted model does not stream")


def build(pdp: Any, model: Any = None) -> Agent[Any]:
    tools = guard_tools([function_tool(s.lookup_order), function_tool(s.refund), function_tool(s.delete_customer)],
                        s.guard_for(pdp))  # fmt: skip
    return Agent(
        name="support", instructions="Help with orders.", tools=tools, model=model or ScriptedModel()
    )


def run(log_dir: str, model: Any = None) -> str:
    SEEN.clear()
    set_tracing_disabled(True)
    with s.open_pdp(log_dir) as pdp:
        result = asyncio.run(Runner.run(build(pdp, model), "Refund order A-1",
                                        run_config=RunConfig(tracing_disabled=True,
                                                             tool_not_found_behavior="return_error_to_model")))  # fmt: skip
        return str(result.final_output)


if __name__ == "__main__":
    print(run(tempfile.mkdtemp(), "gpt-4o-mini" if s.real_model_wanted() else None))
