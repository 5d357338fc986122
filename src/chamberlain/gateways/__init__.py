"""Enforcement points: where chamberlain stands in the path of real actions.

- :mod:`chamberlain.gateways.mcp`: the MCP proxy (``chamberlain mcp-proxy``), which checks every
  agent tool call against policy, with its arguments, before it reaches the MCP server.
"""
