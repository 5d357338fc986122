"""Query plans of conditions reading resource attributes through optional selections (``R.attr.?x``).

``R.attr.?tier.orValue("free") == "free"`` is how real policies read an attribute that may be
absent. chamberlain plans it as its check decides: with the attribute given in advance, the
selection is ``optional.of`` that value and the plan folds to ``KIND_ALWAYS_ALLOWED`` or
``KIND_ALWAYS_DENIED``; with it unknown, the plan keeps the selection as cel-go's call
``_?._(request.resource.attr, "tier")`` (the plan once wrote it ``get-field``, which a reader
takes for a plain selection, failing on the resources without ``tier`` that the check allows).

Cerbos 0.55's planner contradicts its own check on both (strict expected failures, see
docs/correctness.md): it answers 500 "Resources query plan request failed" when the attribute is
unknown, and ``KIND_ALWAYS_DENIED`` whatever the attribute's value when it is given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from chamberlain import PDP
from tests.support.cerbos_server import ServerFactory
from tests.support.plan_meaning import allows

pytest_plugins = ["tests.support.fixtures"]

RULES = {
    "view": 'R.attr.?tier.orValue("free") == "free"',
    "edit": "R.attr.?locked.hasValue() && R.attr.locked == false",
    "share": 'R.attr.?labels.?env.orValue("dev") != "prod"',
}
#: Resources (attributes) the plans are evaluated on, and attributes given in advance.
GRID: list[dict[str, Any]] = [
    {},
    {"tier": "free"},
    {"tier": "pro"},
    {"tier": None},
    {"locked": False},
    {"locked": True},
    {"labels": {"env": "prod"}},
    {"labels": {}},
    {"labels": {"env": "dev"}, "tier": "free", "locked": False},
]


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("optional-plans")
    rules = [
        {
            "actions": [action],
            "effect": "EFFECT_ALLOW",
            "roles": ["user"],
            "condition": {"match": {"expr": expr}},
        }
        for action, expr in RULES.items()
    ]
    policy = {
        "apiVersion": "api.cerbos.dev/v1",
        "resourcePolicy": {"resource": "workspace", "version": "default", "rules": rules},
    }
    (folder / "workspace.yaml").write_text(yaml.safe_dump(policy))
    return folder


def _plan_request(action: str, attr: dict[str, Any] | None) -> dict[str, Any]:
    resource: dict[str, Any] = {"kind": "workspace"}
    if attr is not None:
        resource["attr"] = attr
    return {
        "requestId": "plan",
        "action": action,
        "principal": {"id": "u1", "roles": ["user"]},
        "resource": resource,
    }


def _checked(check: Any, action: str, attr: dict[str, Any]) -> bool:
    reply = check(
        {
            "requestId": "check",
            "principal": {"id": "u1", "roles": ["user"]},
            "resources": [{"resource": {"kind": "workspace", "id": "w", "attr": attr}, "actions": [action]}],
        }
    )
    return reply["results"][0]["actions"][action] == "EFFECT_ALLOW"


@pytest.mark.parametrize("action", sorted(RULES))
def test_plans_of_optional_selections_select_what_the_check_allows(policies: Path, action: str) -> None:
    pdp = PDP.from_directory(policies)
    unknown = pdp.plan_resources(_plan_request(action, None))["filter"]
    assert unknown["kind"] == "KIND_CONDITIONAL"
    assert '"operator": "_?._"' in json.dumps(unknown) and "get-field" not in json.dumps(unknown)
    for attr in GRID:
        allowed = _checked(pdp.check_resources, action, attr)
        assert allows(unknown, {"kind": "workspace", "id": "w", "attr": attr}) == allowed, attr
        if attr:  # the attributes given in advance are read as the check reads them
            known = pdp.plan_resources(_plan_request(action, attr))["filter"]
            assert allows(known, {"kind": "workspace", "id": "w", "attr": attr}) == allowed, (attr, known)
            if attr.keys() >= {"tier", "locked", "labels"}:  # all of them: the plan is decided
                assert known == {"kind": "KIND_ALWAYS_ALLOWED" if allowed else "KIND_ALWAYS_DENIED"}, attr


@pytest.mark.xfail(
    strict=True,
    reason="Cerbos 0.55's planner fails (500) on an optional selection of an unknown resource attribute "
    "and plans KIND_ALWAYS_DENIED when the attribute is given, whatever its value (docs/correctness.md)",
)
@pytest.mark.parametrize("action", sorted(RULES))
def test_cerbos_plans_optional_selections_as_its_check_decides(
    policies: Path, action: str, cerbos_servers: ServerFactory
) -> None:
    server = cerbos_servers(policies)
    with httpx.Client(base_url=server.url, timeout=10) as client:

        def check(body: dict[str, Any]) -> Any:
            return client.post("/api/check/resources", json=body).json()

        for attr in [None, *GRID[1:]]:
            reply = client.post("/api/plan/resources", json=_plan_request(action, attr))
            assert reply.status_code == 200, (attr, reply.text)
            plan = reply.json()["filter"]
            for resource_attr in GRID if attr is None else [attr]:
                expected = _checked(check, action, resource_attr)
                assert allows(plan, {"kind": "workspace", "id": "w", "attr": resource_attr}) == expected, (
                    attr,
                    resource_attr,
                    plan,
                )
