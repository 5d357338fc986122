"""Shared parts of the proxy tests: policies, the gateway routes, a chamberlain server with both, tokens."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt as pyjwt

from tests.delegation.support import (
    PAYMENTS,
    IdentityProvider,
    exchange,
    oauth_client,
    policy_folder,
    settings,
)
from tests.server.support import ThreadServer

AUTHZ = "/_chamberlain/authz"
MCP_POLICY = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: mcp_server
  version: default
  rules:
    - name: read-tools
      actions: ["tools/call::git_status", "tools/call::search"]
      effect: EFFECT_ALLOW
      roles: ["finance_clerk", "planner_agent", "tool_agent"]
    - name: guarded-by-arguments
      actions: ["tools/call::send_money"]
      effect: EFFECT_ALLOW
      roles: ["finance_clerk", "planner_agent", "tool_agent"]
    - name: public-notes
      actions: ["resources/read::memo://notes/public/*"]
      effect: EFFECT_ALLOW
      roles: ["finance_clerk", "planner_agent", "tool_agent"]
    - name: never-too-much
      actions: ["tools/call::send_money"]
      effect: EFFECT_DENY
      roles: ["*"]
      condition:
        match:
          expr: R.attr.arguments.amount > 100
"""
ROUTES: list[dict[str, Any]] = [
    {
        "request": "POST /payments/{id}/pay",
        "kind": "payment",
        "id": "{id}",
        "action": "pay",
        "attr": {"amount": {"cel": "int(request.query.amount)"}, "currency": "query.currency"},
    },
    {"request": "GET /payments/{id}", "kind": "payment", "id": "{id}", "action": "view"},
    {
        "request": "POST /payments/{id}/refund",
        "kind": "payment",
        "id": "{id}",
        "action": "pay",
        "attr": {
            "amount": {"cel": "int(request.query.amount)"},
            "channel": "header.X-Channel",
            "via": {"cel": "request.headers['x-via']"},
        },
    },
    {
        "request": "POST /payments",
        "kind": "payment",
        "id": "new",
        "action": "pay",
        "attr": {"amount": "body.amount", "large": {"cel": "request.body.amount > 500"}},
    },
]


def gateway(**extra: Any) -> dict[str, Any]:
    """A ``chamberlain.gateway`` section with :data:`ROUTES` (plus ``extra``)."""
    return {
        "routes": ROUTES,
        "principal": {"defaultRoles": ["finance_clerk"]},
        "mcp": {"paths": ["/mcp"]},
        **extra,
    }


def policies(tmp: Path) -> Path:
    folder = policy_folder(tmp)
    (folder / "resource_policies" / "mcp_server.yaml").write_text(MCP_POLICY)  # in place of the example's
    return folder


def overrides(tmp: Path, idp: IdentityProvider, **extra: Any) -> dict[str, Any]:
    scopes = {
        "payment": {"pay": "payments:write", "*": "payments:read"},
        "mcp_server": {"*": "payments:write"},
    }
    return {
        "chamberlain": {
            "delegation": settings(tmp, idp, scopeMapping=scopes),
            "logLevel": "error",
            "gateway": gateway(**extra),
        },
        "engine": {"strictEvaluation": True},
    }


@contextlib.contextmanager
def server(tmp: Path, **extra: Any) -> Iterator[tuple[ThreadServer, IdentityProvider]]:
    idp = IdentityProvider()
    with ThreadServer(policies(tmp), overrides(tmp, idp, **extra)) as srv:
        yield srv, idp


def chain_tokens(url: str, idp: IdentityProvider, person: str = "alice") -> tuple[str, str]:
    """A person's token exchanged for planner-agent, then for tool-agent (two hops, one session)."""
    token = idp.token(person, roles=["finance_clerk"], scope="payments:write payments:read")
    first = exchange(oauth_client(), url, token, idp.token("planner-agent"), audience="tool-agent")
    second = exchange(
        oauth_client(),
        url,
        first["access_token"],
        idp.token("tool-agent"),
        audience=PAYMENTS,
        scope="payments:write",
    )
    return first["access_token"], second["access_token"]


def claims(token: str) -> dict[str, Any]:
    return pyjwt.decode(token, options={"verify_signature": False})
