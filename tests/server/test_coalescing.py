"""A response's header block and body leave in one write (chamberlain.server.coalesce): on a real
socket pair, a write is held until the next one joins it, the end of the loop turn, or a close; on the
real server, answers stay whole and in order (pipelined requests, ``Expect: 100-continue``)."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from chamberlain.server.coalesce import CoalescingTransport
from tests.server.support import STORE, ThreadServer, raw_http


async def _pair() -> tuple[CoalescingTransport, asyncio.Transport, socket.socket]:
    ours, peer = socket.socketpair()
    peer.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    return CoalescingTransport(transport, loop), transport, peer


def _nothing_arrived(peer: socket.socket) -> bool:
    try:
        peer.recv(65536)
    except BlockingIOError:
        return True
    return False


async def _received(peer: socket.socket, n: int) -> bytes:
    data = b""
    loop = asyncio.get_running_loop()
    while len(data) < n:
        data += await asyncio.wait_for(loop.sock_recv(peer, 65536), 5)
    return data


def test_the_next_write_joins_the_held_one():
    async def run() -> None:
        coalescing, _, peer = await _pair()
        coalescing.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        assert _nothing_arrived(peer)  # held
        assert coalescing.get_write_buffer_size() > 0  # counted as buffered, for uvicorn's flow control
        coalescing.write(b"{}")
        assert await _received(peer, 40) == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
        coalescing.close()
        peer.close()

    asyncio.run(run())


def test_a_write_alone_leaves_at_the_end_of_the_loop_turn():
    async def run() -> None:
        coalescing, _, peer = await _pair()
        coalescing.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        assert _nothing_arrived(peer)
        await asyncio.sleep(0)
        assert await _received(peer, 25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        # then a header block and a chunked body written a turn apart: order and bytes kept
        coalescing.write(b"A")
        await asyncio.sleep(0)
        coalescing.write(b"B")
        coalescing.write(b"C")
        coalescing.writelines([b"D", b"E"])
        await asyncio.sleep(0)
        assert await _received(peer, 5) == b"ABCDE"
        coalescing.close()
        peer.close()

    asyncio.run(run())


def test_close_sends_what_is_held_and_abort_drops_it():
    async def run() -> None:
        coalescing, _, peer = await _pair()
        coalescing.write(b"last words")
        coalescing.close()
        assert await _received(peer, 10) == b"last words"
        assert coalescing.is_closing()  # the wrapped transport's own state
        peer.close()

        coalescing, _, peer = await _pair()
        coalescing.write(b"never sent")
        coalescing.abort()
        await asyncio.sleep(0.05)
        assert await asyncio.get_running_loop().sock_recv(peer, 100) == b""  # closed, nothing before
        peer.close()

    asyncio.run(run())


@pytest.fixture(scope="module")
def server():
    with ThreadServer(STORE, {"chamberlain": {"logLevel": "error"}}) as srv:
        yield srv


_CHECK = json.dumps(
    {
        "requestId": "r1",
        "principal": {"id": "john", "roles": ["employee"]},
        "resources": [{"actions": ["view:public"], "resource": {"kind": "leave_request", "id": "XX125"}}],
    }
).encode()


def _post(body: bytes, *, extra: bytes = b"", close: bool = False) -> bytes:
    return (
        b"POST /api/check/resources HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        + b"content-length: %d\r\n" % len(body)
        + extra
        + (b"connection: close\r\n" if close else b"")
        + b"\r\n"
        + body
    )


def test_pipelined_requests_get_whole_answers_in_order(server):
    reply = raw_http(
        server.port,
        b"GET /_cerbos/health HTTP/1.1\r\nHost: x\r\n\r\n"
        + _post(_CHECK)
        + _post(_CHECK.replace(b'"r1"', b'"r2"'), close=True),
    )
    answers = reply.split(b"HTTP/1.1 ")[1:]
    assert [a[:3] for a in answers] == [b"200", b"200", b"200"], reply
    assert b'"requestId":"r1"' in answers[1] and b'"requestId":"r2"' in answers[2]


def test_expect_100_continue_is_answered_before_the_body_is_sent(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        head = _post(_CHECK, extra=b"expect: 100-continue\r\n", close=True)
        sock.sendall(head[: -len(_CHECK)])  # the headers only: the server must ask for the body
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue"), interim
        sock.sendall(_CHECK)
        reply = b""
        while part := sock.recv(65536):
            reply += part
    assert reply.startswith(b"HTTP/1.1 200 ") and b'"requestId":"r1"' in reply, reply
