"""A principal policy's rules for ``*`` and for one kind, an ALLOW with an output in one and a DENY in the
other, both matching the action: the output of the ALLOW as Cerbos 0.55 gives it depends on the start.

The effect is DENY either way. Cerbos keeps a principal policy's rules by resource pattern in a Go map:
on some starts it evaluates the ``*`` rules first and reports the ALLOW's output before the DENY
decides, on others it meets the DENY first and reports no output (found by the IoT fleet set's
random requests; the set no longer puts an output there). chamberlain evaluates the rules in the
order the policy writes them, so its answer is one of Cerbos's, the same on every start (a known
difference, docs/correctness.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from chamberlain import PDP
from tests.support.cerbos_server import CerbosServer

pytest_plugins = ["tests.support.fixtures"]

REQUEST: dict[str, Any] = {
    "requestId": "order",
    "principal": {"id": "fleet-bot", "roles": ["bot"]},
    "resources": [
        {"resource": {"kind": "device", "id": "d1", "attr": {"locked": True}}, "actions": ["view:raw"]}
    ],
}
#: Server starts to see both of Cerbos's answers (each start picks one, about half the time each).
STARTS = 12


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rule-order")
    policy = {
        "apiVersion": "api.cerbos.dev/v1",
        "principalPolicy": {
            "principal": "fleet-bot",
            "version": "default",
            "rules": [
                {
                    "resource": "*",
                    "actions": [
                        {
                            "name": "bot-reads",
                            "action": "view:*",
                            "effect": "EFFECT_ALLOW",
                            "output": {"when": {"ruleActivated": '{"bot": P.id, "kind": R.kind}'}},
                        }
                    ],
                },
                {
                    "resource": "device",
                    "actions": [
                        {
                            "name": "bot-never-touches-locked",
                            "action": "*",
                            "effect": "EFFECT_DENY",
                            "condition": {"match": {"expr": "R.attr.?locked.orValue(false)"}},
                        }
                    ],
                },
            ],
        },
    }
    (folder / "fleet_bot.yaml").write_text(yaml.safe_dump(policy))
    return folder


def _outputs(response: dict[str, Any]) -> str:
    return json.dumps(response["results"][0].get("outputs") or [], sort_keys=True)


def test_chamberlain_answers_one_of_cerbos_s_answers_on_every_start(
    policies: Path, cerbos_binary: Path
) -> None:
    ours = PDP.from_directory(policies).check_resources(json.loads(json.dumps(REQUEST)))
    assert ours["results"][0]["actions"] == {"view:raw": "EFFECT_DENY"}
    assert json.loads(_outputs(ours)) == [
        {
            "action": "view:raw",
            "src": "principal.fleet_bot.vdefault#bot-reads",
            "val": {"bot": "fleet-bot", "kind": "device"},
        }
    ]
    seen: set[str] = set()
    for _ in range(STARTS):
        with CerbosServer(cerbos_binary, policies) as server:
            reply = httpx.post(f"{server.url}/api/check/resources", json=REQUEST, timeout=10).json()
        assert reply["results"][0]["actions"] == {"view:raw": "EFFECT_DENY"}
        seen.add(_outputs(reply))
        if len(seen) == 2:
            break
    assert _outputs(ours) in seen, seen
