"""CEL timestamps and durations: constructors, accessors, formatting and checked arithmetic.

Semantics follow cel-go (which Cerbos uses): a duration is an int64 count of nanoseconds
(about ±292 years, as the language definition says), timestamps span years 1..9999, and
``duration.getMilliseconds()`` is the total number of milliseconds. Values carry microseconds, so
nanosecond digits are truncated when parsed.

Besides the CEL functions, the runtime calls the checked helpers ``add_timestamp_duration``,
``sub_timestamps``, ``add_durations``, ``sub_durations`` and ``neg_duration``, and ``string()``
uses ``format_timestamp`` and ``format_duration``.
"""

from __future__ import annotations

import datetime as _dt
import re
import zoneinfo
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import StringCache, function
from chamberlain.cel.values import INT64_MAX, UTC, no_such_overload

TIMESTAMP_OVERFLOW = "timestamp overflow: out of range"
DURATION_OVERFLOW = "duration overflow: out of range"

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = _dt.timedelta(microseconds=1)
#: Unix seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
MIN_UNIX_SECONDS = -62135596800
MAX_UNIX_SECONDS = 253402300799
#: Largest whole number of microseconds in an int64 count of nanoseconds.
_DURATION_LIMIT_US = INT64_MAX // 1000
_NS_PER_S = 1_000_000_000


# ---------------------------------------------------------------- checked arithmetic


