"""Plans under strict evaluation: exactly the rows the check allows.

Under ``strictEvaluation`` a condition that fails ends the check of the action with a DENY, but only
where the check reaches it: a role walked earlier may already have allowed, a DENY met earlier ends
that role's walk, and a child ``OVERRIDE_PARENT`` scope that allowed ends it too. Each policy set below
puts a failing condition (``P.attr.missing``: the principal has no such attribute) behind one of these,
and every (roles order, resource) pair is checked against the plan evaluated on that resource in SQLite.
A condition that fails only on some rows stays in the plan as the failing expression, as Cerbos's
planner leaves it (the SQL adapter refuses plans under strict evaluation).
"""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa
import yaml

from chamberlain import PDP, Principal, Resource
from chamberlain.integrations.sqlalchemy import where_clause
from tests.integrations.exactness import build_schema, sqlite_engine

FAILS = "P.attr.missing == 1"


def _rule(effect: str, roles: list[str], expr: str | None = None, derived: list[str] | None = None) -> dict:
    rule: dict = {"actions": ["view"], "effect": f"EFFECT_{effect}"}
    if derived:
        rule["derivedRoles"] = derived
    else:
        rule["roles"] = roles
    if expr is not None:
        rule["condition"] = {"match": {"expr": expr}}
    return rule


def _resource(rules: list[dict], scope: str = "", permissions: str = "", imports: list[str] = ()) -> dict:
    policy: dict = {"version": "default", "resource": "doc", "rules": rules}
    if scope:
        policy["scope"] = scope
    if permissions:
        policy["scopePermissions"] = permissions
    if imports:
        policy["importDerivedRoles"] = list(imports)
    return {"apiVersion": "api.cerbos.dev/v1", "resourcePolicy": policy}


SETS: dict[str, list[dict]] = {
    "an earlier role allowed": [
        _resource(
            [
                _rule("ALLOW", ["user"], "R.attr.public == true"),
                _rule("ALLOW", ["admin"], FAILS),
            ]
        )
    ],
    "a DENY met earlier in the role": [
        _resource(
            [
                _rule("DENY", ["admin"], 'R.attr.owner == "b"'),
                _rule("ALLOW", ["admin"], FAILS),
                _rule("ALLOW", ["user"], "R.attr.public == true"),
            ]
        )
    ],
    "a DENY after the failure": [
        _resource(
            [
                _rule("ALLOW", ["admin"], FAILS),
                _rule("DENY", ["admin"], 'R.attr.owner == "b"'),
                _rule("ALLOW", ["user"], 'R.attr.owner == "a"'),
            ]
        )
    ],
    "a failing derived role": [
        {
            "apiVersion": "api.cerbos.dev/v1",
            "derivedRoles": {
                "name": "dr",
                "definitions": [
                    {"name": "broken", "parentRoles": ["admin"], "condition": {"match": {"expr": FAILS}}},
                    {
                        "name": "owner",
                        "parentRoles": ["user"],
                        "condition": {"match": {"expr": 'R.attr.owner == "a"'}},
                    },
                ],
            },
        },
        _resource(
            [
                _rule("ALLOW", [], derived=["owner"]),
                _rule("ALLOW", [], "R.attr.public == true", derived=["broken"]),
            ],
            imports=["dr"],
        ),
    ],
    "a child scope that overrides its parent": [
        _resource([_rule("ALLOW", ["user", "admin"], FAILS)]),
        _resource(
            [_rule("ALLOW", ["user"], "R.attr.public == true")],
            scope="acme",
            permissions="SCOPE_PERMISSIONS_OVERRIDE_PARENT",
        ),
    ],
    "a failing principal policy": [
        {
            "apiVersion": "api.cerbos.dev/v1",
            "principalPolicy": {
                "principal": "alice",
                "version": "default",
                "rules": [
                    {
                        "resource": "doc",
                        "actions": [
                            {
                                "action": "view",
                                "effect": "EFFECT_ALLOW",
                                "condition": {"match": {"expr": FAILS}},
                            },
                        ],
                    }
                ],
            },
        },
        _resource([_rule("ALLOW", ["user"], "R.attr.public == true")]),
    ],
}

ROWS = [
    {"id": i, "public": public, "owner": owner}
    for i, (public, owner) in enumerate(itertools.product([True, False], ["a", "b"]))
]


def _planned_rows(pdp: PDP, principal: Principal, engine: sa.Engine) -> set[int]:
    plan = pdp.plan(principal, "doc", "view", scope=principal.scope)
    if plan.always_allowed:
        return {row["id"] for row in ROWS}
    if plan.always_denied:
        return set()
    schema = build_schema({"public": sa.Boolean, "owner": sa.String})
    where = where_clause(plan.exact_condition or plan.condition, schema.attr_map)
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(sa.select(schema.table.c.id).where(where))}


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("strict", [True, False], ids=["strict", "lenient"])
def test_plan_returns_exactly_the_rows_the_check_allows(tmp_path, name, strict):
    for i, doc in enumerate(SETS[name]):
        (tmp_path / f"p{i}.yaml").write_text(yaml.safe_dump(doc))
    pdp = PDP.from_directory(tmp_path, strict_evaluation=strict)
    scope = "acme" if "scope" in name else ""
    schema = build_schema({"public": sa.Boolean, "owner": sa.String})
    with sqlite_engine() as engine:
        schema.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(schema.table.insert(), ROWS)
        for roles in itertools.permutations(["user", "admin"]):
            principal = Principal("alice", list(roles), scope=scope)
            allowed = {
                row["id"]
                for row in ROWS
                if pdp.check(
                    principal,
                    Resource(
                        "doc", str(row["id"]), {"public": row["public"], "owner": row["owner"]}, scope=scope
                    ),
                    ["view"],
                ).is_allowed("view")
            }
            assert _planned_rows(pdp, principal, engine) == allowed, roles


def test_a_role_allowed_before_the_failure_keeps_its_rows(tmp_path):
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(SETS["an earlier role allowed"][0]))
    pdp = PDP.from_directory(tmp_path, strict_evaluation=True)
    before = pdp.plan(Principal("alice", ["user", "admin"]), "doc", "view")
    assert before.filter_debug == "(eq request.resource.attr.public true)"
    after = pdp.plan(Principal("alice", ["admin", "user"]), "doc", "view")
    assert after.always_denied and after.evaluation_errors == [(FAILS, "no such key: missing")]
