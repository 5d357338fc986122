"""Guarding an agent's tool calls in-process, named as the MCP gateway names them so one policy governs a
tool however it is reached.

Each call is a check: the principal is the agent (acting for the user when :func:`chamberlain.acting_for`
set a delegation), the resource ``Resource(kind, server, attr={"arguments": ..., "tool_name": ...,
"server": ..., "method": "tools/call"})`` (kind ``mcp_server`` by default), the action
``tools/call::<tool>``; the tools offered to the model are those ``tools/list::<tool>`` allows.
A denied call does not run: the model reads why (the policy and rule, the policy's outputs such as
an approval to ask for), or :class:`ToolDenied` is raised (``on_deny="raise"``).

Arguments must be JSON (they are what a policy reads as ``R.attr.arguments``): a call whose arguments
do not serialise is denied, naming the argument type; so is one holding an integer beyond ±2^53 (a policy
reads it as the nearest double) or two keys that differ only in case, as the MCP gateway refuses them.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from chamberlain.engine import Principal, Resource
from chamberlain.errors import Error
from chamberlain.exact import inexact
from chamberlain.integrations import decide
from chamberlain.pdp import CheckResult
from chamberlain.strictjson import non_finite

LOGGER = logging.getLogger("chamberlain.integrations")
TOOLS_CALL, TOOLS_LIST = "tools/call", "tools/list"
DENY_MESSAGE, DENY_RAISE = "message", "raise"


class ToolDenied(Error):
    """A tool call policy denied (raised with ``on_deny="raise"``); ``decision`` says why."""

    def __init__(self, decision: ToolDecision):
        super().__init__(decision.message)
        self.decision = decision


@dataclass(frozen=True, slots=True)
class ToolDecision:
    """The decision on one tool call: ``allowed``, and the ``message`` the model reads when it is not."""

    tool: str
    allowed: bool
    message: str = ""
    denied_by: str = ""
    outputs: list[Any] = field(default_factory=list)
    result: CheckResult | None = None


def call_action(tool: str) -> str:
    """``tools/call::<tool>``, the gateway's action name."""
    return f"{TOOLS_CALL}::{tool}"


