"""The query planner's API and the places where it is right and Cerbos's planner is not."""

from __future__ import annotations

import json

import pytest
import yaml

from chamberlain import PDP, Principal, RequestError
from chamberlain.engine.planner import (
    KIND_CONDITIONAL,
    PlanError,
    PlanKind,
    QueryPlan,
    Value,
    Variable,
    from_json,
)
from chamberlain.engine.planner.operands import Expression, debug_string, go_json
from chamberlain.engine.planner.plan import (
    NOTE_BIND,
    NOTE_HAS,
    NOTE_KNOWN_HAS,
    NOTE_LOOKUP_ORDER,
    NOTE_NESTED,
    NOTE_PRINCIPAL_DENY,
    NOTE_ROLES,
)


def _pdp(tmp_path, rules: list[dict], **options) -> PDP:
    doc = {
        "apiVersion": "api.cerbos.dev/v1",
        "resourcePolicy": {"version": "default", "resource": "doc", "rules": rules},
    }
    (tmp_path / "doc.yaml").write_text(yaml.safe_dump(doc))
    return PDP.from_directory(tmp_path, **options)


def _allow(action: str, expr: str, roles=("user",)) -> dict:
    return {
        "actions": [action],
        "effect": "EFFECT_ALLOW",
        "roles": list(roles),
        "condition": {"match": {"expr": expr}},
    }


ALICE = Principal("alice", ["user"], {"teams": ["a", "b"], "limits": {"x": 5, "y": 9}, "n": 3})


def test_plan_is_typed_and_conditional_over_unknown_attributes(tmp_path):
    pdp = _pdp(tmp_path, [_allow("view", "R.attr.owner == P.id && R.attr.n > P.attr.n")])
    plan = pdp.plan(ALICE, "doc", "view")
    assert isinstance(plan, QueryPlan) and plan.kind is PlanKind.CONDITIONAL and plan.kind == KIND_CONDITIONAL
    assert (
        plan.filter_debug == '(and (eq request.resource.attr.owner "alice") (gt request.resource.attr.n 3))'
    )
    assert plan.condition == Expression(
        "and",
        (
            Expression("eq", (Variable("request.resource.attr.owner"), Value("alice"))),
            Expression("gt", (Variable("request.resource.attr.n"), Value(3.0))),
        ),
    )
    # known attributes are evaluated, unknown ones stay
    assert (
        pdp.plan(ALICE, "doc", "view", resource_attr={"owner": "alice"}).filter_debug
        == "(gt request.resource.attr.n 3)"
    )
    assert pdp.plan(ALICE, "doc", "view", resource_attr={"owner": "bob"}).kind is PlanKind.ALWAYS_DENIED
    # several actions: every one must hold
    assert pdp.plan(ALICE, "doc", ["view", "edit"]).always_denied
    assert pdp.plan(ALICE, "other", "view").filter_debug == "NO_MATCH"


def test_plan_json_round_trips(tmp_path):
    pdp = _pdp(tmp_path, [_allow("view", 'R.attr.tags.exists(t, t.startsWith("a")) || 1 < R.attr.n')])
    plan = pdp.plan(ALICE, "doc", "view")
    data = plan.filter_json()
    assert from_json(data["condition"]) == plan.condition
    assert data["condition"]["expression"]["operands"][0]["expression"]["operator"] == "exists"
    lam = data["condition"]["expression"]["operands"][0]["expression"]["operands"][1]["expression"]
    assert lam["operator"] == "lambda" and lam["operands"][1] == {
        "variable": "t"
    }  # body first, then the variable
    assert data["condition"]["expression"]["operands"][1]["expression"]["operands"][0] == {
        "value": 1
    }  # source order


def test_has_is_planned_not_folded_to_true(tmp_path):
    pdp = _pdp(tmp_path, [_allow("view", "has(R.attr.owner)")])
    plan = pdp.plan(ALICE, "doc", "view")
    assert plan.filter_debug == "(has request.resource.attr.owner)" and NOTE_HAS in plan.notes
    assert pdp.plan(ALICE, "doc", "view", resource_attr={"owner": None}).always_allowed


