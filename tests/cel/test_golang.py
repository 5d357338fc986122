"""Go's text formats as chamberlain.cel repeats them (the Cerbos binary confirms them in
tests/cel/test_cerbos_binary.py; these run without it)."""

from __future__ import annotations

import math

import pytest

from chamberlain.cel import golang


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1_000", 1000.0), ("0x1_0p6", 1024.0), ("-Infinity", -math.inf), ("0x1p-1080", 0.0), ("1e5_0", 1e50)],
)
def test_parse_float_accepts_go_syntax(text: str, expected: float) -> None:
    assert golang.parse_float(text) == expected


@pytest.mark.parametrize(
    "text", ["1__0", "_1", "1_", "0x1_p0", "1e_5", "0x10", "1e309", "-nan", " 1", "\uff11"]
)
def test_parse_float_refuses_what_go_refuses(text: str) -> None:
    assert golang.parse_float(text) is None


def test_parse_int_and_uint() -> None:
    assert golang.parse_int("-9223372036854775808") == -(2**63)
    assert golang.parse_int("9223372036854775808") is None
    assert golang.parse_int("1_000") is None and golang.parse_int("") is None
    assert golang.parse_uint("+1") is None and golang.parse_uint("18446744073709551615") == 2**64 - 1


def test_format_float() -> None:
    assert golang.format_float_g(123456789.0) == "1.23456789e+08"
    assert golang.format_float_g(0.0001) == "0.0001" and golang.format_float_g(1e-5) == "1e-05"
    assert golang.format_float_f(9223372036.854776) == "9223372036.854776"


def test_quote() -> None:
    assert golang.quote('a"\\\n\x01é\u200b😀') == '"a\\"\\\\\\n\\x01é\\u200b😀"'


@pytest.mark.parametrize(
    ("data", "padded", "result"),
    [
        (b"YQ==", True, b"a"),
        (b"YQ", False, b"a"),
        (b"Y\nQ==", True, b"a"),
        (b"YQ=", True, 3),
        (b"YQ==", False, 2),
        (b"YQ==a", True, 4),
        (b"Y", False, 0),
        (b"!!!", True, 0),
    ],
)
def test_base64_decode(data: bytes, padded: bool, result: bytes | int) -> None:
    if isinstance(result, bytes):
        assert golang.base64_decode(data, padded) == result
    else:
        with pytest.raises(golang.Base64Error, match=f"^illegal base64 data at input byte {result}$"):
            golang.base64_decode(data, padded)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("1.2.3.4", None),
        ("fe80::1%eth0", None),
        ("a", 'ParseAddr("a"): unable to parse IP'),
        ("1..2.3", 'ParseAddr("1..2.3"): IPv4 field must have at least one digit (at ".2.3")'),
        ("01.2.3.4", 'ParseAddr("01.2.3.4"): IPv4 field has octet with leading zero'),
        (
            "1:2:3:4:5:6:7::8",
            'ParseAddr("1:2:3:4:5:6:7::8"): the :: must expand to at least one field of zeros',
        ),
    ],
)
def test_ip_parse_error(text: str, error: str | None) -> None:
    assert golang.ip_parse_error(text) == error


def test_prefix_parse_error() -> None:
    assert golang.prefix_parse_error("10.0.0.0/8") is None
    assert (
        golang.prefix_parse_error("10.0.0.0/08")
        == 'netip.ParsePrefix("10.0.0.0/08"): bad bits after slash: "08"'
    )


@pytest.mark.parametrize(
    ("pattern", "error"),
    [
        ("(", "error parsing regexp: missing closing ): `(`"),
        ("a**", "error parsing regexp: invalid nested repetition operator: `**`"),
        ("\\", "error parsing regexp: trailing backslash at end of expression: ``"),
        ("a\\C", "error parsing regexp: invalid escape sequence: `\\C`"),
    ],
)
def test_regexp_errors(pattern: str, error: str) -> None:
    with pytest.raises(golang.EvaluationError) as raised:
        golang.compile_regexp(pattern)
    assert str(raised.value) == error
