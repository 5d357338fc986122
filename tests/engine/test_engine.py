"""The engine's own behaviour: globs, role policies, scopes, strict evaluation, explanations."""

from __future__ import annotations

import datetime as dt

import pytest

from chamberlain.engine import CheckInput, EngineOptions, Principal, Resource, compile_policies
from chamberlain.engine.glob import matches
from chamberlain.policy import load_documents

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

DERIVED = """
apiVersion: api.cerbos.dev/v1
derivedRoles:
  name: common
  definitions:
    - name: owner
      parentRoles: ["user"]
      condition:
        match:
          expr: R.attr.owner == P.id
"""
DOCUMENT = """
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: document
  version: default
  importDerivedRoles: [common]
  rules:
    - name: owner-edits-drafts
      actions: ["edit"]
      effect: EFFECT_ALLOW
      derivedRoles: [owner]
      condition:
        match:
          expr: R.attr.status == "draft"
      output:
        when:
          ruleActivated: '"edited by " + P.id'
          conditionNotMet: '"not a draft"'
    - actions: ["view:*"]
      effect: EFFECT_ALLOW
      roles: ["*"]
    - actions: ["delete"]
      effect: EFFECT_ALLOW
      roles: ["admin"]
      condition:
        match:
          expr: R.attr.missing.size() > 0
"""


def _engine(*docs: str, **options):
    files = {f"p{i}.yaml": d for i, d in enumerate(docs)}
    return compile_policies(load_documents(files), EngineOptions(**options))


def _check(engine, principal, resource, *actions):
    return engine.check([CheckInput(principal, resource, actions)], NOW)[0]


ALICE = Principal("alice", ["user"])
DRAFT = Resource("document", "d1", {"owner": "alice", "status": "draft"})


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("view:*", "view:public", True),
        ("view:*", "view:a:b", False),
        ("view:**", "view:a:b", True),
        ("*", "a:b:c", True),
        ("{read,write}:doc", "write:doc", True),
        ("a?c", "abc", True),
        ("[!x]y", "zy", True),
        ("[!x]y", "xy", False),
    ],
)
def test_glob_semantics(pattern: str, value: str, expected: bool):
    assert matches(pattern, value) is expected


def test_derived_role_condition_and_outputs():
    engine = _engine(DERIVED, DOCUMENT)
    out = _check(engine, ALICE, DRAFT, "edit", "view:public", "view:a:b")
    assert out.actions["edit"].allowed
    assert out.actions["edit"].policy == "resource.document.vdefault"
    assert out.actions["view:public"].allowed
    assert not out.actions["view:a:b"].allowed  # `*` does not cross the `:` separator
    assert out.effective_derived_roles == ["owner"]
    assert [(o.src, o.val) for o in out.outputs] == [
        ("resource.document.vdefault#owner-edits-drafts", "edited by alice")
    ]
    published = Resource("document", "d1", {"owner": "alice", "status": "published"})
    out = _check(engine, ALICE, published, "edit")
    assert not out.actions["edit"].allowed
    assert [o.val for o in out.outputs] == ["not a draft"]


def test_condition_error_is_false_and_reported_then_denies_under_strict_evaluation():
    admin = Principal("root", ["admin"])
    lenient = _check(_engine(DERIVED, DOCUMENT), admin, DRAFT, "delete")
    assert not lenient.actions["delete"].allowed
    assert [(e.expression, e.message) for e in lenient.evaluation_errors] == [
        ("R.attr.missing.size() > 0", "no such key: missing")
    ]
    strict = _check(_engine(DERIVED, DOCUMENT, strict_evaluation=True), admin, DRAFT, "delete")
    assert strict.actions["delete"].effect == "EFFECT_DENY"
    assert strict.actions["delete"].policy == "resource.document.vdefault"


def test_explanation_names_the_rule_and_the_conditions():
    out = _check(_engine(DERIVED, DOCUMENT), ALICE, DRAFT, "edit", "delete")
    why = out.explain("edit")
    assert (why.policy, why.rule, why.rule_effect) == (
        "resource.document.vdefault",
        "owner-edits-drafts",
        "EFFECT_ALLOW",
    )
    assert [(c.expression, c.held) for c in why.conditions] == [('R.attr.status == "draft"', True)]
    assert out.explain("delete").rule == ""
    assert "edit: EFFECT_ALLOW" in out.explanation()


def test_the_trace_says_why_a_rule_did_not_apply():
    engine = _engine(DERIVED, DOCUMENT.replace('actions: ["edit"]', 'actions: ["edit", "rename"]'))
    bob = Principal("bob", ["user"])
    out = _check(engine, bob, DRAFT, "edit", "rename")  # bob is not the owner: the derived role did not hold
    for action in ("edit", "rename"):  # the second action reads the first's cached outcome
        (tried,) = [t for t in out.explain(action).evaluated if t.rule == "owner-edits-drafts"]
        assert (tried.outcome, tried.satisfied) == ("derived role did not hold", False)
    assert "derived role owner): derived role did not hold" in out.explanation()
    published = Resource("document", "d1", {"owner": "alice", "status": "published"})
    out = _check(engine, ALICE, published, "edit")  # alice owns it, but it is not a draft
    (tried,) = [t for t in out.explain("edit").evaluated if t.rule == "owner-edits-drafts"]
    assert (tried.outcome, tried.satisfied) == ("did not hold", False)


def test_no_policy_is_a_deny_with_no_match():
    out = _check(_engine(DERIVED, DOCUMENT), ALICE, Resource("invoice", "i1"), "pay")
    assert (out.actions["pay"].effect, out.actions["pay"].policy) == ("EFFECT_DENY", "NO_MATCH")


SCOPED = """
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: document
  version: default
  scope: acme
  rules:
    - actions: ["delete"]
      effect: EFFECT_ALLOW
      roles: ["user"]
"""


def test_scopes_fall_through_and_lenient_search():
    strict = _engine(DERIVED, DOCUMENT, SCOPED)
    in_acme = Resource("document", "d1", {"owner": "bob", "status": "x"}, scope="acme")
    out = _check(strict, ALICE, in_acme, "delete", "view:x")
    assert out.actions["delete"].allowed and out.actions["delete"].scope == "acme"
    assert out.actions["view:x"].allowed and out.actions["view:x"].scope == ""  # fell through to the root
    deeper = Resource("document", "d1", scope="acme.hr")
    assert not _check(strict, ALICE, deeper, "delete").actions["delete"].allowed
    lenient = _engine(DERIVED, DOCUMENT, SCOPED, lenient_scope_search=True)
    assert _check(lenient, ALICE, deeper, "delete").actions["delete"].allowed


def test_principal_policy_comes_first():
    principal_policy = """
apiVersion: api.cerbos.dev/v1
principalPolicy:
  principal: alice
  version: default
  rules:
    - resource: document
      actions:
        - action: "view:*"
          effect: EFFECT_DENY
"""
    out = _check(_engine(DERIVED, DOCUMENT, principal_policy), ALICE, DRAFT, "view:public", "edit")
    assert out.actions["view:public"].effect == "EFFECT_DENY"
    assert out.actions["view:public"].policy == "principal.alice.vdefault"
    assert out.actions["edit"].allowed
