"""Request headers within bounds: a request line and headers over chamberlain.limits.maxHeaderBytes get
431 Request Header Fields Too Large and the connection is closed, before the rest arrives (a 64 MB header
was read whole). Normal requests on the same server are unaffected."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.server.support import STORE, ThreadServer, raw_http


@pytest.fixture(scope="module")
def server():
    with ThreadServer(
        STORE, {"chamberlain": {"limits": {"maxHeaderBytes": 16384}, "logLevel": "error"}}
    ) as srv:
        yield srv


def test_an_oversized_header_is_431(server):
    reply = raw_http(
        server.port, b"GET /_cerbos/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
    )
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:100]
    assert b"connection: close" in reply.lower()


def test_a_header_that_never_ends_is_cut_off_early(server):
    """64 MB offered, one byte of a header at a time in large chunks: the server stops reading long before."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /_cerbos/health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        chunk = b"a" * 65536
        with pytest.raises(OSError):  # reset or broken pipe once the server has closed
            while sent < 64 << 20:
                sock.sendall(chunk)
                sent += len(chunk)
        assert sent < 8 << 20
        reply = b""
        try:
            while part := sock.recv(65536):
                reply += part
        except OSError:
            pass
    assert reply == b"" or reply.startswith(b"HTTP/1.1 431 ")


def test_many_small_headers_count_too(server):
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(200))
    reply = raw_http(server.port, b"GET /_cerbos/health HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 431 ")


def test_normal_requests_pass(server):
    assert httpx.get(f"{server.url}/_cerbos/health", headers={"X-Ok": "v" * 8000}).status_code == 200
    body = {
        "principal": {"id": "john", "roles": ["employee"]},
        "resources": [
            {
                "actions": ["view:public"],
                "resource": {"kind": "leave_request", "id": "1", "policyVersion": "20210210"},
            }
        ],
    }
    big_body = {**body, "requestId": "r" * 50000}  # the body does not count against the header limit
    assert httpx.post(f"{server.url}/api/check/resources", json=big_body).status_code == 200


def test_default_limit_is_64_kib():
    from chamberlain.server.config import load_config

    assert load_config(None, env={}).max_header_bytes == 65536
