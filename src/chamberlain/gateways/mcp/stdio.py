"""The stdio downstream on non-blocking pipes: the SDK's message streams without a thread per line.

The SDK's ``stdio_server`` reads and writes the standard streams through worker threads (two
hand-offs per message each way), which is most of what a proxy hop costs. When stdin and stdout
are pipes or sockets (an agent spawning the gateway), this transport reads and writes them on
the event loop instead, producing the same ``SessionMessage`` streams, and answers a line that is
not JSON-RPC with a JSON-RPC error (-32700 or -32600) where the SDK would drop it unanswered;
otherwise (a terminal, a file) it falls back to the SDK's. As the SDK does, it points fd 0 at the null device and fd 1 at
stderr while serving, so nothing else in the process can corrupt the wire.

Each line is read within bounds before the SDK sees it: at most :data:`MAX_MESSAGE_BYTES` (a longer
line is skipped to its end and answered -32600), nesting at most ``strictjson.MAX_DEPTH`` deep and no
key twice in one object (-32700): a 10,000-deep line used to end the gateway with a RecursionError.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from mcp.server.stdio import stdio_server
from mcp.shared._context_streams import create_context_streams
from mcp.shared.message import SessionMessage
from mcp_types import INVALID_REQUEST, PARSE_ERROR
from pydantic import ValidationError

from chamberlain import strictjson

if TYPE_CHECKING:
    from chamberlain.gateways.mcp.fast import FastPath

_STREAMS = (stat.S_ISFIFO, stat.S_ISSOCK)
#: The longest message line accepted (the server's default body limit, Cerbos's gRPC message limit).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def _is_pipe(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return any(test(mode) for test in _STREAMS)


def _error(code: int, message: str, request_id: Any = None) -> bytes:
    return (
        json.dumps({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}).encode()
        + b"\n"
    )


def oversized() -> bytes:
    """The JSON-RPC error answering a line over :data:`MAX_MESSAGE_BYTES` (its content is never read)."""
    return _error(INVALID_REQUEST, f"Invalid Request: the message is larger than {MAX_MESSAGE_BYTES} bytes")


def rejection(line: bytes, exc: ValueError) -> bytes:
    """The JSON-RPC error answering a line that is not a JSON-RPC message (parse error or invalid request)."""
    try:
        data = strictjson.loads(line)
    except strictjson.JSONError as bad:
        error = {"code": PARSE_ERROR, "message": f"Parse error: the line is not accepted JSON ({bad.reason})"}
        request_id = None
    else:
        first = exc.errors()[0] if isinstance(exc, ValidationError) and exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if not isinstance(p, int))
        detail = f"{first.get('msg', exc)}" + (f" at {where}" if where else "")
        error = {
            "code": INVALID_REQUEST,
            "message": f"Invalid Request: not a JSON-RPC 2.0 message ({detail})",
        }
        request_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(request_id, str | int) or isinstance(request_id, bool):
            request_id = None
    return _error(error["code"], error["message"], request_id)


def accept_line(line: bytes) -> tuple[types.JSONRPCMessage | None, bytes | None]:
    """A line of the wire as ``(message, None)``, or ``(None, the JSON-RPC error answering it)``: nesting over
    ``strictjson.MAX_DEPTH`` and repeated keys are refused before pydantic reads the line."""
    message, refusal, _ = read_line(line)
    return message, refusal


def read_line(line: bytes) -> tuple[types.JSONRPCMessage | None, bytes | None, Any]:
    """:func:`accept_line`, and the line's JSON value (None when refused)."""
    try:
        data = strictjson.loads(line)
    except strictjson.JSONError as exc:
        return None, rejection(line, exc), None
    message, refusal = validate_line(line)
    return message, refusal, data if message is not None else None


