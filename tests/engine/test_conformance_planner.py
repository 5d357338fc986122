"""Cerbos conformance: the query planner cases (``query_planner/suite``) against ``query_planner/policies``.

Each case is planned with :func:`chamberlain.engine.planner.plan_resources` under the options of
Cerbos's ``TestQueryPlan`` and compared as Cerbos compares it (operand lists as multisets, see
:mod:`tests.engine.planner_conformance`). Known failures (``known_failures_planner.txt``) are strict
xfails with the reason: the cases where Cerbos's planner is wrong and chamberlain is right.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from chamberlain import PDP
from chamberlain.engine.planner import PlanInput, plan_resources
from chamberlain.engine.wire import parse_aux_data, parse_principal
from tests.cel.conformance import case_params, data_dir, load_known_failures, record, require_data
from tests.engine.planner_conformance import AUX_DATA, GLOBALS, NOW, PlanCase, canonical, load_cases

_ROOT = data_dir() / "cerbos" / "query_planner"
require_data(_ROOT, "Cerbos query planner")
_KNOWN = load_known_failures(Path(__file__).with_name("known_failures_planner.txt"))
CASES = load_cases(_ROOT)


@functools.cache
def _pdp(lenient: bool) -> PDP:
    return PDP.from_directory(_ROOT / "policies", globals=GLOBALS, lenient_scope_search=lenient)


@pytest.mark.parametrize("case", case_params(CASES, _KNOWN))
def test_query_planner_case(case: PlanCase, request: pytest.FixtureRequest) -> None:
    record(request, "query_planner", case.name)
    resource = case.resource
    inp = PlanInput(
        parse_principal(case.principal),
        resource["kind"],
        tuple(case.actions),
        resource.get("attr") or {},
        resource.get("policyVersion", ""),
        resource.get("scope", ""),
        parse_aux_data(AUX_DATA),
    )
    plan = plan_resources(_pdp(case.lenient).engine, inp, NOW)
    assert not case.want_error
    assert canonical(plan.filter_json()) == canonical(case.want), plan.filter_debug


def test_all_cases_loaded():
    assert len(CASES) >= 200
    assert len({c.name for c in CASES}) == len(CASES)
