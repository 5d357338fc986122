"""JSON bodies within bounds over real HTTP: deep nesting and duplicate keys get a 400 naming the problem (never a
500 with a traceback in the log), on every endpoint that reads JSON; Cerbos's wording for duplicates."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from tests.server.support import STORE, ThreadServer

CHECK = "/api/check/resources"
GOOD = {
    "principal": {"id": "john", "roles": ["employee"]},
    "resources": [
        {
            "actions": ["view:public"],
            "resource": {"kind": "leave_request", "id": "1", "policyVersion": "20210210"},
        }
    ],
}


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def check_body(depth: int) -> bytes:
    return (
        '{"principal": {"id": "a", "roles": ["x"], "attr": {"d": ' + nested(depth) + "}}, "
        '"resources": [{"actions": ["view"], "resource": {"kind": "leave_request", "id": "1"}}]}'
    ).encode()


def authzen_body(depth: int) -> bytes:
    return (
        '{"subject": {"type": "user", "id": "a", "properties": {"d": ' + nested(depth) + "}}, "
        '"resource": {"type": "leave_request", "id": "1"}, "action": {"name": "view"}}'
    ).encode()


def authzen_batch(depth: int) -> bytes:
    return (
        '{"subject": {"type": "user", "id": "a"}, "evaluations": [{"resource": {"type": "r", "id": "1", '
        '"properties": {"d": ' + nested(depth) + '}}, "action": {"name": "view"}}]}'
    ).encode()


@pytest.fixture(scope="module")
def server():
    with ThreadServer(STORE, {"chamberlain": {"logLevel": "info"}}) as srv:
        yield srv


@pytest.mark.parametrize("depth", [59, 70, 500, 1019, 5000, 100_000])
@pytest.mark.parametrize(
    ("path", "body"),
    [(CHECK, check_body), ("/access/v1/evaluation", authzen_body), ("/access/v1/evaluations", authzen_batch)],
    ids=["check", "authzen", "authzen-batch"],
)
def test_deep_nesting_is_a_400_not_a_500(server, caplog, path, body, depth):
    with caplog.at_level(logging.INFO, logger="chamberlain.server"):
        reply = httpx.post(server.url + path, content=body(depth), timeout=30)
    if depth < 60:
        assert reply.status_code == 200, reply.text
        return
    assert reply.status_code == 400, reply.text
    assert "nested more than 64 levels deep" in reply.json()["message"]
    assert not any(r.exc_info for r in caplog.records)  # no traceback logged


def test_the_depth_limit_is_configurable():
    with ThreadServer(STORE, {"chamberlain": {"limits": {"maxJSONDepth": 8}}}) as srv:
        assert httpx.post(srv.url + CHECK, content=check_body(2)).status_code == 200
        reply = httpx.post(srv.url + CHECK, content=check_body(6))
    assert reply.status_code == 400 and "nested more than 8 levels deep" in reply.json()["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"principal": {"id": "a", "roles": ["x"]}, "principal": {"id": "b", "roles": ["y"]}, "resources": []}',
            'duplicate field "principal"',
        ),
        (b'{"principal": {"id": "a", "id": "b", "roles": ["x"]}, "resources": []}', 'duplicate field "id"'),
        (
            b'{"principal": {"id": "a", "roles": ["x"], "attr": {"x": 1, "x": 2}}, "resources": []}',
            'duplicate map key "x"',
        ),
        (
            b'{"principal": {"id": "a", "roles": ["x"], "attr": {"x": {"y": 1, "y": 2}}}, "resources": []}',
            'duplicate map key "y"',
        ),
        (
            b'{"principal": {"id": "a", "roles": ["x"]}, "resources": [{"actions": ["v"], "actions": ["w"], '
            b'"resource": {"kind": "k", "id": "1"}}]}',
            'duplicate field "actions"',
        ),
    ],
    ids=["top", "principal-id", "attr", "nested-attr", "resource-entry"],
)
def test_duplicate_keys_are_refused_as_cerbos_words_it(server, body, message):
    reply = httpx.post(server.url + CHECK, content=body)
    assert reply.status_code == 400, reply.text
    assert message in reply.json()["message"]


def test_duplicate_keys_in_authzen(server):
    body = b'{"subject": {"type": "user", "id": "a", "id": "root"}, "resource": {"type": "r", "id": "1"}, "action": {"name": "v"}}'
    reply = httpx.post(server.url + "/access/v1/evaluation", content=body)
    assert reply.status_code == 400 and 'duplicate field "id"' in reply.json()["message"]


def test_a_good_request_still_passes(server):
    reply = httpx.post(server.url + CHECK, content=json.dumps(GOOD))
    assert reply.status_code == 200 and reply.json()["results"][0]["actions"] == {
        "view:public": "EFFECT_ALLOW"
    }
