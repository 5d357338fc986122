"""Enforcement points: where chamberlain stands in the path of real actions.

- :mod:`chamberlain.gateways.mcp`: the MCP proxy (``chamberlain mcp-proxy``), which checks every
  agent tool call against policy, with its arguments, before it reaches the MCP server.
- :mod:`chamberlain.gateways.proxy`: ``/_chamberlain/authz``, the check nginx, Caddy, Traefik and Envoy ask.
"""
