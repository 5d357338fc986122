"""Policies whose conditions share text or shape (chamberlain caches parses by text and by shape, and
checks and programs by text): each policy still decides with its own literals, variables and
constants, and each error is reported in its own file at its own line."""

from __future__ import annotations

import pytest

from chamberlain import PDP, Principal, Resource
from chamberlain.policy import PolicyError, load_documents

POLICY = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: {kind}
  version: default
{extra}  rules:
    - actions: ["view"]
      effect: EFFECT_ALLOW
      roles: ["user"]
      condition:
        match:
          expr: {expr}
"""


def policy(kind: str, expr: str, extra: str = "", lead: str = "") -> str:
    return lead + POLICY.format(kind=kind, expr=expr, extra=extra)


def allowed(pdp: PDP, kind: str, **attr) -> bool:
    return pdp.is_allowed(Principal("alice", roles={"user"}), Resource(kind, "1", attr=attr), "view")


def test_same_shaped_conditions_keep_their_own_literals():
    pdp = PDP(
        load_documents(
            {
                "a.yaml": policy("a", 'R.attr.status == "DRAFT_1"'),
                "b.yaml": policy("b", 'R.attr.status  ==  "a longer literal, \\t escaped"'),
            }
        )
    )
    assert allowed(pdp, "a", status="DRAFT_1") and not allowed(pdp, "a", status="DRAFT_2")
    assert allowed(pdp, "b", status="a longer literal, \t escaped")
    assert not allowed(pdp, "b", status="DRAFT_1")


@pytest.mark.parametrize("section", ["variables", "constants"])
def test_the_same_condition_text_reads_each_policys_own_definitions(section):
    root = "V" if section == "variables" else "C"
    expr = f"R.attr.n < {root}.limit"

    def defining(limit: int) -> str:
        return f"  {section}:\n    local:\n      limit: {limit}\n"

    pdp = PDP(
        load_documents({"a.yaml": policy("a", expr, defining(5)), "b.yaml": policy("b", expr, defining(50))})
    )
    assert not allowed(pdp, "a", n=10) and allowed(pdp, "b", n=10)
    assert allowed(pdp, "a", n=1) and not allowed(pdp, "b", n=60)


def test_an_error_in_one_of_two_same_shaped_conditions_is_reported_in_its_own_file():
    with pytest.raises(PolicyError) as info:
        load_documents(
            {
                "a.yaml": policy("a", 'R.attr.status == "fine"'),
                "b.yaml": policy("b", 'R.attr.status == "bad \\q"', lead="\n\n"),
            }
        )
    [issue] = info.value.errors
    assert (issue.file, issue.line, issue.column) == ("b.yaml", 13, 11)
    assert "invalid escape sequence '\\q'" in issue.message


def test_the_same_bad_text_in_two_files_is_reported_in_each_at_its_own_line():
    bad = 'R.attr.status == "bad \\q"'
    with pytest.raises(PolicyError) as info:
        load_documents({"a.yaml": policy("a", bad), "b.yaml": policy("b", bad, lead="\n\n\n")})
    found = sorted((i.file, i.line, i.column) for i in info.value.errors)
    assert found == [("a.yaml", 11, 11), ("b.yaml", 14, 11)]
    assert all("invalid escape sequence" in i.message for i in info.value.errors)


def test_a_literal_that_makes_its_own_error_is_reported_though_its_shape_compiled_elsewhere():
    with pytest.raises(PolicyError) as info:
        load_documents(
            {
                "a.yaml": policy("a", 'R.attr.status.matches("^a+$")'),
                "b.yaml": policy("b", 'R.attr.status.matches("[")'),
                "c.yaml": policy("c", 'R.attr.status.matches("^c+$")'),
            }
        )
    [issue] = info.value.errors
    assert (issue.file, issue.line, issue.column) == ("b.yaml", 11, 11)
    assert "invalid matches argument" in issue.message
