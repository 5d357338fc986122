"""The OpenAI Agents SDK: function tools chamberlain checks before each call (install ``chamberlain[openai-agents]``).

>>> tools = guard_tools([lookup_order, refund], guard)    # @function_tool tools
>>> Agent(name="support", tools=tools)

A guarded tool is enabled (offered to the model) only when ``tools/list::<name>`` allows it; a
denied call returns the denial as the tool's output (the model reads it) unless the guard raises.
Arguments that are not a JSON object, or do not match the tool's JSON schema (the SDK would coerce
``"5000"`` to 5000 after the check), are denied, saying so.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Iterable
from typing import Any

import jsonschema

from chamberlain.extras import needs

with needs("openai-agents", "chamberlain.integrations.openai_agents"):
    from agents import FunctionTool

from chamberlain.integrations.tools import ToolGuard

__all__ = ["guard_tool", "guard_tools"]


def guard_tool(tool: FunctionTool, guard: ToolGuard) -> FunctionTool:
    """``tool`` with every call checked as ``tools/call::<name>`` with its arguments."""
    name, invoke, enabled = tool.name, tool.on_invoke_tool, tool.is_enabled

    async def on_invoke_tool(ctx: Any, input_json: str) -> Any:
        try:
            arguments = json.loads(input_json or "{}")
        except ValueError as exc:
            arguments = exc
        if not isinstance(arguments, dict):
            return guard.denied(guard.refused(name, "its arguments are not a JSON object"))
        wrong = _schema_problem(tool.params_json_schema, arguments)
        if wrong:
            return guard.denied(guard.refused(name, f"its arguments do not match the tool's schema: {wrong}"))
        decision = await guard.check_async(name, arguments)
        return await invoke(ctx, input_json) if decision.allowed else guard.denied(decision)

    async def is_enabled(ctx: Any, agent: Any) -> bool:
        own = enabled(ctx, agent) if callable(enabled) else enabled
        if inspect.isawaitable(own):
            own = await own
        return bool(own) and bool(await guard.visible_async([name]))

    return dataclasses.replace(tool, on_invoke_tool=on_invoke_tool, is_enabled=is_enabled)


def _schema_problem(schema: Any, arguments: dict[str, Any]) -> str:
    """Why ``arguments`` do not match the tool's JSON schema, or ``""``. The SDK validates them with Pydantic
    in lax mode after the check, which turns ``"amount": "5000"`` into 5000: the policy must decide on the
    values the tool receives, not on a string where a number belongs (a DENY ``amount > 100`` fails on the
    string and is skipped under Cerbos's default evaluation)."""
    if not isinstance(schema, dict) or not schema:
        return ""
    try:
        validator = jsonschema.validators.validator_for(schema)(schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
    except jsonschema.exceptions.SchemaError as exc:
        return f"the schema is not valid ({exc.message})"
    if error is None:
        return ""
    where = "/".join(str(p) for p in error.absolute_path) or "(the arguments)"
    return f"{where}: {error.message}"


def guard_tools(tools: Iterable[FunctionTool], guard: ToolGuard) -> list[FunctionTool]:
    """Each tool guarded (hidden from the model when policy does not list it)."""
    return [guard_tool(t, guard) for t in tools]
