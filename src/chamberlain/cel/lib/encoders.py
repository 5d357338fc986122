"""The CEL encoders extension, as cel-go 0.30's ``ext.Encoders()``: base64 and ``json.encode``."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import function
from chamberlain.cel.golang import Base64Error, base64_decode
from chamberlain.cel.lib.time import format_duration, format_timestamp
from chamberlain.cel.values import Duration, Timestamp, no_such_overload, type_name


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
    """``json.encode(value)`` (cel-go 0.30 encoders): compact JSON text with sorted object keys.

    Doubles print as Go's encoder prints them (``1.0`` as ``1``); bytes as base64; timestamps and
    durations as their CEL string forms. NaN, infinities and non-string map keys are errors.
    """
    return json.dumps(_jsonable(value), separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    if value is None or type(value) in (bool, str):
        return value
    if type(value) is float:
        if not math.isfinite(value):
            raise EvaluationError(f"json.encode: {value} is not representable in JSON")
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if type(value) is Timestamp:
        return format_timestamp(value)
    if type(value) is Duration:
        return format_duration(value)
    if isinstance(value, int):
        return int(value)
    if type(value) is bytes:
        return base64.b64encode(value).decode("ascii")
    if type(value) in (list, tuple):
        return [_jsonable(v) for v in value]
    if type(value) is dict:
        if not all(type(k) is str for k in value):
            raise EvaluationError("json.encode: map keys must be strings")
        return {k: _jsonable(v) for k, v in value.items()}
    raise EvaluationError(f"json.encode: cannot encode a value of type {type_name(value)}")
