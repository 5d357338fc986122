"""Test suites and fixture files decoded strictly: every problem names its file, field and (when the
field is there) its line and column, with Cerbos's wording and order."""

from __future__ import annotations

import datetime as dt

import pytest

from chamberlain.policy import Issue
from chamberlain.policy.decode import field_path, read_single
from chamberlain.policy.suite import (
    AuxDataFixtures,
    PrincipalFixtures,
    ResourceFixtures,
    Suite,
)
from tests.policy.test_loader import errors_of

# A valid suite, for the engine tests too (against their document policy).
SUITE = """\
name: Documents
description: What users may do
principals:
  alice: {id: alice, roles: [user]}
resources:
  doc: {kind: document, id: d1}
tests:
  - name: View
    input: {principals: [alice], resources: [doc], actions: [view]}
    expected:
      - principal: alice
        resource: doc
        actions: {view: EFFECT_ALLOW}
        outputs: [{action: view, expected: [{src: resource.document.vdefault#view, val: viewed}]}]
"""


# Suites with several problems, to check the order of errors (against Cerbos too).
MISSING_FIELDS = "principals:\n  a: {id: a}\ntests:\n  - input: {principals: [a], resources: [r], actions: [x]}\n    expected: [{principal: a, resource: r}]\n"
PLACED_CONSTRAINTS = 'name: S\nprincipals:\n  a.b: {id: "", roles: [r, r]}\ntests:\n  - name: T\n    input: {actions: [view, ""]}\n    expected: [{actions: {view: EFFECT_DENY}}]\n'


def suite_issues(text: str, file: str = "s_test.yaml") -> list[Issue]:
    return read_single(Suite, file, text.encode(), "a test suite")[1]


def where(issues: list[Issue]) -> list[tuple[str, int, int, str]]:
    return [(i.file, i.line, i.column, i.message) for i in issues]


def test_a_valid_suite_decodes_into_the_typed_model():
    suite, issues = read_single(Suite, "s_test.yaml", SUITE.encode(), "a test suite")
    assert issues == []
    assert suite.name == "Documents" and suite.principals["alice"].roles == ("user",)
    table = suite.tests[0]
    assert table.input.actions == ("view",) and table.expected[0].actions == {"view": "EFFECT_ALLOW"}
    assert table.expected[0].outputs[0].expected[0].val == "viewed"


def test_an_unknown_field_is_a_parse_error_naming_file_line_and_field():
    issues = suite_issues(SUITE.replace("  - name: View\n", "  - name: View\n    expectd: []\n"))
    assert where(issues) == [("s_test.yaml", 9, 5, 'unknown field "expectd": did you mean "expected"?')]
    assert issues[0].kind == "parse error" and issues[0].path == "$.tests[0].expectd"


def test_a_wrong_type_is_a_parse_error():
    issues = suite_issues("name: S\ntests: everything\n")
    assert where(issues) == [("s_test.yaml", 2, 8, "expected sequence got String")]


def test_an_effect_that_is_not_an_effect_names_the_allowed_ones():
    issues = suite_issues(SUITE.replace("view: EFFECT_ALLOW", "view: EFFECT_MAYBE"))
    assert where(issues) == [
        ("s_test.yaml", 13, 25, 'invalid enum value "EFFECT_MAYBE": use one of EFFECT_ALLOW, EFFECT_DENY')
    ]


@pytest.mark.parametrize("effect", ["EFFECT_NO_MATCH", "EFFECT_UNSPECIFIED"])
def test_an_expectation_can_only_be_allow_or_deny(effect):
    issues = suite_issues(SUITE.replace("view: EFFECT_ALLOW", f"view: {effect}"))
    message = 'tests[0].expected[0].actions["view"]: must be one of [EFFECT_ALLOW, EFFECT_DENY]'
    assert where(issues) == [("s_test.yaml", 13, 25, message)]
    assert issues[0].kind == "validation error"


def test_missing_required_fields_have_no_position_and_come_in_field_order():
    assert where(suite_issues(MISSING_FIELDS)) == [
        ("s_test.yaml", 0, 0, "name: value is required"),
        ("s_test.yaml", 0, 0, "tests[0].name: value is required"),
        ("s_test.yaml", 0, 0, "tests[0].expected[0].actions: value is required"),
        ("s_test.yaml", 0, 0, 'principals["a"].roles: value is required'),
    ]


def test_constraints_on_present_fields_are_placed_and_sorted_by_position():
    assert [(i.line, i.column, i.message) for i in suite_issues(PLACED_CONSTRAINTS)] == [
        (3, 9, 'principals["a.b"].id: value is required'),
        (3, 17, 'principals["a.b"].roles: repeated value must contain unique items'),
        (6, 5, "tests[0].input: principals or principalGroups must be present"),
        (6, 5, "tests[0].input: resources or resourceGroups must be present"),
        (6, 29, "tests[0].input.actions[1]: must be at least 1 characters"),
        (7, 16, "tests[0].expected[0]: principal, principals, or principalGroups must be present"),
        (7, 16, "tests[0].expected[0]: resource, resources, or resourceGroups must be present"),
    ]


