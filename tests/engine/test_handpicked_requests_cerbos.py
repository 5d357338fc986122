"""Hand-picked requests on three policy sets, answered alike by chamberlain and the real Cerbos server.

The random requests of ``test_differential_cerbos.py`` rarely line up every condition of a rule; these
do, deliberately: the clinic set (``realworld/clinic``: care teams, break-glass from office networks,
null and wrongly typed attributes, tenant scopes with both scope permissions, a principal policy in a
scope of its own, a locum role policy, int/uint/double counters in version ``v2``, a scope with no
policy, an unknown version) under schema enforcement ``none`` and ``reject``; the deployments set
(``realworld/deploys``: its fixtures as written, moved into three nested scopes and a scope with no
policy, and under version ``v2``), under ``none`` and ``reject``; and ``role_scopes/``
(role policies in nested scopes with parent roles, ``*`` resources and actions, next to resource
policies overriding or requiring parental consent and a principal policy), with and without lenient
scope search. Every principal meets every resource of its set, ``includeMeta`` on; whole responses
must agree.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from chamberlain import PDP
from tests.support.cerbos_requests import normalise_response
from tests.support.cerbos_server import ServerFactory

pytest_plugins = ["tests.support.fixtures"]

HERE = Path(__file__).parent
CLINIC = HERE / "realworld" / "clinic"
DEPLOYS = HERE / "realworld" / "deploys"
ROLE_SCOPES = HERE / "role_scopes"

_RECORD_ACTIONS = [
    "view",
    "view:summary",
    "view:full",
    "view:billing",
    "edit",
    "sign",
    "addendum:late",
    "download",
    "list",
    "delete",
    "count:x",
]
_TEAM = [{"id": "d1", "role": "lead"}, {"id": "n1", "role": "member"}]
_CLINIC_PRINCIPALS: list[dict[str, Any]] = [
    {
        "id": "d1",
        "roles": ["doctor"],
        "attr": {
            "org": "acme",
            "clearance": 2,
            "shift": {"active": True},
            "specialty": "cardiology",
            "ip": "10.1.2.3",
        },
    },
    {"id": "n1", "roles": ["nurse"], "attr": {"org": "acme", "clearance": 1.5}},
    {
        "id": "n2",
        "roles": ["nurse", "doctor"],
        "attr": {"org": "northwind", "clearance": 3, "shift": {"active": "yes"}},
    },
    {"id": "p1", "roles": ["patient"], "attr": {}},
    {"id": "b1", "roles": ["billing"], "attr": {"org": "acme", "clearance": 1}},
    {"id": "a1", "roles": ["auditor"], "attr": {"org": "northwind"}},
    {"id": "a2", "roles": ["auditor"], "attr": {}},
    {"id": "dr_house", "roles": ["doctor"], "attr": {"org": "princeton", "ip": "2001:db8::1"}},
    {"id": "dr_house", "roles": ["doctor"], "attr": {"org": "acme"}, "scope": "princeton"},
    {"id": "dr_house", "roles": ["doctor"], "attr": {"org": "acme"}, "scope": "princeton.diag"},
    {"id": "l1", "roles": ["locum"], "attr": {"org": "acme", "contractEnd": "2099-01-01T00:00:00Z"}},
    {"id": "l2", "roles": ["locum"], "attr": {"org": "acme", "contractEnd": "2001-01-01T00:00:00Z"}},
    {"id": "l3", "roles": ["locum", "doctor"], "attr": {"org": "acme"}},
    {
        "id": "d2",
        "roles": ["doctor"],
        "attr": {"org": "acme", "clearance": None, "shift": None, "ip": "192.168.2.1"},
    },
    {"id": "d3", "roles": ["doctor"], "attr": {"org": "acme", "ip": "not-an-ip"}},
    {"id": "x", "roles": ["doctor"], "attr": {"org": "acme"}, "policyVersion": "v2"},
]


def _record(rid: str, attr: dict[str, Any], **more: str) -> dict[str, Any]:
    return {"kind": "medical_record", "id": rid, "attr": attr, **more}


_CLINIC_RESOURCES = [
    _record(
        "r1",
        {
            "org": "acme",
            "patientId": "p1",
            "sensitivity": "confidential",
            "careTeam": _TEAM,
            "created": "2026-11-01T00:00:00Z",
            "tags": ["emergency"],
        },
    ),
    _record(
        "r2",
        {
            "org": "acme",
            "patientId": "p1",
            "careTeam": [_TEAM[0], _TEAM[0]],
            "tags": ["psych"],
            "locked": True,
        },
    ),
    _record("r3", {"org": "acme", "sensitivity": "bogus", "careTeam": [], "tags": None, "amount": 12}),
    _record(
        "r4", {"org": "acme", "amount": 500.0, "careTeam": [{"id": "d1"}], "created": "2020-01-01T00:00:00Z"}
    ),
    _record("r5", {"org": "acme", "amount": 500.5, "deleted": True}),
    _record("r6", {"amount": "12"}),
    _record(
        "r7",
        {"org": "northwind", "careTeam": [{"id": "n2", "role": "lead"}], "tags": ["emergency"]},
        scope="northwind",
    ),
    _record("r8", {"org": "northwind", "careTeam": [{"id": "n2", "role": "lead"}]}, scope="northwind.cardio"),
    _record("r9", {"org": "acme", "careTeam": [_TEAM[0]]}, scope="northwind.cardio"),
    _record("r10", {"org": "acme"}, scope="northwind.peds"),
    *(
        _record(f"n{i}", {"org": "acme", "n": n}, policyVersion="v2")
        for i, n in enumerate([1, 1.0, 8, 9, "1", 18446744073709551615, -0.0, 2.5000001])
    ),
    _record("r18", {"org": "acme", "n": 3}, policyVersion="v3"),
    _record("r19", {"org": "acme", "careTeam": "d1"}),
    _record("r20", {"org": "acme", "careTeam": [_TEAM[0]], "created": "yesterday"}),
]


def _clinic_requests() -> list[dict[str, Any]]:
    return [
        {
            "requestId": f"clinic-{p['id']}-{i}",
            "includeMeta": True,
            "principal": principal,
            "resources": [{"actions": _RECORD_ACTIONS, "resource": r} for r in _CLINIC_RESOURCES[i : i + 7]],
        }
        for principal in _CLINIC_PRINCIPALS
        for p in [principal]
        for i in range(0, len(_CLINIC_RESOURCES), 7)
    ]


_REPORT_ACTIONS = ["view", "share", "export:csv", "export:pdf", "delete", "pay"]


def _role_scope_requests() -> list[dict[str, Any]]:
    roles = [
        ["analyst"],
        ["intern"],
        ["analyst", "user"],
        ["auditor"],
        ["auditor", "intern"],
        ["manager", "analyst"],
        ["user"],
        ["intern", "user"],
        ["auditor", "analyst"],
    ]
    reports = [
        (None, "final", "emea"),
        ("acme", "draft", "emea"),
        ("acme.sales", "final", "emea"),
        ("acme.sales", "secret", "apac"),
        ("acme.sales.uk", "final", "emea"),
        ("acme.hr", "final", "emea"),
    ]
    resources: list[dict[str, Any]] = []
    for scope, status, region in reports:
        resource = {"kind": "report", "id": f"{scope}-{status}", "attr": {"status": status, "region": region}}
        resources.append(
            {"actions": _REPORT_ACTIONS, "resource": {**resource, **({"scope": scope} if scope else {})}}
        )
    resources.append({"actions": _REPORT_ACTIONS, "resource": {"kind": "invoice", "id": "i1"}})
    resources.append(
        {"actions": _REPORT_ACTIONS, "resource": {"kind": "invoice", "id": "i2", "scope": "acme"}}
    )
    requests = []
    for role_set, scope, pid in itertools.product(
        roles, [None, "acme", "acme.sales", "acme.sales.uk"], ["alice", "bob"]
    ):
        principal: dict[str, Any] = {"id": pid, "roles": role_set, "attr": {"region": "emea"}}
        if scope:
            principal["scope"] = scope
        requests.append(
            {"requestId": "roles", "includeMeta": True, "principal": principal, "resources": resources}
        )
    return requests


_DEPLOY_ACTIONS = {
    "deployment": [
        "view",
        "view:logs",
        "deploy",
        "deploy:canary",
        "deploy:hotfix",
        "rollback",
        "scale:up",
        "label",
    ],
    "cluster": ["view", "list", "exec", "exec:root", "drain"],
    "incident": ["view", "view:timeline", "resolve", "update:status", "escalate", "postmortem:write"],
}


def _deploy_requests() -> list[dict[str, Any]]:
    """Every principal of the set's fixtures meets every resource as written, moved into each
    deployment scope (and one with no policy) and asked under policy version v2."""
    testdata = DEPLOYS / "tests" / "testdata"
    principals = yaml.safe_load((testdata / "principals.yaml").read_text())["principals"]
    resources = list(yaml.safe_load((testdata / "resources.yaml").read_text())["resources"].values())
    variants: list[dict[str, str]] = [
        {},
        *({"scope": s} for s in ["acme", "acme.platform", "acme.platform.payments", "acme.other"]),
        {"policyVersion": "v2"},
    ]
    return [
        {
            "requestId": f"deploys-{name}",
            "includeMeta": True,
            "principal": principal,
            "resources": [{"actions": _DEPLOY_ACTIONS[r["kind"]], "resource": {**r, **v}} for r in resources],
        }
        for name, principal in principals.items()
        for v in variants
    ]


TARGETS = {
    "clinic-none": (CLINIC, {}, "none", _clinic_requests),
    "clinic-reject": (CLINIC, {}, "reject", _clinic_requests),
    "deploys-none": (DEPLOYS, {}, "none", _deploy_requests),
    "deploys-reject": (DEPLOYS, {}, "reject", _deploy_requests),
    "role_scopes": (ROLE_SCOPES, {}, "none", _role_scope_requests),
    "role_scopes-lenient": (ROLE_SCOPES, {"lenientScopeSearch": True}, "none", _role_scope_requests),
}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_handpicked_requests_answered_as_cerbos(target: str, cerbos_servers: ServerFactory) -> None:
    directory, engine, enforcement, requests = TARGETS[target]
    server = cerbos_servers(directory, engine=engine, schema_enforcement=enforcement)
    options = {"lenient_scope_search": True} if engine.get("lenientScopeSearch") else {}
    pdp = PDP.from_directory(directory, schema_enforcement=enforcement, **options)
    differ = []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for request in requests():
            reply = client.post("/api/check/resources", json=request)
            assert reply.status_code == 200, reply.text
            ours = pdp.check_resources(json.loads(json.dumps(request)))
            if normalise_response(ours) != normalise_response(reply.json()):
                differ.append((request, reply.json(), ours))
    assert not differ, json.dumps(differ[0], indent=1)[:6000] + f"\n({len(differ)} requests differ)"
