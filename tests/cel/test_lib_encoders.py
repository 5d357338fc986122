"""The encoders extension: base64.encode and base64.decode."""

from __future__ import annotations

from typing import Any

import pytest

from chamberlain.cel import compile
from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import REGISTRY
from chamberlain.cel.lib import encoders  # noqa: F401  (registers the functions)


def call(name: str, arg: Any) -> Any:
    """Call a registered global function as the compiler would."""
    return REGISTRY[name].lookup(False, 1).fn(arg)


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [(b"", ""), (b"hello", "aGVsbG8="), (b"Hello World!", "SGVsbG8gV29ybGQh"), (b"\xff\xfe", "//4=")],
)
def test_round_trip(raw: bytes, encoded: str) -> None:
    assert call("base64.encode", raw) == encoded
    assert call("base64.decode", encoded) == raw


@pytest.mark.parametrize(
    ("text", "raw"),
    [("aGVsbG8", b"hello"), ("aGVsbA", b"hell"), ("aGVsbA==", b"hell"), ("aGVs\nbG8=", b"hello")],
)
def test_decode_accepts_missing_padding_and_line_breaks(text: str, raw: bytes) -> None:
    assert call("base64.decode", text) == raw


@pytest.mark.parametrize("text", ["a", "aGVsbG8==", "aGVs=bG8", "aGV$", "aGVsbG8=x", "aGVs===="])
def test_decode_errors(text: str) -> None:
    with pytest.raises(EvaluationError, match="illegal base64 data"):
        call("base64.decode", text)


def test_type_errors() -> None:
    with pytest.raises(EvaluationError, match="no such overload"):
        call("base64.encode", "hello")
    with pytest.raises(EvaluationError, match="no such overload"):
        call("base64.decode", b"aGVsbG8=")


def test_through_the_compiler() -> None:
    assert compile("base64.decode(base64.encode(b'Hello World!')) == b'Hello World!'").evaluate({}) is True
    assert compile("base64.decode('aGVsbG8')").evaluate({}) == b"hello"


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        ('json.encode({"b": 1, "a": [1, 2.5, "x", null, true]})', '{"a":[1,2.5,"x",null,true],"b":1}'),
        ("json.encode(1e20)", "100000000000000000000"),
        ("json.encode(1e21)", "1e+21"),
        ("json.encode(1e-7)", "1e-7"),
        ("json.encode(0.000001)", "0.000001"),
        ("json.encode(-0.0)", "-0"),
        ("json.encode(2.0)", "2"),
        ("json.encode(9007199254740993)", '"9007199254740993"'),  # as an output shows it
        ("json.encode(18446744073709551615u)", '"18446744073709551615"'),
        ('json.encode("<&>\\u2028\\u0001\\b")', '"\\u003c\\u0026\\u003e\\u2028\\u0001\\b"'),
        ('json.encode([optional.of(1), optional.of("x")])', '[1,"x"]'),
    ],
)
def test_json_encode_writes_as_go(expression: str, text: str) -> None:
    """Cerbos 0.55's json.encode: the value converted as an output is, written by Go's encoding/json."""
    assert compile(expression).evaluate({}) == text


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("json.encode(1.0 / 0.0)", "proto:\u00a0google.protobuf.Value.number_value: invalid +Inf value"),
        ("json.encode({1: 1})", "unsupported type conversion from 'int' to string"),
        ("json.encode(type(1))", "type conversion not supported for 'type'"),
        ('json.encode({"k": optional.none()})', "optional.none() dereference"),
    ],
)
def test_json_encode_errors_are_cerbos_s(expression: str, message: str) -> None:
    with pytest.raises(EvaluationError) as raised:
        compile(expression).evaluate({})
    assert str(raised.value) == message
