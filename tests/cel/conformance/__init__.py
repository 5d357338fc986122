"""Conformance runners: cel-spec's simple tests and Cerbos's ``cel_eval`` cases.

The data lives outside the repository (see ``../shared/conformance/README.md``); set
``CHAMBERLAIN_CONFORMANCE_DIR`` to point elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

_REPO = Path(__file__).resolve().parents[3]
KNOWN_FAILURES_FILE = Path(__file__).with_name("known_failures.txt")
#: The ``user_properties`` key under which a conformance test records (suite, case, note).
RECORD_KEY = "cel_conformance"


def data_dir() -> Path:
    """The conformance data directory (holding ``cel-spec/`` and ``cerbos/``)."""
    configured = os.environ.get("CHAMBERLAIN_CONFORMANCE_DIR")
    if configured:
        return Path(configured)
    # Next to the repository, or next to the folder of worktrees it is checked out in.
    candidates = [base / "shared" / "conformance" for base in (_REPO.parent, _REPO.parent.parent)]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def require_data(directory: Path, what: str) -> None:
    """Skip (or, under CI=true, fail) when a conformance data folder is missing."""
    if directory.is_dir():
        return
    message = f"{what} conformance data not found at {directory} (set CHAMBERLAIN_CONFORMANCE_DIR)"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


def load_known_failures(path: Path = KNOWN_FAILURES_FILE) -> dict[str, str]:
    """Case name -> reason, from lines ``suite/case/name  # reason`` (blank lines and ``#`` lines skipped)."""
    known: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, reason = line.partition("#")
        if name.strip():
            known[name.strip()] = reason.strip() or "known failure"
    return known


def case_params(cases: list[Any], known: dict[str, str]) -> list[Any]:
    """pytest params, id = case name; known failures are strict xfails (a fixed case fails loudly)."""
    return [
        pytest.param(
            case,
            id=case.name,
            marks=[pytest.mark.xfail(strict=True, reason=known[case.name])] if case.name in known else [],
        )
        for case in cases
    ]


def record(request: pytest.FixtureRequest, suite: str, case: str, note: str = "") -> None:
    """Tag the running test as a conformance case, for the session summary."""
    request.node.user_properties.append((RECORD_KEY, (suite, case, note)))


def not_applicable(request: pytest.FixtureRequest, suite: str, case: str, reason: str) -> None:
    """Record and skip a case that is out of scope."""
    record(request, suite, case, reason)
    pytest.skip(f"not applicable: {reason}")
