"""Plain YAML scalars mean what they mean to Cerbos's YAML parser (goccy/go-yaml), not YAML 1.1's.

PyYAML, which chamberlain composes with, resolves ``yes``, ``no``, ``on`` and ``off`` as booleans and
``017`` as 17; Cerbos reads them as the strings ``"yes"`` ... (so a constant list of country codes
``[GB, NO, SE]`` holds ``"NO"``, not ``false``) and ``017`` as octal 15; a float needs its dot
(``1e3`` is a string, ``-.5`` a number), integers past 64 bits are strings, and explicit tags
(``!!str 123``) change nothing. Every scalar below is a constant of one policy, output whole by the
real Cerbos server and by chamberlain; the values must be the same JSON, type for type.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from chamberlain import PDP
from tests.support.cerbos_server import ServerFactory

pytest_plugins = ["tests.support.fixtures"]

SCALARS = [
    *(
        [
            "yes",
            "Yes",
            "YES",
            "no",
            "No",
            "NO",
            "on",
            "On",
            "off",
            "OFF",
            "y",
            "Y",
            "n",
            "N",
            "true",
            "True",
            "TRUE",
            "tRUE",
            "false",
            "False",
            "FALSE",
        ]
    ),
    *(["~", "null", "Null", "NULL", "nUll"]),
    *(
        [
            "017",
            "0o17",
            "0O17",
            "0x1F",
            "0X1f",
            "0b101",
            "0B11",
            "1_000",
            "1e3",
            "1E3",
            "1.5e+3",
            ".5",
            "+1",
            "-0",
            "1.",
            "-.5",
            "+.5",
            "0017",
            "08",
            "09",
        ]
    ),
    *(
        [
            "0.0",
            "00",
            "+0o7",
            "0x_1F",
            "1__0",
            "0b1_0",
            "1_0.5",
            "0.1_0",
            "0e0",
            "+.inf",
            "12:30",
            "1:30:00",
            "-1:30",
            "2024-01-01",
        ]
    ),
    "2024-01-01 10:00:00",
    "2024-01-01T10:00:00Z",
    "!!str 123",
    '!!int "12"',
    "!!float 1",
    "!!bool yes",
    "!!null x",
    "'017'",
    '"yes"',
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "0xFFFFFFFFFFFFFFFFF",
    "[GB, NO, SE, on]",
    "{a: yes, b: 010}",
]


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("yaml_scalars")
    constants = "".join(f"      c{i}: {s}\n" for i, s in enumerate(SCALARS))
    output = "[" + ", ".join(f"C.c{i}" for i in range(len(SCALARS))) + "]"
    (root / "doc.yaml").write_text(
        "apiVersion: api.cerbos.dev/v1\nresourcePolicy:\n  resource: doc\n  version: default\n"
        f"  constants:\n    local:\n{constants}"
        '  rules:\n    - name: all\n      actions: ["read"]\n      effect: EFFECT_ALLOW\n'
        f"      roles: [\"*\"]\n      output:\n        when:\n          ruleActivated: '{output}'\n"
        '    - name: norway\n      actions: ["ship"]\n      effect: EFFECT_ALLOW\n      roles: ["*"]\n'
        f"      condition:\n        match:\n          expr: R.attr.country in C.c{SCALARS.index('[GB, NO, SE, on]')}\n"
    )
    return root


REQUEST = {
    "requestId": "yaml",
    "principal": {"id": "p", "roles": ["user"]},
    "resources": [
        {"actions": ["read", "ship"], "resource": {"kind": "doc", "id": "1", "attr": {"country": "NO"}}}
    ],
}


def _typed(value: object) -> object:
    """JSON values with their types kept apart (``1`` is not ``true``, ``"1"`` is not ``1``)."""
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    return (type(value).__name__, value)


def test_scalars_read_as_cerbos_reads_them(policies: Path, cerbos_servers: ServerFactory) -> None:
    theirs = httpx.post(
        cerbos_servers(policies).url + "/api/check/resources", json=REQUEST, timeout=30
    ).json()
    ours = PDP.from_directory(policies).check_resources(json.loads(json.dumps(REQUEST)))
    (their_result,), (our_result,) = theirs["results"], ours["results"]
    assert (
        our_result["actions"] == their_result["actions"] == {"read": "EFFECT_ALLOW", "ship": "EFFECT_ALLOW"}
    )
    their_values, our_values = their_result["outputs"][0]["val"], our_result["outputs"][0]["val"]
    differ = [
        (scalar, theirs_, ours_)
        for scalar, theirs_, ours_ in zip(SCALARS, their_values, our_values, strict=True)
        if _typed(theirs_) != _typed(ours_)
    ]
    assert not differ, "\n".join(f"{s!r}: cerbos {t!r}, chamberlain {o!r}" for s, t, o in differ)


def test_norway_is_a_string(policies: Path) -> None:
    """The case that matters most, spelled out: ``NO`` in a flow list is the string ``"NO"``."""
    result = PDP.from_directory(policies).check_resources(json.loads(json.dumps(REQUEST)))
    (entry,) = result["results"]
    assert entry["actions"]["ship"] == "EFFECT_ALLOW"
    values = dict(zip(SCALARS, entry["outputs"][0]["val"], strict=True))
    assert values["[GB, NO, SE, on]"] == ["GB", "NO", "SE", "on"]
    assert (values["yes"], values["017"], values["1e3"], values["-.5"]) == ("yes", 15, "1e3", -0.5)


JSON_POLICY = r"""{"apiVersion": "api.cerbos.dev/v1", "resourcePolicy": {"resource": "emoji", "version": "default",
 "constants": {"local": {"s": ["a\/b", "\u00e9\t", "\ud83d\ude00", "\\ud83d", "x\"y"]}},
 "rules": [{"name": "r1", "actions": ["read"], "effect": "EFFECT_ALLOW", "roles": ["*"],
            "output": {"when": {"ruleActivated": "C.s"}}}]}}
