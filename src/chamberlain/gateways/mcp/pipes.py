"""A stdio upstream on asyncio pipes: the SDK's message streams, and a raw side channel for tool calls.

The gateway spawns a stdio MCP server itself (as the SDK's ``stdio_client`` does: the SDK's default
environment plus the configured one, its stderr into the gateway's, stdin closed, then its process group
ended on exit) and feeds the SDK's ``ClientSession`` the same ``SessionMessage`` streams. Beside
them, :meth:`Pipes.request` sends a JSON-RPC request line of its own and awaits the response line:
its ids are strings in a namespace the SDK never uses (``chamberlain-<n>``; the SDK numbers its
requests), so the response never reaches the SDK session. The fast path of ``tools/call``
(:mod:`chamberlain.gateways.mcp.fast`) relays allowed calls through it without the session layer.

Bounds: a line of at most :data:`~chamberlain.gateways.mcp.stdio.MAX_MESSAGE_BYTES` (a longer one is
dropped and logged, as the server is broken), at most :data:`MAX_PENDING` raw requests in flight,
each waiting at most the upstream's ``callTimeout`` (a courtesy ``notifications/cancelled`` then
goes upstream, as the SDK sends when a request is abandoned).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import mcp_types as types
import orjson
from mcp.client.stdio import StdioServerParameters, get_default_environment
from mcp.shared._context_streams import create_context_streams
from mcp.shared.message import SessionMessage

from chamberlain.gateways.mcp.stdio import MAX_MESSAGE_BYTES

LOGGER = logging.getLogger("chamberlain.gateways.mcp")
#: Raw requests in flight at once on one upstream (one more waits for a slot).
MAX_PENDING = 1024
#: The prefix of the gateway's own request ids (strings: the SDK's are numbers).
ID_PREFIX = "chamberlain-"
#: Seconds the server has to exit after its stdin closes, then its process group after SIGTERM.
EXIT_GRACE = 2.0


class ChannelClosed(Exception):
    """The upstream's pipes closed (the server exited or hung up)."""


