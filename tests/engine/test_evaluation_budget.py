"""Conditions run within a time budget (engine option ``evaluation_timeout``, server
``chamberlain.limits.evaluationTimeout``). A condition cut off is not a failed condition that
Cerbos's non-strict mode would skip: the whole check stops, and every action it had not decided
is a DENY naming the budget. A guarding DENY rule whose condition runs out of time therefore
denies; it never turns into an ALLOW.

No timing is asserted: the decisions say whether the budget stopped the evaluation.
"""

from __future__ import annotations

import pytest

from chamberlain import PDP
from chamberlain.cel.budget import EVALUATION_TIMEOUT
from chamberlain.engine import CheckInput, EngineOptions, Principal, Resource, compile_policies
from chamberlain.policy import load_documents

POLICY = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: doc
  version: default
  rules:
    - name: anyone-views
      actions: ["view", "edit", "share"]
      effect: EFFECT_ALLOW
      roles: ["user"]
    - name: no-shared-tags
      actions: ["edit"]
      effect: EFFECT_DENY
      roles: ["user"]
      condition:
        match:
          expr: R.attr.tags.exists(t, t in P.attr.tags)
    - name: no-pair-loop
      actions: ["share"]
      effect: EFFECT_DENY
      roles: ["user"]
      condition:
        match:
          expr: R.attr.tags.exists(i, t, P.attr.tags.exists(u, u == t + string(i)))
"""
N = 20_000  # two lists of 20,000 tags: 400 million comparisons, about 6 s unbounded


def engine(**options):
    return compile_policies(load_documents({"doc.yaml": POLICY}), EngineOptions(**options))


def request(n: int = N) -> CheckInput:
    principal = Principal("alice", ("user",), {"tags": [f"p{i}" for i in range(n)]})
    resource = Resource("doc", "d1", {"tags": [f"r{i}" for i in range(n)]})
    return CheckInput(principal, resource, ("view", "edit", "share"))


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_a_guarding_deny_cut_off_by_the_budget_denies(strict):
    [out] = engine(evaluation_timeout=0.1, strict_evaluation=strict).check([request()])
    assert out.actions["view"].effect == "EFFECT_ALLOW"  # decided before the budget ran out, unconditional
    for action in ("edit", "share"):
        assert out.actions[action].effect == "EFFECT_DENY", action
        assert out.actions[action].policy == EVALUATION_TIMEOUT
    assert any("evaluationTimeout" in e.message for e in out.evaluation_errors)
    assert "EFFECT_DENY by chamberlain:evaluationTimeout" in out.explanation()


def test_the_fast_path_is_bounded_too():
    e = engine(evaluation_timeout=0.1)
    inp = request()
    for action in ("edit", "share"):
        effect = e.decide(inp.principal, inp.resource, action)
        assert (effect.effect, effect.policy) == ("EFFECT_DENY", EVALUATION_TIMEOUT)


def test_nested_short_loops_are_bounded():
    """Three loops of 400 items nested: 64 million iterations, each loop short enough to look harmless."""
    policy = POLICY.replace(
        "R.attr.tags.exists(t, t in P.attr.tags)",
        "R.attr.a.all(x, R.attr.a.all(y, R.attr.a.all(z, x + y + z >= 0.0)))",
    )
    e = compile_policies(load_documents({"doc.yaml": policy}), EngineOptions(evaluation_timeout=0.1))
    resource = Resource("doc", "d1", {"a": list(range(400)), "tags": []})
    [out] = e.check([CheckInput(Principal("alice", ("user",), {"tags": []}), resource, ("edit",))])
    assert (out.actions["edit"].effect, out.actions["edit"].policy) == ("EFFECT_DENY", EVALUATION_TIMEOUT)


def test_within_the_budget_nothing_changes():
    [out] = engine(evaluation_timeout=5.0).check([request(200)])
    assert {a: e.effect for a, e in out.actions.items()} == {
        "view": "EFFECT_ALLOW",
        "edit": "EFFECT_ALLOW",
        "share": "EFFECT_ALLOW",
    }
    assert out.evaluation_errors == []


def test_the_budget_is_per_call_and_the_default_is_one_second():
    assert EngineOptions().evaluation_timeout == 1.0
    e = engine(evaluation_timeout=0.1)
    [slow] = e.check([request()])
    assert slow.actions["edit"].policy == EVALUATION_TIMEOUT
    [quick] = e.check([request(50)])  # a fresh budget: the next call is decided normally
    assert quick.actions["edit"].effect == "EFFECT_ALLOW" and quick.evaluation_errors == []


def test_pdp_option(tmp_path):
    (tmp_path / "doc.yaml").write_text(POLICY)
    pdp = PDP.from_directory(tmp_path, evaluation_timeout=0.1)
    inp = request()
    assert not pdp.is_allowed(inp.principal, inp.resource, "edit")
    with pytest.raises(Exception, match="evaluation_timeout"):
        PDP.from_directory(tmp_path, evaluation_timeout=0)


PLAN_POLICY = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: doc
  version: default
  rules:
    - actions: ["view"]
      effect: EFFECT_ALLOW
      roles: ["user"]
      condition:
        match:
          expr: P.attr.a.all(x, P.attr.a.all(y, P.attr.a.all(z, x + y + z >= 0.0))) && R.attr.owner == P.id
"""
PLAN_SCRIPT = """
import sys, time
from chamberlain import PDP, Principal
from chamberlain.engine.planner import PlanError
pdp = PDP.from_directory(sys.argv[1], evaluation_timeout=0.2)
started = time.monotonic()
try:
    pdp.plan(Principal("alice", ["user"], {"a": list(range(400))}), "doc", "view")
    print("planned")
except PlanError as exc:
    print("refused", exc)
print(round(time.monotonic() - started, 1))
"""


def test_an_embedded_query_plan_is_bounded_by_evaluation_timeout(tmp_path):
    """PDP.plan folded the principal's attributes with no budget of its own: each paced loop started a
    fresh one, so nested loops (64 million iterations here) ran for minutes whatever evaluation_timeout
    said. Now the plan is refused past it, naming the option (in a subprocess: without the bound it hangs)."""
    import subprocess
    import sys

    (tmp_path / "doc.yaml").write_text(PLAN_POLICY)
    try:
        done = subprocess.run(
            [sys.executable, "-c", PLAN_SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("PDP.plan ran past 60 s with evaluation_timeout=0.2")
    assert done.returncode == 0, done.stderr
    verdict, seconds = done.stdout.strip().split("\n")
    assert verdict.startswith("refused") and "evaluation_timeout" in verdict, verdict
    assert float(seconds) < 30


MAP_POLICY = PLAN_POLICY.replace(
    "P.attr.a.all(x, P.attr.a.all(y, P.attr.a.all(z, x + y + z >= 0.0)))",
    'P.attr.a.map(x, x + "1").size() > 0 && P.attr.a.transformMap(i, x, x).size() > 0',
)


def test_a_query_plan_maps_a_long_list_in_linear_time(tmp_path):
    """The planner built map()/transformMap() results by copying the accumulator at every element: a
    100,000-element principal attribute took minutes to plan (and ran into the budget: no plan at all)
    where the check decides it in milliseconds."""
    (tmp_path / "doc.yaml").write_text(MAP_POLICY)
    pdp = PDP.from_directory(tmp_path, evaluation_timeout=5.0)
    plan = pdp.plan(Principal("alice", ["user"], {"a": [f"a{i}" for i in range(100_000)]}), "doc", "view")
    assert plan.kind.value == "KIND_CONDITIONAL"
