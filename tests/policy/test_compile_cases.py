"""Cerbos's compile test cases: expected errors with file, kind, line, column and path."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cel.conformance import case_params, load_known_failures, record
from tests.policy.compile_cases import all_cases, run_case

_KNOWN = load_known_failures(Path(__file__).with_name("known_failures.txt"))


@dataclass(frozen=True)
class CompileCase:
    name: str
    path: Path


_CASES = [CompileCase(f"compile/{p.stem}", p) for p in all_cases()]


@pytest.mark.parametrize("case", case_params(_CASES, _KNOWN))
def test_compile_case(case: CompileCase, request: pytest.FixtureRequest) -> None:
    record(request, "compile", case.name)
    outcome = run_case(case.path)
    assert outcome.passed, f"missing={outcome.missing} unexpected={outcome.unexpected}"


def test_every_case_loaded():
    assert len(_CASES) >= 30
