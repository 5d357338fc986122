"""Cerbos conformance: the engine cases, each under the options Cerbos's engine_test.go runs it with.

``engine/`` runs twice, with strict and with lenient scope search (Cerbos runs it in both
``TestCheck`` and ``TestCheckWithLenientScopeSearch``); ``engine_strict_scope_search/`` and
``engine_lenient_scope_search/`` under their mode; ``engine_schema_enforcement/{warn,reject}``
with that schema enforcement. All against ``store/``, with globals ``{environment: test}``.
"""

from __future__ import annotations

import functools

import pytest

from chamberlain import PDP
from chamberlain.engine.wire import parse_check_input
from tests.cel.conformance import case_params, data_dir, load_known_failures, record, require_data
from tests.engine.conformance import GLOBALS, EngineCase, engine_json, load_cases, normalise_want

_ROOT = data_dir() / "cerbos"
require_data(_ROOT / "engine", "Cerbos engine")
_KNOWN = load_known_failures(__import__("pathlib").Path(__file__).with_name("known_failures.txt"))

SUITES: dict[str, tuple[dict[str, object], list[EngineCase]]] = {
    "engine": ({}, load_cases(_ROOT / "engine", "engine")),
    "engine_lenient": (
        {"lenient_scope_search": True},
        load_cases(_ROOT / "engine", "engine_lenient")
        + load_cases(_ROOT / "engine_lenient_scope_search", "engine_lenient_scope_search"),
    ),
    "engine_strict_scope_search": (
        {},
        load_cases(_ROOT / "engine_strict_scope_search", "engine_strict_scope_search"),
    ),
    "engine_schema_enforcement": (
        {"schema_enforcement": "warn"},
        load_cases(_ROOT / "engine_schema_enforcement" / "warn", "engine_schema_enforcement/warn"),
    ),
    "engine_schema_enforcement_reject": (
        {"schema_enforcement": "reject"},
        load_cases(_ROOT / "engine_schema_enforcement" / "reject", "engine_schema_enforcement/reject"),
    ),
}


@functools.cache
def _pdp(suite: str) -> PDP:
    options = SUITES[suite][0]
    return PDP.from_directory(_ROOT / "store", globals=GLOBALS, **options)  # type: ignore[arg-type]


def _params():
    return [
        pytest.param(suite, *p.values, id=p.id, marks=p.marks)
        for suite, (_, cases) in SUITES.items()
        for p in case_params(cases, _KNOWN)
    ]


@pytest.mark.parametrize(("suite", "case"), _params())
def test_engine_case(suite: str, case: EngineCase, request: pytest.FixtureRequest) -> None:
    record(request, suite.removesuffix("_reject"), case.name)
    pdp = _pdp(suite)
    inputs = [parse_check_input(i) for i in case.inputs]
    outputs = pdp.engine.check(inputs)
    have = [engine_json(o) for o in outputs]
    want = [normalise_want(w) for w in case.want]
    assert have == want, case.description
    # The fast path (PDP.is_allowed: plans, generated walks, constant plans) decides alike.
    for inp, out in zip(inputs, outputs, strict=True):
        for action, full in out.actions.items():
            fast = pdp.engine.decide(inp.principal, inp.resource, action, inp.aux_data)
            assert (fast.effect, fast.policy, fast.scope) == (full.effect, full.policy, full.scope), action


def test_all_suites_loaded():
    assert len(SUITES["engine"][1]) >= 39
    assert all(cases for _, cases in SUITES.values())
