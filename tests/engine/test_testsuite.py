"""The test-suite runner: a suite or fixture file that does not decode errors the whole suite, with
Cerbos's message; tests are built and checked as Cerbos's ``runTestSuite`` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chamberlain import PDP
from chamberlain.engine.testsuite import UNSET_NOW, SuiteFilter, find_suites, run_all
from tests.policy.test_suite import SUITE

POLICY = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: document
  version: default
  rules:
    - name: view
      actions: [view]
      effect: EFFECT_ALLOW
      roles: [user]
      output:
        when:
          ruleActivated: '"viewed"'
    - actions: [remind]
      effect: EFFECT_ALLOW
      roles: [user]
      condition:
        match:
          expr: now() > timestamp("2020-01-01T00:00:00Z")
"""


def run(tmp_path: Path, files: dict[str, str], suite_filter: SuiteFilter | None = None) -> dict[str, Any]:
    (tmp_path / "document.yaml").write_text(POLICY)
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return run_all(PDP.from_directory(tmp_path).engine, tmp_path, suite_filter)


def only_suite(results: dict[str, Any]) -> dict[str, Any]:
    (suite,) = results["suites"]
    return suite


def details(suite: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{c['name']}/{p['name']}/{r['name']}/{a['name']}": a["details"]
        for c in suite["testCases"]
        for p in c["principals"]
        for r in p["resources"]
        for a in r["actions"]
    }


def test_a_valid_suite_passes(tmp_path):
    suite = only_suite(run(tmp_path, {"document_test.yaml": SUITE}))
    assert suite["summary"] == {
        "overallResult": "RESULT_PASSED",
        "testsCount": 1,
        "resultCounts": [{"result": "RESULT_PASSED", "count": 1}],
    }
    assert suite["description"] == "What users may do"


def test_an_invalid_suite_errors_as_a_whole_with_cerbos_message(tmp_path):
    text = (
        SUITE.replace("actions: {view: EFFECT_ALLOW}", "actions: {view: EFFECT_NO_MATCH}") + "colour: blue\n"
    )
    results = run(tmp_path, {"document_test.yaml": text})
    assert only_suite(results) == {
        "file": "document_test.yaml",
        "name": "Unknown",
        "summary": {"overallResult": "RESULT_ERRORED"},
        "error": 'failed to load test suite:\n15:1 unknown field "colour": valid fields: $schema, auxData, description, name, options, principalGroups, principals, resourceGroups, resources, skip, skipReason, tests',
    }
    assert results["summary"] == {"overallResult": "RESULT_ERRORED"}


def test_an_invalid_expected_effect_is_a_validation_error(tmp_path):
    text = SUITE.replace("actions: {view: EFFECT_ALLOW}", "actions: {view: EFFECT_NO_MATCH}")
    error = only_suite(run(tmp_path, {"document_test.yaml": text}))["error"]
    assert (
        error
        == 'failed to load test suite:\n13:25 tests[0].expected[0].actions["view"]: must be one of [EFFECT_ALLOW, EFFECT_DENY]'
    )


# testdata file, its text, the suite's error
FIXTURE_CASES = [
    (
        "principals.yaml",
        "principals:\n  bob: {id: bob, roles: [user], colour: red}\n",
        'failed to load principals:\n2:33 unknown field "colour": valid fields: attr, id, policyVersion, roles, scope',
    ),
    (
        "resources.yml",
        "resources:\n  memo: {id: m1}\n",
        'failed to load resources:\nresources["memo"].kind: value is required',
    ),
    (
        "auxData.json",
        '{"auxData": {"token": {"jwt": {"sub": 1}, "jwts": {"a": {}}}}}',
        'failed to load aux data:\n1:23 auxData["token"]: Only one of the jwt or jwts fields must be set',
    ),
    (
        "principals.yaml",
        "principals:\n  bob: {id: bob, roles: [user]}\nprincipalGroups:\n  crew: {principals: [bob, eve]}\n",
        'failed to load principals: missing fixture "eve" referenced in group "crew"',
    ),
]


@pytest.mark.parametrize(("file", "text", "error"), FIXTURE_CASES)
def test_an_invalid_fixture_file_errors_every_suite_next_to_it(tmp_path, file, text, error):
    suite = only_suite(run(tmp_path, {"sub/document_test.yaml": SUITE, f"sub/testdata/{file}": text}))
    assert suite["summary"] == {"overallResult": "RESULT_ERRORED"} and "testCases" not in suite
    assert suite["name"] == "Documents" and suite["description"] == "What users may do"
    assert suite["error"] == f"failed to load test fixtures from sub/testdata: {error}"


