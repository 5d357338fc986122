"""The same requests over gRPC to chamberlain, over HTTP to chamberlain, and over gRPC to the real Cerbos 0.55:
the same answers and the same status codes (error wording: the HTTP API's, as over HTTP; derived roles
sorted, as Go's map order is random).

Requests come from the HTTP differential test's cases (those that are protobuf messages: a JSON body
that is not one cannot be sent over gRPC); each is built with protojson, as Cerbos's gateway builds it.
"""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import pytest
from cerbos.request.v1 import request_pb2
from cerbos.response.v1 import response_pb2
from google.protobuf import json_format

from tests.server.grpc.support import CHECK, PLAN, SERVER_INFO, GrpcThreadServer, unary
from tests.server.support import STORE
from tests.server.test_cerbos_compat import CASES, GOOD, PRINCIPAL, _normalise
from tests.support.cerbos_server import CerbosServer, require_cerbos

_HTTP_STATUS = {grpc.StatusCode.OK: 200, grpc.StatusCode.INVALID_ARGUMENT: 400}


def _messages() -> dict[str, request_pb2.CheckResourcesRequest]:
    found = {}
    for name, (path, body) in CASES.items():
        if path != "/api/check/resources" or not isinstance(body, dict):
            continue
        try:
            found[name] = json_format.ParseDict(body, request_pb2.CheckResourcesRequest())
        except json_format.ParseError:
            continue  # JSON only (a number as an id, an unknown field): the HTTP differential covers it
    attrs = {"n": 3, "f": 1.5, "big": 2**60, "huge": 1e20, "list": [1, "a", None, True]}
    numbers = {**PRINCIPAL, "attr": {**PRINCIPAL["attr"], **attrs}}
    found["numbers_and_values"] = json_format.ParseDict(
        {**GOOD, "principal": numbers}, request_pb2.CheckResourcesRequest()
    )
    return found


MESSAGES = _messages()
PLANS = {
    "conditional": {
        "requestId": "p1",
        "action": "view",
        "principal": {**PRINCIPAL, "policyVersion": "20210210"},
        "resource": {"kind": "leave_request", "policyVersion": "20210210"},
        "includeMeta": True,
    },
    "denied": {
        "action": "approve",
        "principal": PRINCIPAL,
        "resource": {"kind": "leave_request", "policyVersion": "20210210"},
    },
    "no_action": {"principal": PRINCIPAL, "resource": {"kind": "leave_request"}},
}


@pytest.fixture(scope="module")
def servers():
    with (
        CerbosServer(require_cerbos(), STORE) as cerbos,
        GrpcThreadServer(STORE, {"chamberlain": {"logLevel": "error"}}) as ours,
        grpc.insecure_channel(f"127.0.0.1:{cerbos.grpc_port}") as cerbos_channel,
        grpc.insecure_channel(ours.grpc_address) as our_channel,
    ):
        yield cerbos_channel, our_channel, ours.url


def _without_call_id(answer: Any) -> Any:
    if isinstance(answer, dict):
        answer.pop("cerbosCallId", None)
    return answer


def test_the_cases_cover_answers_and_errors():
    assert {
        "allow_and_deny",
        "include_meta",
        "empty_principal_id",
        "too_many_actions",
        "no_resources",
    } <= set(MESSAGES)


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_check_resources_same_as_http_and_cerbos(servers, name):
    cerbos, ours, url = servers
    request = MESSAGES[name]
    code, answer, _ = unary(ours, CHECK, request, response_pb2.CheckResourcesResponse)
    http = httpx.post(f"{url}/api/check/resources", content=json_format.MessageToJson(request), timeout=20)
    assert _HTTP_STATUS[code] == http.status_code
    assert _without_call_id(answer) == _without_call_id(
        http.json() if code == grpc.StatusCode.OK else http.json()["message"]
    )
    cerbos_code, cerbos_answer, _ = unary(cerbos, CHECK, request, response_pb2.CheckResourcesResponse)
    assert code == cerbos_code
    if (
        code == grpc.StatusCode.OK
    ):  # error wording is compared with the HTTP API's (itself compared with Cerbos's)
        assert _normalise(answer) == _normalise(cerbos_answer)


@pytest.mark.parametrize("name", sorted(PLANS))
def test_plan_resources_same_as_cerbos(servers, name):
    cerbos, ours, _ = servers
    request = json_format.ParseDict(PLANS[name], request_pb2.PlanResourcesRequest())
    ours_answer = unary(ours, PLAN, request, response_pb2.PlanResourcesResponse)[:2]
    cerbos_answer = unary(cerbos, PLAN, request, response_pb2.PlanResourcesResponse)[:2]
    assert ours_answer[0] == cerbos_answer[0]
    assert _normalise(ours_answer[1]) == _normalise(cerbos_answer[1])


@pytest.mark.parametrize("data", [b"\xff\xff\xff", b"\x0a\x05ab"], ids=["garbage", "truncated"])
def test_malformed_protobuf_same_code_as_cerbos(servers, data):
    cerbos, ours, _ = servers
    assert unary(ours, CHECK, data)[0] == unary(cerbos, CHECK, data)[0] == grpc.StatusCode.INTERNAL


def test_server_info_and_unknown_methods(servers):
    cerbos, ours, _ = servers
    assert unary(ours, SERVER_INFO, b"", response_pb2.ServerInfoResponse)[1]["version"]
    missing = "/cerbos.svc.v1.CerbosService/Nope"
    assert unary(ours, missing, b"")[0] == unary(cerbos, missing, b"")[0] == grpc.StatusCode.UNIMPLEMENTED
