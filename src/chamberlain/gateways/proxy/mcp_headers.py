"""MCP over HTTP through a header-only proxy: ``Mcp-Method`` and ``Mcp-Name`` (MCP 2026-07-28) as a check.

The check is named as the MCP gateway names it (:mod:`chamberlain.gateways.mcp.mapping`): kind
``mcp_server``, action ``tools/call::<tool>``, attributes ``server``, ``method`` and ``tool_name`` (or
``prompt_name``, ``uri``). A header-only proxy never sees the arguments, so a policy that reads
``R.attr.arguments`` (or any attribute this mode does not supply) for that action cannot be decided
here: such a check is denied, as is one whose DENY rules could be skipped because
``engine.strictEvaluation`` is off (a guarding DENY must never turn into an ALLOW).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from chamberlain.engine import Engine
from chamberlain.engine.result import EFFECT_DENY
from chamberlain.engine.ruletable import key_matches
from chamberlain.gateways.mcp.mapping import PROMPTS_GET, RESOURCES_READ, TOOLS_CALL
from chamberlain.gateways.mcp.mapping import action as mcp_action
from chamberlain.gateways.proxy.routing import Mapped, Unmapped

_NAMED = {TOOLS_CALL: "tool_name", PROMPTS_GET: "prompt_name", RESOURCES_READ: "uri"}
_METHOD = re.compile(r"^[a-z][a-zA-Z/_]{0,63}$")
MAX_NAME = 256
#: A read of the resource's attributes in a condition: what follows decides which attribute.
_ATTR_READ = re.compile(
    r"\b(?:R|request\.resource)\.attr\b(\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)|\s*\[\s*(['\"])([^'\"]*)\3\s*\])?"
)


def _check_body(message: Any, method: str, name: str | None) -> None:
    """A whole JSON-RPC body the proxy sent must say what the headers say (MCP servers reject a mismatch too).
    A batch is refused: the headers name one request, and a server that accepts batches (MCP 2025-03-26)
    would run every call in it."""
    if not isinstance(message, dict):
        raise Unmapped("the body is not one JSON-RPC request, which the Mcp-Method / Mcp-Name headers name")
    params = message.get("params")
    named = params.get("uri" if method == RESOURCES_READ else "name") if isinstance(params, dict) else None
    if message.get("method") != method or (name is not None and named != name):
        raise Unmapped("the Mcp-Method / Mcp-Name headers do not match the JSON-RPC body")


def map_mcp(headers: Any, server: str, kind: str, body: Any = None) -> Mapped:
    """The check for an MCP request named by its headers; raises :class:`Unmapped` when they are missing or bad.

    ``body``: the parsed JSON-RPC message when the proxy sent all of it (checked against the headers)."""
    method = headers.get("mcp-method")
    if not method or not _METHOD.match(method):
        raise Unmapped(
            "an MCP request needs a valid Mcp-Method header (MCP 2026-07-28) behind a header-only proxy"
        )
    attr: dict[str, Any] = {"server": server, "method": method}
    action = method
    if method in _NAMED:
        name = headers.get("mcp-name")
        if not name or len(name) > MAX_NAME or not name.isprintable():
            raise Unmapped(f"an MCP {method} request needs a valid Mcp-Name header")
        attr[_NAMED[method]] = name
        action = mcp_action(method, name)
    if body is not None:
        _check_body(body, method, headers.get("mcp-name") if method in _NAMED else None)
    return Mapped(f"MCP {method}", kind, server, action, attr)


def _expressions(value: Any, depth: int = 0) -> Iterator[str]:
    """Every CEL text of a policy model node (a condition's match tree)."""
    if value is None or depth > 64:
        return
    if isinstance(value, str):
        yield value
        return
    if isinstance(value, list | tuple):
        for item in value:
            yield from _expressions(item, depth + 1)
        return
    for name in ("expr", "all", "any", "none", "of"):
        inner = getattr(value, name, None)
        if inner is not None and inner is not value:
            yield from _expressions(inner, depth + 1)


def _row_texts(row: Any) -> Iterator[str]:
    if row.condition is not None:
        yield from _expressions(row.condition.match)
    role = row.derived_role
    if role is not None and role.condition is not None:
        yield from _expressions(role.condition.match)
    for _, _, text in row.params.variables:
        yield text


def unsupplied(engine: Engine, kind: str, action: str, supplied: set[str]) -> str:
    """Why ``action`` on ``kind`` cannot be decided from headers alone, or ``""``."""
    strict = bool(engine.options.strict_evaluation)
    for rows in engine.table.rows.values():
        for row in rows:
            if not key_matches(row.resource, kind) or not key_matches(row.action, action):
                continue
            for text in _row_texts(row):
                for found in _ATTR_READ.finditer(text):
                    name = found.group(2) or found.group(4)
                    if name not in supplied:
                        what = f"R.attr.{name}" if name else "R.attr as a whole"
                        return (
                            f"{row.policy.key} rule {row.name!r} reads {what}, which a header-only proxy "
                            "cannot supply (send the request through the MCP gateway)"
                        )
            if not strict and row.effect == EFFECT_DENY and (row.condition is not None or row.derived_role):
                return (
                    f"{row.policy.key} rule {row.name!r} is a conditional DENY and engine.strictEvaluation is "
                    "off: set it to true to decide MCP tool calls from headers"
                )
    return ""
