"""Session summary of every conformance runner (CEL and engine; see tests/cel/conformance/report.py)."""

from __future__ import annotations

import pytest

from tests.cel.conformance.report import Outcome, outcome_of, results_path, summary_lines, write_json

_outcomes: dict[str, Outcome] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    outcome = outcome_of(report)
    if outcome is not None:
        _outcomes[report.nodeid] = outcome


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if not _outcomes or hasattr(config, "workerinput"):  # xdist workers report to the controller
        return
    path = results_path(config)
    write_json(list(_outcomes.values()), path)
    terminalreporter.section("Conformance")
    for line in summary_lines(list(_outcomes.values())):
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"per-case results: {path}")