def test_has_of_a_known_attribute_that_is_not_true_is_noted(tmp_path):
    # Cerbos's planner answers has(R.attr.owner) with the value "bob" (its plan is then false).
    pdp = _pdp(tmp_path, [_allow("view", "has(R.attr.owner) && R.attr.owner != P.id && R.attr.n > 1")])
    plan = pdp.plan(ALICE, "doc", "view", resource_attr={"owner": "bob"})
    assert plan.filter_debug == "(gt request.resource.attr.n 1)" and NOTE_KNOWN_HAS in plan.notes
    assert NOTE_KNOWN_HAS not in pdp.plan(ALICE, "doc", "view", resource_attr={"owner": True}).notes


def test_roles_combine_as_the_check_decides(tmp_path):
    pdp = _pdp(
        tmp_path,
        [
            {
                "actions": ["view"],
                "effect": "EFFECT_DENY",
                "roles": ["contractor"],
                "condition": {"match": {"expr": "R.attr.secret"}},
            },
            _allow("view", 'R.attr.team == "a"'),
        ],
    )
    both = Principal("alice", ["contractor", "user"])
    plan = pdp.plan(both, "doc", "view")
    # the user role allows team a, whatever the contractor role's DENY says (the first role that allows wins)
    assert plan.filter_debug == '(eq request.resource.attr.team "a")' and NOTE_ROLES in plan.notes
    assert pdp.check(both, _resource({"team": "a", "secret": True}), ["view"]).is_allowed("view")


def test_a_principal_policys_deny_before_a_deny_only_resource_policy_is_noted():
    """release-bot's principal policy denies every invoice action; the invoice policy only denies
    `approve` to a finance_clerk (no-self-approval). The check denies every row; Cerbos plans
    not(submittedBy == "release-bot") (found by the differential test), so the plan carries the note."""
    from pathlib import Path

    pdp = PDP.from_directory(Path(__file__).resolve().parents[2] / "examples" / "policies")
    bot = Principal("release-bot", ["auditor", "finance_clerk"])
    plan = pdp.plan(bot, "invoice", "approve")
    assert plan.kind is PlanKind.ALWAYS_DENIED and NOTE_PRINCIPAL_DENY in plan.notes
    row = _resource({"submittedBy": "carol", "status": "SUBMITTED"})
    assert not pdp.check(bot, type(row)("invoice", "i1", row.attr), ["approve"]).is_allowed("approve")


def _resource(attr):
    from chamberlain import Resource

    return Resource("doc", "d1", attr)


def test_map_lookup_keeps_the_comparison_order(tmp_path):
    pdp = _pdp(tmp_path, [_allow("view", "P.attr.limits[R.attr.kind] < 6")])
    plan = pdp.plan(ALICE, "doc", "view")
    # limits.x (5) < 6 holds, limits.y (9) < 6 does not: only kind x; Cerbos writes 6 < limits[k]
    assert plan.filter_debug == '(eq request.resource.attr.kind "x")' and NOTE_LOOKUP_ORDER in plan.notes


def test_cel_bind_and_nested_comprehensions_are_planned(tmp_path):
    pdp = _pdp(
        tmp_path,
        [
            _allow("bind", "cel.bind(x, P.attr.n, R.attr.n > x)"),
            _allow("nested", "P.attr.teams.exists(t, R.attr.tags.exists(g, g == t))"),
        ],
    )
    bind = pdp.plan(ALICE, "doc", "bind")
    assert bind.filter_debug == "(gt request.resource.attr.n 3)" and NOTE_BIND in bind.notes
    nested = pdp.plan(ALICE, "doc", "nested")
    assert nested.filter_debug == (
        '(or (exists request.resource.attr.tags (lambda (eq g "a") g)) '
        '(exists request.resource.attr.tags (lambda (eq g "b") g)))'
    )
    assert NOTE_NESTED in nested.notes


def test_a_condition_cerbos_cannot_plan_is_an_error(tmp_path):
    pdp = _pdp(tmp_path, [_allow("view", "R.attr.tags.exists(t, t == P.attr.missing)")])
    with pytest.raises(PlanError, match="no such key"):
        pdp.plan(ALICE, "doc", "view")


