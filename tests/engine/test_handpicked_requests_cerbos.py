"""Hand-picked requests on five policy sets, answered alike by chamberlain and the real Cerbos server.

The random requests of ``test_differential_cerbos.py`` rarely line up every condition of a rule; these
do, deliberately: the clinic set (``realworld/clinic``: care teams, break-glass from office networks,
null and wrongly typed attributes, tenant scopes with both scope permissions, a principal policy in a
scope of its own, a locum role policy, int/uint/double counters in version ``v2``, a scope with no
policy, an unknown version) under schema enforcement ``none`` and ``reject``; the deployments set
(``realworld/deploys``: its fixtures as written, moved into three nested scopes and a scope with no
policy, and under version ``v2``), under ``none`` and ``reject``; the IoT fleet set
(``realworld/fleet``: devices whose attributes are integers past 2**53 and 2**64, 1e21, -0.0,
nulls, unicode, malformed and offset timestamps, in tenant scopes overriding and requiring parental
consent, for owners, technicians, a support role policy and the fleet bot in and out of its scope),
under ``none`` and ``reject``; the code-hosting set (``realworld/forge``: repositories, pull requests
and branches with nulls, wrong types, empty lists and maps, unicode names longer in bytes than in
characters, numbers past 2**53 and 2**64, 1e21, malformed and offset timestamps, for its fixtures
and principals with null, wrongly typed or oversized attributes, in each pull-request scope and in
scopes with no policy), under ``none`` and ``reject``; and ``role_scopes/``
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
FLEET = HERE / "realworld" / "fleet"
FORGE = HERE / "realworld" / "forge"
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


_FLEET_PRINCIPALS: list[dict[str, Any]] = [
    {"id": "ana", "roles": ["user"], "attr": {"tenant": "globex", "residency": "de"}},
    {"id": "Bob", "roles": ["admin"], "attr": {"tenant": "globex", "ip": "192.168.10.7"}},
    {
        "id": "tia",
        "roles": ["technician"],
        "attr": {"regions": ["eu"], "employer": "globex", "ip": "2001:db8:10::5"},
    },
    {"id": "tom", "roles": ["technician"], "attr": {"regions": "eu", "residency": None}},
    {"id": "sue", "roles": ["support_agent"], "attr": {"regions": ["us", "none"], "residency": "fr"}},
    {"id": "eng", "roles": ["engineer"], "attr": {"ip": "192.168.11.1"}},
    {"id": "rm", "roles": ["engineer", "release_manager"], "attr": {}},
    {"id": "fleet-bot", "roles": ["bot"], "attr": {"ip": "192.168.10.1"}},
    {"id": "fleet-bot", "roles": ["bot"], "attr": {"ip": "10.0.0.1"}, "scope": "ops"},
    {"id": "fleet-bot", "roles": ["bot"], "attr": {"ip": "192.168.10.200"}, "scope": "ops.eu"},
    {"id": "ünï", "roles": ["user", "technician"], "attr": {"tenant": "", "regions": ["none"]}},
]
#: Devices with attributes of unusual types: integers past 2**53 and 2**64, 1e21 among the
#: readings, -0.0, a reading that is a string, nulls where maps are expected, unicode names,
#: malformed and offset timestamps (a DST change in Berlin), duplicated tags, an empty map.
_FLEET_DEVICES: list[dict[str, Any]] = [
    {
        "tenant": "globex",
        "owner": "ana",
        "lastSeen": "2020-01-01T00:00:00Z",
        "maintenanceAt": "2026-03-03T01:30:00Z",
        "firmware": "2.4.1",
        "usage": 12,
        "tags": ["edge", "ünïcode"],
        "location": {"country": "de"},
        "telemetry": {"readings": [20.5, 99.25, -3]},
        "labels": {"env": "prod", "channel": "beta"},
    },
    {
        "tenant": "globex",
        "owner": "bob",
        "lastSeen": "2999-01-01T00:00:00+02:00",
        "maintenanceAt": "2026-07-03T00:59:59.999Z",
        "firmware": "1.0.0",
        "usage": 9007199254740993,
        "tags": [],
        "location": {"country": "us", "region": None},
        "telemetry": {"readings": [1e21, 2]},
        "labels": {},
        "locked": True,
        "sharedWith": ["ANA", "tia", "ana"],
    },
    {
        "tenant": "globex",
        "lastSeen": "2026-01-01T00:00:00Z",
        "telemetry": {"readings": []},
        "sharedWith": ["Tia"],
        "name": "Gerät Ä1",
    },
    {
        "tenant": "initech",
        "owner": "ana",
        "lastSeen": "2026-01-01T00:00:00Z",
        "maintenanceAt": "2026-10-25T01:00:00Z",
        "firmware": "10.2.3",
        "usage": -1,
        "tags": ["edge", "rogue", "edge"],
        "location": {"country": "jp", "extra": 1},
        "telemetry": {"readings": [85.5, 85.50001]},
        "labels": {"env": 3},
        "name": "",
    },
    {
        "tenant": "globex",
        "owner": "ana",
        "lastSeen": "2026-01-01T00:00:00Z",
        "firmware": "x.y.z",
        "telemetry": {"readings": [0.1, 0.2, 0.30000000000000004]},
        "usage": 1.5,
    },
    {
        "tenant": "globex",
        "owner": "ana",
        "lastSeen": "not a time",
        "maintenanceAt": "2026-03-29T02:30:00+01:00",
        "telemetry": {"readings": [-0.0, 1e-7, 123456789.125]},
    },
    {
        "tenant": "globex",
        "owner": "ana",
        "lastSeen": "2026-01-01T00:00:00Z",
        "telemetry": {"readings": ["hot", 2]},
        "tags": "edge",
        "usage": 18446744073709551615,
    },
    {
        "tenant": "globex",
        "owner": "ana",
        "lastSeen": "2026-01-01T00:00:00Z",
        "telemetry": {"readings": [3, 4, 5]},
        "location": None,
        "labels": {"env": "dev"},
        "locked": None,
    },
    {},
]
_FLEET_FIRMWARE: list[dict[str, Any]] = [
    {
        "version": "3.1.0",
        "channel": "stable",
        "author": "eng",
        "signature": "sha256:deadbeef",
        "approvals": [
            {"by": "rm", "approved": True},
            {"by": "ana", "approved": True},
            {"by": "eng", "approved": True},
        ],
        "sizes": [1, 9007199254740993, -2],
    },
    {
        "version": "3.2.0-rc1",
        "channel": "canary",
        "author": "eng",
        "signature": "sha256:DEADBEEF",
        "approvals": [{"by": "eng", "approved": True}],
        "notes": None,
    },
    {
        "version": "3.2.0",
        "channel": "beta",
        "author": "rm",
        "signature": "sha256:0123456789",
        "approvals": [{"by": "eng", "approved": True}, {"by": "x", "approved": False}],
        "notes": {"ü": [1, [2, [3]]]},
    },
    {"version": "4", "channel": "nightly", "author": "x"},
    {
        "version": "5",
        "channel": "beta",
        "author": "x",
        "approvals": [{"by": "y"}],
        "sizes": [4611686018427387904],
    },
]
_DEVICE_ACTIONS = [
    "view",
    "view:telemetry",
    "view:raw",
    "reboot",
    "decommission",
    "update:ota",
    "debug",
    "export",
]
_FIRMWARE_ACTIONS = ["view", "rollout:canary", "rollout:full", "yank"]


def _fleet_requests() -> list[dict[str, Any]]:
    """Every principal meets every device in each tenant scope (and one with no policy of its own),
    and every firmware release."""
    requests = []
    for n, principal in enumerate(_FLEET_PRINCIPALS):
        for scope in [None, "globex", "globex.eu", "globex.eu.de"]:
            devices = [
                {"kind": "device", "id": f"dev-{i}", "attr": attr, **({"scope": scope} if scope else {})}
                for i, attr in enumerate(_FLEET_DEVICES)
            ]
            requests.append(
                {
                    "requestId": f"fleet-{n}-{scope}",
                    "includeMeta": True,
                    "principal": principal,
                    "resources": [{"resource": d, "actions": _DEVICE_ACTIONS} for d in devices],
                }
            )
        firmware = [{"kind": "firmware", "id": f"fw-{i}", "attr": a} for i, a in enumerate(_FLEET_FIRMWARE)]
        requests.append(
            {
                "requestId": f"fleet-{n}-firmware",
                "includeMeta": True,
                "principal": principal,
                "resources": [{"resource": f, "actions": _FIRMWARE_ACTIONS} for f in firmware],
            }
        )
    return requests


_FORGE_ACTIONS = {
    "repository": [
        "read",
        "clone",
        "push",
        "create:branch",
        "create:fork",
        "admin:settings",
        "admin:delete",
        "admin:rename",
        "archive",
    ],
    "pull_request": ["pr:view", "pr:comment", "pr:approve", "pr:merge", "pr:close", "pr:label", "pr:reopen"],
    "branch": ["push", "force_push", "delete", "rename"],
}
#: Principals beyond the set's fixtures: null and wrongly typed attributes, a number too big for a
#: uint64 as an app id, an id differing only in case, every role at once.
_FORGE_PRINCIPALS: list[dict[str, Any]] = [
    {"id": "nul", "roles": ["user"], "attr": {"orgs": None, "teams": None, "aliases": None, "appId": None}},
    {
        "id": "weird",
        "roles": ["user", "triager", "contractor", "bot"],
        "attr": {
            "orgs": {"acme": ["admin"]},
            "teams": "docs",
            "appId": 4242.0,
            "contract": {"repos": "widgets"},
        },
    },
    {"id": "big[bot]", "roles": ["app"], "attr": {"appId": 18446744073709551616}},
    {"id": "Ana", "roles": ["user"], "attr": {"orgs": {"acme": "admin", "": "member"}, "aliases": []}},
    {"id": "ci-app[bot]", "roles": ["app"], "attr": {"appId": 777}},
    {"id": "renovate-bot", "roles": ["bot"], "attr": {"appId": "4242"}, "scope": "apps.eu"},
]
_FORGE_ATTRS: dict[str, list[dict[str, Any]]] = {
    "repository": [
        {},
        {"org": None, "owner": None, "name": None, "visibility": None, "createdAt": None},
        {
            "org": "acme",
            "owner": "ana",
            "name": "ünï-côdé-repo",
            "visibility": "PUBLIC",
            "createdAt": "2026-03-02T00:00:00+14:00",
            "collaborators": [],
            "teams": {},
            "installations": {},
            "sizeBytes": 2147483648,
            "forkCount": 10000,
        },
        {
            "org": "acme",
            "owner": "ana",
            "name": "x" * 101,
            "visibility": "public",
            "createdAt": "not-a-date",
            "collaborators": [{"login": "cy"}],
            "sizeBytes": -1,
            "forkCount": 1e21,
            "archived": "yes",
            "locked": {"reason": None},
        },
        {
            "org": 5,
            "owner": ["ana"],
            "name": 42,
            "visibility": "internal",
            "createdAt": "2026-03-03T13:59:59.999999999Z",
            "collaborators": {"login": "cy"},
            "teams": [],
            "installations": {"4242": {"permissions": {}}},
            "sizeBytes": 18446744073709551616,
            "forkCount": 9999.5,
            "topics": ["a", 1],
            "description": "\u0000\ud7ff",
        },
        {
            "org": "acme",
            "owner": "bo",
            "name": "admin-tools",
            "visibility": "internal",
            "createdAt": "2026-02-27T14:00:00Z",
            "collaborators": [{"login": "bo", "permission": "admin"}, {"login": "bo", "permission": "read"}],
            "teams": {"core": {"members": None}, "x": {"members": {"bo": 1}}},
            "teamPermission": None,
            "installations": {"777": {"permissions": {"contents": "write"}}},
            "sizeBytes": 0.5,
            "forkCount": -0.0,
            "topics": [],
        },
    ],
    "pull_request": [
        {},
        {
            "author": "bo",
            "base": "main",
            "state": "open",
            "createdAt": "2026-03-01T00:00:00Z",
            "reviews": None,
            "checks": [],
            "protection": {},
            "labels": {},
        },
        {
            "org": "acme",
            "repo": "widgets",
            "author": "cy",
            "base": "release/",
            "head": "renovate/major-v2",
            "state": "open",
            "createdAt": "2026-12-31T23:30:00-05:00",
            "reviews": [
                {"user": "cy", "state": "APPROVED"},
                {"user": "ana", "state": "APPROVED"},
                {"user": "bo", "state": "APPROVED"},
            ],
            "checks": [{"name": "build", "conclusion": "failure"}, {"name": "lint"}],
            "additions": 4999.5,
            "deletions": 0.5,
            "labels": {"hotfix": "#ffffff", "Breaking": "#000000"},
            "protection": {"requiredReviews": 0, "requireCodeowners": True},
            "codeowners": [{"pattern": "", "owners": []}],
            "changedPaths": ["ü/x"],
            "commits": [{"sha": "abc", "author": "cy", "message": "Signed-off-by: cy ✓"}],
            "installations": {"4242": {"permissions": {"pull_requests": "admin"}}},
            "collaborators": [{"login": "cy", "permission": "maintain"}],
        },
        {
            "org": "acme",
            "author": "renovate-bot",
            "head": "renovate/x",
            "reviews": {"user": "ana"},
            "checks": "green",
            "additions": "100",
            "base": 5,
            "protection": {"requiredReviews": "2"},
            "state": "OPEN",
            "draft": "false",
            "locked": "true",
            "sso": True,
            "createdAt": "2026-03-01",
        },
        {
            "org": "acme",
            "author": "ana",
            "head": "feature",
            "base": "hotfix/1",
            "state": "open",
            "createdAt": "2026-03-01T00:00:00Z",
            "additions": 9007199254740993,
            "deletions": -9007199254740993,
            "protection": {"requiredReviews": 1e21},
            "reviews": [{"user": "bo", "state": "CHANGES_REQUESTED"}],
            "locked": True,
            "sso": "true",
            "teams": {"core": {"members": ["ana", "bo"]}},
            "teamPermission": "maintain",
        },
    ],
    "branch": [
        {},
        {
            "name": "",
            "protection": {
                "bypass": [{"kind": "app", "id": 4242.0}, {"kind": "team", "id": None}],
                "restrictPushes": True,
            },
        },
        {
            "name": "triage/ü",
            "aheadBy": 0.0,
            "daysIdle": "120",
            "pushCount": -1,
            "headSha": 12345,
            "defaultBranch": None,
            "owner": "ana",
        },
        {"name": "é" * 128, "pushCount": 18446744073709551615, "daysIdle": 1e300, "owner": "dee"},
        {
            "name": "renovate/x",
            "protection": [],
            "installations": {"4242": {"permissions": {"contents": "write"}}},
            "aheadBy": 0,
            "daysIdle": 90,
            "pushCount": 999.9,
            "collaborators": [{"login": "bo", "permission": "maintain"}],
        },
    ],
}
_FORGE_SCOPES = {
    "repository": [None, "acme"],
    "pull_request": [None, "acme", "acme.secure", "acme.secure.vault"],
    "branch": [None],
}


def _forge_requests() -> list[dict[str, Any]]:
    """Every principal (the set's fixtures and the odd ones above) meets every odd resource of each
    kind, in each of the kind's scopes (and one with no policy of its own)."""
    fixtures = yaml.safe_load((FORGE / "tests" / "testdata" / "principals.yaml").read_text())["principals"]
    principals = [*fixtures.values(), *_FORGE_PRINCIPALS]
    requests = []
    for n, principal in enumerate(principals):
        for kind, scopes in _FORGE_SCOPES.items():
            for scope in scopes:
                resources = [
                    {"kind": kind, "id": f"{kind}-{i}", "attr": attr, **({"scope": scope} if scope else {})}
                    for i, attr in enumerate(_FORGE_ATTRS[kind])
                ]
                requests.append(
                    {
                        "requestId": f"forge-{n}-{kind}-{scope}",
                        "includeMeta": True,
                        "principal": principal,
                        "resources": [{"resource": r, "actions": _FORGE_ACTIONS[kind]} for r in resources],
                    }
                )
    return requests


TARGETS = {
    "clinic-none": (CLINIC, {}, "none", _clinic_requests),
    "clinic-reject": (CLINIC, {}, "reject", _clinic_requests),
    "deploys-none": (DEPLOYS, {}, "none", _deploy_requests),
    "deploys-reject": (DEPLOYS, {}, "reject", _deploy_requests),
    "fleet-none": (FLEET, {}, "none", _fleet_requests),
    "fleet-reject": (FLEET, {}, "reject", _fleet_requests),
    "forge-none": (FORGE, {}, "none", _forge_requests),
    "forge-reject": (FORGE, {}, "reject", _forge_requests),
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
