"""Output expressions that fail give Cerbos's error text, case by case, against the real Cerbos server.

Each rule of ``output_errors/thing.yaml`` is named after one class of evaluation error (conversions,
missing keys, overflow, bad indexes, regexes, timestamps, durations, time zones, no overload, non-bool
operands, Cerbos's own functions) and always activates; its output is ``{"src", "action", "error"}``
(or ``val`` where Cerbos evaluates it). Every action's output must be Cerbos's exactly.
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

pytest_plugins = ["tests.support.fixtures"]

SET = Path(__file__).with_name("output_errors")
ACTIONS = [
    rule["name"] for rule in yaml.safe_load((SET / "thing.yaml").read_text())["resourcePolicy"]["rules"]
]
ATTR = {
    "n": 1,
    "s": "abc",
    "paren": "(",
    "list": [1, 2],
    "big": 253402300800,
    "m": {},
    "ts": "2024-01-01T00:00:00Z",
    "empty": [],
    "mixed": [1, "a", 2],
    "strs_then": ["a", 1],
    "strs_null": ["a", None],
    "nums_then_null": [2, None],
    "nested": ["a", ["b"]],
}
#: Outputs whose error text chamberlain does not match, with the reason (docs/correctness.md).
KNOWN = {
    "join_nested_list": 'cel-go prints a JSON list met by join as protobuf text ([string_value:"b"], with '
    "the binary's own spacing between repeated fields), a list literal as [b]: chamberlain cannot tell them "
    "apart and prints ['b']",
}


def _outputs(response: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["action"]: o for result in response["results"] for o in result.get("outputs", [])}


@pytest.fixture(scope="module")
def both(cerbos_servers: ServerFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    """Cerbos's and chamberlain's outputs for every action (25 actions a resource: under the limit of 50)."""
    body = {
        "principal": {"id": "u", "roles": ["user"]},
        "resources": [
            {"actions": ACTIONS[i : i + 25], "resource": {"kind": "thing", "id": str(i), "attr": ATTR}}
            for i in range(0, len(ACTIONS), 25)
        ],
    }
    theirs = httpx.post(cerbos_servers(SET).url + "/api/check/resources", json=body, timeout=30).json()
    ours = PDP.from_directory(SET).check_resources(json.loads(json.dumps(body)))
    return _outputs(theirs), _outputs(ours)


@pytest.mark.parametrize(
    "action",
    [
        pytest.param(a, marks=pytest.mark.xfail(strict=True, reason=KNOWN[a])) if a in KNOWN else a
        for a in ACTIONS
    ],
)
def test_an_output_error_reads_as_cerbos_s(action: str, both: tuple[dict[str, Any], dict[str, Any]]) -> None:
    theirs, ours = both
    assert action in theirs, "every rule activates and has an output"
    assert ours.get(action) == theirs[action]
