"""The request validator's fast path (``_valid_message``) says "valid" only where the full validator
(``check_message``, which words Cerbos's errors) finds nothing: checked on valid requests of every
message it serves and on thousands of mutations of them (wrong types, empties, duplicates under both
field names, unknown keys, nulls, nested damage)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chamberlain.engine import request_validation as rv
from chamberlain.engine.request_validation import InvalidRequest
from chamberlain.server import authzen_api

CHECK = {
    "requestId": "r-1",
    "includeMeta": True,
    "principal": {
        "id": "alice",
        "roles": ["employee", "manager"],
        "policyVersion": "20210210",
        "scope": "acme.hr",
        "attr": {"department": "marketing", "level": 3, "tags": ["a"], "nested": {"x": None}},
    },
    "resources": [
        {
            "actions": ["view", "approve"],
            "resource": {"kind": "leave_request", "id": "XX1", "attr": {"owner": "alice"}, "scope": ""},
        },
        {"actions": ["delete"], "resource": {"kind": "doc", "id": "d", "policy_version": "default"}},
    ],
    "auxData": {"jwt": {"token": "a.b.c", "keySetId": "ks"}, "session": {"id": "s-1"}},
    "requestContext": {"anything": [1, 2]},
}
PLAN = {
    "requestId": "p",
    "actions": ["view", "edit"],
    "principal": {"id": "bob", "roles": ["user"]},
    "resource": {"kind": "doc", "attr": {"": 1, "owner": "bob"}, "scope": "acme"},
    "auxData": {"jwts": {"idp": {"token": "t"}}},
}
INPUT = {
    "requestId": "i",
    "resource": {"kind": "doc", "id": "d"},
    "principal": {"id": "p", "roles": ["r"]},
    "actions": ["a", "a"],
    "auxData": {"jwt": {"sub": "x", "": 1}, "jwts": {"k": {"a": 1}}},
}
EVALUATION = {
    "subject": {"type": "user", "id": "alice", "properties": {"department": "sales"}},
    "resource": {"type": "doc", "id": "d1"},
    "action": {"name": "read"},
    "context": {"time": "now"},
}
EVALUATIONS = {
    "subject": {"type": "user", "id": "alice"},
    "evaluations": [{"action": {"name": "read"}, "resource": {"type": "doc", "id": "1"}}, {}],
    "options": {"evaluations_semantic": "execute_all"},
}
CASES = [
    (rv.CHECK_RESOURCES, CHECK),
    (rv.PLAN_RESOURCES, PLAN),
    (rv.CHECK_INPUT, INPUT),
    (authzen_api.EVALUATION, EVALUATION),
    (authzen_api.EVALUATIONS, EVALUATIONS),
]
ALIASES = {"requestId": "request_id", "policyVersion": "policy_version", "keySetId": "key_set_id"}
ALIASES |= {"auxData": "aux_data", "includeMeta": "include_meta", "requestContext": "request_context"}
REPLACEMENTS = [None, "", "x", "not a version!", 0, 1.5, True, False, [], ["a", "a"], ["a", ""], [None], {}]
REPLACEMENTS += [{"": 1}, {"k": None}, [f"action-{i}" for i in range(25)]]  # past PlanResources' 20 actions


def _full_says_valid(message: rv.Message, value: Any) -> bool:
    violations: list[str] = []
    try:
        rv.check_message(message, value, "", violations)
    except InvalidRequest:
        return False
    return not violations


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*path, i))
    return out


def _mutate(doc: Any, path: tuple[Any, ...], how: int, replacement: Any) -> Any:
    doc = copy.deepcopy(doc)
    if not path:
        return replacement if how == 0 else doc
    *parent_path, last = path
    parent = doc
    for step in parent_path:
        parent = parent[step]
    if how == 0:
        parent[last] = copy.deepcopy(replacement)
    elif how == 1 and isinstance(parent, dict):
        del parent[last]
    elif how == 2 and isinstance(parent, dict):
        parent["unknownField"] = replacement
    elif how == 3 and isinstance(parent, dict) and last in ALIASES:
        parent[ALIASES[last]] = parent[last]  # the same field under both of its names
    elif how == 4 and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[last]))
    elif how == 5 and isinstance(parent[last], dict):
        parent[last][""] = copy.deepcopy(replacement)  # an empty key (map keys must not be, in places)
    return doc


@st.composite
def mutated(draw: st.DrawFn) -> tuple[rv.Message, Any]:
    message, base = draw(st.sampled_from(CASES))
    doc = base
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        doc = _mutate(doc, path, draw(st.integers(0, 5)), draw(st.sampled_from(REPLACEMENTS)))
    return message, doc


def test_every_valid_base_request_takes_the_fast_path() -> None:
    for message, doc in CASES:
        assert _full_says_valid(message, doc), message.name
        assert rv._valid_message(message, doc), message.name


def test_every_single_mutation_of_every_base_request() -> None:
    checked = refused = 0
    for message, base in CASES:
        for path in _paths(base):
            for how in range(6):
                for replacement in REPLACEMENTS if how in (0, 2, 5) else [None]:
                    doc = _mutate(base, path, how, replacement)
                    full = _full_says_valid(message, doc)
                    assert full or not rv._valid_message(message, doc), (message.name, path, how, replacement)
                    checked += 1
                    refused += not full
    assert checked > 3000 and 0 < refused < checked


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_the_fast_path_never_accepts_what_the_full_validator_refuses(case: tuple[rv.Message, Any]) -> None:
    message, doc = case
    if rv._valid_message(message, doc):
        assert _full_says_valid(message, doc), doc


def test_a_token_given_as_both_jwt_and_jwts_is_refused() -> None:
    doc = copy.deepcopy(CHECK)
    doc["auxData"]["jwts"] = {"idp": {"token": "t"}}
    assert not _full_says_valid(rv.CHECK_RESOURCES, doc) and not rv._valid_message(rv.CHECK_RESOURCES, doc)


def test_refusals_are_worded_by_the_full_validator() -> None:
    doc = copy.deepcopy(CHECK)
    doc["principal"]["roles"] = ["a", "a"]
    doc["resources"][0]["resource"]["id"] = ""
    assert not rv._valid_message(rv.CHECK_RESOURCES, doc)
    try:
        rv.validate(rv.CHECK_RESOURCES, doc)
    except InvalidRequest as exc:
        assert str(exc) == (
            "validation errors:\n - principal.roles: repeated value must contain unique items\n"
            " - resources[0].resource.id: value is required"
        )
    else:
        raise AssertionError("not refused")