"""


def test_a_json_surrogate_pair_is_its_character(
    tmp_path_factory: pytest.TempPathFactory, cerbos_servers: ServerFactory
) -> None:
    """JSON writes a character past U+FFFF as an escaped surrogate pair; Cerbos reads it, where
    libyaml refused the whole file (chamberlain refused the policy set)."""
    root = tmp_path_factory.mktemp("json_emoji")
    (root / "emoji.json").write_text(JSON_POLICY)
    request = {
        "requestId": "emoji",
        "principal": {"id": "p", "roles": ["user"]},
        "resources": [{"actions": ["read"], "resource": {"kind": "emoji", "id": "1"}}],
    }
    theirs = httpx.post(cerbos_servers(root).url + "/api/check/resources", json=request, timeout=30).json()
    ours = PDP.from_directory(root).check_resources(json.loads(json.dumps(request)))
    assert ours["results"][0]["outputs"] == theirs["results"][0]["outputs"]
    assert ours["results"][0]["outputs"][0]["val"] == ["a/b", "é\t", "\U0001f600", "\\ud83d", 'x"y']


NUMBERED_ACTIONS = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: numbered
  version: 01
  rules:
    - actions: [0x10, 017, 1e3, 1_000, +1, 0o7, TRUE, Yes, -0, 0b11]
      effect: EFFECT_ALLOW
      roles: ["user"]
"""


def test_an_integer_in_a_string_field_is_its_decimal_text(
    tmp_path_factory: pytest.TempPathFactory, cerbos_servers: ServerFactory
) -> None:
    """Cerbos reads a plain integer given for a string (an action, a version) as the number's decimal
    text: ``017`` is the action ``"15"``, ``0x10`` is ``"16"``, ``version: 01`` is ``"1"``."""
    root = tmp_path_factory.mktemp("numbered")
    (root / "numbered.yaml").write_text(NUMBERED_ACTIONS)
    actions = ["0x10", "16", "017", "15", "1e3", "1_000", "1000", "+1", "1", "0o7", "7", "TRUE", "true"]
    actions += ["Yes", "-0", "0", "0b11", "3"]
    request = {
        "requestId": "numbered",
        "principal": {"id": "p", "roles": ["user"]},
        "resources": [
            {"actions": actions, "resource": {"kind": "numbered", "id": "1", "policyVersion": "1"}}
        ],
    }
    theirs = httpx.post(cerbos_servers(root).url + "/api/check/resources", json=request, timeout=30).json()
    ours = PDP.from_directory(root).check_resources(json.loads(json.dumps(request)))
    assert ours["results"][0]["actions"] == theirs["results"][0]["actions"]
    allowed = sorted(a for a, e in ours["results"][0]["actions"].items() if e == "EFFECT_ALLOW")
    assert allowed == ["0", "1", "1000", "15", "16", "1e3", "3", "7", "TRUE", "Yes"]
