"""The CEL encoders extension, as cel-go 0.30's ``ext.Encoders()``: base64 and ``json.encode``."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import function
from chamberlain.cel.lib.time import format_duration, format_timestamp
from chamberlain.cel.values import Duration, Timestamp, no_such_overload, type_name

#: Standard-alphabet base64, padded or not; Go's decoder also skips line breaks.
_BASE64 = re.compile(r"[A-Za-z0-9+/]*(?:={0,2})")


@function("base64.encode")
def encode(value: Any) -> str:
    """``base64.encode(bytes)``: standard padded base64."""
    if type(value) is not bytes:
        raise no_such_overload("base64.encode", value)
    return base64.b64encode(value).decode("ascii")


@function("base64.decode")
def decode(value: Any) -> bytes:
    """``base64.decode(string)``: standard base64, with or without padding."""
    if type(value) is not str:
        raise no_such_overload("base64.decode", value)
    text = value.replace("\r", "").replace("\n", "")
    unpadded = text.rstrip("=")
    padding = len(text) - len(unpadded)
    # Padded input must be complete; unpadded input may stop mid-quantum (not after 1 char).
    valid = _BASE64.fullmatch(text) is not None and (
        len(text) % 4 == 0 if padding else len(unpadded) % 4 != 1
    )
    if valid:
        try:
            return base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), validate=True)
        except (binascii.Error, ValueError):
            pass
    raise EvaluationError("illegal base64 data: " + repr(value))


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
