"""CEL's standard functions: type conversions, ``type``, ``dyn``, ``size`` and the string predicates.

Conversions from strings parse exactly what cel-go accepts (Go's ``strconv`` syntax), and
``string(double)`` formats as Go's ``%g`` does. ``matches`` uses RE2 (``google-re2``), so patterns
have RE2 syntax and matching takes linear time.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from decimal import Decimal
from typing import Any

import re2

from chamberlain.caches import ENTRY_OVERHEAD, memoize
from chamberlain.cel import runtime
from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import function
from chamberlain.cel.lib.time import (
    duration_nanos,
    format_duration,
    format_timestamp,
    timestamp_unix_seconds,
)
from chamberlain.cel.values import (
    INT64_MAX,
    INT64_MIN,
    UINT64_MAX,
    CelType,
    UInt,
    no_such_overload,
    type_name,
    type_of,
)

INT_RANGE_ERROR = "integer overflow: value out of int range"
UINT_RANGE_ERROR = "unsigned integer overflow: value out of uint range"

# ---------------------------------------------------------------- Go number syntax and formatting

_GO_INT = re.compile(r"[+-]?[0-9]+")
_GO_UINT = re.compile(r"[0-9]+")
_GO_DECIMAL_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_GO_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+")
_GO_SPECIAL_FLOAT = re.compile(r"[+-]?(?:inf|infinity)|nan", re.IGNORECASE)


def parse_go_float(text: str) -> float | None:
    """``text`` parsed as Go's ``strconv.ParseFloat`` does, or None where Go reports an error."""
    try:
        if _GO_DECIMAL_FLOAT.fullmatch(text):
            value = float(text)
            return None if math.isinf(value) else value  # out of range
        if _GO_HEX_FLOAT.fullmatch(text):
            return float.fromhex(text)
    except (ValueError, OverflowError):
        return None
    if _GO_SPECIAL_FLOAT.fullmatch(text):
        return float(text)
    return None


def _shortest_digits(x: float) -> tuple[str, int]:
    """The shortest round-tripping digits of finite non-zero ``|x|`` and the decimal point's
    position in them: ``|x| == 0.<digits> * 10**point``."""
    _, digits, exponent = Decimal(repr(abs(x))).as_tuple()
    return "".join(map(str, digits)).rstrip("0"), len(digits) + int(exponent)


def _plain(digits: str, point: int) -> str:
    if point <= 0:
        return "0." + "0" * -point + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


def _go_float_text(x: float, exponent_form: bool) -> str:
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    if x == 0:
        return sign + "0"
    digits, point = _shortest_digits(x)
    exponent = point - 1
    if exponent_form and (exponent < -4 or exponent >= 6):
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    return sign + _plain(digits, point)


def format_double(x: float) -> str:
    """``x`` as Go's ``fmt.Sprintf("%g", x)``: shortest digits, exponent form below 1e-4 or from 1e6."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return _go_float_text(x, exponent_form=True)


def format_double_fixed(x: float) -> str:
    """Finite ``x`` as Go's ``strconv.FormatFloat(x, 'f', -1, 64)``: shortest digits, no exponent."""
    return _go_float_text(x, exponent_form=False)


# ---------------------------------------------------------------- conversions


def _int_in_range(value: int) -> int:
    if INT64_MIN <= value <= INT64_MAX:
        return value
    raise EvaluationError(INT_RANGE_ERROR)


def _conversion_error(value: Any, target: str) -> EvaluationError:
    return EvaluationError(f"type conversion error from '{type_name(value)}' to '{target}': {value!r}")


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
        if _GO_INT.fullmatch(value) and INT64_MIN <= int(value) <= INT64_MAX:
            return int(value)
        raise _conversion_error(value, "int")
    if tv is _dt.datetime:
        return timestamp_unix_seconds(value)
    if tv is _dt.timedelta:
        return duration_nanos(value)
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
        if _GO_UINT.fullmatch(value) and int(value) <= UINT64_MAX:
            return UInt(int(value))
        raise _conversion_error(value, "uint")
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
            raise _conversion_error(value, "double")
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
    if tv is _dt.datetime:
        return format_timestamp(value)
    if tv is _dt.timedelta:
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
            raise _conversion_error(value, "bool")
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
    if type(s) is not str or type(arg) is not str:
        raise no_such_overload(name, s, arg)


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


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # invalid patterns become CEL errors, not stderr noise
    return options


_RE2_OPTIONS = _re2_options()


def re2_compile(pattern: str | bytes, options: re2.Options) -> Any:
    """``re2.compile`` without google-re2's own memo: it keeps the last 128 compiled programs in an
    ``lru_cache`` bounded by entries (10 MB each for a 240 KB pattern: 1.3 GB), beside ours, which is
    bounded by bytes. Raises ``re2.error`` for an invalid pattern."""
    try:
        return re2.compile(pattern, options=options)
    finally:
        re2.purge()


def regex_cost(pattern: str | bytes, compiled: Any) -> int:
    """What a compiled RE2 program keeps alive: measured, a 240 KB pattern of 200,000 instructions took
    15 MB (75 bytes an instruction); 200 a instruction leaves room for the reverse program and the DFA
    states matching builds. (``reverseprogramsize`` would compile the reverse program to measure it.)"""
    return ENTRY_OVERHEAD + 2 * len(pattern) + 200 * compiled.programsize


#: Compiled patterns: 64 MiB of programs at most (a pattern can come from a request attribute).
@memoize(max_bytes=64 << 20, max_entries=512, cost=regex_cost)
def compile_regex(pattern: str) -> Any:
    """The compiled RE2 pattern, cached; an invalid pattern is an :class:`EvaluationError`."""
    try:
        return re2_compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = (
            exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        )
        raise EvaluationError(f"invalid regular expression {pattern!r}: {reason}") from None


@function("matches", member=True, also_global=True)
def matches(s: Any, pattern: Any) -> bool:
    """``s.matches(re)`` / ``matches(s, re)``: whether RE2 pattern ``re`` matches anywhere in ``s``."""
    _strings("matches", s, pattern)
    return compile_regex(pattern).search(s) is not None
