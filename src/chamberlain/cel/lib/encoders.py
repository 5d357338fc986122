"""The CEL encoders extension, as cel-go 0.30's ``ext.Encoders()``: base64 and ``json.encode``."""

from __future__ import annotations

import base64
import decimal
import math
import re
from typing import Any

from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import function
from chamberlain.cel.golang import Base64Error, base64_decode
from chamberlain.cel.jsonvalue import output_json
from chamberlain.cel.values import Optional, no_such_overload


@function("base64.encode")
def encode(value: Any) -> str:
    """``base64.encode(bytes)``: standard padded base64."""
    if type(value) is not bytes:
        raise no_such_overload("base64.encode", value)
    return base64.b64encode(value).decode("ascii")


@function("base64.decode")
def decode(value: Any) -> bytes:
    """``base64.decode(string)``: standard base64, padded or not, as cel-go decodes it (Go's
    ``StdEncoding``, then ``RawStdEncoding``; the error is the second one's)."""
    if type(value) is not str:
        raise no_such_overload("base64.decode", value)
    data = value.encode("utf-8", "surrogatepass")
    try:
        return base64_decode(data, padded=True)
    except Base64Error:
        pass
    try:
        return base64_decode(data, padded=False)
    except Base64Error as exc:
        raise EvaluationError(str(exc)) from None


@function("json.encode")
def json_encode(value: Any) -> str:
    """``json.encode(value)`` as Cerbos 0.55 gives it: the value converted as an output is
    (:func:`~chamberlain.cel.jsonvalue.output_json`: integers past 2**53 as strings, optionals their
    value, the same conversion errors), NaN and infinities refused in protobuf's words, then written
    by Go's ``encoding/json``: object keys sorted, numbers as Go prints a float64 (``1e20`` as
    ``100000000000000000000``, ``1e-7`` as ``1e-7``, ``-0``), ``<``, ``>``, ``&``, U+2028 and U+2029
    escaped."""
    native = output_json(value)
    _check_finite(value)
    out: list[str] = []
    _write(native, out)
    return "".join(out)


def _check_finite(value: Any) -> None:
    t = type(value)
    if t is float:
        if value != value:
            raise EvaluationError(f"{_PROTO_VALUE}invalid NaN value")
        if math.isinf(value):
            raise EvaluationError(f"{_PROTO_VALUE}invalid {'+' if value > 0 else '-'}Inf value")
    elif t is list or t is tuple:
        for v in value:
            _check_finite(v)
    elif t is dict:
        for v in value.values():
            _check_finite(v)
    elif t is Optional and value.has_value():
        _check_finite(value.value)


_PROTO_VALUE = "proto:\u00a0google.protobuf.Value.number_value: "
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f<>&\u2028\u2029]')


def _escape(match: re.Match[str]) -> str:
    c = match.group()
    return _ESCAPES.get(c) or f"\\u{ord(c):04x}"


def _go_float(value: float) -> str:
    """Go's ``encoding/json`` spelling of a float64."""
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = repr(value)  # shortest digits, exponent of two digits at least, as Go's 'e' format
        mantissa, exponent = text.split("e")
        if exponent.startswith("-0"):
            exponent = "-" + exponent[2:]
        return f"{mantissa}e{exponent}"
    return format(decimal.Decimal(repr(value)).normalize(), "f")


def _write(value: Any, out: list[str]) -> None:
    t = type(value)
    if value is None:
        out.append("null")
    elif t is bool:
        out.append("true" if value else "false")
    elif t is str:
        out.append('"' + _NEEDS_ESCAPE.sub(_escape, value) + '"')
    elif t is int:
        out.append(str(value))
    elif t is float:
        out.append(_go_float(value))
    elif t is list:
        out.append("[")
        for i, v in enumerate(value):
            if i:
                out.append(",")
            _write(v, out)
        out.append("]")
    else:  # a dict with string keys (output_json refused any other)
        out.append("{")
        for i, k in enumerate(sorted(value)):
            if i:
                out.append(",")
            _write(k, out)
            out.append(":")
            _write(value[k], out)
        out.append("}")
