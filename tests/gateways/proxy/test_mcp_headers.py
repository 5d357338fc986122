"""Which MCP tool calls a header-only proxy cannot decide: every way a condition reads the arguments counts.

A header-only proxy supplies ``server``, ``method`` and ``tool_name``. A rule that reads any other resource
attribute must make the check refuse (403), or it is decided on attributes that are missing: an ALLOW
whose condition is ``cel.bind(r, R, !has(r.attr.arguments))`` then allows every call. The reads are found
in the parsed CEL (as the decision log finds what a check read), not by matching text.
"""

from __future__ import annotations

import json

import pytest

from chamberlain import PDP
from chamberlain.gateways.proxy.mcp_headers import unsupplied

SUPPLIED = {"server", "method", "tool_name"}
POLICY = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: mcp_server
  version: default
  rules:
    - actions: ["tools/call::search"]
      effect: EFFECT_ALLOW
      roles: [agent]
      condition:
        match:
          expr: R.attr.tool_name == "search" && R.attr.server == "docs"
    - actions: ["tools/call::send"]
      effect: EFFECT_ALLOW
      roles: [agent]
      condition:
        match:
          expr: {condition}
"""


def _why(tmp_path, condition: str, action: str = "tools/call::send") -> str:
    (tmp_path / "mcp.yaml").write_text(POLICY.replace("{condition}", json.dumps(condition)))
    engine = PDP.from_directory(tmp_path, strict_evaluation=True).engine
    return unsupplied(engine, "mcp_server", action, SUPPLIED)


@pytest.mark.parametrize(
    "condition",
    [
        "size(R.attr.arguments) == 0",
        '!has(R.attr["arguments"].to)',
        "R .attr.arguments.to == 'me'",
        "R.attr . arguments == {}",
        "cel.bind(r, R, !has(r.attr.arguments))",
        "cel.bind(a, request.resource.attr, a.size() == 3)",
        "[1].all(x, !has(R.attr.arguments))",
        "R.attr.?arguments.orValue({}) == {}",
    ],
)
def test_a_condition_reading_the_arguments_in_any_spelling_cannot_be_decided_from_headers(
    tmp_path, condition
):
    assert "cannot supply" in _why(tmp_path, condition)


def test_a_condition_reading_only_what_headers_supply_is_decided(tmp_path):
    assert _why(tmp_path, "R.attr.tool_name == 'send'") == ""
    assert _why(tmp_path, "R.attr.tool_name == 'send'", "tools/call::search") == ""
