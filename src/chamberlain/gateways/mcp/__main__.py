"""``python -m chamberlain.gateways.mcp ...``: the same as ``chamberlain mcp-proxy ...``."""

from chamberlain.gateways.mcp.cli import main

main()
