"""A real MCP server for the gateway tests, built with the SDK's ``MCPServer``: what the PyPI servers lack.

Tools that echo, sleep (an upstream that hangs; ``sleepers`` tells which sleeps run and which were
cancelled), crash (an upstream that dies), tell the request id they were called under (the gateway's fast
path relays calls under ids of its own), ask the client something mid-call (a ping, its roots) and start a
process of their own (a server with a process tree); prompts and resources. ``python fixture_server.py``
serves stdio (``... legacy``: as a server from before MCP 2026-07-28); ``python fixture_server.py http PORT``
serves streamable HTTP on 127.0.0.1:PORT/mcp.
"""

from __future__ import annotations

import os
import posixpath
import subprocess
import sys

import anyio
import mcp_types as types
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.resources.templates import ResourceSecurity
from mcp.server.stdio import stdio_server
from mcp.shared._context_streams import create_context_streams
from mcp.shared.message import SessionMessage

server = MCPServer("fixture", version="1.0")


@server.tool(name="echo", description="Returns the text it was given")
def echo(text: str) -> str:
    return text


#: The request ids of the sleeps running now, and of those the client cancelled (see ``sleepers``).
SLEEPING: list[str] = []
CANCELLED: list[str] = []


@server.tool(name="sleep", description="Answers after some seconds")
async def sleep(seconds: float, ctx: Context) -> str:
    SLEEPING.append(ctx.request_id)
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        CANCELLED.append(ctx.request_id)
        raise
    finally:
        SLEEPING.remove(ctx.request_id)
    return f"slept {seconds}s"


@server.tool(name="sleepers", description="The request ids of the sleeps running and of those cancelled")
def sleepers() -> dict[str, list[str]]:
    return {"sleeping": list(SLEEPING), "cancelled": list(CANCELLED)}


@server.tool(name="ask_client", description="Pings the client and asks for its roots mid-call, then answers")
async def ask_client(ctx: Context) -> str:
    await ctx.session.send_ping()
    try:
        roots = await ctx.session.list_roots()
        told = f"{len(roots.roots)} roots"
    except Exception as exc:  # the client may refuse: what it said is the answer
        told = f"roots refused: {exc}"
    return f"pinged under {ctx.request_id}; {told}"


@server.tool(name="spawn_child", description="Starts a long sleep process of its own and answers its pid")
def spawn_child() -> str:
    child = subprocess.Popen(
        ["sleep", "300"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return str(child.pid)


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


#: Notes by path: ``memo://notes/{+path}`` resolves its path as a file server does (``public/../secret``
#: is ``secret``), with the SDK's traversal check turned off for it, as a server serving paths may.
NOTES = {"public/plan": "the public plan", "secret": "the secret notes"}


@server.resource("memo://notes/{+path}", name="notes", security=ResourceSecurity(exempt_params={"path"}))
def notes(path: str) -> str:
    return NOTES.get(posixpath.normpath(path), "no such note")


async def serve_legacy() -> None:
    """stdio as a server from before MCP 2026-07-28: ``server/discover`` is an unknown method, so a client
    initializes a legacy session, in which the server may send requests of its own (a ping, roots/list)."""
    async with stdio_server() as (read, write):
        inner_send, inner_read = create_context_streams[SessionMessage | Exception](0)

        async def sieve() -> None:
            async with inner_send:
                async for item in read:
                    message = getattr(item, "message", None)
                    if isinstance(message, types.JSONRPCRequest) and message.method == "server/discover":
                        error = types.ErrorData(code=types.METHOD_NOT_FOUND, message="Method not found")
                        await write.send(
                            SessionMessage(types.JSONRPCError(jsonrpc="2.0", id=message.id, error=error))
                        )
                        continue
                    await inner_send.send(item)

        lowlevel = server._lowlevel_server
        async with anyio.create_task_group() as tg:
            tg.start_soon(sieve)
            await lowlevel.run(inner_read, write, lowlevel.create_initialization_options())
            tg.cancel_scope.cancel()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "legacy":
        anyio.run(serve_legacy)
    else:
        server.run()