def test_plan_resources_wire_and_bad_input(tmp_path):
    pdp = _pdp(tmp_path, [_allow("view", 'R.attr.status == "open"')])
    answer = pdp.plan_resources(
        {
            "requestId": "r",
            "actions": ["view"],
            "includeMeta": True,
            "principal": {"id": "alice", "roles": ["user"]},
            "resource": {"kind": "doc"},
        }
    )
    assert answer == {
        "requestId": "r",
        "actions": ["view"],
        "resourceKind": "doc",
        "filter": {
            "kind": "KIND_CONDITIONAL",
            "condition": {
                "expression": {
                    "operator": "eq",
                    "operands": [{"variable": "request.resource.attr.status"}, {"value": "open"}],
                }
            },
        },
        "meta": {"filterDebug": '(eq request.resource.attr.status "open")', "matchedScopes": {"view": ""}},
    }
    with pytest.raises(RequestError, match="Exactly one of 'action' or 'actions' field must be set"):
        pdp.plan_resources({"principal": {"id": "a", "roles": ["user"]}, "resource": {"kind": "doc"}})
    with pytest.raises(RequestError, match=r"resource\.kind"):
        pdp.plan_resources({"action": "view", "principal": {"id": "a", "roles": ["user"]}, "resource": {}})


def test_debug_strings_print_values_as_go_does():
    assert go_json(1e21) == "1e+21" and go_json(1.5e-7) == "1.5e-7" and go_json(100.0) == "100"
    assert go_json(0.1) == "0.1" and go_json(["a", 2, None, True]) == '["a",2,null,true]'
    assert (
        debug_string(Expression("in", (Variable("x"), Value(["é", 'a"b\\c'])))) == '(in x ["é","a\\"b\\\\c"])'
    )
    assert json.loads(go_json("é\\n")) == "é\\n"


def test_decision_log_records_plans(tmp_path):
    (tmp_path / "p").mkdir()
    pdp = _pdp(
        tmp_path / "p", [_allow("view", 'R.attr.status == "open"')], audit=f"sqlite:///{tmp_path / 'log.db'}"
    )
    with pdp:
        plan = pdp.plan(ALICE, "doc", "view", request_id="plan-1")
        assert plan.kind is PlanKind.CONDITIONAL and not plan.log_error
        from chamberlain.audit import Filter

        [entry] = pdp.log.read(lambda r: r.search(Filter(limit=10)))
    assert entry["action"] == "view" and entry["effect"] == "EFFECT_ALLOW" and entry["request_id"] == "plan-1"
    assert entry["principal"]["id"] == "alice" and entry["resource"]["kind"] == "doc"
    assert entry["basis"]["policy"] == "chamberlain.query_plan"
    record = entry["plan"]
    assert record["kind"] == "KIND_CONDITIONAL" and record["filter_debug"] == plan.filter_debug
    assert len(record["filter_digest"]) == 64


@pytest.mark.parametrize(
    ("expr", "debug"),
    [
        ('(R.attr.org in P.attr.none ? R.attr.a : "none") == "admin"', '(eq "none" "admin")'),
        ("!(R.attr.org in P.attr.none) && R.attr.x == 1", "(eq request.resource.attr.x 1)"),
        ("(R.attr.org in P.attr.none && R.attr.y == 2) || R.attr.x == 1", "(eq request.resource.attr.x 1)"),
        (
            "(R.attr.org in P.attr.none) == false && R.attr.x == 1",
            "(and (eq false false) (eq request.resource.attr.x 1))",
        ),
    ],
)
def test_a_pruned_literal_decides_its_parent_as_in_cerbos(tmp_path, expr, debug):
    # `x in {}` prunes to false (cel-go records the literal under the node's id), and the enclosing
    # ternary, `!`, `&&` and `||` are pruned on it; plans as Cerbos 0.55 plans them.
    pdp = _pdp(tmp_path, [_allow("view", expr)])
    plan = pdp.plan(Principal("alice", ["user"], {"none": {}}), "doc", "view")
    assert plan.filter_debug == debug
