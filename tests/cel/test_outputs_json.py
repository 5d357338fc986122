"""CEL values in outputs, as JSON: the response and the decision log record the same text.

What that text is (nanosecond timestamps at their offset, durations in seconds, large integers as
strings, Cerbos's errors for values without JSON) is checked against the Cerbos binary in
tests/cel/test_cerbos_binary.py; here both places of chamberlain must agree with each other.
"""

from __future__ import annotations

from unittest import mock

import yaml

from chamberlain import PDP
from chamberlain.audit import Filter

OUTPUTS = {
    "stamp": 'timestamp(R.attr.stamp) + duration("1ns")',
    "span": 'duration("1h1ns")',
    "big": "9007199254740993",
    "bytes": 'b"\\x00\\xff"',
    "missing": "R.attr.nothing_here",
    "type": "type(1)",
}


def test_outputs_in_the_response_and_the_decision_log_are_the_same(tmp_path):
    policies = tmp_path / "policies"
    policies.mkdir()
    rules = [
        {
            "name": name,
            "actions": [name],
            "effect": "EFFECT_ALLOW",
            "roles": ["*"],
            "output": {"when": {"ruleActivated": expr}},
        }
        for name, expr in OUTPUTS.items()
    ]
    policy = {
        "apiVersion": "api.cerbos.dev/v1",
        "resourcePolicy": {"resource": "doc", "version": "default", "rules": rules},
    }
    (policies / "doc.yaml").write_text(yaml.safe_dump(policy))
    request = {
        "requestId": "r",
        "principal": {"id": "p", "roles": ["user"]},
        "resources": [
            {
                "actions": list(OUTPUTS),
                "resource": {"kind": "doc", "id": "d", "attr": {"stamp": "2024-06-01T00:00:00+05:30"}},
            }
        ],
    }
    with PDP.from_directory(policies, audit=f"sqlite:///{tmp_path / 'log.db'}") as pdp:
        response = pdp.check_resources(request)
        entries = pdp.log.read(lambda r: r.search(Filter(limit=100)))
    answered = {
        o["action"]: {k: v for k, v in o.items() if k != "action"} for o in response["results"][0]["outputs"]
    }
    assert answered["stamp"]["val"] == "2024-06-01T00:00:00.000000001+05:30"
    assert answered["span"]["val"] == "3600.000000001s"
    assert answered["big"]["val"] == "9007199254740993"
    assert answered["bytes"]["val"] == "AP8="
    assert answered["missing"]["error"] == "no such key: nothing_here"
    assert answered["type"]["error"] == "type conversion not supported for 'type'"
    logged = {e["action"]: e["outputs"] for e in entries}
    for action, output in answered.items():
        assert logged[action] == [output], action


def test_the_log_records_the_instant_now_saw(tmp_path):
    """Without ``now=``, one clock reading (nanoseconds) is both ``now()`` and the entry's time."""
    policies = tmp_path / "policies"
    policies.mkdir()
    rule = {
        "name": "clock",
        "actions": ["read"],
        "effect": "EFFECT_ALLOW",
        "roles": ["*"],
        "output": {"when": {"ruleActivated": "now()"}},
    }
    (policies / "clock.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "api.cerbos.dev/v1",
                "resourcePolicy": {"resource": "clock", "version": "default", "rules": [rule]},
            }
        )
    )
    request = {
        "requestId": "r",
        "principal": {"id": "p", "roles": ["user"]},
        "resources": [{"actions": ["read"], "resource": {"kind": "clock", "id": "c"}}],
    }
    with PDP.from_directory(policies, audit=f"sqlite:///{tmp_path / 'log.db'}") as pdp:
        with mock.patch("time.time_ns", return_value=1_717_200_000_123_456_789):
            response = pdp.check_resources(request)
        [entry] = pdp.log.read(lambda r: r.search(Filter(limit=10)))
    assert response["results"][0]["outputs"][0]["val"] == "2024-06-01T00:00:00.123456789Z"
    assert entry["time"] == "2024-06-01T00:00:00.123456789Z"
