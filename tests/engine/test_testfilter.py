"""``--test-filter`` parsing, as Cerbos's ``verify.ParseFilterConfig`` reads a filter."""

from __future__ import annotations

import pytest

from chamberlain.engine.testfilter import TestFilterError, parse_test_filters


def test_dimensions_and_globs_are_read_and_merged():
    got = parse_test_filters(
        ["suite=MySuite;test=album*;principal=alice,bob ; resource=my_album", "principal=carol;action=view"]
    )
    assert got == {
        "suite": ("MySuite",),
        "test": ("album*",),
        "principal": ("alice", "bob", "carol"),
        "resource": ("my_album",),
        "action": ("view",),
    }


def test_no_filter_is_no_restriction():
    assert parse_test_filters([]) == {}
    assert parse_test_filters(["", "  "]) == {}


def test_dimension_names_ignore_case_and_blanks():
    assert parse_test_filters([" Principal = alice , ;; "]) == {"principal": ("alice",)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour=red", "unknown filter dimension 'colour': valid dimensions are suite, test, principal"),
        ("principal", "invalid filter dimension format 'principal': expected 'dimension=glob1,glob2'"),
        ("principal=", "at least one glob pattern in at least one dimension"),
        (";", "at least one glob pattern"),
    ],
)
def test_a_bad_filter_names_the_part(text, message):
    with pytest.raises(TestFilterError, match=message):
        parse_test_filters([text])


def test_the_number_of_globs_is_bounded():
    with pytest.raises(TestFilterError, match="more than 256 globs"):
        parse_test_filters(["action=" + ",".join(f"a{i}" for i in range(300))])
