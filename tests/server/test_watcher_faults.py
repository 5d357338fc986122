"""The policy watcher survives every failed reload: a failure is STALE in health with its reason, and the next
good change loads (a 600-deep YAML list used to end the watcher thread, after which nothing ever reloaded)."""

from __future__ import annotations

import shutil
import time

import httpx

from tests.server.support import STORE, ThreadServer

BODY = {
    "principal": {"id": "john", "roles": ["employee"]},
    "resources": [
        {
            "actions": ["view:public"],
            "resource": {"kind": "leave_request", "id": "1", "policyVersion": "20210210"},
        }
    ],
}
WATCH = {"chamberlain": {"watchInterval": "50ms", "logLevel": "error"}}


def _wait(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _health(srv: ThreadServer) -> dict:
    return httpx.get(f"{srv.url}/_cerbos/health").json()


def _watching(policies) -> dict:
    return {"storage": {"disk": {"directory": str(policies), "watchForChanges": True}}, **WATCH}


def test_a_deep_yaml_file_is_stale_and_the_next_change_loads(tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(STORE, policies)
    with ThreadServer(policies, _watching(policies)) as srv:
        deep = policies / "resource_policies" / "deep.yaml"
        match = "{all: {of: [" * 200 + "{expr: 'true'}" + "]}}" * 200  # 600 levels of YAML
        deep.write_text(
            "apiVersion: api.cerbos.dev/v1\nresourcePolicy:\n  resource: deep\n  version: default\n"
            f"  rules:\n    - actions: [view]\n      effect: EFFECT_ALLOW\n      roles: [user]\n"
            f"      condition: {{match: {match}}}\n"
        )
        _wait(lambda: "STALE" in str(_health(srv)))
        assert "nested more than 100 levels deep" in _health(srv)["chamberlain"]["lastReloadError"]
        deep.unlink()
        for path in (policies / "resource_policies").glob("policy_01*.yaml"):
            path.unlink()
        _wait(lambda: "STALE" not in str(_health(srv)))
        reply = httpx.post(f"{srv.url}/api/check/resources", json=BODY).json()
        assert reply["results"][0]["actions"] == {"view:public": "EFFECT_DENY"}  # the change loaded


def test_a_vanished_directory_is_stale_until_it_is_back(tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(STORE, policies)
    with ThreadServer(policies, _watching(policies)) as srv:
        shutil.move(policies, tmp_path / "elsewhere")
        _wait(lambda: "STALE" in str(_health(srv)))
        assert "does not exist" in _health(srv)["chamberlain"]["lastReloadError"]
        shutil.move(tmp_path / "elsewhere", policies)
        _wait(lambda: "STALE" not in str(_health(srv)))
        for path in (policies / "resource_policies").glob("policy_01*.yaml"):
            path.unlink()
        _wait(
            lambda: (
                httpx.post(f"{srv.url}/api/check/resources", json=BODY).json()["results"][0]["actions"]
                == {"view:public": "EFFECT_DENY"}
            )
        )
