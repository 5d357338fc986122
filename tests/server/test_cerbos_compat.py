"""The same requests to chamberlain and to the real Cerbos 0.55 server: same statuses and answers."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.server.support import STORE, ThreadServer
from tests.support.cerbos_server import CerbosServer, require_cerbos

PRINCIPAL = {
    "id": "john",
    "roles": ["employee"],
    "attr": {"department": "marketing", "geography": "GB", "team": "design", "ip_address": "10.20.1.2"},
}
RESOURCE = {
    "kind": "leave_request",
    "id": "XX125",
    "policyVersion": "20210210",
    "attr": {"department": "marketing", "geography": "GB", "id": "XX125", "owner": "john", "team": "design"},
}
GOOD = {
    "requestId": "r1",
    "principal": PRINCIPAL,
    "resources": [{"actions": ["view:public", "approve", "create"], "resource": RESOURCE}],
}
SUBJECT = {"type": "user", "id": "john", "properties": {"cerbos.roles": ["employee"], **PRINCIPAL["attr"]}}
AZ_RESOURCE = {
    "type": "leave_request",
    "id": "XX125",
    "properties": {"cerbos.policyVersion": "20210210", **RESOURCE["attr"]},
}


def _many(n_resources: int, n_actions: int) -> dict[str, Any]:
    actions = [f"a{j}" for j in range(n_actions)]
    entries = [{"actions": actions, "resource": {"kind": "nope", "id": str(i)}} for i in range(n_resources)]
    return {**GOOD, "resources": entries}


CASES: dict[str, tuple[str, Any]] = {
    "allow_and_deny": ("/api/check/resources", GOOD),
    "include_meta": ("/api/check/resources", {**GOOD, "includeMeta": True}),
    "no_request_id": ("/api/check/resources", {k: v for k, v in GOOD.items() if k != "requestId"}),
    "snake_case_fields": (
        "/api/check/resources",
        {"request_id": "s", "include_meta": True, "principal": PRINCIPAL, "resources": GOOD["resources"]},
    ),
    "several_resources": (
        "/api/check/resources",
        {
            **GOOD,
            "resources": [
                *GOOD["resources"],
                {"actions": ["view"], "resource": {**RESOURCE, "id": "XX126", "attr": {"public": True}}},
            ],
        },
    ),
    "unknown_kind": (
        "/api/check/resources",
        {**GOOD, "resources": [{"actions": ["view"], "resource": {"kind": "nope", "id": "1"}}]},
    ),
    "invalid_json": ("/api/check/resources", b"{not json"),
    "empty_body": ("/api/check/resources", b""),
    "array_body": ("/api/check/resources", b"[]"),
    "roles_not_a_list": ("/api/check/resources", {**GOOD, "principal": {**PRINCIPAL, "roles": "employee"}}),
    "missing_principal": ("/api/check/resources", {k: v for k, v in GOOD.items() if k != "principal"}),
    "unknown_field": ("/api/check/resources", {**GOOD, "foo": 1}),
    "no_resources": ("/api/check/resources", {**GOOD, "resources": []}),
    "empty_principal_id": ("/api/check/resources", {**GOOD, "principal": {"id": "", "roles": ["x"]}}),
    "duplicate_actions": (
        "/api/check/resources",
        {**GOOD, "resources": [{"actions": ["a", "a"], "resource": RESOURCE}]},
    ),
    "bad_policy_version": (
        "/api/check/resources",
        {**GOOD, "principal": {**PRINCIPAL, "policyVersion": "a b"}},
    ),
    "bad_scope": ("/api/check/resources", {**GOOD, "principal": {**PRINCIPAL, "scope": "a..b"}}),
    "number_as_id": ("/api/check/resources", {**GOOD, "principal": {**PRINCIPAL, "id": 5}}),
    "include_meta_string": ("/api/check/resources", {**GOOD, "includeMeta": "yes"}),
    "too_many_resources": ("/api/check/resources", _many(51, 1)),
    "too_many_actions": ("/api/check/resources", _many(1, 51)),
    "jwt_without_keysets": ("/api/check/resources", {**GOOD, "auxData": {"jwt": {"token": "abc.def.ghi"}}}),
    "jwt_claims_injected": (
        "/api/check/resources",
        {**GOOD, "auxData": {"jwt": {"claims": {"admin": True}}}},
    ),
    "authzen_evaluation": (
        "/access/v1/evaluation",
        {"subject": SUBJECT, "resource": AZ_RESOURCE, "action": {"name": "view:public"}},
    ),
    "authzen_meta": (
        "/access/v1/evaluation",
        {
            "subject": SUBJECT,
            "resource": AZ_RESOURCE,
            "action": {"name": "approve"},
            "context": {"cerbos.includeMeta": True, "cerbos.requestId": "az"},
        },
    ),
    "authzen_type_as_role": (
        "/access/v1/evaluation",
        {
            "subject": {"type": "employee", "id": "john"},
            "resource": AZ_RESOURCE,
            "action": {"name": "view:public"},
        },
    ),
    "authzen_invalid": ("/access/v1/evaluation", {"subject": {"type": "user"}}),
    "authzen_batch": (
        "/access/v1/evaluations",
        {
            "subject": SUBJECT,
            "resource": AZ_RESOURCE,
            "evaluations": [
                {"action": {"name": "view:public"}},
                {"action": {"name": "approve"}},
                {"action": {"name": "create"}},
                {"action": {"name": "view:public"}, "resource": {"type": "other", "id": "1"}},
            ],
        },
    ),
    "authzen_batch_deny_on_first_deny": (
        "/access/v1/evaluations",
        {
            "subject": SUBJECT,
            "resource": AZ_RESOURCE,
            "options": {"evaluations_semantic": "deny_on_first_deny"},
            "evaluations": [
                {"action": {"name": "view:public"}},
                {"action": {"name": "approve"}},
                {"action": {"name": "create"}},
            ],
        },
    ),
}


@pytest.fixture(scope="module")
def servers():
    with (
        CerbosServer(require_cerbos(), STORE) as cerbos,
        ThreadServer(STORE, {"chamberlain": {"logLevel": "error"}}) as ours,
    ):
        yield cerbos.url, ours.url


def _post(url: str, body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(url, content=content, headers={"Content-Type": "application/json"}, timeout=30)


def _normalise(body: Any) -> Any:
    """Drop what differs by design (call ids, error wording) and Go's random map order."""
    if isinstance(body, dict):
        out = {k: _normalise(v) for k, v in body.items() if k not in ("cerbosCallId", "details")}
        if "code" in out and "message" in out:
            out["message"] = "<message>"
        if "effectiveDerivedRoles" in out:
            out["effectiveDerivedRoles"] = sorted(out["effectiveDerivedRoles"])
        return out
    if isinstance(body, list):
        return [_normalise(v) for v in body]
    return body


