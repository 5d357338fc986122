"""The engine's own behaviour that Cerbos's case format cannot express: globs, explanations, traces.

The decisions themselves are data: tests/engine/cases/*.yaml, run by tests/engine/test_engine_cases.py
under every option set (the policies below are those of a case file, for the tests that need them)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from chamberlain.engine import CheckInput, EngineOptions, Principal, Resource, compile_policies
from chamberlain.engine.glob import matches
from chamberlain.policy import load_documents
from tests.engine.conformance import load_case

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
CASES = Path(__file__).with_name("cases")


def case_policies(name: str) -> list[str]:
    """The policies of ``tests/engine/cases/<name>.yaml``, each as a YAML document."""
    return [
        yaml.safe_dump(doc, sort_keys=False) for doc in load_case(CASES / f"{name}.yaml", "cases").policies
    ]


#: The derived roles ``common`` (``owner``) and the ``document`` policy other tests check against too.
DERIVED, DOCUMENT = case_policies("derived_role_condition_outputs")


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
    engine = _engine(*case_policies("derived_role_did_not_hold"))  # `edit` and `rename` in one rule
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
