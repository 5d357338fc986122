"""CEL values as JSON: as Cerbos shows them in outputs (:func:`output_json`), or leniently (:func:`to_json`).

Cerbos converts an output's value to a ``google.protobuf.Value`` (cel-go's ``ConvertToNative``) and
prints that as JSON. :func:`output_json` does the same, checked against the Cerbos 0.55 binary:

* ints and uints within ±(2**53 - 1) are numbers, larger ones decimal strings (``"9007199254740992"``);
* bytes are base64, timestamps RFC 3339 with nanoseconds at their offset, durations ``"1.5s"``;
* optionals are their value; ``optional.none()`` is an error, as are type values, maps with other
  than string keys and the extension types (``hierarchy``, ``ip``, ...), each with Cerbos's text.

A double that is NaN or infinite makes Cerbos's HTTP API fail the whole request
(``invalid +Inf value``); here it becomes the proto3 JSON spelling as a string (``"NaN"``,
``"Infinity"``, ``"-Infinity"``).

:func:`to_json` (the CLI, the decision log) never fails: what has no JSON form becomes its CEL
string form (``int``, ``hierarchy('a.b')``), and non-string map keys their string forms.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.golang import format_float_g
from chamberlain.cel.lib.time import format_duration, format_timestamp
from chamberlain.cel.values import CelType, Duration, Optional, Timestamp, UInt, native_string_error

#: Integers beyond this magnitude are JSON strings (a double would not hold them exactly).
JSON_SAFE_INT = 2**53 - 1
_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}
_NO_JSON = "unsupported type conversion to '*structpb.Value'"


def output_json(value: Any) -> Any:
    """``value`` as Cerbos shows an output; raises :class:`EvaluationError` (Cerbos's text) for a
    value that has no JSON form."""
    return _convert(value, True)


def to_json(value: Any) -> Any:
    """A JSON-serialisable form of any CEL value (and of ``datetime``), never failing."""
    return _convert(value, False)


def _convert(value: Any, strict: bool) -> Any:
    t = type(value)
    if t is str or t is bool or value is None:
        return value
    if t is int or t is UInt:
        return int(value) if -JSON_SAFE_INT <= value <= JSON_SAFE_INT else str(int(value))
    if t is float:
        if math.isfinite(value):
            return value
        return _NON_FINITE.get(value, "NaN")
    if t is list or t is tuple:
        return [_convert(v, strict) for v in value]
    if t is dict:
        return {_key(k, strict): _convert(v, strict) for k, v in value.items()}
    if t is Timestamp:
        return format_timestamp(value)
    if t is Duration:
        return format_duration(value)
    if t is bytes:
        return base64.b64encode(value).decode("ascii")
    if t is Optional:
        if value.has_value():
            return _convert(value.value, strict)
        if strict:
            raise EvaluationError("optional.none() dereference")
        return None
    if t is CelType:
        if strict:
            raise EvaluationError("type conversion not supported for 'type'")
        return value.name
    if isinstance(value, dt.datetime):  # Python values in decision-log entries
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Mapping):
        return {_key(k, strict): _convert(v, strict) for k, v in value.items()}
    if strict:
        describe = getattr(value, "cel_json_error", _NO_JSON)
        raise EvaluationError(describe)
    to_text = getattr(value, "cel_to_string", None)
    return to_text() if to_text is not None else str(value)


def _key(key: Any, strict: bool) -> str:
    t = type(key)
    if t is str:
        return key
    if strict:
        raise EvaluationError(native_string_error(key))
    if t is bool:
        return "true" if key else "false"
    if t is float:
        return format_float_g(key)
    return str(_convert(key, False))
