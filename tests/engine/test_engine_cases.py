"""chamberlain's own engine behaviour, from data: ``tests/engine/cases/*.yaml`` (Cerbos's engine test
case format with the case's policies in the file; tests/engine/conformance.py reads both), each case
under every option set, by the full check and by the fast path (``Engine.decide``: plans, generated
walks, constant plans)."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import pytest

from chamberlain.engine import Engine, EngineOptions, compile_policies
from chamberlain.engine.wire import parse_check_input
from chamberlain.policy import load_documents
from tests.engine.conformance import EngineCase, engine_json, load_cases, normalise_want

CASES = load_cases(Path(__file__).with_name("cases"), "cases")
NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

#: The option sets every case runs under; a case's ``wantOutputsUnder`` names those its outputs differ in.
OPTION_SETS: dict[str, EngineOptions] = {
    "default": EngineOptions(),
    "strictEvaluation": EngineOptions(strict_evaluation=True),
    "lenientScopeSearch": EngineOptions(lenient_scope_search=True),
}


@functools.cache
def _engine(name: str, option_set: str) -> Engine:
    (case,) = [c for c in CASES if c.name == name]
    return compile_policies(load_documents(case.policy_files()), OPTION_SETS[option_set])


@pytest.mark.parametrize("option_set", OPTION_SETS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_engine_case(case: EngineCase, option_set: str) -> None:
    engine = _engine(case.name, option_set)
    inputs = [parse_check_input(i) for i in case.inputs]
    outputs = engine.check(inputs, NOW)
    assert [engine_json(o) for o in outputs] == [normalise_want(w) for w in case.want_for(option_set)]
    for inp, out in zip(inputs, outputs, strict=True):  # the fast path decides alike
        for action, full in out.actions.items():
            fast = engine.decide(inp.principal, inp.resource, action, inp.aux_data)
            assert (fast.effect, fast.policy, fast.scope) == (full.effect, full.policy, full.scope), action


def test_every_case_is_complete() -> None:
    assert len(CASES) >= 6
    for case in CASES:
        assert case.policies and case.inputs and len(case.want) == len(case.inputs), case.name
        assert set(case.want_under) <= set(OPTION_SETS), case.name
