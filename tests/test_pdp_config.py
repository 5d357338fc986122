"""``PDP.from_config``: the embedded PDP a Cerbos configuration file describes, deciding as the server
started from the same file decides (engine options, schema enforcement, request limits, JWTs)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from chamberlain import PDP, InvalidRequest
from chamberlain.server import ConfigError
from tests.server.support import STORE, ThreadServer

CONFIG = """
storage:
  driver: disk
  disk: {directory: %s, watchForChanges: false}
engine:
  defaultPolicyVersion: "20210210"
  lenientScopeSearch: true
  globals: {environment: test}
schema:
  enforcement: reject
server:
  requestLimits: {maxActionsPerResource: 3, maxResourcesPerRequest: 2}
auxData:
  jwt: {disableVerification: true}
"""


def _token(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.c2ln"


PRINCIPAL = {
    "id": "john",
    "roles": ["employee"],
    "attr": {"department": "marketing", "geography": "GB", "team": "design", "ip_address": "10.20.1.2"},
}
LEAVE = {
    "kind": "leave_request",
    "id": "XX125",
    "attr": {"department": "marketing", "geography": "GB", "id": "XX125", "owner": "john", "team": "design"},
}
REQUESTS: dict[str, dict[str, Any]] = {
    # no policyVersion: engine.defaultPolicyVersion picks the 20210210 policies
    "default_version": {
        "principal": PRINCIPAL,
        "resources": [{"actions": ["view:public", "approve"], "resource": LEAVE}],
    },
    "jwt_claims": {
        "principal": PRINCIPAL,
        "includeMeta": True,
        "auxData": {"jwt": {"token": _token({"aud": ["cerbos-jwt-tests"], "customArray": ["A"]})}},
        "resources": [{"actions": ["defer"], "resource": LEAVE}],
    },
    "schema_rejects": {
        "principal": {**PRINCIPAL, "attr": {"department": 5}},
        "resources": [{"actions": ["view:public"], "resource": {**LEAVE, "attr": {}}}],
    },
    "lenient_scope": {
        "principal": PRINCIPAL,
        "includeMeta": True,
        "resources": [{"actions": ["view:public"], "resource": {**LEAVE, "scope": "acme.hr.uk.brighton"}}],
    },
    "too_many_actions": {
        "principal": PRINCIPAL,
        "resources": [{"actions": ["a", "b", "c", "d"], "resource": LEAVE}],
    },
    "too_many_resources": {
        "principal": PRINCIPAL,
        "resources": [{"actions": ["a"], "resource": {**LEAVE, "id": str(i)}} for i in range(3)],
    },
}


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "cerbos.yaml"
    path.write_text(CONFIG % json.dumps(str(STORE)))
    return path


@pytest.fixture(scope="module")
def served(config_file: Path):
    with ThreadServer(STORE, {"chamberlain": {"logLevel": "error"}}, config_file=config_file) as server:
        yield server.url


@pytest.mark.parametrize("name", REQUESTS)
def test_embedded_and_served_checks_of_one_config_agree(name: str, config_file: Path, served: str) -> None:
    pdp = PDP.from_config(config_file)
    request = REQUESTS[name]
    reply = httpx.post(served + "/api/check/resources", json=request, timeout=30)
    try:
        embedded: Any = pdp.check_resources(json.loads(json.dumps(request)))
    except InvalidRequest as exc:
        embedded = {"code": 3, "message": str(exc)}
        assert reply.status_code == 400
    answer = {k: v for k, v in reply.json().items() if k not in ("cerbosCallId", "details")}
    assert embedded == answer


def test_the_options_come_from_the_file(config_file: Path) -> None:
    pdp = PDP.from_config(config_file)
    assert pdp.options.schema_enforcement == "reject" and pdp.options.lenient_scope_search
    assert pdp.options.default_policy_version == "20210210" and dict(pdp.options.globals) == {
        "environment": "test"
    }
    assert (pdp.limits.max_actions_per_resource, pdp.limits.max_resources_per_request) == (3, 2)
    assert pdp.directory == STORE
    overridden = PDP.from_config(config_file, overrides={"schema": {"enforcement": "warn"}})
    assert overridden.options.schema_enforcement == "warn"


def test_a_bad_config_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("engine: {strictEvaluaton: true}\n")
    with pytest.raises(ConfigError, match="strictEvaluaton"):
        PDP.from_config(path)
