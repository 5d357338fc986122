"""CEL optional values."""

from __future__ import annotations

import pytest

from chamberlain.cel import compile
from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.lib import optional as opt
from chamberlain.cel.lib.time import TIMESTAMP_MIN_NANOS
from chamberlain.cel.values import OPTIONAL_NONE, Duration, Optional, Timestamp, UInt


def test_constructors():
    assert opt.optional_of(1) == Optional(1)
    assert opt.optional_of(None).has_value()
    assert opt.optional_none() is OPTIONAL_NONE


@pytest.mark.parametrize(
    "value",
    [None, False, 0, UInt(0), 0.0, -0.0, "", b"", [], (), {}, Duration(0), Timestamp(TIMESTAMP_MIN_NANOS)],
)
def test_of_non_zero_value_of_zero_values(value):
    assert opt.optional_of_non_zero_value(value) is OPTIONAL_NONE


@pytest.mark.parametrize(
    "value",
    [
        True,
        1,
        0.5,
        float("nan"),
        "a",
        b"a",
        [0],
        {"": 0},
        Duration(1),
        Timestamp(0),  # the Unix epoch is not Go's zero time
        OPTIONAL_NONE,
    ],
)
def test_of_non_zero_value_of_other_values(value):
    assert opt.optional_of_non_zero_value(value).has_value()


def test_members():
    assert opt.has_value(Optional(1)) is True
    assert opt.has_value(OPTIONAL_NONE) is False
    assert opt.value(Optional(2)) == 2
    with pytest.raises(EvaluationError):
        opt.value(OPTIONAL_NONE)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("optional.of(1).or(optional.of(2))", Optional(1)),
        ("optional.none().or(optional.of(2))", Optional(2)),
        ("optional.none().or(optional.none()).or(optional.none())", OPTIONAL_NONE),
        ("optional.none().orValue(42)", 42),
        ("optional.of('x').orValue(42)", "x"),
        ("optional.of('x').orValue(1 / 0)", "x"),  # the alternative is evaluated only when needed
        ("optional.of(1).or(optional.of(1 / 0))", Optional(1)),
        ("optional.none().or(1)", 1),  # cel-go returns a plain alternative as it is
    ],
)
def test_or_and_or_value(expression, expected):
    assert compile(expression).evaluate({}) == expected


@pytest.mark.parametrize("expression", ["(1).or(optional.of(1))", "'a'.orValue(1)"])
def test_or_type_errors(expression):
    with pytest.raises(EvaluationError, match="no such overload"):
        compile(expression).evaluate({})


def test_unwrap():
    assert opt.optional_unwrap([Optional(1), OPTIONAL_NONE, Optional(None)]) == [1, None]
    assert opt.unwrap_opt([]) == []
    with pytest.raises(EvaluationError, match=r"^no such overload: unwrapOpt\(list\)$"):
        opt.unwrap_opt([1])


def test_type_errors():
    for call in (
        lambda: opt.has_value(1),
        lambda: opt.value([1]),
        lambda: opt.optional_unwrap("a"),
    ):
        with pytest.raises(EvaluationError, match="no such overload"):
            call()


@pytest.mark.parametrize(
    "expr",
    [
        "optional.none().or(optional.none()).orValue(42) == 42",
        "optional.ofNonZeroValue(42).or(optional.of(20)).value() == 42",
        "!optional.ofNonZeroValue(null).hasValue() && !optional.ofNonZeroValue('').hasValue()",
        "optional.of(1).hasValue() && optional.of(1).value() == 1",
        "optional.unwrap([optional.of(1), optional.none()]) == [1]",
        "[optional.of(1), optional.none()].unwrapOpt() == [1]",
    ],
)
def test_compiled(expr):
    from chamberlain.cel import compile

    assert compile(expr).evaluate({}) is True