def test_fixtures_come_from_testdata_and_the_suite_wins(tmp_path):
    principals = "principals:\n  alice: {id: alice, roles: [guest]}\n  bob: {id: bob, roles: [user]}\n"
    text = SUITE.replace("principals: [alice], resources", "principals: [alice, bob], resources")
    text = text.replace("      - principal: alice\n", "      - principals: [alice, bob]\n")
    suite = only_suite(run(tmp_path, {"document_test.yaml": text, "testdata/principals.yaml": principals}))
    assert suite["summary"]["overallResult"] == "RESULT_PASSED", suite
    assert list(details(suite)) == ["View/alice/doc/view", "View/bob/doc/view"]


# a change to SUITE, the error of its table
INCONSISTENT_CASES = [
    (("resources: [doc]", "resources: [doc, memo]"), 'resource "memo" not found'),
    (
        ("resources: [doc], actions: [view]", "resources: [doc], actions: [view], auxData: token"),
        'auxData "token" not found',
    ),
    (
        ("principals: [alice], resources", "principalGroups: [crew], resources"),
        'principal group "crew" not found',
    ),
    (
        ("actions: {view: EFFECT_ALLOW}", "actions: {view: EFFECT_ALLOW, edit: EFFECT_DENY}"),
        "found expectations for actions that do not exist in the input actions list: [edit]",
    ),
    (
        ("[{action: view,", "[{action: edit,"),
        "found output expectations for actions that are not in the input actions list: [edit]",
    ),
    (
        ("resource: doc\n", "resource: memo\n"),
        'found an expectation for principal "alice" and resource "memo", but at least one of these is not present in input',
    ),
]


@pytest.mark.parametrize(("change", "error"), INCONSISTENT_CASES)
def test_an_inconsistent_test_errors_the_suite(tmp_path, change, error):
    suite = only_suite(run(tmp_path, {"document_test.yaml": SUITE.replace(*change)}))
    assert suite["error"] == f'Failed to load the test suite: invalid test "View": {error}'


def test_expectations_for_the_same_pair_are_merged(tmp_path):
    extra = "      - {principal: alice, resource: doc, actions: {view: EFFECT_ALLOW}}\n"
    suite = only_suite(run(tmp_path, {"document_test.yaml": SUITE + extra}))
    assert suite["summary"]["overallResult"] == "RESULT_PASSED"
    conflicting = extra.replace("EFFECT_ALLOW", "EFFECT_DENY")
    suite = only_suite(run(tmp_path, {"document_test.yaml": SUITE + conflicting}))
    assert suite["error"].endswith(
        'found inconsistent expectations for principal "alice" performing action "view" on resource "doc"'
    )


def test_duplicate_test_names(tmp_path):
    table = SUITE[SUITE.index("  - name: View") :]
    suite = only_suite(run(tmp_path, {"document_test.yaml": SUITE + table}))
    assert suite["error"] == "Invalid test suite: another test named View already exists"


def test_a_time_condition_without_now_errors_its_test(tmp_path):
    remind = SUITE.replace("actions: [view]}", "actions: [remind]}").replace(
        "actions: {view: EFFECT_ALLOW}", "actions: {remind: EFFECT_ALLOW}"
    )
    remind = remind[: remind.index("        outputs")]
    suite = only_suite(run(tmp_path, {"document_test.yaml": remind}))
    assert details(suite) == {"View/alice/doc/remind": {"result": "RESULT_ERRORED", "error": UNSET_NOW}}
    with_now = remind + "options: {now: '2024-01-01T00:00:00Z'}\n"
    suite = only_suite(run(tmp_path, {"document_test.yaml": with_now}))
    assert details(suite)["View/alice/doc/remind"]["result"] == "RESULT_PASSED"


def test_a_test_that_never_reads_the_time_needs_no_now(tmp_path):
    assert (
        only_suite(run(tmp_path, {"document_test.yaml": SUITE}))["summary"]["overallResult"]
        == "RESULT_PASSED"
    )


def test_filters_skip_tests_saying_why(tmp_path):
    by_name = SuiteFilter(test_name_pattern="Edit")
    suite = only_suite(run(tmp_path, {"document_test.yaml": SUITE}, by_name))
    assert details(suite)["View/alice/doc/view"] == {
        "result": "RESULT_SKIPPED",
        "skipReason": "Test name did not match the provided pattern",
    }
    by_policy = SuiteFilter(excluded_resource_policies=frozenset({"cerbos.resource.document.vdefault"}))
    suite = only_suite(run(tmp_path, {"document_test.yaml": SUITE}, by_policy))
    assert (
        details(suite)["View/alice/doc/view"]["skipReason"]
        == "Resource matched a policy that was excluded from the bundle"
    )


def test_suites_in_testdata_are_not_run(tmp_path):
    (tmp_path / "testdata").mkdir()
    (tmp_path / "testdata" / "stray_test.yaml").write_text(SUITE)
    (tmp_path / "Upper_TEST.YML").write_text(SUITE)
    assert [p.name for p in find_suites(tmp_path)] == ["Upper_TEST.YML"]