def validate_line(line: bytes) -> tuple[types.JSONRPCMessage | None, bytes | None]:
    """The JSON-RPC message of a line :func:`strictjson.loads` accepted, or the error answering it."""
    try:
        return types.jsonrpc_message_adapter.validate_json(line, by_name=False), None
    except ValueError as exc:  # pydantic's ValidationError
        return None, rejection(line, exc)


def is_request(data: Any) -> bool:
    """Whether a line's JSON value is a JSON-RPC request exactly as the SDK's message type accepts one (so it
    need not be validated again before the fast path looks at it)."""
    if not isinstance(data, dict) or data.get("jsonrpc") != "2.0" or not isinstance(data.get("method"), str):
        return False
    params = data.get("params")
    return type(data.get("id")) in (int, str) and (params is None or isinstance(params, dict))


@contextlib.contextmanager
def _claimed() -> Any:
    """Private duplicates of fds 0 and 1 for the wire; 0 -> /dev/null and 1 -> stderr meanwhile."""
    wire_in, wire_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    try:
        yield wire_in, wire_out
    finally:
        for private, fd in ((wire_in, 0), (wire_out, 1)):
            with contextlib.suppress(OSError):
                os.dup2(private, fd)
                os.close(private)


@contextlib.asynccontextmanager
async def stdio_streams(fast: FastPath | None = None) -> AsyncIterator[tuple[Any, Any]]:
    """``(read_stream, write_stream)`` for ``Server.run`` over this process's stdin and stdout; ``fast``
    takes the ``tools/call`` requests it can serve itself (on pipes only)."""
    if not (_is_pipe(0) and _is_pipe(1)):
        async with stdio_server() as streams:
            yield streams
        return
    loop = asyncio.get_running_loop()
    with _claimed() as (wire_in, wire_out):
        reader = asyncio.StreamReader(limit=MAX_MESSAGE_BYTES, loop=loop)
        in_file = os.fdopen(wire_in, "rb", buffering=0, closefd=False)
        out_file = os.fdopen(wire_out, "wb", buffering=0, closefd=False)
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), in_file
        )
        write_transport, write_protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, out_file
        )
        writer = asyncio.StreamWriter(write_transport, write_protocol, None, loop)
        inbound_send, inbound = create_context_streams[SessionMessage | Exception](0)
        outbound, outbound_receive = create_context_streams[SessionMessage](0)

        async def read() -> None:
            async with inbound_send:
                skipping = False  # the rest of an oversized line, still arriving
                while True:
                    try:
                        line = await reader.readline()
                    except ValueError as exc:  # over the limit: the reader dropped what it held
                        if not skipping:
                            writer.write(oversized())
                        skipping = "not found" in str(exc)  # its end has not arrived yet
                        continue
                    if not line:
                        break
                    if skipping:
                        skipping = not line.endswith(b"\n")
                        continue
                    if not line.strip():
                        continue
                    try:
                        data = strictjson.loads(line)
                    except strictjson.JSONError as exc:
                        writer.write(rejection(line, exc))
                        continue
                    if fast is not None and is_request(data):  # a tools/call it takes is valid as it is
                        fast.observe(data)
                        if fast.take(data, writer.write) is not None:
                            continue
                    message, refusal = validate_line(line)
                    if message is None:
                        writer.write(refusal)  # the SDK would drop it unanswered
                        continue
                    if fast is not None:
                        fast.observe(data)
                        if fast.cancels(data):
                            continue
                    await inbound_send.send(SessionMessage(message))

        async def write() -> None:
            async with outbound_receive:
                async for session_message in outbound_receive:
                    data = session_message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    writer.write(data.encode("utf-8") + b"\n")
                    await writer.drain()

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(read)
                tg.start_soon(write)
                try:
                    yield inbound, outbound
                finally:
                    if fast is not None:
                        with anyio.CancelScope(shield=True):
                            await fast.close()
                tg.cancel_scope.cancel()
        finally:
            read_transport.close()
            write_transport.close()
            with contextlib.suppress(OSError):
                sys.stderr.flush()
