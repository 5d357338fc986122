"""CEL's standard functions: type conversions, ``type``, ``dyn``, ``size`` and the string predicates.

Conversions from strings parse exactly what cel-go accepts (Go's ``strconv`` syntax, see
:mod:`chamberlain.cel.golang`), and ``string(double)`` formats as Go's ``%g`` does. Errors carry
cel-go's texts (``type conversion error from 'string' to 'int'``, ``integer overflow``), as
Cerbos reports them. ``matches`` uses RE2 (``google-re2``), so patterns have RE2 syntax and
matching takes linear time; an invalid pattern is reported as Go's ``regexp`` words it.
"""

from __future__ import annotations

import math
from typing import Any

from chamberlain.caches import ENTRY_OVERHEAD, memoize
from chamberlain.cel import runtime
from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import function
from chamberlain.cel.golang import compile_regexp, parse_int, parse_uint
from chamberlain.cel.golang import format_float_f as format_double_fixed
from chamberlain.cel.golang import format_float_g as format_double
from chamberlain.cel.golang import parse_float as parse_go_float
from chamberlain.cel.lib.time import (
    format_duration,
    format_timestamp,
    timestamp_unix_seconds,
)
from chamberlain.cel.values import (
    INT64_MAX,
    INT64_MIN,
    NO_SUCH_OVERLOAD,
    CelType,
    Duration,
    Timestamp,
    UInt,
    no_such_overload,
    type_of,
)

__all__ = ["format_double", "format_double_fixed", "parse_go_float"]

INT_RANGE_ERROR = "integer overflow"
UINT_RANGE_ERROR = "unsigned integer overflow"

# ---------------------------------------------------------------- conversions


def _int_in_range(value: int) -> int:
    if INT64_MIN <= value <= INT64_MAX:
        return value
    raise EvaluationError(INT_RANGE_ERROR)


def _conversion_error(target: str) -> EvaluationError:
    """A string cel-go cannot convert (it does not repeat the string)."""
    return EvaluationError(f"type conversion error from 'string' to '{target}'")


@function("int")
def to_int(value: Any) -> int:
    """``int(x)`` for int, uint, double (truncating), string, timestamp (Unix seconds), duration (ns)."""
    tv = type(value)
    if tv is int:
        return value
    if tv is UInt:
        return _int_in_range(int(value))
    if tv is float:
        # Go rejects values that round to the int64 bounds, so the bounds are exclusive here.
        if not math.isfinite(value) or not -(2.0**63) < value < 2.0**63:
            raise EvaluationError(INT_RANGE_ERROR)
        return int(value)
    if tv is str:
        parsed = parse_int(value)
        if parsed is None:
            raise _conversion_error("int")
        return parsed
    if tv is Timestamp:
        return timestamp_unix_seconds(value)
    if tv is Duration:
        return int(value)
    raise no_such_overload("int", value)


@function("uint")
def to_uint(value: Any) -> UInt:
    """``uint(x)`` for uint, int (non-negative), double (truncating) and string."""
    tv = type(value)
    if tv is UInt:
        return value
    if tv is int:
        if value < 0:
            raise EvaluationError(UINT_RANGE_ERROR)
        return UInt(value)
    if tv is float:
        if not math.isfinite(value) or not 0 <= value < 2.0**64:
            raise EvaluationError(UINT_RANGE_ERROR)
        return UInt(int(value))
    if tv is str:
        parsed = parse_uint(value)
        if parsed is None:
            raise _conversion_error("uint")
        return UInt(parsed)
    raise no_such_overload("uint", value)


@function("double")
def to_double(value: Any) -> float:
    """``double(x)`` for double, int, uint and string (Go syntax, incl. ``NaN``, ``inf``, ``1e9``)."""
    tv = type(value)
    if tv is float:
        return value
    if tv is int or tv is UInt:
        return float(value)
    if tv is str:
        parsed = parse_go_float(value)
        if parsed is None:
            raise _conversion_error("double")
        return parsed
    raise no_such_overload("double", value)


