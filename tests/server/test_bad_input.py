"""Bad input over real HTTP: each gets the right 4xx and a message naming the problem; never a 500, never ALLOW."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.support import STORE, ThreadServer, raw_http

LIMITS = {
    "advanced": {
        "http": {"readTimeout": "1s", "readHeaderTimeout": "1s"},
        "grpc": {"maxRecvMsgSizeBytes": 20000},
    },
    "requestLimits": {"maxResourcesPerRequest": 3, "maxActionsPerResource": 4},
}
GOOD = {
    "principal": {"id": "john", "roles": ["employee"]},
    "resources": [
        {
            "actions": ["view:public"],
            "resource": {"kind": "leave_request", "id": "1", "policyVersion": "20210210"},
        }
    ],
}


@pytest.fixture(scope="module")
def server():
    with ThreadServer(STORE, {"server": LIMITS, "chamberlain": {"logLevel": "error"}}) as srv:
        yield srv


def post(server, body, path="/api/check/resources", **kw) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(server.url + path, content=content, timeout=10, **kw)


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"{nope", 400, "invalid JSON"),
        (b"\xff\xfe", 400, "invalid JSON"),
        (b'"a string"', 400, "must be a JSON object"),
        ({**GOOD, "principal": {"id": "a", "roles": [1]}}, 400, "principal.roles[0]"),
        ({**GOOD, "principal": {"id": ["a"], "roles": ["x"]}}, 400, "principal.id"),
        ({**GOOD, "resources": {"a": 1}}, 400, "resources"),
        (
            {**GOOD, "resources": [{"actions": "view", "resource": GOOD["resources"][0]["resource"]}]},
            400,
            "resources[0].actions",
        ),
        (
            {**GOOD, "resources": [{"actions": ["view"], "resource": {"kind": "", "id": "1"}}]},
            400,
            "resources[0].resource.kind",
        ),
        (
            {**GOOD, "resources": [{"actions": ["view"], "resource": {"kind": "x"}}]},
            400,
            "resources[0].resource.id",
        ),
        ({**GOOD, "principal": {**GOOD["principal"], "attr": []}}, 400, "principal.attr"),
        (
            {**GOOD, "auxData": {"jwt": {"token": "a.b.c"}, "jwts": {"x": {"token": "a.b.c"}}}},
            400,
            "Only one of",
        ),
        (
            {**GOOD, "resources": GOOD["resources"] * 4},
            400,
            "number of resources in batch (4) exceeds configured limit (3)",
        ),
        (
            {**GOOD, "resources": [{**GOOD["resources"][0], "actions": list("abcde")}]},
            400,
            "number of actions (5) exceeds configured limit (4)",
        ),
        (
            {**GOOD, "principal": {"id": "a", "roles": ["x"], "attr": {"big": "x" * 30000}}},
            413,
            "larger than max",
        ),
    ],
    ids=[
        "invalid-json",
        "not-utf8",
        "not-an-object",
        "role-not-string",
        "id-not-string",
        "resources-object",
        "actions-string",
        "empty-kind",
        "missing-resource-id",
        "attr-list",
        "jwt-and-jwts",
        "too-many-resources",
        "too-many-actions",
        "oversized",
    ],
)
def test_rejected_with_message(server, body, status, needle):
    resp = post(server, body)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert needle in resp.json()["message"]


def test_unknown_kind_is_denied_not_an_error(server):
    body = {**GOOD, "resources": [{"actions": ["view"], "resource": {"kind": "no_such_kind", "id": "1"}}]}
    resp = post(server, body)
    assert resp.status_code == 200
    assert resp.json()["results"][0]["actions"] == {"view": "EFFECT_DENY"}


def test_oversized_chunked_body_is_cut_off(server):
    def chunks():
        for _ in range(100):
            yield b"x" * 1000

    resp = httpx.post(server.url + "/api/check/resources", content=chunks(), timeout=10)
    assert resp.status_code == 413


def test_slow_headers_close_the_connection(server):
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /api/check/resources HTTP/1.1\r\nHost: x\r\n")  # and never finish the headers
        assert sock.recv(1024) == b""  # closed by the server
    assert time.monotonic() - started < 4


def test_slow_body_gets_408(server):
    body = json.dumps(GOOD).encode()
    head = f"POST /api/check/resources HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head.encode() + body[:10])  # the rest never comes
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 408"), reply
    assert b"timed out reading the request body" in reply


def test_method_not_allowed_and_not_found(server):
    assert httpx.get(server.url + "/api/check/resources").status_code == 501
    assert httpx.get(server.url + "/nope").status_code == 404
    assert raw_http(server.port, b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400")


_plan_fields = st.fixed_dictionaries(
    {},
    optional={
        "principal": st.one_of(
            _json_plan := st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                max_leaves=8,
            ),
            st.fixed_dictionaries(
                {"id": st.text(max_size=3), "roles": st.lists(st.text(max_size=3), max_size=2)},
                optional={"attr": _json_plan},
            ),
        ),
        "resource": st.one_of(
            _json_plan,
            st.fixed_dictionaries(
                {"kind": st.sampled_from(["leave_request", "", "x"])},
                optional={"attr": _json_plan, "scope": _json_plan},
            ),
        ),
        "action": _json_plan,
        "actions": _json_plan,
        "includeMeta": _json_plan,
        "auxData": _json_plan,
    },
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_plan_fields)
def test_random_plan_requests_never_500(server, body):
    """PlanResources: bad input is a 400 naming the problem; nothing a caller sends makes a 500."""
    resp = post(server, body, "/api/plan/resources")
    assert resp.status_code in (200, 400), resp.text
    if resp.status_code == 200:
        assert resp.json()["filter"]["kind"] in (
            "KIND_ALWAYS_ALLOWED",
            "KIND_ALWAYS_DENIED",
            "KIND_CONDITIONAL",
        )


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=12,
)
_fields = st.fixed_dictionaries(
    {},
    optional={
        "principal": st.one_of(
            _json,
            st.fixed_dictionaries({"id": _json, "roles": _json}, optional={"attr": _json, "scope": _json}),
        ),
        "resources": st.one_of(
            _json, st.lists(st.fixed_dictionaries({"actions": _json, "resource": _json}), max_size=2)
        ),
        "auxData": _json,
        "includeMeta": _json,
        "requestId": _json,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(_json, _fields))
def test_random_input_never_500_never_allow(server, body):
    resp = post(server, body)
    assert resp.status_code in (200, 400), resp.text
    if resp.status_code == 200:
        for result in resp.json()["results"]:
            assert set(result["actions"].values()) <= {"EFFECT_DENY", "EFFECT_ALLOW"}
            assert "EFFECT_ALLOW" not in result["actions"].values() or body["principal"]["roles"]
