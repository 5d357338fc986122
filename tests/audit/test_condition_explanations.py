"""An entry's ``conditions``: a held conjunction is explained without evaluating it again, and says
exactly what evaluating each expression again says (any other tree is evaluated again)."""

from __future__ import annotations

import datetime as dt
import itertools

import orjson
import pytest

from chamberlain.audit.write import decisions
from chamberlain.audit.write.content import Limits
from chamberlain.engine import CheckInput, Principal, Resource, compile_policies
from chamberlain.engine.result import HELD
from chamberlain.policy import load_directory

POLICY = """
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: doc
  version: default
  rules:
    - name: single
      actions: ["single"]
      effect: EFFECT_ALLOW
      roles: ["*"]
      condition:
        match:
          expr: "  R.attr.n > 1  "
    - name: nested-all
      actions: ["nested-all"]
      effect: EFFECT_ALLOW
      roles: ["*"]
      condition:
        match:
          all:
            of:
              - expr: R.attr.n > 1
              - all:
                  of:
                    - expr: P.attr.level >= 2
                    - expr: R.attr.tags.exists(t, t == "a")
    - name: any-of
      actions: ["any-of"]
      effect: EFFECT_ALLOW
      roles: ["*"]
      condition:
        match:
          any:
            of:
              - expr: R.attr.n > 5
              - expr: P.attr.level >= 2
    - name: none-of
      actions: ["none-of"]
      effect: EFFECT_DENY
      roles: ["*"]
      condition:
        match:
          none:
            of:
              - expr: R.attr.n > 5
              - expr: R.attr.missing == 1
    - name: all-with-any
      actions: ["all-with-any"]
      effect: EFFECT_ALLOW
      roles: ["*"]
      condition:
        match:
          all:
            of:
              - expr: R.attr.n > 1
              - any:
                  of:
                    - expr: R.attr.missing == 1
                    - expr: P.attr.level >= 2
"""
ACTIONS = ("single", "nested-all", "any-of", "none-of", "all-with-any")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    folder = tmp_path_factory.mktemp("policies")
    (folder / "doc.yaml").write_text(POLICY)
    return compile_policies(load_directory(folder))


def _inputs():
    for n, level, tags in itertools.product((0, 3, 9), (1, 2), (["a"], ["b"])):
        yield CheckInput(
            Principal("p", ["user"], {"level": level}),
            Resource("doc", f"d-{n}-{level}", {"n": n, "tags": tags}),
            ACTIONS,
        )


def test_a_held_conjunction_is_explained_as_evaluating_it_again_would(engine):
    now = dt.datetime.now(dt.UTC)
    shortcuts = 0
    for inp in _inputs():
        [out] = engine.check([inp], now)
        held = {id(row) for _a, _s, row, outcome in out.trace if outcome == HELD}
        for action, effect in out.actions.items():
            if effect.row is None:
                continue
            again = decisions._conditions(out, effect.row, False)  # evaluated expression by expression
            assert decisions._conditions(out, effect.row, id(effect.row) in held) == again, (action, inp)
            if id(effect.row) in held and effect.row.condition.conjunction is not None:
                shortcuts += 1
                assert again and all(c["held"] and "error" not in c for c in again)
    assert shortcuts >= 4  # the shortcut was taken (single and nested-all held in several inputs)


def test_trees_with_any_or_none_are_evaluated_again(engine):
    by_rule = {row.name: row.condition for row in _rows(engine)}
    assert by_rule["single"].conjunction == ("R.attr.n > 1",)
    assert by_rule["nested-all"].conjunction == (
        "R.attr.n > 1",
        "P.attr.level >= 2",
        'R.attr.tags.exists(t, t == "a")',
    )
    assert by_rule["any-of"].conjunction is None and by_rule["all-with-any"].conjunction is None
    assert by_rule["none-of"].conjunction is None


def test_entries_record_the_explanations(engine):
    inp = CheckInput(
        Principal("p", ["user"], {"level": 2}), Resource("doc", "d", {"n": 3, "tags": ["a"]}), ACTIONS
    )
    [out] = engine.check([inp], dt.datetime.now(dt.UTC))
    call = decisions.decision_call([inp], [out], when=dt.datetime.now(dt.UTC), call_id="c", point="test")
    conditions = {
        e.public["action"]: orjson.loads(e.content)["conditions"] for e in call.prepare(Limits()).entries
    }
    assert conditions["single"] == [{"expr": "R.attr.n > 1", "held": True}]
    assert conditions["nested-all"] == [
        {"expr": "R.attr.n > 1", "held": True},
        {"expr": "P.attr.level >= 2", "held": True},
        {"expr": 'R.attr.tags.exists(t, t == "a")', "held": True},
    ]
    assert conditions["any-of"] == [
        {"expr": "R.attr.n > 5", "held": False},
        {"expr": "P.attr.level >= 2", "held": True},
    ]
    [first, missing] = conditions["none-of"]  # evaluated again: the error of the missing attribute shows
    assert first == {"expr": "R.attr.n > 5", "held": False}
    assert missing["expr"] == "R.attr.missing == 1" and not missing["held"] and "missing" in missing["error"]


def _rows(engine):
    seen = set()
    for inp in _inputs():
        [out] = engine.check([inp], dt.datetime.now(dt.UTC))
        for _a, _s, row, _o in out.trace:
            if id(row) not in seen and row.condition is not None:
                seen.add(id(row))
                yield row
