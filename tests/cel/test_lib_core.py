"""The standard library: conversions, type, dyn, size and string predicates (cel-spec conformance)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from chamberlain.cel import compile
from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import REGISTRY
from chamberlain.cel.lib import core
from chamberlain.cel.lib.core import format_double, parse_go_float
from chamberlain.cel.values import (
    BOOL,
    DOUBLE,
    INT,
    LIST,
    MAP,
    NULL_TYPE,
    STRING,
    TYPE,
    UINT,
    Timestamp,
    UInt,
)


def call(name: str, *args: Any, member: bool = False) -> Any:
    """Call a registered function as the compiler would."""
    arity = len(args) - 1 if member else len(args)
    return REGISTRY[name].lookup(member, arity).fn(*args)


def ts(text: str) -> Timestamp:
    return call("timestamp", text)


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        (42, 42),
        (UInt(42), 42),
        (UInt(2**63 - 1), 2**63 - 1),
        (-123.456, -123),
        (1.9, 1),
        (-7.9, -7),
        (11.5, 11),
        (-3.5, -3),
        (float(2**55), 2**55),
        ("987", 987),
        ("-987", -987),
        ("+5", 5),
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775808", -(2**63)),
    ],
)
def test_int_conversions(arg: Any, expected: int) -> None:
    result = call("int", arg)
    assert result == expected and type(result) is int


def test_int_of_timestamp_and_duration() -> None:
    assert call("int", ts("2004-09-16T23:59:59Z")) == 1095379199
    assert call("int", ts("2009-02-13T23:31:30Z")) == 1234567890
    assert call("int", ts("1969-12-31T23:59:59.5Z")) == -1  # rounds down like Go's Unix()
    assert call("int", call("duration", "1s")) == 1_000_000_000


@pytest.mark.parametrize(
    "arg",
    [
        UInt(2**64 - 1),
        9223372036854775807.0,
        -9223372036854775808.0,
        1e99,
        math.inf,
        math.nan,
        "9223372036854775808",
        "1_000",
        " 1",
        "1.0",
        "",
        "٣",  # non-ASCII digit
    ],
)
def test_int_errors(arg: Any) -> None:
    with pytest.raises(EvaluationError):
        call("int", arg)


def test_int_no_overload() -> None:
    with pytest.raises(EvaluationError, match="no such overload"):
        call("int", True)


@pytest.mark.parametrize(
    ("arg", "expected"),
    [(1729, 1729), (2**63 - 1, 2**63 - 1), (3.14159265, 3), (25.5, 25), (float(2**55), 2**55), ("300", 300)],
)
def test_uint_conversions(arg: Any, expected: int) -> None:
    result = call("uint", arg)
    assert result == expected and type(result) is UInt


@pytest.mark.parametrize(
    "arg", [-1, 6.022e23, -0.5 - 1, float(2**64), math.nan, "-1", "+1", "18446744073709551616"]
)
def test_uint_errors(arg: Any) -> None:
    with pytest.raises(EvaluationError):
        call("uint", arg)


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        (0, 0.0),
        (-1000000000000000, -1e15),
        (9223372036854775807, 9.223372036854775807e18),
        (UInt(18446744073709551615), 1.8446744073709551615e19),
        ("0", 0.0),
        ("-0.0", -0.0),
        ("123.456", 123.456),
        ("6.02214e23", 6.02214e23),
        ("-84.32e7", -8.432e8),
        ("-5.43e-21", -5.43e-21),
        (".5", 0.5),
        ("5.", 5.0),
        ("Infinity", math.inf),
        ("-inf", -math.inf),
        ("+Inf", math.inf),
        ("0x1p-2", 0.25),
        # Go's ParseFloat: underscores between digits (or after a base prefix), hex mantissas.
        ("1_000", 1000.0),
        ("1_0.5", 10.5),
        ("0x1_0p6", 1024.0),
        ("0x_1p0", 1.0),
        ("1e5_0", 1e50),
        ("0X1.8P1", 3.0),
        ("1e-400", 0.0),  # underflow is zero, overflow an error
        (5.5, 5.5),
    ],
)
def test_double_conversions(arg: Any, expected: float) -> None:
    result = call("double", arg)
    assert result == expected and type(result) is float
    assert math.copysign(1, result) == math.copysign(1, expected)


def test_double_nan() -> None:
    assert math.isnan(call("double", "NaN"))
    assert math.isnan(call("double", "nan"))


@pytest.mark.parametrize(
    "text",
    [
        "1e400",
        "abc",
        "_1000",
        "1000_",
        "1__0",
        "1_.5",
        "1_e5",
        "1e_5",
        "0x1_p0",
        "0x1p_0",
        " 1.0",
        "+nan",
        "-NaN",
        "infin",
        "",
        "1e",
        "0x1.8",
        "0x10",
        "0xp1",
        "0b101",
        "\uff11",
        "0x1p1024",
    ],
)
def test_double_errors(text: str) -> None:
    with pytest.raises(EvaluationError):
        call("double", text)
    assert parse_go_float(text) is None


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        (123, "123"),
        (-456, "-456"),
        (UInt(9876), "9876"),
        (123.456, "123.456"),
        (-4.5e-3, "-0.0045"),
        (1e6, "1e+06"),
        (100000.0, "100000"),
        (1e100, "1e+100"),
        (1e-5, "1e-05"),
        (0.0001, "0.0001"),
        (-0.0, "-0"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
        (b"abc", "abc"),
        (b"\xc3\xbf", "ÿ"),
        (True, "true"),
        (False, "false"),
        ("hello", "hello"),
    ],
)
def test_string_conversions(arg: Any, expected: str) -> None:
    assert call("string", arg) == expected


def test_string_of_time_values() -> None:
    assert call("string", ts("2009-02-13T23:31:30Z")) == "2009-02-13T23:31:30Z"
    assert call("string", ts("2009-02-13T23:31:30.120Z")) == "2009-02-13T23:31:30.12Z"
    assert call("string", ts("9999-12-31T23:59:59.999999999Z")) == "9999-12-31T23:59:59.999999999Z"
    assert call("string", ts("2009-02-13T23:31:30.000000001+05:30")) == "2009-02-13T23:31:30.000000001+05:30"
    assert call("string", call("duration", "1000000s")) == "1000000s"
    assert call("string", call("duration", "1.5s")) == "1.5s"
    assert call("string", call("duration", "-1h1us")) == "-3600.000001s"


def test_string_errors() -> None:
    with pytest.raises(EvaluationError, match="invalid UTF-8"):
        call("string", b"\x00\xff")
    with pytest.raises(EvaluationError, match="no such overload"):
        call("string", None)


def test_format_double_matches_go_g() -> None:
    assert format_double(123456789.0) == "1.23456789e+08"
    assert format_double(1.7976931348623157e308) == "1.7976931348623157e+308"
    assert format_double(5e-324) == "5e-324"


def test_bytes_conversions() -> None:
    assert call("bytes", "") == b""
    assert call("bytes", "ÿ") == b"\xc3\xbf"
    assert call("bytes", b"abc") == b"abc"
    with pytest.raises(EvaluationError, match="no such overload"):
        call("bytes", 1)


@pytest.mark.parametrize("text", ["1", "t", "T", "true", "TRUE", "True"])
def test_bool_true_strings(text: str) -> None:
    assert call("bool", text) is True


@pytest.mark.parametrize("text", ["0", "f", "F", "false", "FALSE", "False"])
def test_bool_false_strings(text: str) -> None:
    assert call("bool", text) is False


@pytest.mark.parametrize("arg", ["TrUe", "FaLsE", "yes", "", 1])
def test_bool_errors(arg: Any) -> None:
    with pytest.raises(EvaluationError):
        call("bool", arg)


def test_type_and_dyn() -> None:
    assert call("type", True) is BOOL
    assert call("type", 0) is INT
    assert call("type", UInt(64)) is UINT
    assert call("type", 3.14) is DOUBLE
    assert call("type", None) is NULL_TYPE
    assert call("type", "foo") is STRING
    assert call("type", [1, "one"]) is LIST
    assert call("type", {4: 16}) is MAP
    assert call("type", INT) is TYPE
    assert call("type", call("type", 7)) is TYPE
    assert call("dyn", [1, "one"]) == [1, "one"]


def test_size() -> None:
    assert call("size", "") == 0
    assert call("size", "πέντε") == 5
    assert call("size", "\U0001f431") == 1
    assert call("size", b"abc") == 3
    assert call("size", [1, 2, 3]) == 3
    assert call("size", {"a": 1}) == 1
    assert call("size", "abc", member=True) == 3
    with pytest.raises(EvaluationError, match="no such overload"):
        call("size", 1)


@pytest.mark.parametrize(
    ("name", "target", "arg", "expected"),
    [
        ("startsWith", "foobar", "foo", True),
        ("startsWith", "foobar", "bar", False),
        ("startsWith", "", "", True),
        ("startsWith", "завтра", "за", True),
        ("endsWith", "foobar", "bar", True),
        ("endsWith", "", "foo", False),
        ("endsWith", "forté", "té", True),
        ("contains", "hello", "", True),
        ("contains", "hello", "ol", False),
        ("contains", "abababc", "ababc", True),
        ("contains", "Straße", "aß", True),
        ("matches", "hubba", "ubb", True),
        ("matches", "", "foo|bar", False),
        ("matches", "cows", "", True),
        ("matches", "grey", "gr(a|e)y", True),
        ("matches", "banana", "ba(na)*", True),
        ("matches", "mañana", "a+ñ+a+", True),
        ("matches", "\U0001f431\U0001f600\U0001f600", "(a|\U0001f600){2}", True),
        ("matches", "abc", "^b", False),
    ],
)
def test_string_predicates(name: str, target: str, arg: str, expected: bool) -> None:
    assert call(name, target, arg, member=True) is expected


def test_matches_global_and_errors() -> None:
    assert call("matches", "abc", "b.") is True
    with pytest.raises(EvaluationError, match=r"^error parsing regexp: missing closing \): `\(`$"):
        call("matches", "abc", "(")
    with pytest.raises(
        EvaluationError, match=r"^error parsing regexp: invalid or unsupported Perl syntax: `\(\?=`$"
    ):
        call("matches", "abc", "(?=a)")  # RE2 has no lookahead
    with pytest.raises(EvaluationError, match=r"^error parsing regexp: invalid escape sequence: `\\C`$"):
        call("matches", "abc", "a\\C")  # C++ RE2 reads \C as any byte; Go refuses it
    assert call("matches", "a\\C", "\\Qa\\C\\E") is True
    with pytest.raises(EvaluationError, match="no such overload"):
        call("contains", 1, "a", member=True)


def test_matches_is_linear_time() -> None:
    # Catastrophic for a backtracking engine; instant for RE2.
    assert call("matches", "a" * 5000 + "!", "^(a+)+$") is False


def test_compile_regex_caches() -> None:
    assert core.compile_regex("a+b") is core.compile_regex("a+b")


@pytest.mark.parametrize(
    "expr",
    [
        "int('987') == 987 && uint('300') == 300u && double('-0.0') == 0.0",
        "string(9876u) == '9876' && string(-4.5e-3) == '-0.0045' && string(b'abc') == 'abc'",
        "bool('True') && !bool('f') && bytes('ÿ') == b'\\303\\277'",
        "type(dyn([1, 'one'])) == list && type(type(7)) == type(type(7u))",
        "size('πέντε') == 5 && 'abc'.size() == 3 && size({'a': 1}) == 1",
        "'hubba'.matches('ubb') && matches('grey', 'gr(a|e)y') && !''.matches('foo|bar')",
        "int(timestamp('2009-02-13T23:31:30Z')) == 1234567890",
    ],
)
def test_through_the_compiler(expr: str) -> None:
    assert compile(expr).evaluate({}) is True


def test_conversion_errors_through_the_compiler() -> None:
    with pytest.raises(EvaluationError, match=r"^integer overflow$"):
        compile("int(18446744073709551615u)").evaluate({})
    with pytest.raises(EvaluationError, match=r"^type conversion error from 'string' to 'double'$"):
        compile("double('abc')").evaluate({})
    with pytest.raises(EvaluationError, match="invalid UTF-8"):
        compile("string(b'\\000\\xff')").evaluate({})
