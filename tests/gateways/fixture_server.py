"""A real MCP server for the gateway tests, built with the SDK's ``MCPServer``: what the PyPI servers lack.

Tools that echo, sleep (an upstream that hangs), crash (an upstream that dies) and tell the request id they
were called under (the gateway's fast path relays calls under ids of its own), prompts and
resources. ``python fixture_server.py`` serves stdio; ``python fixture_server.py http PORT`` serves
streamable HTTP on 127.0.0.1:PORT/mcp.
"""

from __future__ import annotations

import os
import sys

import anyio
from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("fixture", version="1.0")


@server.tool(name="echo", description="Returns the text it was given")
def echo(text: str) -> str:
    return text


@server.tool(name="sleep", description="Answers after some seconds")
async def sleep(seconds: float) -> str:
    await anyio.sleep(seconds)
    return f"slept {seconds}s"


@server.tool(name="request_id", description="The JSON-RPC id this server received the call under")
def request_id(ctx: Context) -> str:
    return ctx.request_id


@server.tool(name="crash", description="The server process exits at once")
def crash() -> str:
    os._exit(3)


@server.prompt(name="greeting", description="A greeting")
def greeting(name: str) -> str:
    return f"Hello, {name}!"


@server.prompt(name="launch_codes", description="Nobody may have this one")
def launch_codes() -> str:
    return "0000"


@server.resource("memo://public", name="public")
def public_memo() -> str:
    return "the public memo"


@server.resource("memo://secret", name="secret")
def secret_memo() -> str:
    return "the secret memo"


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
