"""Differential test: the real Cerbos (``cerbos compile``) and chamberlain run the same valid and
invalid test suites alike: the same results, and errors saying what Cerbos says (chamberlain may
append a hint after a ``:``, as the verify conformance test allows)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chamberlain import PDP
from chamberlain.engine.testsuite import run_all
from tests.engine.test_testsuite import FIXTURE_CASES, INCONSISTENT_CASES, POLICY, SUITE
from tests.engine.verify_cases import error_mismatches, essentials
from tests.policy.test_suite import MISSING_FIELDS, PLACED_CONSTRAINTS
from tests.support.cerbos_server import require_cerbos, run_compile

_REMIND = SUITE.replace("actions: [view]}", "actions: [remind]}").replace(
    "{view: EFFECT_ALLOW}", "{remind: EFFECT_ALLOW}"
)
_REMIND = _REMIND[: _REMIND.index("        outputs")]
_TABLE = SUITE[SUITE.index("  - name: View") :]

# case -> its files (a suite, and maybe fixtures), each case in a folder of its own
CASES: dict[str, dict[str, str]] = {
    "valid": {"s_test.yaml": SUITE},
    "unknown_field": {"s_test.yaml": SUITE + "colour: blue\n"},
    "no_match_effect": {"s_test.yaml": SUITE.replace("{view: EFFECT_ALLOW}", "{view: EFFECT_NO_MATCH}")},
    "unknown_effect": {"s_test.yaml": SUITE.replace("{view: EFFECT_ALLOW}", "{view: EFFECT_MAYBE}")},
    "wrong_type": {"s_test.yaml": "name: S\ntests: everything\n"},
    "block_mapping_for_list": {"s_test.yaml": "name: S\ntests:\n  a: 1\n  b: 2\n"},
    "literal_for_list": {"s_test.yaml": "name: S\ntests: |\n  text\n"},
    "string_for_bool": {"s_test.yaml": "name: S\nskip: maybe\ntests: []\n"},
    "string_for_map": {"s_test.yaml": "name: S\nprincipals: nobody\ntests: []\n"},
    "list_for_object": {"s_test.yaml": "name: S\noptions: [1]\ntests: []\n"},
    "list_for_string": {"s_test.yaml": "name: [1]\ntests: []\n"},
    "number_for_now": {"s_test.yaml": "name: S\noptions: {now: 5}\ntests: []\n"},
    "missing_fields": {"s_test.yaml": MISSING_FIELDS},
    "placed_constraints": {"s_test.yaml": PLACED_CONSTRAINTS},
    "bad_now": {"s_test.yaml": SUITE + 'options:\n  now: "2022-02-30T10:00:00Z"\n'},
    "two_documents": {"s_test.yaml": SUITE + "---\n" + SUITE},
    "not_a_mapping": {"s_test.yaml": "x\n"},
    "merged_expectations": {
        "s_test.yaml": SUITE + "      - {principal: alice, resource: doc, actions: {view: EFFECT_ALLOW}}\n"
    },
    "conflicting_expectations": {
        "s_test.yaml": SUITE + "      - {principal: alice, resource: doc, actions: {view: EFFECT_DENY}}\n"
    },
    "duplicate_names": {"s_test.yaml": SUITE + _TABLE},
    "unset_now": {"s_test.yaml": _REMIND},
    "given_now": {"s_test.yaml": _REMIND + "options: {now: '2024-01-01T00:00:00Z'}\n"},
    **{
        f"fixture_{i}": {"s_test.yaml": SUITE, f"testdata/{file}": text}
        for i, (file, text, _) in enumerate(FIXTURE_CASES)
    },
    **{
        f"inconsistent_{i}": {"s_test.yaml": SUITE.replace(*change)}
        for i, (change, _) in enumerate(INCONSISTENT_CASES)
    },
}


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    """Cerbos's and chamberlain's ``TestResults`` for a directory holding every case."""
    cerbos = require_cerbos()
    root = tmp_path_factory.mktemp("suites")
    (root / "document.yaml").write_text(POLICY)
    for case, files in CASES.items():
        for name, text in files.items():
            (root / case / name).parent.mkdir(parents=True, exist_ok=True)
            (root / case / name).write_text(text)
    compiled = run_compile(cerbos, root, "--output=json")
    theirs = json.loads(compiled.stdout)
    assert "suites" in theirs, compiled.stdout + compiled.stderr
    return theirs, run_all(PDP.from_directory(root).engine, root)


def _suite_of(results: dict[str, Any], case: str) -> dict[str, Any]:
    (suite,) = [s for s in results["suites"] if s["file"].startswith(f"{case}/")]
    return {"suites": [suite]}


@pytest.mark.parametrize("case", CASES)
def test_chamberlain_runs_the_suite_as_cerbos_does(both, case):
    theirs, ours = (_suite_of(results, case) for results in both)
    assert essentials(ours) == essentials(theirs)
    assert error_mismatches(ours, theirs) == []
