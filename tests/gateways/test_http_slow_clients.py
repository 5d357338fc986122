"""Slow clients of the streamable HTTP downstream: the time to send headers and a body is bounded.

Without bounds, a client sending its request headers (no token needed) or a message body a byte at a
time held a connection, and its coroutine, for as long as it liked (slowloris). The gateway runs here
with ``downstream.readHeaderTimeout`` and ``downstream.readTimeout`` of one second; the sockets
wait far longer, so a gateway that never closes fails the test rather than racing it.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from tests.gateways.support import TIME_SERVER
from tests.gateways.test_http import http_world

pytestmark = [pytest.mark.filterwarnings("ignore:EdDSA is deprecated")]
WAIT = 15.0  # seconds a socket waits for the gateway to give up on it (its timeouts are 1 s)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mcp-http-slow")
    timeouts = {"readHeaderTimeout": "1s", "readTimeout": "1s"}
    with http_world(tmp, [{"name": "time", "command": TIME_SERVER}], timeouts) as world:
        yield world


def _connect(url: str) -> tuple[socket.socket, str]:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=WAIT)
    return sock, parts.path


def _read_all(sock: socket.socket) -> bytes:
    """Everything the gateway sends until it closes the connection (socket.timeout if it never does)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_headers_that_never_finish_are_cut_off(world):
    sock, path = _connect(world.url)
    with sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".encode())
        assert _read_all(sock) == b""  # closed, nothing answered (as chamberlain's server does)


def test_a_body_that_never_finishes_is_answered_408(world):
    sock, path = _connect(world.url)
    with sock:
        sock.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {world.token()}\r\n"
                "Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n"
                "MCP-Protocol-Version: 2025-11-25\r\nContent-Length: 1000\r\n\r\n{"
            ).encode()
        )
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"timed out reading the request body (downstream.readTimeout)" in answer
