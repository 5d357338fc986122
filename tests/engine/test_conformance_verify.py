"""Cerbos conformance: policy test-suite runs (``verify/cases``), against ``store/`` as Cerbos's
``verify_test.go`` runs them (with the case's test filter, if any)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from chamberlain import PDP
from chamberlain.engine.testsuite import SuiteFilter, run_all
from tests.cel.conformance import case_params, data_dir, load_known_failures, record, require_data
from tests.engine.verify_cases import VerifyCase, error_mismatches, essentials, load_cases

SUITE = "verify"
_ROOT = data_dir() / "cerbos"
require_data(_ROOT / "verify" / "cases", "Cerbos verify")
CASES = load_cases(_ROOT / "verify" / "cases")
_KNOWN = load_known_failures(Path(__file__).with_name("known_failures.txt"))


@functools.cache
def _pdp() -> PDP:
    return PDP.from_directory(_ROOT / "store")


def _filter(config: dict) -> SuiteFilter:
    """Cerbos's ``VerifyTestCase.Config`` as a suite filter."""
    return SuiteFilter(
        test_name_pattern=config.get("includedTestNamesRegexp", ""),
        excluded_resource_policies=frozenset(config.get("excludedResourcePolicyFqns") or ()),
        excluded_principal_policies=frozenset(config.get("excludedPrincipalPolicyFqns") or ()),
    )


@pytest.mark.parametrize("case", case_params(CASES, _KNOWN))
def test_verify_case(case: VerifyCase, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    record(request, SUITE, case.name)
    for name, text in case.files.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    have = run_all(_pdp().engine, tmp_path, _filter(case.config))
    if case.want_error:
        assert have["summary"]["overallResult"] == "RESULT_ERRORED", case.description
        return
    assert case.golden is not None
    assert essentials(have) == essentials(case.golden), case.description
    assert error_mismatches(have, case.golden) == [], case.description