class Pipes:
    """The live pipes of one spawned server: :meth:`request` for raw calls, the SDK streams for the rest."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._slots = asyncio.Semaphore(MAX_PENDING)
        self.closed = False
        #: The per-request ``_meta`` the SDK client sends (the 2026-07-28 envelope; empty on legacy sessions),
        #: copied from its own requests so a raw request carries what the SDK's would.
        self.envelope: dict[str, Any] = {}

    def _write(self, data: bytes) -> None:
        stdin = self.process.stdin
        if self.closed or stdin is None or stdin.is_closing():
            raise ChannelClosed("the server's stdin is closed")
        stdin.write(data)

    async def request(self, method: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send ``method`` with ``params`` and return the response object (``result`` or ``error``);
        raises ChannelClosed, TimeoutError. Cancelled, or timed out, it tells the server (courtesy cancel)."""
        async with self._slots:
            if self.closed:
                raise ChannelClosed("the server's pipes are closed")
            request_id = f"{ID_PREFIX}{next(self._ids)}"
            waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._pending[request_id] = waiter
            sent = False
            try:
                if self.envelope:
                    params = {**params, "_meta": {**params.get("_meta", {}), **self.envelope}}
                line = orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
                self._write(line + b"\n")
                sent = True
                assert self.process.stdin is not None
                await self.process.stdin.drain()
                async with asyncio.timeout(timeout):
                    return await waiter
            except BaseException:
                # not answered: still waiting, or the wait was cancelled (a cancel or the timeout cancels it)
                if sent and (not waiter.done() or waiter.cancelled()):
                    self._courtesy_cancel(request_id)
                raise
            finally:
                self._pending.pop(request_id, None)

    def _courtesy_cancel(self, request_id: str) -> None:
        note = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": request_id}}
        with contextlib.suppress(ChannelClosed, OSError, RuntimeError):
            self._write(orjson.dumps(note) + b"\n")

    def _resolve(self, data: Any) -> bool:
        """Hand a response to its raw waiter; False when it is not one of the gateway's (the SDK's then)."""
        if not isinstance(data, dict) or "method" in data:
            return False
        request_id = data.get("id")
        if not isinstance(request_id, str) or not request_id.startswith(ID_PREFIX):
            return False
        waiter = self._pending.get(request_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(data)
        return True  # a late answer to an abandoned raw request is dropped: never the SDK's

    def _close(self) -> None:
        self.closed = True
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(ChannelClosed("the connection closed (the server exited or hung up)"))

    def observe(self, message: types.JSONRPCMessage) -> None:
        """Remember the envelope of the SDK's latest request (what a raw request must carry too): none once
        it fell back to a legacy session (its ``server/discover`` probe carried one, its ``initialize`` not)."""
        if isinstance(message, types.JSONRPCRequest):
            meta = message.params.get("_meta") if isinstance(message.params, dict) else None
            found = meta if isinstance(meta, dict) else {}
            self.envelope = {k: v for k, v in found.items() if k.startswith("io.modelcontextprotocol/")}


@contextlib.asynccontextmanager
async def spawn(params: StdioServerParameters, on_open: Any = None) -> AsyncIterator[tuple[Any, Any]]:
    """Spawn the server and yield ``(read_stream, write_stream)`` for the SDK's ``Client``; ``on_open``
    is called with the :class:`Pipes` first (the raw side channel)."""
    env = get_default_environment() | (params.env or {})
    process = await asyncio.create_subprocess_exec(
        params.command,
        *params.args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=sys.stderr.fileno() if _has_fileno(sys.stderr) else None,
        env=env,
        cwd=params.cwd,
        limit=MAX_MESSAGE_BYTES,
        start_new_session=True,  # its own process group: what it starts is ended with it (see _end)
    )
    pipes = Pipes(process)
    if on_open is not None:
        on_open(pipes)
    inbound_send, inbound = create_context_streams[SessionMessage | Exception](0)
    outbound, outbound_receive = create_context_streams[SessionMessage](0)

    async def read() -> None:
        assert process.stdout is not None
        async with inbound_send:
            try:
                while True:
                    try:
                        line = await process.stdout.readline()
                    except ValueError:  # over the limit: a broken server; its pipe is cleared
                        LOGGER.warning("upstream sent a line over %d bytes; dropped", MAX_MESSAGE_BYTES)
                        continue
                    if not line:
                        break
                    if not line.strip():
                        continue
                    try:
                        data = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        data = None
                    if data is not None and pipes._resolve(data):
                        continue
                    try:
                        message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
                    except ValueError as exc:
                        await inbound_send.send(exc)
                        continue
                    await inbound_send.send(SessionMessage(message))
            finally:
                pipes._close()

    async def write() -> None:
        async with outbound_receive:
            async for session_message in outbound_receive:
                pipes.observe(session_message.message)
                data = session_message.message.model_dump_json(by_alias=True, exclude_unset=True)
                try:
                    pipes._write(data.encode("utf-8") + b"\n")
                    assert process.stdin is not None
                    await process.stdin.drain()
                except (ChannelClosed, OSError):
                    break

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            tg.start_soon(write)
            try:
                yield inbound, outbound
            finally:
                tg.cancel_scope.cancel()
    finally:
        pipes._close()
        with anyio.CancelScope(shield=True):
            await _end(process)


async def _end(process: asyncio.subprocess.Process) -> None:
    """Close stdin and give the server :data:`EXIT_GRACE` to exit; then end its process group (the server
    and whatever it started that is still there): SIGTERM, then SIGKILL after :data:`EXIT_GRACE`."""
    if process.stdin is not None:
        with contextlib.suppress(Exception):
            process.stdin.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), EXIT_GRACE)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _signal_group(process.pid, sig) or await _group_gone(process, EXIT_GRACE):
            break
    with contextlib.suppress(TimeoutError):  # reaped (a process that ignores SIGKILL is not waited for)
        await asyncio.wait_for(process.wait(), EXIT_GRACE)


def _signal_group(group: int, sig: int) -> bool:
    """Send ``sig`` to the process group; False when no process of it is left."""
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member changed its user: not ours to end
        LOGGER.warning("could not signal the process group %d of an upstream server", group)
        return False
    return True


async def _group_gone(process: asyncio.subprocess.Process, within: float) -> bool:
    """Whether the server's process group empties within ``within`` seconds (the server itself reaped)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        if process.returncode is not None and not _signal_group(process.pid, 0):
            return True
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.02)


def _has_fileno(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True