def plain_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments as JSON values (what the policy sees); raises ``TypeError`` naming what does not serialise.

    A number that is not finite is refused: JSON has none, and orjson would write it as ``null``, so the
    policy would decide on null (a DENY comparing ``amount > 100`` skipped) while the tool ran with ``inf``
    (``json.loads``, which agent frameworks parse the model's arguments with, reads ``Infinity`` and ``NaN``)."""
    try:
        found = non_finite(arguments, "arguments")
        if found is not None:
            raise TypeError(f"{found[0]} is {found[1]!r}, a number JSON cannot hold")
        return orjson.loads(orjson.dumps(dict(arguments), option=orjson.OPT_NON_STR_KEYS))
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise TypeError(f"the arguments do not serialise to JSON ({exc})") from None


class ToolGuard:
    """Checks tool calls with a PDP, a :class:`~chamberlain.Client` or an :class:`~chamberlain.AsyncClient`.

    ``principal``: the agent, or a function returning it (called per check, say from a context).
    ``server``: the resource id and ``R.attr.server`` (the "MCP server" the tools belong to);
    ``kind``: the resource kind; ``attributes``: more resource attributes for every call;
    ``on_deny``: ``"message"`` (the model reads the denial) or ``"raise"`` (:class:`ToolDenied`).
    """

    def __init__(
        self,
        pdp: Any,
        principal: Principal | Callable[[], Principal],
        *,
        server: str = "app",
        kind: str = "mcp_server",
        attributes: Mapping[str, Any] | None = None,
        on_deny: str = DENY_MESSAGE,
        point: str = "sdk:tools",
    ) -> None:
        if on_deny not in (DENY_MESSAGE, DENY_RAISE):
            raise ValueError(f"on_deny: expected 'message' or 'raise', got {on_deny!r}")
        self.pdp = pdp
        self._principal = principal
        self.server = server
        self.kind = kind
        self.attributes = dict(attributes or {})
        self.on_deny = on_deny
        self.point = point

    @property
    def principal(self) -> Principal:
        return self._principal() if callable(self._principal) else self._principal

    def resource(self, tool: str, arguments: Mapping[str, Any], method: str = TOOLS_CALL) -> Resource:
        """The resource a call of ``tool`` with ``arguments`` is checked against (the gateway's shape)."""
        attr = {
            **self.attributes,
            "server": self.server,
            "method": method,
            "tool_name": tool,
            "arguments": dict(arguments),
        }
        return Resource(self.kind, self.server, attr=attr)

    # -- calls ------------------------------------------------------------------------------------

    def check(self, tool: str, arguments: Mapping[str, Any]) -> ToolDecision:
        """Decide a call of ``tool`` with ``arguments`` (synchronous deciders: PDP, Client)."""
        prepared = self._prepare(tool, arguments)
        if isinstance(prepared, ToolDecision):
            return prepared
        try:
            result = decide.check(self.pdp, self.principal, prepared, [call_action(tool)], point=self.point)
        except Error as exc:
            return self.refused(tool, f"no decision could be made ({exc})")
        return self._decision(tool, call_action(tool), result)

    async def check_async(self, tool: str, arguments: Mapping[str, Any]) -> ToolDecision:
        """:meth:`check` from a coroutine (any decider, an AsyncClient included)."""
        prepared = self._prepare(tool, arguments)
        if isinstance(prepared, ToolDecision):
            return prepared
        try:
            result = await decide.check_async(
                self.pdp, self.principal, prepared, [call_action(tool)], point=self.point
            )
        except Error as exc:
            return self.refused(tool, f"no decision could be made ({exc})")
        return self._decision(tool, call_action(tool), result)

    def _prepare(self, tool: str, arguments: Mapping[str, Any]) -> Resource | ToolDecision:
        """The call's resource, or the refusal of arguments that are not JSON or that a policy would read
        otherwise than the tool (:func:`chamberlain.exact.inexact`), as the MCP gateway refuses them."""
        try:
            plain = plain_arguments(arguments)
        except TypeError as exc:
            return self.refused(tool, str(exc))
        problem = inexact(tool, plain)
        return self.refused(tool, problem) if problem else self.resource(tool, plain)

    def _decision(self, tool: str, action: str, result: CheckResult) -> ToolDecision:
        if result.is_allowed(action):
            return ToolDecision(tool, True, result=result)
        who, outputs = decide.denied_by(result, action), decide.outputs_of(result, action)
        lines = [f"chamberlain denied the call to tool {tool!r}: it was not made.", f"Denied by {who}."]
        lines += [f"Policy output: {orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()}" for v in outputs]
        return ToolDecision(tool, False, "\n".join(lines), who, outputs, result)

    def refused(self, tool: str, why: str) -> ToolDecision:
        message = f"chamberlain denied the call to tool {tool!r}: it was not made, because {why}."
        return ToolDecision(tool, False, message, why)

    def denied(self, decision: ToolDecision) -> str:
        """What a denied call returns to the model (or raises, with ``on_deny="raise"``)."""
        if self.on_deny == DENY_RAISE:
            raise ToolDenied(decision)
        return decision.message

    # -- what the model is offered ------------------------------------------------------------------

    def visible(self, tools: Iterable[str]) -> list[str]:
        """The tools policy lets the agent see (``tools/list::<tool>``), in the given order (none when no
        decision could be made: the reason is logged)."""
        names = list(tools)
        if not names:
            return []
        actions = [f"{TOOLS_LIST}::{n}" for n in names]
        try:
            result = decide.check(
                self.pdp, self.principal, self.resource("", {}, TOOLS_LIST), actions, point=self.point
            )
        except Error as exc:
            return _none_visible(exc)
        return [n for n, a in zip(names, actions, strict=True) if result.is_allowed(a)]

    async def visible_async(self, tools: Iterable[str]) -> list[str]:
        """:meth:`visible` from a coroutine."""
        names = list(tools)
        if not names:
            return []
        actions = [f"{TOOLS_LIST}::{n}" for n in names]
        try:
            result = await decide.check_async(
                self.pdp, self.principal, self.resource("", {}, TOOLS_LIST), actions, point=self.point
            )
        except Error as exc:
            return _none_visible(exc)
        return [n for n, a in zip(names, actions, strict=True) if result.is_allowed(a)]

    # -- plain functions ----------------------------------------------------------------------------

    def wrap(self, fn: Callable[..., Any], name: str | None = None) -> Callable[..., Any]:
        """``fn`` checked before each call (its bound arguments are the call's); same signature, sync or async."""
        tool = name or fn.__name__
        signature = inspect.signature(fn)

        def arguments(args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return dict(bound.arguments)

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                decision = await self.check_async(tool, arguments(args, kwargs))
                return await fn(*args, **kwargs) if decision.allowed else self.denied(decision)

            return guarded_async

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            decision = self.check(tool, arguments(args, kwargs))
            return fn(*args, **kwargs) if decision.allowed else self.denied(decision)

        return guarded


def _none_visible(exc: Error) -> list[str]:
    LOGGER.warning("chamberlain: no tool is offered, no decision could be made: %s", exc)
    return []
