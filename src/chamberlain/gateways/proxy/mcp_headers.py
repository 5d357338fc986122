"""MCP over HTTP through a header-only proxy: ``Mcp-Method`` and ``Mcp-Name`` (MCP 2026-07-28) as a check.

The check is named as the MCP gateway names it (:mod:`chamberlain.gateways.mcp.mapping`): kind
``mcp_server``, action ``tools/call::<tool>``, attributes ``server``, ``method`` and ``tool_name`` (or
``prompt_name``, ``uri``). A ``resources/read`` URI must be in one spelling
(:func:`~chamberlain.gateways.mcp.uris.canonical_uri`): the proxy never sees which URIs the server lists. A header-only proxy never sees the arguments, so a policy that reads
``R.attr.arguments`` (or any attribute this mode does not supply) for that action cannot be decided
here: such a check is denied, as is one whose DENY rules could be skipped because
``engine.strictEvaluation`` is off (a guarding DENY must never turn into an ALLOW).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from chamberlain.audit.write.attributes import ALL, row_reads
from chamberlain.engine import Engine
from chamberlain.engine.result import EFFECT_DENY
from chamberlain.engine.ruletable import key_matches
from chamberlain.gateways.mcp.mapping import PROMPTS_GET, RESOURCES_READ, TOOLS_CALL
from chamberlain.gateways.mcp.mapping import action as mcp_action
from chamberlain.gateways.mcp.uris import canonical_uri
from chamberlain.gateways.proxy.routing import Mapped, Unmapped, case_variant

_NAMED = {TOOLS_CALL: "tool_name", PROMPTS_GET: "prompt_name", RESOURCES_READ: "uri"}
_METHOD = re.compile(r"^[a-z][a-zA-Z/_]{0,63}$")
MAX_NAME = 256


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
        if method == RESOURCES_READ:
            try:
                canonical_uri(name)
            except Unmapped as exc:
                raise Unmapped(f"the URI {name!r} (Mcp-Name) is refused: {exc}") from None
        attr[_NAMED[method]] = name
        action = mcp_action(method, name)
    if body is not None:
        _check_body(body, method, headers.get("mcp-name") if method in _NAMED else None)
    return Mapped(f"MCP {method}", kind, server, action, attr)


def unsupplied(engine: Engine, kind: str, action: str, supplied: set[str]) -> str:
    """Why ``action`` on ``kind`` cannot be decided from headers alone, or ``""``."""
    strict = bool(engine.options.strict_evaluation)
    for rows in engine.table.rows.values():
        for row in rows:
            if not key_matches(row.resource, kind) or not key_matches(row.action, action):
                continue
            # The parsed CEL of the condition, its derived role and their variables (every spelling:
            # R .attr.x, R.attr["x"], cel.bind(r, R, r.attr.x)), as the decision log finds what a check read.
            reads = row_reads(row).resource
            missing = sorted(reads - supplied) if reads is not ALL else None
            if missing is None or missing:
                what = "R.attr as a whole" if missing is None else f"R.attr.{missing[0]}"
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


def other_spelling(engine: Engine, kind: str, action: str, name: str) -> str:
    """Why ``name`` (an ``Mcp-Name``) may name another tool, prompt or resource to an MCP server than the one
    decided on, or ``""``: surrounding spaces, a form Unicode NFKC normalisation changes, or an action that
    matches one a policy names only when case is ignored (``Delete_Repo`` against a DENY on
    ``tools/call::delete_repo``). A header-only proxy never sees the server's own names; a server matching them
    leniently would run the tool that rule is about."""
    if name != name.strip():
        return f"Mcp-Name {name!r} has surrounding spaces: an MCP server trimming it would run another than the one decided on"
    if unicodedata.normalize("NFKC", name) != name:
        return (
            f"Mcp-Name {name!r} is not in Unicode normal form NFKC ({unicodedata.normalize('NFKC', name)!r}): an MCP "
            "server normalising it would run another than the one decided on"
        )
    named = case_variant(engine, kind, action)
    if named:
        return (
            f"{action!r} differs only in case from {named!r}, which a policy for {kind} names: an MCP server "
            "matching names without regard to case would run the one that policy decides"
        )
    return ""
