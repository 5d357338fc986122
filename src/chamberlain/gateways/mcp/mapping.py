"""MCP requests in policy terms, named as cerbos-fastmcp names them so the same policies serve both.

| request | action | resource attributes (besides the upstream's ``attributes``) |
|---|---|---|
| ``tools/call`` | ``tools/call::<tool>`` | ``arguments`` (the call's), ``tool_name``, ``tool_digest`` |
| ``tools/list`` | ``tools/list::<tool>`` for each tool | ``arguments`` (``{}``), ``tool_name`` |
| ``prompts/get`` | ``prompts/get::<prompt>`` | ``arguments``, ``prompt_name`` |
| ``resources/read`` | ``resources/read::<uri>`` | ``arguments`` (``{}``), ``uri`` |

Every resource has the upstream's ``resourceKind`` (``mcp_server`` by default), the upstream's name
as its id and in ``R.attr.server``, and ``R.attr.method``. ``prompts/list``, ``resources/list`` and
``resources/templates/list`` show what ``prompts/get::`` and ``resources/read::`` allow (a template's
URI is its ``uriTemplate``). ``tool_digest`` is the SHA-256 of the tool as its upstream lists it
(:func:`~chamberlain.gateways.mcp.catalog.definition_digest`): an approval is bound to the tool it was
given for, not to whatever the server later lists under that name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chamberlain.engine import Resource
from chamberlain.files import MAX_CONFIG_BYTES, FileRefused, read_bounded
from chamberlain.gateways.mcp.config import FileAttribute, UpstreamConfig

TOOLS_CALL, TOOLS_LIST = "tools/call", "tools/list"
PROMPTS_GET, RESOURCES_READ = "prompts/get", "resources/read"


def action(method: str, name: str) -> str:
    """``tools/call::git_status``."""
    return f"{method}::{name}"


def _read(attribute: FileAttribute) -> str | None:
    """The attribute's value now: the file's text, or the first group of ``match`` (None when unreadable)."""
    try:
        text = (
            read_bounded(attribute.path, MAX_CONFIG_BYTES, "attribute file")
            .decode("utf-8", "replace")
            .strip()
        )
    except FileRefused:
        return None
    if attribute.match is None:
        return text
    found = attribute.match.search(text)
    if found is None:
        return None
    return found.group(1) if found.groups() else found.group(0)


def resource(upstream: UpstreamConfig, method: str, **attr: Any) -> Resource:
    """The resource an MCP request on ``upstream`` is checked against (``attr`` come last and win)."""
    values: dict[str, Any] = dict(upstream.attributes)
    for name, source in upstream.file_attributes.items():
        value = _read(source)
        if value is not None:  # an unreadable file leaves the attribute out: conditions on it fail
            values[name] = value
    values.update(server=upstream.name, method=method, **attr)
    return Resource(upstream.resource_kind, upstream.name, attr=values)


def arguments_of(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value) if value else {}
