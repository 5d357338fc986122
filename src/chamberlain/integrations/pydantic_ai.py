"""Pydantic AI: a toolset whose tools chamberlain checks before each call (install ``chamberlain[pydantic-ai]``).

>>> toolset = GuardedToolset(FunctionToolset([lookup_order, refund]), guard)
>>> agent = Agent(model, toolsets=[toolset])

The model is offered only the tools ``tools/list::<name>`` allows; a denied call's denial is the
tool's return value (the model reads it and may change course) unless the guard raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chamberlain.extras import needs

with needs("pydantic-ai", "chamberlain.integrations.pydantic_ai"):
    from pydantic_ai import RunContext
    from pydantic_ai.toolsets import AbstractToolset, WrapperToolset
    from pydantic_ai.toolsets.abstract import ToolsetTool

from chamberlain.integrations.tools import ToolGuard

__all__ = ["GuardedToolset", "guard_toolset"]


@dataclass
class GuardedToolset(WrapperToolset[Any]):
    """``wrapped``'s tools, hidden and checked by ``guard``."""

    guard: ToolGuard

    async def get_tools(self, ctx: RunContext[Any]) -> dict[str, ToolsetTool[Any]]:
        tools = await super().get_tools(ctx)
        return {name: tools[name] for name in await self.guard.visible_async(tools)}

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: ToolsetTool[Any]
    ) -> Any:
        decision = await self.guard.check_async(name, tool_args)
        if not decision.allowed:
            return self.guard.denied(decision)
        return await super().call_tool(name, tool_args, ctx, tool)


def guard_toolset(toolset: AbstractToolset[Any], guard: ToolGuard) -> GuardedToolset:
    """``toolset`` guarded by ``guard``."""
    return GuardedToolset(toolset, guard)
