"""The MCP gateway: every agent tool call checked against policy, with its arguments, before it runs.

- :mod:`~chamberlain.gateways.mcp.config`: the configuration (``--config FILE``), every key and default;
- :mod:`~chamberlain.gateways.mcp.upstream`: one MCP server behind the gateway (stdio or streamable HTTP);
- :mod:`~chamberlain.gateways.mcp.catalog`: the names the agent sees, and where each one goes;
- :mod:`~chamberlain.gateways.mcp.mapping`: MCP requests as principal, resource and actions;
- :mod:`~chamberlain.gateways.mcp.identity`: who is calling (a principal, or a verified delegation token);
- :mod:`~chamberlain.gateways.mcp.decide`: the decision, attenuated by the actor chain, recorded first;
- :mod:`~chamberlain.gateways.mcp.proxy`: the request handlers (the SDK's low-level server);
- :mod:`~chamberlain.gateways.mcp.http`: the streamable HTTP downstream (bearer tokens, RFC 9728);
- :mod:`~chamberlain.gateways.mcp.run` and :mod:`~chamberlain.gateways.mcp.cli`: ``chamberlain mcp-proxy``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from chamberlain.extras import needs

if TYPE_CHECKING:
    from chamberlain.gateways.mcp.config import GatewayConfig, load_config, parse_config
    from chamberlain.gateways.mcp.errors import GatewayConfigError, GatewayError, IdentityError, UpstreamError
    from chamberlain.gateways.mcp.run import serve

# Imported on first use: the mcp SDK takes about 0.6 s to import, and every `chamberlain` command
# (the CLI registers mcp-proxy) would pay it.
_HOMES = {
    "GatewayConfig": "config",
    "load_config": "config",
    "parse_config": "config",
    "GatewayConfigError": "errors",
    "GatewayError": "errors",
    "IdentityError": "errors",
    "UpstreamError": "errors",
    "serve": "run",
}

__all__ = [
    "GatewayConfig",
    "GatewayConfigError",
    "GatewayError",
    "IdentityError",
    "UpstreamError",
    "load_config",
    "parse_config",
    "serve",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with needs("mcp", "the MCP gateway"):
        return getattr(importlib.import_module(f"{__name__}.{home}"), name)
