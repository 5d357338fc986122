"""Schema violations reported as the real Cerbos reports them: the same set of errors (path, message,
source) for attributes that break every keyword of ``schema_messages/_schemas/thing.json`` (the
keywords the schema conformance cases use, and the rest of draft 2020-12's validation keywords), and
for a principal's attributes under a draft 4 schema (``_schemas/legacy.json``).

Cerbos's validator (santhosh-tekuri/jsonschema) stops at a failing ``type``, so a wrong type under an
``enum`` is only ``expected string, but got number``; it quotes with single quotes
(``does not match pattern '^[a-z]+$'``), prints ``enum``/``const`` values as Go does (``"1"``,
``<nil>``) and reports the causes of a failed ``anyOf``, ``oneOf``, ``allOf``, ``$ref`` or
``contains`` rather than the failure itself. The one part left to chance is the order of the names in
``additionalProperties 'c', 'b' not allowed``, which Cerbos takes from a Go map: compared as a set.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from chamberlain import PDP
from tests.support.cerbos_server import ServerFactory

pytest_plugins = ["tests.support.fixtures"]

SET = Path(__file__).with_name("schema_messages")
VALUES: dict[str, list[Any]] = {
    "name": [5, "A", "a", "abcdefghij", "Ab1"],
    "email": ["not-an-email", 3, "a..b@x.org", "a@-x.org", "a@x_y.org", "a@x.org.", '"a"b@x.org', "é@x.org"],
    "host": ["a.-b", "-a.b", "a-.b"],
    # with characters Go's %q escapes its own way (\x1f, \x7f, \u2028)
    "when": [
        "2024-13-01T00:00:00Z",
        "yesterday",
        "2024-06-01T23:59:60Z",
        "2024-06-01t10:00:00.5+02:00",
        "\x1f",
        "a\x7f\u2028\tb",
        # a trailing backslash: the validator's quote() turns %q's closing \\" into \" ('C:\')
        "\\",
        "C:\\Users\\",
        'a\\"b\\',
    ],
    "day": ["2024-02-30", "x"],
    "ip": ["1.2.3", "::1"],
    # Go's url.Parse: spaces and {|} in a path, query or fragment are taken, not in a host; a host
    # may hold <>"; only an IPv6 address in brackets, with digits after its colon
    "site": [
        "not a uri",
        "http://x",
        "x:y",
        "http://x/a b?c d#e f",
        "http://x y/",
        "http://a<b>/{|}",
        "http://x:8a/",
        "http://[::1/",
        "http://::1/",
        "http://[1.2.3.4]/",
        "http://[fe80::1%25eth0]:8/",
        "http://us er@x/",
        "http://x/%zz",
        "mailto:a b",
        "1http://x",
    ],
    "link": ["a/b:c", "a:b/c", "//x/y", "./a:b", "http://x/\\y", "%zz", "#a b", "///x"],
    "uid": ["nope"],
    "status": [1, "other", None],
    "kind": ["b", 2, True],
    "fixed": ["y", 1],
    "n": [0, 11, 3, 2.5, "3"],
    "x": [0, 1, 2, -1],
    # bounds and values printed as Go float64s: must be <= 1e+06 but found 2.5e+06
    # multiples of 0.01 by exact decimals (19.99 / 0.01 is 1998.9999999999998 in doubles)
    "amount": [
        2500000,
        1234567.89,
        10.005,
        -1,
        123456789.125,
        1e21,
        18446744073709551615,
        -0.5e-5,
        19.99,
        0.07,
    ],
    "tags": [[], ["a", "a"], ["a", "b", "c"], [1], "a"],
    "has": [["x"], []],
    "obj": [{}, {"a": 1, "b": 2, "c": 3}, {"AB": 1}],
    "one": [1.5, None],
    # more than one subschema holds: the first two are named
    "overlap": [2, 1.5, -1, "x", -1.5],
    "any": [1, None],
    "all": [3, "x", 4.5],
    "not": ["s"],
    "e2": ["z", 1, None],
    "e3": [3],
    "c1": [2, "1"],
    "c2": [1],
    "c3": [False],
    "c4": [{}],
    "c5": [1],
    "p2": ["y"],
    "f2": ["it's"],
    "mx": [2, -2, 1.75],
    "ap": [{"b": 1, "c": 2}],
    "ap2": [{"b": 1}],
    "ifs": ["ab", 1.5],
    "pre": [[1], ["a", 2, 3]],
    "req2": [{}],
    "mc": [[1], [1, 2, 3, 4], ["a"]],
    "dep": [{"a": 1}],
    "ref": [-1, "x"],
    "both": [1],
    "extra": [1],
    # property names in paths: escaped for a JSON pointer, then for a URL path; empty ones left out
    "labels": [{"app.kubernetes.io/name": 1}, {"a b": 1, "~x": 2, "é": 3, "50%": 4, "k,v;(1)": 5}],
    "tree": [{"": {"": 1}}, {"x y": {"": 1, "/": 2}}, {"": 5}],
    # additional and unevaluated properties and items: named one by one, at their own paths
    "annotations": [{"owner": "a", "x-team": "b", "y": 1, "x-n": 2}],
    "merged": [{"a": "s", "b": 1, "c": 2, "d/e": 3}, {"a": 1, "c": 2}],
    "typed_rest": [{"a": "s", "b": 1, "c": "x", "d": 5}],
    "tuple": [["s", 1, 2], [1, 2]],
    # formats Cerbos checks its own way: RFC 3339 durations, Go's regexp syntax, no idn-email
    "ttl": ["PT1H1S", "P1Y1D", "PT1.5S", "P1DT1H1M", "P1W", "-P1D"],
    "rx": ["(?<n>x)", "(?=x)", "\\p{L}", "\\Z", "\\z"],
    # a pattern in Go's syntax that Python's re refuses (\p{Lu}, [[:alpha:]], \z): the schema loads
    "title": ["Éa", "éa", "Ab1"],
    "idn": ["x"],
    # formats Cerbos checks that jsonschema does not: IRIs as URIs, URI templates by their braces
    # (per path segment), RFC 3339 periods
    "web": ["x", "http://x/é", "http://x y/"],
    "web_ref": ["/a/b", "%zz"],
    "tmpl": ["/{a}/{b}", "/{{a}}", "/}a{", "/{a", "http://x/{a}?{c", "{a}{b}", "/a}"],
    "span": [
        "2024-01-01T00:00:00Z/P1D",
        "P1D/2024-01-01T00:00:00Z",
        "P1D/P2D",
        "2024-01-01T00:00:00Z/2024-01-02",
        "x",
    ],
}
ATTRIBUTES = [
    {},
    {"name": 1, "status": 2, "n": "x"},
    *({"name": "ab", key: value} for key, values in VALUES.items() for value in values),
]
#: The principal's attributes against a draft 4 schema (``legacy.json``): ``additionalItems`` and
#: ``dependencies`` in the validator's words for their draft 2020-12 successors, and the boolean
#: ``exclusiveMaximum``/``exclusiveMinimum`` beside ``maximum``/``minimum``.
PRINCIPAL_ATTRIBUTES = [
    {"owner": "a"},
    {"pair": ["a", 1, 2]},
    {"pair": [1, "a"]},
    {"dep": {"a": 1}},
    {"dep": {"a": 1, "b": 2, "c": 3}},
    {"below": 5},
    {"above": 1, "below": 5.5},
]
_NAMES = re.compile(r"^additionalProperties (.*) not allowed$")


def _errors(response: dict[str, Any]) -> list[str]:
    found = []
    for error in response["results"][0].get("validationErrors") or []:
        names = _NAMES.match(error.get("message", ""))
        if names:  # Go map order: the names as a sorted set
            error = {**error, "message": sorted(names[1].split(", "))}
        found.append(json.dumps(error, sort_keys=True))
    return sorted(found)


def _request(attr: dict[str, Any], principal_attr: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "principal": {"id": "u", "roles": ["user"], "attr": principal_attr or {}},
        "resources": [{"actions": ["view"], "resource": {"kind": "thing", "id": "1", "attr": attr}}],
    }


@pytest.fixture(scope="module")
def cerbos_url(cerbos_servers: ServerFactory) -> str:
    return cerbos_servers(SET, schema_enforcement="warn").url


@pytest.fixture(scope="module")
def pdp() -> PDP:
    return PDP.from_directory(SET, schema_enforcement="warn")


@pytest.mark.parametrize("attr", ATTRIBUTES, ids=[json.dumps(a) for a in ATTRIBUTES])
def test_validation_errors_are_cerbos_s(attr: dict[str, Any], cerbos_url: str, pdp: PDP) -> None:
    body = _request(attr)
    theirs = httpx.post(cerbos_url + "/api/check/resources", json=body, timeout=30).json()
    ours = pdp.check_resources(json.loads(json.dumps(body)))
    assert _errors(ours) == _errors(theirs)


@pytest.mark.parametrize("attr", PRINCIPAL_ATTRIBUTES, ids=[json.dumps(a) for a in PRINCIPAL_ATTRIBUTES])
def test_draft_4_errors_are_cerbos_s(attr: dict[str, Any], cerbos_url: str, pdp: PDP) -> None:
    body = _request({"name": "ab"}, attr)
    theirs = httpx.post(cerbos_url + "/api/check/resources", json=body, timeout=30).json()
    ours = pdp.check_resources(json.loads(json.dumps(body)))
    assert _errors(theirs) and _errors(ours) == _errors(theirs)
