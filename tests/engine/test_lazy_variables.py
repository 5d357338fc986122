"""The fast path (``Engine.decide``) evaluates a policy's variables on first read (``LazyVariables``):
its answers are those of the full check, which evaluates every variable up front."""

from __future__ import annotations

import datetime as dt

import pytest

from chamberlain.engine import CheckInput, EngineOptions, Principal, Resource, compile_policies
from chamberlain.engine.conditions import LazyVariables
from chamberlain.engine.walk import FastState
from chamberlain.policy import load_documents

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

POLICY = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: doc
  version: default
  variables:
    local:
      broken: R.attr.missing + 1
      early: 'has(V.late) ? "saw-late" : "no-late"'
      amount: double(R.attr.amount)
      late: V.amount * 2.0
      size: size(V)
  rules:
    - name: by-amount
      actions: ["read"]
      effect: EFFECT_ALLOW
      roles: ["user"]
      condition:
        match:
          expr: V.late > 10.0
    - name: order
      actions: ["order"]
      effect: EFFECT_ALLOW
      roles: ["user"]
      condition:
        match:
          expr: V.early == "no-late"
    - name: broken-is-unset
      actions: ["broken"]
      effect: EFFECT_ALLOW
      roles: ["user"]
      condition:
        match:
          expr: '!has(V.broken)'
    - name: size
      actions: ["size"]
      effect: EFFECT_ALLOW
      roles: ["user"]
      condition:
        match:
          expr: V.size == 4
"""


@pytest.mark.parametrize("amount", [1, 6, 100])
@pytest.mark.parametrize("action", ["read", "order", "broken", "size", "other"])
def test_the_fast_path_answers_as_the_full_check(amount: int, action: str):
    engine = compile_policies(load_documents({"p.yaml": POLICY}), EngineOptions())
    assert engine.fast_state is FastState
    principal = Principal("alice", ["user"])
    resource = Resource("doc", "d1", {"amount": amount})
    full = engine.check([CheckInput(principal, resource, (action,))], NOW)[0].actions[action]
    fast = engine.decide(principal, resource, action, now=NOW)
    assert (fast.effect, fast.policy, fast.scope) == (full.effect, full.policy, full.scope)


def test_variables_as_the_full_check_sees_them():
    """``early`` is evaluated after ``late`` (variables run in dependency order), ``broken`` fails
    and is left unset,."""
    engine = compile_policies(load_documents({"p.yaml": POLICY}), EngineOptions())
    alice = Principal("alice", ["user"])

    def allowed(action: str, amount: int) -> bool:
        return engine.decide(alice, Resource("doc", "d1", {"amount": amount}), action, now=NOW).allowed

    assert allowed("read", 6)
    assert not allowed("read", 1)
    assert not allowed("order", 6)
    assert allowed("broken", 6)


def test_only_the_variables_read_are_evaluated():
    engine = compile_policies(load_documents({"p.yaml": POLICY}), EngineOptions())
    params = next(row.params for rows in engine.table.rows.values() for row in rows if row.params.variables)
    activation = {"R": {"attr": {"amount": 3.0}}, "C": None, "V": None, "constants": None, "variables": None}
    state = FastState.fast(engine, activation, None)  # type: ignore[arg-type]
    values = state.evaluate_variables(params, unset_on_error=True)
    assert isinstance(values, LazyVariables)
    assert [name for name, _, _ in params.variables] == ["amount", "broken", "late", "early", "size"]
    assert values["amount"] == 3.0  # evaluates "amount" only
    assert set(values._values) == {"amount"} and state.errors == {}
    assert values["late"] == 6.0  # then "broken" (which fails, left unset) and "late"
    assert set(values._values) == {"amount", "late"} and len(state.errors) == 1
    assert "broken" not in values
    assert activation["V"] is None  # the activation is left as it was
    assert set(values) == {"amount", "late", "early"}  # iterating evaluates all ("size" fails too)
