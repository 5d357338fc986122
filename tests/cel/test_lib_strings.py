# ruff: noqa: RUF001  (the conformance cases use Greek letters on purpose)
"""The strings extension (cel-spec string_ext conformance cases and cel-go behaviour)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from chamberlain.cel import compile
from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import REGISTRY
from chamberlain.cel.lib import strings  # noqa: F401  (registers the functions)
from chamberlain.cel.values import STRING, Duration, Timestamp, UInt


def call(name: str, *args: Any, member: bool = True) -> Any:
    """Call a registered function as the compiler would (member call by default)."""
    arity = len(args) - 1 if member else len(args)
    return REGISTRY[name].lookup(member, arity).fn(*args)


def fmt(template: str, *args: Any) -> str:
    return call("format", template, list(args))


def ts(text: str) -> Timestamp:
    return call("timestamp", text, member=False)


def dur(text: str) -> Duration:
    return call("duration", text, member=False)


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("charAt", ("tacocat", 3), "o"),
        ("charAt", ("tacocat", 7), ""),
        ("charAt", ("©αT", 1), "α"),
        ("indexOf", ("tacocat", ""), 0),
        ("indexOf", ("tacocat", "ac"), 1),
        ("indexOf", ("tacocat", "none"), -1),
        ("indexOf", ("tacocat", "", 3), 3),
        ("indexOf", ("tacocat", "", 30), 7),
        ("indexOf", ("tacocat", "a", 3), 5),
        ("indexOf", ("tacocat", "a", 30), -1),
        ("indexOf", ("ta©o©αT", "©"), 2),
        ("indexOf", ("ta©o©αT", "©", 3), 4),
        ("indexOf", ("ta©o©αT", "©αT", 3), 4),
        ("indexOf", ("ta©o©αT", "©α", 5), -1),
        ("indexOf", ("hello wello", "ello", 6), 7),
        ("lastIndexOf", ("", "@@"), -1),
        ("lastIndexOf", ("tacocat", ""), 7),
        ("lastIndexOf", ("tacocat", "at"), 5),
        ("lastIndexOf", ("tacocat", "", 3), 3),
        ("lastIndexOf", ("tacocat", "a", 3), 1),
        ("lastIndexOf", ("tacocat", "a", 30), -1),
        ("lastIndexOf", ("ta©o©αT", "©"), 4),
        ("lastIndexOf", ("ta©o©αT", "©", 3), 2),
        ("lastIndexOf", ("ta©o©αT", "©α", 4), 4),
        ("lastIndexOf", ("hello wello", "ello", 6), 1),
        ("lastIndexOf", ("hello wello", "hello wello"), 0),
        ("lastIndexOf", ("bananananana", "nana", 7), 6),
        ("lowerAscii", ("TacoCÆt Xii",), "tacocÆt xii"),
        ("upperAscii", ("tacoCαt",), "TACOCαT"),
        ("upperAscii", ("TacoCÆt Xii",), "TACOCÆT XII"),
        ("replace", ("{0} days {0} hours", "{0}", "2"), "2 days 2 hours"),
        ("replace", ("{0} days {0} hours", "{0}", "2", 1), "2 days {0} hours"),
        ("replace", ("hello hello", "he", "we", -1), "wello wello"),
        ("replace", ("hello hello", "he", "we", 0), "hello hello"),
        ("replace", ("hello", "", "_"), "_h_e_l_l_o_"),
        ("replace", ("1 ©αT taco", "αT", "o©α"), "1 ©o©α taco"),
        ("split", ("hello world", " "), ["hello", "world"]),
        ("split", ("hello world events!", " ", 0), []),
        ("split", ("hello world events!", " ", 1), ["hello world events!"]),
        ("split", ("hello world events!", " ", 2), ["hello", "world events!"]),
        ("split", ("o©o©o©o", "©", -1), ["o", "o", "o", "o"]),
        ("split", ("a©c", ""), ["a", "©", "c"]),
        ("split", ("abcd", "", 2), ["a", "bcd"]),
        ("split", ("", ""), []),
        ("split", ("", ","), [""]),
        ("substring", ("tacocat", 4), "cat"),
        ("substring", ("tacocat", 7), ""),
        ("substring", ("tacocat", 0, 4), "taco"),
        ("substring", ("tacocat", 4, 4), ""),
        ("substring", ("ta©o©αT", 2, 6), "©o©α"),
        ("trim", (" \f\n\r\t\vtext  ",), "text"),
        ("trim", ("\u0085\u00a0\u1680text",), "text"),
        ("trim", ("text\u2000\u2001\u2002\u2003\u2004\u2004\u2006\u2007\u2008\u2009",), "text"),
        ("trim", ("\u200atext\u2028\u2029\u202f\u205f\u3000",), "text"),
        ("trim", ("\u180etext\u200b\u200c\u200d\u2060\ufeff",), "\u180etext\u200b\u200c\u200d\u2060\ufeff"),
        ("trim", ("\x1ctext",), "\x1ctext"),  # Python's isspace() would strip this; Go's does not
        ("join", (["x", "y"],), "xy"),
        ("join", (["x", "y"], "-"), "x-y"),
        ("join", ([],), ""),
        ("join", ([], "-"), ""),
        ("reverse", ("",), ""),
        ("reverse", ("☺",), "☺"),
        ("reverse", ("Ta©oCαt",), "tαCo©aT"),
    ],
)
def test_string_functions(name: str, args: tuple[Any, ...], expected: Any) -> None:
    assert call(name, *args) == expected


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("charAt", ("tacocat", 30), "index out of range: 30"),
        ("charAt", ("tacocat", -1), "index out of range: -1"),
        ("indexOf", ("tacocat", "a", -1), "index out of range: -1"),
        ("lastIndexOf", ("tacocat", "a", -1), "index out of range: -1"),
        ("substring", ("tacocat", 40), "index out of range: 40"),
        ("substring", ("tacocat", -1), "index out of range: -1"),
        ("substring", ("tacocat", 1, 50), "index out of range: 50"),
        ("substring", ("tacocat", 49, 50), "index out of range: 49"),
        ("substring", ("tacocat", 4, 3), "invalid substring range. start: 4, end: 3"),
        ("join", (["x", 1],), "join: invalid input: 1"),  # dispatched on the first element, as cel-go
        ("join", ([1, "x"],), "no such overload: join\\(list\\)"),
        ("join", ([1, "x"], "-"), "no such overload: join\\(list, string\\)"),
        ("join", (["x", 1.5], "-"), "join: invalid input: 1.5"),
        ("charAt", (42, 2), "no such overload"),
        ("charAt", ("hello", True), "no such overload"),
        ("indexOf", ("hello", True), "no such overload"),
        ("indexOf", ("42", "4", "0"), "no such overload"),
        ("replace", ("42", 2, 1), "no such overload"),
        ("replace", ("42", "2", "1", "1"), "no such overload"),
        ("split", (42, "2"), "no such overload"),
        ("split", ("42", "2", "1"), "no such overload"),
        ("substring", ("tacocat", True, 3), "no such overload"),
        ("substring", ("tacocat", 0, False), "no such overload"),
        ("join", ("xy",), "no such overload"),
        ("reverse", (1,), "no such overload"),
    ],
)
def test_string_function_errors(name: str, args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        call(name, *args)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("first\nsecond", '"first\\nsecond"'),
        ("bell\a", '"bell\\a"'),
        ("\bbackspace", '"\\bbackspace"'),
        ("\fform feed", '"\\fform feed"'),
        ("carriage \r return", '"carriage \\r return"'),
        ("horizontal tab\t", '"horizontal tab\\t"'),
        ("vertical \v tab", '"vertical \\v tab"'),
        ("double \\\\ slash", '"double \\\\\\\\ slash"'),
        ("ends with \\", '"ends with \\\\"'),
        ('mid string " quote', '"mid string \\" quote"'),
        ("printable unicode😀", '"printable unicode😀"'),
        ("\U0001f431\U0001f600\U0001f61b", '"🐱😀😛"'),
        ("", '""'),
        ("bad \ud800", '"bad \ufffd"'),
    ],
)
def test_quote(text: str, expected: str) -> None:
    assert call("strings.quote", text, member=False) == expected


@pytest.mark.parametrize(
    ("template", "args", "expected"),
    [
        ("no substitution", [], "no substitution"),
        ("str is %s and some more", ["filler"], "str is filler and some more"),
        ("%% and also %%", [], "% and also %"),
        ("%%%s%%", ["text"], "%text%"),
        ("%d %d %d, %s %s %s", [1, 2, 3, "A", "B", "C"], "1 2 3, A B C"),
        ("%.3f", [1.2345], "1.234"),
        ("this is 5 in binary: %b", [5], "this is 5 in binary: 101"),
        ("%b", [UInt(64)], "1000000"),
        ("%b", [True], "1"),
        ("%b", [-5], "-101"),
        ("%o", [11], "13"),
        ("%o", [UInt(65535)], "177777"),
        ("%x is 20 in hexadecimal", [30], "1e is 20 in hexadecimal"),
        ("%X", [30], "1E"),
        ("%X", [UInt(6000)], "1770"),
        ("%x", [-26], "-1a"),
        ("%x", ["Hello world!"], "48656c6c6f20776f726c6421"),
        ("%X", ["Hello world!"], "48656C6C6F20776F726C6421"),
        ("%x", [b"byte string"], "6279746520737472696e67"),
        ("%.6e", [1052.032911275], "1.052033e+03"),
        ("%f", [2.71828], "2.718280"),
        ("%f", [2], "2.000000"),
        ("%f", [UInt(3)], "3.000000"),
        ("%e", [2.71828], "2.718280e+00"),
        ("%e", [2], "2.000000e+00"),
        ("%.1e", [-3.14], "-3.1e+00"),
        ("%e", [math.nan], "NaN"),
        ("%e", [math.inf], "Infinity"),
        ("%d", [-math.inf], "-Infinity"),
        ("%f", [math.nan], "NaN"),
        ("%d", [3.14], "3.14"),
        ("%d", [UInt(64)], "64"),
        ("%s", [None], "null"),
        ("%s", [999999999999], "999999999999"),
        ("%s", [b"xyz"], "xyz"),
        ("%s", [b"a\xffb"], "a\ufffdb"),
        ("%s", [STRING], "string"),
        ("%s, %s", [True, False], "true, false"),
        ("%s, %s", [32, 56.8], "32, 56.8"),
        ("%s", [1e100], "1" + "0" * 100),
        ("%.0f", [123.0], "123"),
        ("%.0f", [3.5001], "4"),
        ("%.0f", [3.4999], "3"),
        ("%.0f", [1.5], "2"),
        ("%.0f", [2.5], "2"),
        ("%.3f", [123.4999], "123.500"),
        ("%.3f", [-123.4994], "-123.499"),
        ("%.5f", [-1.2], "-1.20000"),
        ("%.3f", [4.5], "4.500"),
        ("%s", [[math.nan, math.inf, -math.inf]], "[NaN, Infinity, -Infinity]"),
        ("%s", [[6, 4.2, "a string"]], "[6, 4.2, a string]"),
        ("%s", [{"strKey": "x", 6: None, True: 42}], "{6: null, strKey: x, true: 42}"),
        ("%s", [{5: "value1", UInt(2): "value2", True: math.nan}], "{2: value2, 5: value1, true: NaN}"),
        ("é%sé", ["ü"], "éüé"),
    ],
)
def test_format(template: str, args: list[Any], expected: str) -> None:
    assert fmt(template, *args) == expected


def test_format_time_values() -> None:
    assert fmt("%s", ts("2023-02-03T23:31:20+00:00")) == "2023-02-03T23:31:20Z"
    assert fmt("%s", dur("1h45m47s")) == "6347s"
    items = ["abc", 3.14, None, [9, 8, 7, 6], ts("2023-02-03T23:31:20Z")]
    assert fmt("%s", items) == "[abc, 3.14, null, [9, 8, 7, 6], 2023-02-03T23:31:20Z]"
    mapping = {"key1": b"xyz", "key5": None, "key2": dur("2h"), "key4": True, "key3": 2.71828}
    assert fmt("%s", mapping) == "{key1: xyz, key2: 7200s, key3: 2.71828, key4: true, key5: null}"


@pytest.mark.parametrize(
    ("template", "args", "message"),
    [
        ("%a", [1], 'could not parse formatting clause: unrecognized formatting clause "a"'),
        ("%E", [0.5], 'unrecognized formatting clause "E"'),
        ("%d %d %d", [0, 1], "index 2 out of range"),
        ("%", [1], "unexpected end of string"),
        ("%.3", [1.0], "could not find end of precision specifier"),
        ("%.101f", [1.0], "precision 101 exceeds maximum allowed precision 100"),
        ("string is %b", ["abc"], "only ints, uints, and bools can be formatted as binary, was given string"),
        (
            "%d",
            [Duration(10**9)],
            "decimal clause can only be used on ints, uints, and doubles, was given google.protobuf",
        ),
        ("%o", ["a string"], "octal clause can only be used on ints and uints, was given string"),
        ("%x", [0.5], "only ints, uints, bytes, and strings can be formatted as hex, was given double"),
        ("%d", [None], "decimal clause can only be used on ints, uints, and doubles, was given null_type"),
        ("%e", [None], "scientific clause can only be used on ints, uints, and doubles, was given null_type"),
        (
            "%f",
            [None],
            "fixed-point clause can only be used on ints, uints, and doubles, was given null_type",
        ),
        ("%X", [None], "formatted as hex, was given null_type"),
        (
            "%s",
            [[1, object()]],
            "string clause can only be used on strings, bools, bytes, ints, doubles, maps",
        ),
    ],
)
def test_format_errors(template: str, args: list[Any], message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        fmt(template, *args)


def test_format_requires_a_list() -> None:
    with pytest.raises(EvaluationError, match="no such overload"):
        call("format", "%s", "x")


@pytest.mark.parametrize(
    "expr",
    [
        "'tacocat'.charAt(3) == 'o' && 'ta©o©αT'.indexOf('©', 3) == 4",
        "'bananananana'.lastIndexOf('nana', 7) == 6",
        "'a,b,c,d'.split(',', 2) == ['a', 'b,c,d'] && ['x', 'y'].join('-') == 'x-y'",
        "'engineering'.replace('e', 'a', 1) == 'angineering'",
        "'  marketing  '.trim().upperAscii() == 'MARKETING'",
        "strings.quote('a\\nb') == '\"a\\\\nb\"'",
        "'%s: %.2f %x'.format(['pi', 3.14159, 255]) == 'pi: 3.14 ff'",
        "'%s'.format([{'b': [1, 2u], 'a': duration('2h')}]) == '{a: 7200s, b: [1, 2]}'",
    ],
)
def test_through_the_compiler(expr: str) -> None:
    assert compile(expr).evaluate({}) is True