def _string_of_bytes(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise EvaluationError("invalid UTF-8 in bytes, cannot convert to string") from None


@function("string")
def to_string(value: Any) -> str:
    """``string(x)`` for string, bool, int, uint, double, bytes (UTF-8), timestamp and duration."""
    tv = type(value)
    if tv is str:
        return value
    if tv is bool:
        return "true" if value else "false"
    if tv is int or tv is UInt:
        return str(int(value))
    if tv is float:
        return format_double(value)
    if tv is bytes:
        return _string_of_bytes(value)
    if tv is Timestamp:
        return format_timestamp(value)
    if tv is Duration:
        return format_duration(value)
    to_text = getattr(value, "cel_to_string", None)  # extension types: ip, cidr, hierarchy, ...
    if to_text is not None:
        return to_text()
    raise no_such_overload("string", value)


@function("bytes")
def to_bytes(value: Any) -> bytes:
    """``bytes(x)`` for bytes and string (its UTF-8 encoding)."""
    tv = type(value)
    if tv is bytes:
        return value
    if tv is str:
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:
            raise EvaluationError("string is not valid Unicode, cannot convert to bytes") from None
    raise no_such_overload("bytes", value)


_BOOL_STRINGS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


@function("bool")
def to_bool(value: Any) -> bool:
    """``bool(x)`` for bool and the strings Go's ``strconv.ParseBool`` accepts."""
    tv = type(value)
    if tv is bool:
        return value
    if tv is str:
        parsed = _BOOL_STRINGS.get(value)
        if parsed is None:
            raise _conversion_error("bool")
        return parsed
    raise no_such_overload("bool", value)


@function("dyn")
def dyn(value: Any) -> Any:
    """``dyn(x)``: ``x`` itself (it only affects type checking)."""
    return value


@function("type")
def type_(value: Any) -> CelType:
    """``type(x)``: the type value of ``x``."""
    return type_of(value)


@function("size", member=True, also_global=True)
def size(value: Any) -> int:
    """``size(x)`` / ``x.size()``: code points of a string, bytes, list elements, map entries."""
    return runtime.size(value)


# ---------------------------------------------------------------- string predicates


def _strings(name: str, s: Any, arg: Any) -> None:
    # cel-go binds these to string values' own methods: any other operand is a plain "no such overload".
    if type(s) is not str or type(arg) is not str:
        raise EvaluationError(NO_SUCH_OVERLOAD)


@function("contains", member=True)
def contains(s: Any, sub: Any) -> bool:
    """``s.contains(sub)``."""
    _strings("contains", s, sub)
    return sub in s


@function("startsWith", member=True)
def starts_with(s: Any, prefix: Any) -> bool:
    """``s.startsWith(prefix)``."""
    _strings("startsWith", s, prefix)
    return s.startswith(prefix)


@function("endsWith", member=True)
def ends_with(s: Any, suffix: Any) -> bool:
    """``s.endsWith(suffix)``."""
    _strings("endsWith", s, suffix)
    return s.endswith(suffix)


def regex_cost(pattern: str | bytes, compiled: Any) -> int:
    """What a compiled RE2 program keeps alive: measured, a 240 KB pattern of 200,000 instructions took
    15 MB (75 bytes an instruction); 200 a instruction leaves room for the reverse program and the DFA
    states matching builds. (``reverseprogramsize`` would compile the reverse program to measure it.)"""
    return ENTRY_OVERHEAD + 2 * len(pattern) + 200 * compiled.programsize


#: Compiled patterns: 64 MiB of programs at most (a pattern can come from a request attribute).
@memoize(max_bytes=64 << 20, max_entries=512, cost=regex_cost)
def compile_regex(pattern: str) -> Any:
    """The compiled RE2 pattern, cached; an invalid pattern is an :class:`EvaluationError` in Go's words."""
    return compile_regexp(pattern)


@function("matches", member=True, also_global=True)
def matches(s: Any, pattern: Any) -> bool:
    """``s.matches(re)`` / ``matches(s, re)``: whether RE2 pattern ``re`` matches anywhere in ``s``."""
    _strings("matches", s, pattern)
    return compile_regex(pattern).search(s) is not None
