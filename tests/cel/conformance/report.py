"""Collects conformance outcomes from test reports and summarises them at the end of the session."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from tests.cel.conformance import RECORD_KEY

PASSED, FAILED, NOT_APPLICABLE = "passed", "failed", "not applicable"


@dataclass(frozen=True, slots=True)
class Outcome:
    suite: str
    case: str
    status: str  # PASSED | FAILED | NOT_APPLICABLE
    detail: str = ""  # failure message, known-failure reason or not-applicable reason
    known_failure: bool = False


def outcome_of(report: pytest.TestReport) -> Outcome | None:
    """The conformance outcome a call-phase report carries, if it is a conformance test."""
    if report.when != "call":
        return None
    recorded = dict(report.user_properties).get(RECORD_KEY)
    if recorded is None:
        return None
    suite, case, note = recorded
    if hasattr(report, "wasxfail"):  # listed in known_failures.txt and still failing
        return Outcome(suite, case, FAILED, report.wasxfail, known_failure=True)
    if report.skipped:
        return Outcome(suite, case, NOT_APPLICABLE, note)
    if report.failed and "XPASS(strict)" in str(report.longrepr):
        return Outcome(suite, case, PASSED, "passes but is listed in known_failures.txt")
    if report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        return Outcome(suite, case, FAILED, crash.message if crash else str(report.longrepr))
    return Outcome(suite, case, PASSED)


def summary_lines(outcomes: list[Outcome]) -> list[str]:
    """Per suite: ``conformance: <suite> P passed, F failed, N not applicable of T (x% of applicable)``."""
    lines = []
    for suite in sorted({o.suite for o in outcomes}):
        mine = [o for o in outcomes if o.suite == suite]
        counts = Counter(o.status for o in mine)
        known = sum(o.known_failure for o in mine)
        applicable = counts[PASSED] + counts[FAILED]
        share = 100 * counts[PASSED] / applicable if applicable else 100.0
        known_note = f" ({known} known)" if known else ""
        lines.append(
            f"conformance: {suite} {counts[PASSED]} passed, {counts[FAILED]} failed{known_note}, "
            f"{counts[NOT_APPLICABLE]} not applicable of {len(mine)} ({share:.1f}% of applicable)"
        )
    return lines


def write_json(outcomes: list[Outcome], path: Path) -> None:
    """Per-case outcomes, sorted by suite and case name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [asdict(o) for o in sorted(outcomes, key=lambda o: (o.suite, o.case))]
    path.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def results_path(config: pytest.Config) -> Path:
    """Where the per-case JSON goes: pytest's cache directory (ignored by git), even with the cache off."""
    cache = getattr(config, "cache", None)
    if cache is not None:
        return cache.mkdir("conformance") / "results.json"
    return config.rootpath / ".pytest_cache" / "conformance" / "results.json"
