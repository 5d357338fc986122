"""The AuthZEN COAZ profile for MCP (OpenID ``authzen-mcp-profile-1_0``, Draft 1): an MCP gateway that asks
in AuthZEN terms is decided with the policies of chamberlain's own MCP gateway.

``POST /coaz/mcp/access/v1/evaluation`` (a COAZ PEP configured with the PDP ``<chamberlain>/coaz/mcp``) takes
an Access Evaluation request as the profile's default mappings build it, and maps it as the header-only
MCP proxy does (:func:`chamberlain.gateways.proxy.mcp_headers.map_mcp`):

| COAZ ``action.name`` | COAZ ``resource`` | chamberlain check |
|---|---|---|
| ``tools/call`` | ``{type: tool, id: <tool>}`` | ``tools/call::<tool>`` on ``mcp_server``, ``R.attr.tool_name`` |
| ``prompts/get`` | ``{type: prompt, id: <prompt>}`` | ``prompts/get::<prompt>``, ``R.attr.prompt_name`` |
| ``resources/read`` | ``{type: resource, id: <uri>}`` | ``resources/read::<uri>``, ``R.attr.uri`` |
| any other method | ``{type: mcp_server, id: <aud>}`` | the method itself, e.g. ``tools/list`` |

The resource kind is ``chamberlain.gateway.mcp.resourceKind`` (``mcp_server``); its id and ``R.attr.server``
are the MCP server's name: ``resource.properties.server`` (required for a tool, prompt or resource; for
``mcp_server``, ``resource.id`` when no ``server`` property is given). ``R.attr.method`` is the method.
``context.arguments`` (an object, when the PEP sends the call's arguments) is ``R.attr.arguments``;
``context.agent`` (COAZ: the token's ``client_id``) is the principal's ``agent`` attribute. The subject
maps as in the plain AuthZEN API (``cerbos.roles``, else the subject type, as roles), and
``context["cerbos.auxData"]`` carries delegation as there.

Decided strictly: when a policy for that action reads a resource attribute the request did not carry
(``R.attr.arguments`` without ``context.arguments``), or is a conditional DENY while
``engine.strictEvaluation`` is off, the answer is ``decision: false`` with the reason in
``context.reason_admin`` (:func:`chamberlain.gateways.proxy.mcp_headers.unsupplied`). ``ping`` and
``notifications/*`` are pass-through in COAZ (a PEP never asks): a 400. Malformed requests are 400s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

from chamberlain.engine.request_validation import InvalidRequest, validate
from chamberlain.exact import case_twins, inexact_integer
from chamberlain.gateways.mcp.mapping import PROMPTS_GET, RESOURCES_READ, TOOLS_CALL
from chamberlain.gateways.proxy.mcp_headers import MAX_NAME, map_mcp, other_spelling, unsupplied
from chamberlain.gateways.proxy.routing import Unmapped
from chamberlain.server import authzen_api, decide
from chamberlain.server.http import parse_json
from chamberlain.server.state import ServerState

PREFIX = "/coaz/mcp"
#: COAZ's resource type for each method named by its resource; every other method targets the server.
RESOURCE_TYPES = {TOOLS_CALL: "tool", PROMPTS_GET: "prompt", RESOURCES_READ: "resource"}
SERVER_TYPE = "mcp_server"
MAX_AGENT = 1024
POINT = "http:authzen-mcp"


def _text(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        raise InvalidRequest(
            f"validation error: {where}: a printable string of 1 to {limit} characters is required"
        )
    return value


def _server(resource: Mapping[str, Any], typed: str) -> str:
    props = resource.get("properties") or {}
    if "server" in props:
        return _text(props["server"], "resource.properties.server", MAX_NAME)
    if typed == SERVER_TYPE:
        return _text(resource["id"], "resource.id", MAX_NAME)
    raise InvalidRequest(
        f"validation error: resource.properties.server: which MCP server the {typed} belongs to is required"
    )


def mapped_check(state: ServerState, request: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """The principal and the mapped check (:class:`~chamberlain.gateways.proxy.routing.Mapped`) of a valid
    COAZ evaluation request; raises :class:`InvalidRequest` (400) or :class:`Unmapped` (a denial)."""
    method = request["action"]["name"]
    if method == "ping" or method.startswith("notifications/"):
        raise InvalidRequest(
            f"validation error: action.name: {method} is pass-through in COAZ (a PEP does not ask)"
        )
    resource = request["resource"]
    typed = resource["type"]
    server = _server(resource, typed)
    headers = {"mcp-method": method}
    if method in RESOURCE_TYPES:
        headers["mcp-name"] = resource["id"]
    try:
        mapped = map_mcp(headers, server, state.config.gateway.mcp_kind)
    except Unmapped:  # not a method or a name an MCP request can carry
        raise InvalidRequest(
            f"validation error: action.name must be an MCP method (such as tools/call) and "
            f"resource.id a printable name of 1 to {MAX_NAME} characters"
        ) from None
    expected = RESOURCE_TYPES.get(method, SERVER_TYPE)
    if typed != expected:
        raise InvalidRequest(f"validation error: resource.type: {method} needs {expected!r}, got {typed!r}")
    context = request.get("context") or {}
    if "arguments" in context:
        if method not in (TOOLS_CALL, PROMPTS_GET):
            raise InvalidRequest(f"validation error: context.arguments: {method} takes no arguments")
        if not isinstance(context["arguments"], dict):
            raise InvalidRequest("validation error: context.arguments: an object is required")
        twins = case_twins(context["arguments"], "context.arguments")
        if twins is not None:  # a server reading names without regard to case may take the other value
            raise InvalidRequest(
                f"validation error: {twins[0]}: keys {twins[1]!r} and {twins[2]!r} differ only in case: a server "
                "reading names without regard to case might take the other value than the one decided on"
            )
        inexact = inexact_integer(context["arguments"], "context.arguments", doubles=True)
        if inexact is not None:  # policies read numbers as doubles: 2**53 + 1 would be decided as 2**53
            raise InvalidRequest(
                f"validation error: {inexact[0]}: {inexact[1]} is an integer beyond ±2^53, which policies read as "
                "the nearest double: the call would run with another number than the one decided on"
            )
        mapped.attr["arguments"] = context["arguments"]
    principal = authzen_api.principal_of(request["subject"])
    if "agent" in context:
        principal["attr"] = {
            **principal["attr"],
            "agent": _text(context["agent"], "context.agent", MAX_AGENT),
        }
    problem = unsupplied(state.pdp.engine, mapped.kind, mapped.action, set(mapped.attr))
    if not problem and method in RESOURCE_TYPES:
        problem = other_spelling(state.pdp.engine, mapped.kind, mapped.action, resource["id"])
    if problem:
        raise Unmapped(problem)
    return principal, mapped


def evaluation(state: ServerState, body: bytes, call_id: str) -> dict[str, Any] | Awaitable[dict[str, Any]]:
    """``POST /coaz/mcp/access/v1/evaluation``: one COAZ MCP Access Evaluation."""
    request = parse_json(body, state.config.max_json_depth, authzen_api.EVALUATION)
    validate(authzen_api.EVALUATION, request)
    try:
        principal, mapped = mapped_check(state, request)
    except Unmapped as exc:
        return {"decision": False, "context": {"reason_admin": {"en": str(exc)}}}
    entry = {
        "actions": [mapped.action],
        "resource": {"kind": mapped.kind, "id": mapped.id, "attr": mapped.attr},
    }
    started = authzen_api.start_check(state, principal, [entry], request.get("context"), call_id, POINT)

    def build(responses: list[dict[str, Any]]) -> dict[str, Any]:
        response = responses[0]
        out: dict[str, Any] = {
            "decision": response["results"][0]["actions"].get(mapped.action) == "EFFECT_ALLOW"
        }
        reason = authzen_api.reason_of(response)
        if reason:
            out["context"] = reason
        return out

    return decide.settle(state, [started], build)
