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

from chamberlain import PDP
from chamberlain.delegation import TokenService, create_app, parse_config
from tests.delegation.support import ISSUER, IdentityProvider, serve, settings
from tests.gateways.support import AUDIENCE, TIME_SERVER, http_gateway, jwks_file, policy_folder, write_config
from tests.gateways.test_http import AGENTS, World
from tests.support.cerbos_server import free_port

pytestmark = [pytest.mark.filterwarnings("ignore:EdDSA is deprecated")]
WAIT = 15.0  # seconds a socket waits for the gateway to give up on it (its timeouts are 1 s)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mcp-http-slow")
    idp = IdentityProvider()
    folder = policy_folder(tmp)
    (tmp / "coder-agents.yaml").write_text(AGENTS)
    config = parse_config(
        settings(tmp, idp, agentsFile=str(tmp / "coder-agents.yaml")),
        state_dir=tmp / "state",
        base_url="http://unused.example",
    )
    service = TokenService(config, PDP.from_directory(folder))
    port = free_port()
    gateway = write_config(
        tmp,
        [{"name": "time", "command": TIME_SERVER}],
        downstream={
            "transport": "http",
            "listen": f"127.0.0.1:{port}",
            "readHeaderTimeout": "1s",
            "readTimeout": "1s",
        },
        auth={
            "issuer": ISSUER,
            "jwksFile": str(jwks_file(tmp, service.jwks())),
            "audiences": [AUDIENCE],
            "scopeMapping": {"mcp_server": {"*": "mcp:tools"}},
            "agentsFile": str(tmp / "coder-agents.yaml"),
            "principals": {"erin": {"roles": ["developer"]}},
        },
    )
    with serve(create_app(service)) as token_url, http_gateway(gateway, tmp / "gateway.log") as url:
        yield World(tmp, idp, service, token_url, url, None, None)


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