@pytest.mark.parametrize("name", CASES)
def test_same_answer_as_cerbos(servers, name):
    cerbos_url, our_url = servers
    path, body = CASES[name]
    theirs, ours = _post(cerbos_url + path, body), _post(our_url + path, body)
    assert ours.status_code == theirs.status_code, (ours.text, theirs.text)
    assert _normalise(ours.json()) == _normalise(theirs.json())
    if ours.status_code == 200 and path == "/api/check/resources":
        assert len(ours.json()["cerbosCallId"]) == 26
    if ours.status_code >= 400:
        assert ours.json()["message"]


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/_cerbos/health"), ("GET", "/api/check/resources"), ("GET", "/nope")]
)
def test_same_status_for_other_routes(servers, method, path):
    cerbos_url, our_url = servers
    theirs, ours = httpx.request(method, cerbos_url + path), httpx.request(method, our_url + path)
    assert ours.status_code == theirs.status_code
    assert ours.headers["content-type"].split(";")[0] == theirs.headers["content-type"].split(";")[0]


DUPLICATES = {
    "top": b'{"principal": {"id": "a", "roles": ["x"]}, "principal": {"id": "b", "roles": ["y"]}, "resources": []}',
    "field": b'{"principal": {"id": "a", "id": "b", "roles": ["x"]}, "resources": []}',
    "attr": b'{"principal": {"id": "a", "roles": ["x"], "attr": {"x": 1, "x": 2}}, "resources": []}',
    "nested_attr": b'{"principal": {"id": "a", "roles": ["x"], "attr": {"x": [{"y": 1, "y": 2}]}}, "resources": []}',
    "aux_jwts": b'{"principal": {"id": "a", "roles": ["x"]}, "resources": [], "auxData": {"jwts": {"k": {"token": "t"}, "k": {"token": "u"}}}}',
}


@pytest.mark.parametrize("name", DUPLICATES)
def test_duplicate_keys_refused_with_cerbos_wording(servers, name):
    """Cerbos says ``proto: (line 1:48): duplicate field "principal"`` (or ``duplicate map key``): the same words."""
    import re

    cerbos_url, our_url = servers
    theirs, ours = (
        _post(cerbos_url + "/api/check/resources", DUPLICATES[name]),
        _post(our_url + "/api/check/resources", DUPLICATES[name]),
    )
    assert ours.status_code == theirs.status_code == 400, (ours.text, theirs.text)
    wording = re.search(r'duplicate (field|map key) "[^"]+"', theirs.json()["message"])
    assert wording is not None and wording.group() in ours.json()["message"], (ours.text, theirs.text)
