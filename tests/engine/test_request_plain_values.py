"""The shortcut that accepts a plain Principal/Resource without the table-driven check accepts nothing
that check refuses: every sample is judged by both, and where the shortcut accepts, the check must too."""

from __future__ import annotations

import pytest

from chamberlain.engine import request_validation as rv
from chamberlain.engine.request_validation import InvalidRequest

IDS = ["alice", "", None, 5, "a b"]
ROLES = [
    ("user",),
    ["user", "admin"],
    {"user"},
    frozenset({"a", "b"}),
    (),
    ["user", "user"],
    ["", "x"],
    [None],
    "user",
    ("user", 3),
    range(2),
]
ATTRS = [None, {}, {"a": 1}, {"": 1}, {"a": None, "b": [1, {"c": 2}]}, [("a", 1)], {1: "x"}]
VERSIONS = [None, "", "default", "v1_2", "v-1", 3, "x y"]
SCOPES = [None, "", "acme", "acme.hr", ".", "acme..hr", "-acme", 7]


def _accepted(check, *args) -> bool:
    try:
        check(*args)
    except InvalidRequest:
        return False
    return True


def _slow_principal(id, roles, attr, version, scope) -> None:
    rv._check_object(
        rv.PRINCIPAL,
        "principal",
        {
            "id": id,
            "roles": rv._as_list(roles, "principal.roles"),
            "attr": rv._as_map(attr, "principal.attr"),
            "policyVersion": version,
            "scope": scope,
        },
    )


def _slow_resource(kind, id, attr, version, scope) -> None:
    rv._check_object(
        rv.RESOURCE,
        "resource",
        {
            "kind": kind,
            "id": id,
            "attr": rv._as_map(attr, "resource.attr"),
            "policyVersion": version,
            "scope": scope,
        },
    )


@pytest.mark.parametrize("roles", ROLES, ids=[f"roles{i}" for i in range(len(ROLES))])
def test_a_principal_the_shortcut_accepts_is_one_the_check_accepts(roles):
    for id in IDS:
        for attr in ATTRS:
            for version in VERSIONS:
                for scope in SCOPES:
                    rs = list(roles) if not isinstance(roles, str | tuple | list | set | frozenset) else roles
                    fast = (
                        type(id) is str
                        and id
                        and rv._plain_roles(rs)
                        and rv._plain_attr(attr)
                        and rv._plain(version, rv.VERSION)
                        and rv._plain(scope, rv.SCOPE)
                    )
                    assert _accepted(rv.check_principal, id, rs, attr, version, scope) == _accepted(
                        _slow_principal, id, rs, attr, version, scope
                    ), (id, rs, attr, version, scope)
                    if fast:
                        assert _accepted(_slow_principal, id, rs, attr, version, scope)


def test_a_resource_the_shortcut_accepts_is_one_the_check_accepts():
    for kind in IDS:
        for id in IDS:
            for attr in ATTRS:
                for version in VERSIONS:
                    for scope in SCOPES:
                        args = (kind, id, attr, version, scope)
                        assert _accepted(rv.check_resource, *args) == _accepted(_slow_resource, *args), args