def check_duration(d: _dt.timedelta) -> _dt.timedelta:
    """``d`` if it fits CEL's duration range (int64 nanoseconds), else a duration overflow error."""
    if abs(d // _MICROSECOND) > _DURATION_LIMIT_US:
        raise EvaluationError(DURATION_OVERFLOW)
    return d


def add_timestamp_duration(ts: _dt.datetime, d: _dt.timedelta) -> _dt.datetime:
    """``ts + d``, or a timestamp overflow error outside years 1..9999."""
    try:
        return ts + d
    except OverflowError:
        raise EvaluationError(TIMESTAMP_OVERFLOW) from None


def sub_timestamps(a: _dt.datetime, b: _dt.datetime) -> _dt.timedelta:
    """``a - b`` as a duration, or a duration overflow error."""
    return check_duration(a - b)


def add_durations(a: _dt.timedelta, b: _dt.timedelta) -> _dt.timedelta:
    """``a + b``, or a duration overflow error."""
    return check_duration(a + b)


def sub_durations(a: _dt.timedelta, b: _dt.timedelta) -> _dt.timedelta:
    """``a - b``, or a duration overflow error."""
    return check_duration(a - b)


def neg_duration(d: _dt.timedelta) -> _dt.timedelta:
    """``-d`` (the range is symmetric at microsecond precision, so this cannot overflow)."""
    return check_duration(-d)


# ---------------------------------------------------------------- formatting


def format_timestamp(ts: _dt.datetime) -> str:
    """RFC 3339 in UTC with the fraction's trailing zeros trimmed, as Go's ``time.RFC3339Nano``."""
    t = ts.astimezone(UTC) if ts.utcoffset() else ts
    text = f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    if t.microsecond:
        text += "." + f"{t.microsecond:06d}".rstrip("0")
    return text + "Z"


def format_duration(d: _dt.timedelta) -> str:
    """Seconds with the shortest exact decimal and an ``s`` suffix, e.g. ``1.5s``, ``-0.000001s``."""
    from chamberlain.cel.lib.core import format_double_fixed  # core imports this module

    return format_double_fixed(duration_seconds(d)) + "s"


def duration_seconds(d: _dt.timedelta) -> float:
    """The duration in seconds as a double, computed as Go's ``Duration.Seconds()`` does."""
    nanos = duration_nanos(d)
    whole = abs(nanos) // _NS_PER_S
    frac = abs(nanos) % _NS_PER_S
    sign = -1 if nanos < 0 else 1
    return sign * (float(whole) + frac / 1e9)


def duration_nanos(d: _dt.timedelta) -> int:
    """The duration as a whole number of nanoseconds (CEL's ``int(duration)``)."""
    return (d // _MICROSECOND) * 1000


def timestamp_unix_seconds(ts: _dt.datetime) -> int:
    """Whole seconds since the Unix epoch, rounded down (CEL's ``int(timestamp)``)."""
    return (ts - _EPOCH) // _dt.timedelta(seconds=1)


# ---------------------------------------------------------------- parsing

_RFC3339 = re.compile(
    r"([0-9]{4,})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:[.,]([0-9]+))?(?:Z|([+-])([0-9]{2}):([0-9]{2}))"
)


def parse_timestamp(text: str) -> _dt.datetime:
    """An RFC 3339 timestamp (``Z`` or a numeric offset), as UTC; nanoseconds are truncated."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise EvaluationError(f"timestamp parse error: invalid RFC 3339 timestamp {text!r}")
    if m.group(7) is None or len(m.group(7)) <= 6:
        # The C parser is 10x faster; it reads exactly this syntax once the regex has vetted it.
        # Anything it refuses (or that overflows) takes the detailed path below for the error.
        try:
            value = _dt.datetime.fromisoformat(text)
            return value if value.tzinfo is UTC else value.astimezone(UTC)
        except (ValueError, OverflowError):
            pass
    year, month, day, hour, minute, second, frac, sign, off_h, off_m = m.groups()
    if not 1 <= int(year) <= 9999:
        raise EvaluationError(TIMESTAMP_OVERFLOW)
    micros = int((frac or "")[:6].ljust(6, "0"))
    try:
        local = _dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micros)
    except ValueError as exc:
        raise EvaluationError(f"timestamp parse error: {exc}: {text!r}") from None
    offset = _dt.timedelta()
    if sign:
        if int(off_h) > 23 or int(off_m) > 59:
            raise EvaluationError(f"timestamp parse error: time zone offset out of range: {text!r}")
        offset = _dt.timedelta(hours=int(off_h), minutes=int(off_m))
        if sign == "-":
            offset = -offset
    try:
        return (local - offset).replace(tzinfo=UTC)
    except OverflowError:
        raise EvaluationError(TIMESTAMP_OVERFLOW) from None


def timestamp_from_unix(seconds: int) -> _dt.datetime:
    """The timestamp ``seconds`` after the Unix epoch, range-checked."""
    if not MIN_UNIX_SECONDS <= seconds <= MAX_UNIX_SECONDS:
        raise EvaluationError(TIMESTAMP_OVERFLOW)
    return _EPOCH + _dt.timedelta(seconds=seconds)


_DURATION_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": _NS_PER_S,
    "m": 60 * _NS_PER_S,
    "h": 3600 * _NS_PER_S,
}
_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")


def parse_duration(text: str) -> _dt.timedelta:
    """A Go duration string (``1h2m3.5s``, ``-1.5h``, ``100ms``, ``1us``, ``1µs``, ``1ns``).

    Sub-microsecond remainders are truncated toward zero.
    """
    body = text[1:] if text[:1] in ("-", "+") else text
    negative = text[:1] == "-"
    if body == "0":
        return _dt.timedelta()
    if not body:
        raise EvaluationError(f"invalid duration {text!r}")
    nanos = 0
    pos = 0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        whole, frac, unit = m.groups()  # the pattern always matches, possibly empty
        if not whole and not frac:
            raise EvaluationError(f"invalid duration {text!r}")
        scale = _DURATION_UNITS_NS.get(unit)
        if scale is None:
            reason = "missing unit" if not unit else f"unknown unit {unit!r}"
            raise EvaluationError(f"invalid duration {text!r}: {reason}")
        nanos += int(whole or "0") * scale
        if frac:
            nanos += int(frac) * scale // 10 ** len(frac)
        if nanos > INT64_MAX + negative:
            raise EvaluationError(DURATION_OVERFLOW)
        pos = m.end()
    micros = nanos // 1000
    return _dt.timedelta(microseconds=-micros if negative else micros)


# ---------------------------------------------------------------- constructors


#: Parsed timestamp strings. Request attributes (``createdAt``, ...) repeat across requests, and
#: parsing is the cost of ``timestamp(s)``; datetimes are immutable, so sharing them is safe.
TIMESTAMPS = StringCache(parse_timestamp, maxsize=4096)


@function("timestamp", result_type="timestamp", str_cache=TIMESTAMPS)
def timestamp(value: Any) -> _dt.datetime:
    """``timestamp(string | int | timestamp)``."""
    tv = type(value)
    if tv is _dt.datetime:
        return value
    if tv is str:
        return TIMESTAMPS[value]
    if tv is int:
        return timestamp_from_unix(value)
    raise no_such_overload("timestamp", value)


@function("duration", result_type="duration")
def duration(value: Any) -> _dt.timedelta:
    """``duration(string | duration)``."""
    tv = type(value)
    if tv is _dt.timedelta:
        return value
    if tv is str:
        return parse_duration(value)
    raise no_such_overload("duration", value)


# ---------------------------------------------------------------- time zones


_GO_INT = re.compile(r"[+-]?[0-9]+")


def _go_atoi(text: str, tz: str) -> int:
    if not _GO_INT.fullmatch(text):
        raise EvaluationError(f"invalid time zone offset {tz!r}")
    return int(text)


@lru_cache(maxsize=256)
def _zone(name: str) -> _dt.tzinfo:
    if name in ("", "UTC"):
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise EvaluationError(f"unknown time zone {name!r}") from None


def local_time(ts: _dt.datetime, tz: Any) -> _dt.datetime:
    """``ts`` as wall-clock time in ``tz``: an IANA name, ``UTC``, or an offset such as ``+05:30``."""
    if type(tz) is not str:
        raise EvaluationError(f"no such overload: time zone must be a string, got {type(tz).__name__}")
    colon = tz.find(":")
    try:
        if colon < 0:
            return ts.astimezone(_zone(tz))
        hours = _go_atoi(tz[:colon], tz)
        minutes = _go_atoi(tz[colon + 1 :], tz)
        if not 0 <= minutes <= 59:
            raise EvaluationError(f"timezone offset minutes out of range [0, 59]: {tz}")
        offset = hours * 60 - minutes if tz.startswith("-") else hours * 60 + minutes
        return ts.replace(tzinfo=None) + _dt.timedelta(minutes=offset)
    except OverflowError:
        raise EvaluationError(TIMESTAMP_OVERFLOW) from None


# ---------------------------------------------------------------- accessors

_TIMESTAMP_FIELDS: dict[str, Callable[[_dt.datetime], int]] = {
    "getFullYear": lambda t: t.year,
    "getMonth": lambda t: t.month - 1,
    "getDayOfYear": lambda t: t.timetuple().tm_yday - 1,
    "getDayOfMonth": lambda t: t.day - 1,
    "getDate": lambda t: t.day,
    "getDayOfWeek": lambda t: (t.weekday() + 1) % 7,  # Sunday is 0
    "getHours": lambda t: t.hour,
    "getMinutes": lambda t: t.minute,
    "getSeconds": lambda t: t.second,
    "getMilliseconds": lambda t: t.microsecond // 1000,
}

#: Duration accessors convert the whole duration to the unit, truncating toward zero.
_DURATION_UNITS_US = {
    "getHours": 3_600_000_000,
    "getMinutes": 60_000_000,
    "getSeconds": 1_000_000,
    "getMilliseconds": 1_000,
}


def _duration_in(d: _dt.timedelta, unit_us: int) -> int:
    micros = d // _MICROSECOND
    whole = abs(micros) // unit_us
    return -whole if micros < 0 else whole


def _register_accessor(name: str, field: Callable[[_dt.datetime], int]) -> None:
    unit_us = _DURATION_UNITS_US.get(name)

    def accessor(target: Any) -> int:
        tt = type(target)
        if tt is _dt.datetime:
            return field(target.astimezone(UTC) if target.utcoffset() else target)
        if unit_us is not None and tt is _dt.timedelta:
            return _duration_in(target, unit_us)
        raise no_such_overload(name, target)

    def accessor_in_zone(target: Any, tz: Any) -> int:
        if type(target) is not _dt.datetime or type(tz) is not str:
            raise no_such_overload(name, target, tz)
        return field(local_time(target, tz))

    accessor.__doc__ = f"``timestamp.{name}()`` in UTC" + (f" or ``duration.{name}()``" if unit_us else "")
    accessor_in_zone.__doc__ = f"``timestamp.{name}(tz)`` in the given time zone."
    function(name, member=True)(accessor)
    function(name, member=True)(accessor_in_zone)


for _name, _field in _TIMESTAMP_FIELDS.items():
    _register_accessor(_name, _field)
