"""``POST /api/plan/resources``: chamberlain's server answers as the real Cerbos 0.55 answers.

The same requests (plans, several actions, meta, and bad input with Cerbos's validation messages)
go to both servers on Cerbos's query-planner conformance policies. The only difference allowed is
the wording of JSON decoding errors (Cerbos's protojson names a line and column, chamberlain the
field), which compare by status. Plans are recorded in the server's decision log.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.cel.conformance import data_dir
from tests.server.support import ADMIN_AUTH, ThreadServer, admin_on
from tests.support.cerbos_server import ServerFactory

pytest_plugins = ["tests.support.fixtures"]

POLICIES = data_dir() / "cerbos" / "query_planner" / "policies"
GLOBALS = {"globals": {"environment": "test"}}
HARRY = {"id": "harry", "roles": ["employee"]}
REQUESTS = [
    {
        "requestId": "1",
        "actions": ["view", "approve"],
        "includeMeta": True,
        "principal": HARRY,
        "resource": {"kind": "leave_request", "policyVersion": "default"},
    },
    {
        "actions": ["view"],
        "includeMeta": True,
        "principal": HARRY,
        "resource": {"kind": "leave_request", "scope": "acme"},
    },
    {
        "action": "view",
        "includeMeta": True,
        "principal": HARRY,
        "resource": {"kind": "leave_request", "scope": "acme"},
    },
    {
        "action": "view",
        "principal": {**HARRY, "attr": {"a": 1}},
        "resource": {"kind": "leave_request", "attr": {"": 1}},
    },
    {
        "action": "view",
        "principal": HARRY,
        "resource": {"kind": "leave_request", "attr": None},
        "auxData": None,
    },
    {"action": "view", "includeMeta": True, "principal": HARRY, "resource": {"kind": "nonexistent"}},
    {"action": "view", "actions": ["view"], "principal": HARRY, "resource": {"kind": "leave_request"}},
    {"principal": HARRY, "resource": {"kind": "leave_request"}},
    {"actions": ["a", "a"], "principal": HARRY, "resource": {"kind": "leave_request"}},
    {"actions": ["a"], "principal": {"id": "", "roles": []}, "resource": {"kind": ""}},
    {"actions": ["a"], "principal": {"id": "x", "roles": ["r"]}},
    {
        "actions": ["a", ""],
        "principal": {"id": "x", "roles": ["r"]},
        "resource": {"kind": "k", "policyVersion": "a.b", "scope": "..x"},
    },
    {
        "actions": [str(i) for i in range(21)],
        "principal": {"id": "x", "roles": ["r"]},
        "resource": {"kind": "k"},
    },
    {"principal": {"id": "", "roles": ["employee"]}, "resource": {"kind": "leave_request"}},
    {
        "action": "view",
        "principal": {"id": "x", "roles": ["employee", "employee"]},
        "resource": {"kind": "leave_request"},
        "requestContext": {"annotations": {}},
    },
]
DECODE_ERRORS = [
    {"actions": ["a"], "principal": {"id": "x", "roles": ["r"]}, "resource": {"kind": "k", "id": "x"}},
    {"actions": ["a"], "principal": {"id": "x", "roles": ["r"]}, "resource": {"kind": "k"}, "extra": 1},
]


@pytest.fixture(scope="module")
def servers(cerbos_servers: ServerFactory):
    cerbos = cerbos_servers(POLICIES, engine=GLOBALS)
    with ThreadServer(POLICIES, {"engine": GLOBALS, "server": admin_on()}) as ours:
        yield cerbos, ours


def _answer(url: str, request: dict) -> tuple[int, dict]:
    reply = httpx.post(url + "/api/plan/resources", json=request, timeout=10)
    body = reply.json()
    body.pop("cerbosCallId", None)
    body.pop("details", None)
    return reply.status_code, body


@pytest.mark.parametrize("index", range(len(REQUESTS)))
def test_same_answer_as_cerbos(servers, index):
    cerbos, ours = servers
    assert _answer(ours.url, REQUESTS[index]) == _answer(cerbos.url, REQUESTS[index])


@pytest.mark.parametrize("request_body", DECODE_ERRORS)
def test_decode_errors_are_400_naming_the_field(servers, request_body):
    cerbos, ours = servers
    (status, body), (cerbos_status, _) = _answer(ours.url, request_body), _answer(cerbos.url, request_body)
    assert status == cerbos_status == 400 and "unknown field" in body["message"]


def test_plans_are_recorded(servers):
    _, ours = servers
    reply = httpx.post(ours.url + "/api/plan/resources", json={**REQUESTS[2], "requestId": "plan-rec"}).json()
    entries = httpx.get(ours.url + "/api/audit/entries", params={"limit": 1000}, auth=ADMIN_AUTH).json()[
        "entries"
    ]
    [entry] = [e for e in entries if e["request_id"] == "plan-rec"]
    assert entry["call_id"] == reply["cerbosCallId"] and entry["point"] == "http:cerbos"
    assert entry["plan"]["kind"] == reply["filter"]["kind"] == "KIND_CONDITIONAL"
    assert entry["plan"]["filter_debug"].startswith("(and (not request.resource.attr.hidden_from_employee)")


STORE = data_dir() / "cerbos" / "store"
JOHN = {
    "id": "john",
    "roles": ["employee"],
    "policyVersion": "20210210",
    "attr": {"department": "marketing", "geography": "GB", "team": "design"},
}
SCHEMA_REQUESTS = [
    # valid attributes; a missing required resource attribute is not a violation for a plan
    {
        "action": "view:public",
        "includeMeta": True,
        "principal": JOHN,
        "resource": {"kind": "leave_request", "policyVersion": "20210210", "attr": {"owner": "john"}},
    },
    # violations of the principal's and the resource's schemas
    {
        "actions": ["view:public", "approve"],
        "principal": {**JOHN, "attr": {**JOHN["attr"], "department": "sales"}},
        "resource": {"kind": "leave_request", "policyVersion": "20210210", "attr": {"dev_record": "yes"}},
    },
]


@pytest.mark.parametrize("enforcement", ["warn", "reject"])
@pytest.mark.parametrize("index", range(len(SCHEMA_REQUESTS)))
def test_schema_validation_as_cerbos(cerbos_servers: ServerFactory, enforcement: str, index: int) -> None:
    cerbos = cerbos_servers(STORE, schema_enforcement=enforcement)
    with ThreadServer(STORE, {"schema": {"enforcement": enforcement}}) as ours:
        theirs, mine = _answer(cerbos.url, SCHEMA_REQUESTS[index]), _answer(ours.url, SCHEMA_REQUESTS[index])
    for _, body in (theirs, mine):
        body.get("validationErrors", []).sort(key=lambda e: json.dumps(e, sort_keys=True))
    assert mine == theirs
