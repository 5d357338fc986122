"""LangChain and LangGraph: tools checked by chamberlain before each call (install ``chamberlain[langchain]``).

>>> guard = ToolGuard(pdp, Principal("support-agent", roles={"assistant"}), server="billing")
>>> tools = guard_tools([lookup_order, refund], guard)     # hidden tools left out, each call checked
>>> ToolNode(tools)                                         # LangGraph, or any agent taking tools

A guarded tool keeps its name, description and argument schema; a denied call returns the denial as
the tool's output (the model reads it) unless the guard raises. A tool without an argument schema
(a plain single-input ``Tool``) is checked with its input as ``{"input": ...}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chamberlain.extras import needs

with needs("langchain", "chamberlain.integrations.langchain"):
    from langchain_core.tools import BaseTool, StructuredTool, Tool

from chamberlain.integrations.tools import ToolGuard

__all__ = ["guard_tool", "guard_tools"]


def guard_tool(tool: BaseTool, guard: ToolGuard) -> BaseTool:
    """``tool`` with every call checked as ``tools/call::<name>`` with its arguments."""
    name = tool.name
    if tool.args_schema is None or isinstance(tool, Tool):

        def run_input(input: str) -> Any:
            decision = guard.check(name, {"input": input})
            return tool.invoke(input) if decision.allowed else guard.denied(decision)

        async def arun_input(input: str) -> Any:
            decision = await guard.check_async(name, {"input": input})
            return await tool.ainvoke(input) if decision.allowed else guard.denied(decision)

        return Tool(name=name, description=tool.description, func=run_input, coroutine=arun_input)

    def run(**arguments: Any) -> Any:
        decision = guard.check(name, arguments)
        return tool.invoke(arguments) if decision.allowed else guard.denied(decision)

    async def arun(**arguments: Any) -> Any:
        decision = await guard.check_async(name, arguments)
        return await tool.ainvoke(arguments) if decision.allowed else guard.denied(decision)

    return StructuredTool.from_function(
        func=run,
        coroutine=arun,
        name=name,
        description=tool.description,
        args_schema=tool.args_schema,
        return_direct=tool.return_direct,
    )


def guard_tools(tools: Iterable[BaseTool], guard: ToolGuard, *, hide: bool = True) -> list[BaseTool]:
    """Each tool guarded; with ``hide`` only the tools ``tools/list::<name>`` allows are kept (offered to the model)."""
    tools = list(tools)
    if hide:
        visible = set(guard.visible(t.name for t in tools))
        tools = [t for t in tools if t.name in visible]
    return [guard_tool(t, guard) for t in tools]
