"""The Cerbos activation builder: names, defaults and aliases CEL sees."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from chamberlain.cel import compile
from chamberlain.cel.cerbos_env import DECLARED_VARIABLES, NOW_KEY, activation, from_json
from chamberlain.cel.values import Timestamp

REQUEST = {
    "principal": {
        "id": "john",
        "roles": ["employee"],
        "policyVersion": "20210210",
        "scope": ".acme",
        "attr": {"a": 1.0},
    },
    "resource": {
        "kind": "leave_request",
        "id": "XX125",
        "policy_version": "default",
        "attr": {"owner": "john"},
    },
    "auxData": {"jwt": {"iss": "cerbos"}},
}
NOW = dt.datetime(2021, 4, 22, 10, 5, 20, tzinfo=dt.timezone(dt.timedelta(hours=-5)))


def test_declares_cerbos_variables_and_fills_them():
    env = activation(REQUEST, now=NOW)
    assert set(DECLARED_VARIABLES) == {
        "request",
        "P",
        "R",
        "runtime",
        "variables",
        "V",
        "constants",
        "C",
        "globals",
        "G",
    }
    assert set(env) == {*DECLARED_VARIABLES, NOW_KEY}


def test_principal_and_resource_are_shared_with_request():
    env = activation(REQUEST, now=NOW)
    assert env["P"] is env["request"]["principal"]
    assert env["R"] is env["request"]["resource"]
    assert env["P"]["attr"] is REQUEST["principal"]["attr"]  # no copies


def test_field_names_in_both_spellings():
    env = activation(REQUEST, now=NOW)
    assert env["P"]["policyVersion"] == env["P"]["policy_version"] == "20210210"
    assert env["R"]["policyVersion"] == env["R"]["policy_version"] == "default"
    assert env["request"]["auxData"] is env["request"]["aux_data"]
    assert env["request"]["auxData"]["jwt"] == {"iss": "cerbos"}


def test_unset_fields_read_as_defaults():
    env = activation({"principal": {"id": "x"}, "resource": {"kind": "k"}}, now=NOW)
    assert env["P"] == {
        "id": "x",
        "roles": [],
        "attr": {},
        "scope": "",
        "policy_version": "",
        "policyVersion": "",
    }
    assert env["R"] == {
        "kind": "k",
        "id": "",
        "attr": {},
        "scope": "",
        "policy_version": "",
        "policyVersion": "",
    }
    assert env["request"]["aux_data"] == {"jwt": {}, "jwts": {}}
    assert env["V"] == env["C"] == env["G"] == {}
    assert env["runtime"] == {"effective_derived_roles": [], "effectiveDerivedRoles": []}


def test_scope_loses_leading_dot():
    assert activation(REQUEST, now=NOW)["P"]["scope"] == "acme"


def test_runtime_roles_sorted_and_aliases_shared():
    variables, constants, globals_ = {"v": 1}, {"c": 2}, {"g": 3}
    env = activation(
        REQUEST,
        now=NOW,
        variables=variables,
        constants=constants,
        globals=globals_,
        effective_derived_roles={"b", "a"},
    )
    assert env["runtime"]["effectiveDerivedRoles"] == env["runtime"]["effective_derived_roles"] == ["a", "b"]
    assert env["V"] is env["variables"] is variables
    assert env["C"] is env["constants"] is constants
    assert env["G"] is env["globals"] is globals_


def test_jwts_claims():
    env = activation({"auxData": {"jwts": {"idp": {"claims": {"sub": "x"}}, "other": {}}}}, now=NOW)
    assert env["request"]["auxData"]["jwts"] == {"idp": {"claims": {"sub": "x"}}, "other": {"claims": {}}}


def test_now_is_utc_and_fixed():
    env = activation(REQUEST, now=NOW)
    assert type(env[NOW_KEY]) is Timestamp and env[NOW_KEY].to_datetime() == NOW and env[NOW_KEY].offset == 0
    before = time.time_ns()
    default = activation(REQUEST)[NOW_KEY]
    assert type(default) is Timestamp and before <= default <= time.time_ns()  # the clock, to the nanosecond
    with pytest.raises(ValueError):
        activation(REQUEST, now=dt.datetime(2021, 1, 1))


def test_from_json_makes_numbers_doubles():
    converted = from_json({"n": 1, "f": 1.5, "b": True, "s": "x", "z": None, "l": [2, {"m": 3}]})
    assert converted == {"n": 1.0, "f": 1.5, "b": True, "s": "x", "z": None, "l": [2.0, {"m": 3.0}]}
    assert type(converted["n"]) is float and type(converted["l"][1]["m"]) is float
    assert converted["b"] is True


def test_cerbos_expressions_see_the_activation():
    env = activation(REQUEST, now=NOW, effective_derived_roles=["owner"])
    for expr in (
        'request.principal.policyVersion == "20210210"',
        'request.principal.policy_version == "20210210"',
        'request.aux_data.jwt.iss == "cerbos" && request.auxData.jwt.iss == "cerbos"',
        '"owner" in runtime.effectiveDerivedRoles && "owner" in runtime.effective_derived_roles',
        'P.id == "john" && R.attr.owner == P.id && R.id == "XX125"',
        "size(V) == 0 && size(C) == 0 && size(G) == 0",
    ):
        assert compile(expr, variables=DECLARED_VARIABLES).evaluate(env) is True, expr


def test_from_json_is_linear_in_depth():
    """Each level is converted once: with an int leaf, every level used to convert its child twice
    (2**depth calls; a 25-deep attribute in a 150-byte request took over a minute)."""
    from chamberlain.cel import cerbos_env

    calls = 0
    original = cerbos_env.from_json

    def counting(value):
        nonlocal calls
        calls += 1
        return original(value)

    value = 1
    for _ in range(18):
        value = {"a": value, "s": "x", "l": [2, "y"]}
    value = [value, value]
    cerbos_env.from_json = counting
    try:
        converted = counting(value)
    finally:
        cerbos_env.from_json = original
    assert calls < 200, calls
    assert converted[0] is converted[1] or converted[0] == converted[1]
    inner = converted[0]
    for _ in range(18):
        assert inner["s"] == "x" and inner["l"] == [2.0, "y"] and type(inner["l"][0]) is float
        inner = inner["a"]
    assert inner == 1.0 and type(inner) is float