def test_principal_and_principals_together_are_rejected():
    issues = suite_issues(
        SUITE.replace("- principal: alice\n", "- principal: alice\n        principals: [alice]\n")
    )
    assert [i.message for i in issues] == [
        "tests[0].expected[0]: principal and principals may not both be present"
    ]


def test_an_invalid_now_is_reported_with_gos_reason():
    issues = suite_issues(SUITE + 'options:\n  now: "2022-13-01T00:00:00Z"\n')
    reason = 'parsing time "2022-13-01T00:00:00Z": month out of range'
    assert where(issues) == [
        ("s_test.yaml", 16, 8, f'invalid timestamp value "2022-13-01T00:00:00Z": {reason}')
    ]


def test_now_is_read_as_an_instant_in_utc():
    suite, issues = read_single(
        Suite, "s_test.yaml", (SUITE + "options: {now: 2022-08-02T17:00:00+02:00}\n").encode(), "a test suite"
    )
    assert issues == [] and suite.options.now == dt.datetime(2022, 8, 2, 15, tzinfo=dt.UTC)


def test_an_empty_file_is_an_empty_suite():
    assert where(suite_issues("# nothing yet\n")) == [
        ("s_test.yaml", 0, 0, "name: value is required"),
        ("s_test.yaml", 0, 0, "tests: value is required"),
    ]


def test_a_suite_file_holds_one_document():
    issues = suite_issues(SUITE + "---\n" + SUITE)
    assert [i.message for i in issues] == [
        "more than one YAML document detected: a test suite file holds a single document"
    ]


def test_a_suite_that_is_not_a_mapping():
    assert where(suite_issues("x\n")) == [
        (
            "s_test.yaml",
            1,
            1,
            "invalid document: contents are not valid YAML or JSON: a test suite is a mapping of fields",
        )
    ]


def test_a_principal_fixture_with_an_unknown_field():
    text = "principals:\n  john:\n    id: john\n    policyVursion: 20210210\n    roles: [employee]\n"
    _, issues = read_single(PrincipalFixtures, "testdata/principals.yaml", text.encode(), "a fixture")
    assert where(issues) == [
        ("testdata/principals.yaml", 4, 5, 'unknown field "policyVursion": did you mean "policyVersion"?')
    ]


def test_a_resource_fixture_missing_its_kind_names_it_as_cerbos_does():
    text = "resources:\n  john_leave_request:\n    id: XX125\n"
    _, issues = read_single(ResourceFixtures, "testdata/resources.yaml", text.encode(), "a fixture")
    assert where(issues) == [
        ("testdata/resources.yaml", 0, 0, 'resources["johnLeaveRequest"].kind: value is required')
    ]


def test_aux_data_fixtures():
    bad_field = "auxData:\n  myJWT:\n    jort: {iss: x}\n"
    _, issues = read_single(AuxDataFixtures, "testdata/auxdata.yaml", bad_field.encode(), "a fixture")
    assert where(issues) == [("testdata/auxdata.yaml", 3, 5, 'unknown field "jort": valid fields: jwt, jwts')]
    both = "auxData:\n  a: {jwt: {x: 1}, jwts: {k: {claims: {}}}}\n"
    _, issues = read_single(AuxDataFixtures, "testdata/auxdata.yaml", both.encode(), "a fixture")
    assert where(issues) == [
        ("testdata/auxdata.yaml", 2, 6, 'auxData["a"]: Only one of the jwt or jwts fields must be set')
    ]


def test_fixture_values_are_protobuf_values():
    text = (
        "principals:\n  a: {id: a, roles: [r], attr: {age: 42, tags: [x], nested: {ok: true}, none: null}}\n"
    )
    fixtures, issues = read_single(PrincipalFixtures, "p.yaml", text.encode(), "a fixture")
    assert issues == []
    assert fixtures.principals["a"].attr == {"age": 42.0, "tags": ["x"], "nested": {"ok": True}, "none": None}


@pytest.mark.parametrize(
    ("path", "printed"),
    [
        ('resources["john_leave_request"].kind', 'resources["johnLeaveRequest"].kind'),
        ("resource_policy.rules[0].effect", "resourcePolicy.rules[0].effect"),
        ('principals["HTTPServer"].roles', 'principals["httpServer"].roles'),
        ('principals["ABCdef_x"].roles', 'principals["abCdefX"].roles'),
        ('principals["x y-Z"].roles', 'principals["xYZ"].roles'),
        ('principals["a1B2"].roles', 'principals["a1B2"].roles'),
        ('tests[0].expected[0].actions["view:public"]', 'tests[0].expected[0].actions["view:public"]'),
    ],
)
def test_field_paths_are_printed_in_cerbos_camel_case(path, printed):
    # go-strcase v1.3.1's LowerCamelCase; the odd ones were checked against Cerbos 0.55.
    assert field_path(path) == printed


def test_policy_effects_use_cerbos_wording_too():
    text = "apiVersion: api.cerbos.dev/v1\nresourcePolicy:\n  resource: x\n  version: default\n  rules:\n    - actions: [view]\n      effect: EFFECT_NO_MATCH\n      roles: [user]\n"
    (issue,) = errors_of({"p.yaml": text})
    assert (issue.line, issue.column) == (7, 7)
    assert issue.message == "resourcePolicy.rules[0].effect: must be one of [EFFECT_ALLOW, EFFECT_DENY]"
