"""CEL timestamps and durations: parsing, formatting, checked arithmetic, accessors and time zones.

Values are nanosecond-exact (:class:`~chamberlain.cel.values.Timestamp` and
:class:`~chamberlain.cel.values.Duration`, both ``int`` subclasses). Semantics and error texts are
cel-go's as Cerbos 0.55 runs it, checked against the binary (tests/cel/test_cerbos_binary.py):

* a timestamp spans 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z and keeps the UTC offset
  it was written with for printing (``string()`` and JSON print RFC 3339 with the trimmed
  nanosecond fraction, as Go's ``time.RFC3339Nano``); accessors without a time zone read UTC;
* a duration is an int64 count of nanoseconds (about ±292 years), parsed as Go's
  ``time.ParseDuration`` and printed as seconds (``1.5s``, ``0.000000001s``);
* ``duration.getMilliseconds()`` is the total number of milliseconds, as cel-go has it.

Besides the CEL functions, the runtime calls the checked helpers ``add_timestamp_duration``,
``sub_timestamp_duration``, ``sub_timestamps``, ``add_durations``, ``sub_durations`` and
``neg_duration``; ``string()`` uses ``format_timestamp`` and ``format_duration``.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import zoneinfo
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import StringCache, function
from chamberlain.cel.golang import format_float_f, parse_int, quote
from chamberlain.cel.values import (
    INT64_MAX,
    INT64_MIN,
    NANOS_PER_SECOND,
    Duration,
    Timestamp,
    no_such_overload,
)

TIMESTAMP_OVERFLOW = "timestamp overflow"
INT_OVERFLOW = "integer overflow"
TIMESTAMP_CONVERSION_ERROR = "type conversion error from 'string' to 'google.protobuf.Timestamp'"
DURATION_CONVERSION_ERROR = "type conversion error from 'string' to 'google.protobuf.Duration'"

_NS = NANOS_PER_SECOND
#: Unix seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
MIN_UNIX_SECONDS = -62135596800
MAX_UNIX_SECONDS = 253402300799
TIMESTAMP_MIN_NANOS = MIN_UNIX_SECONDS * _NS
TIMESTAMP_MAX_NANOS = MAX_UNIX_SECONDS * _NS + _NS - 1
_SECONDS_PER_DAY = 86_400


# ---------------------------------------------------------------- checked arithmetic


def _int64(value: int) -> int:
    if INT64_MIN <= value <= INT64_MAX:
        return value
    raise EvaluationError(INT_OVERFLOW)


def timestamp_in_range(nanos: int, offset: int = 0) -> Timestamp:
    """The timestamp ``nanos`` after the epoch, or a timestamp overflow error outside years 1..9999."""
    if TIMESTAMP_MIN_NANOS <= nanos <= TIMESTAMP_MAX_NANOS:
        return Timestamp.at(nanos, offset)
    raise EvaluationError(TIMESTAMP_OVERFLOW)


def add_timestamp_duration(ts: Timestamp, d: Duration) -> Timestamp:
    """``ts + d`` (keeping ``ts``'s offset), or a timestamp overflow error outside years 1..9999."""
    return timestamp_in_range(int(ts) + int(d), ts.offset)


def sub_timestamp_duration(ts: Timestamp, d: Duration) -> Timestamp:
    """``ts - d``: cel-go negates ``d`` first, so the smallest duration overflows."""
    return add_timestamp_duration(ts, neg_duration(d))


def sub_timestamps(a: Timestamp, b: Timestamp) -> Duration:
    """``a - b`` as a duration, computed as cel-go does: whole seconds times 10^9 must fit an int64
    on their own (so a few differences just inside the range overflow too)."""
    seconds_a, nanos_a = divmod(int(a), _NS)
    seconds_b, nanos_b = divmod(int(b), _NS)
    whole = _int64(_int64(seconds_a - seconds_b) * _NS)
    return Duration(_int64(whole + nanos_a - nanos_b))


def add_durations(a: Duration, b: Duration) -> Duration:
    """``a + b``, or an integer overflow error."""
    return Duration(_int64(int(a) + int(b)))


def sub_durations(a: Duration, b: Duration) -> Duration:
    """``a - b``, or an integer overflow error."""
    return Duration(_int64(int(a) - int(b)))


def neg_duration(d: Duration) -> Duration:
    """``-d``, or an integer overflow error for the smallest duration."""
    return Duration(_int64(-int(d)))


# ---------------------------------------------------------------- calendar


#: Days from 0001-01-01 (ordinal 1) to 1970-01-01, and the days datetime.date can represent.
_EPOCH_ORDINAL = 719_163
_FIRST_DAY, _LAST_DAY = 1 - _EPOCH_ORDINAL, 3_652_059 - _EPOCH_ORDINAL
_fromordinal = _dt.date.fromordinal
_fromisoformat = _dt.datetime.fromisoformat
_UTC = _dt.UTC
_SECOND = _dt.timedelta(seconds=1)


def civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of the proleptic Gregorian day ``days`` after 1970-01-01, for any year."""
    if _FIRST_DAY <= days <= _LAST_DAY:  # years 1..9999: the C implementation
        date = _fromordinal(days + _EPOCH_ORDINAL)
        return date.year, date.month, date.day
    z = days + 719_468  # days since 0000-03-01
    era, day_of_era = divmod(z, 146_097)
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153  # March is 0
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + 3 if shifted_month < 10 else shifted_month - 9
    return year_of_era + era * 400 + (month <= 2), month, day


def days_from_civil(year: int, month: int, day: int) -> int:
    """The number of days from 1970-01-01 to the given proleptic Gregorian date."""
    if 1 <= year <= 9999:
        return _dt.date(year, month, day).toordinal() - _EPOCH_ORDINAL
    year -= month <= 2
    era, year_of_era = divmod(year, 400)
    day_of_year = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


# ---------------------------------------------------------------- formatting


def format_offset(offset: int) -> str:
    """``Z`` or ``±hh:mm`` as Go's ``Z07:00`` layout prints a UTC offset (seconds are dropped)."""
    if offset == 0:
        return "Z"
    minutes = abs(offset) // 60
    return f"{'-' if offset < 0 else '+'}{minutes // 60:02d}:{minutes % 60:02d}"


def format_timestamp(ts: Timestamp) -> str:
    """RFC 3339 at the timestamp's offset, the fraction's trailing zeros trimmed (Go's ``RFC3339Nano``)."""
    offset = ts.offset
    seconds, nanos = divmod(int(ts), _NS)
    days, clock = divmod(seconds + offset, _SECONDS_PER_DAY)
    year, month, day = civil_from_days(days)
    text = f"{year:04d}-{month:02d}-{day:02d}T{clock // 3600:02d}:{clock // 60 % 60:02d}:{clock % 60:02d}"
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return text + format_offset(offset)


def format_duration(d: Duration) -> str:
    """Seconds with the shortest decimal of Go's ``Duration.Seconds()`` and an ``s`` suffix: ``1.5s``."""
    return format_float_f(duration_seconds(d)) + "s"


def _go_duration_in(nanos: int, unit: int) -> float:
    """Go's ``Duration.Hours()``/``Minutes()``/``Seconds()``: whole units plus the remainder as a fraction."""
    whole = abs(nanos) // unit
    remainder = abs(nanos) % unit
    value = float(whole) + remainder / unit
    return -value if nanos < 0 else value


def duration_seconds(d: Duration) -> float:
    """The duration in seconds as a double, computed as Go's ``Duration.Seconds()`` does."""
    return _go_duration_in(int(d), _NS)


def timestamp_unix_seconds(ts: Timestamp) -> int:
    """Whole seconds since the Unix epoch, rounded down (CEL's ``int(timestamp)``)."""
    return int(ts) // _NS


# ---------------------------------------------------------------- parsing

# RFC 3339's grammar (T and Z in either case), which the timestamp must match first ...
_RFC3339 = re.compile(
    r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9]|60)"
    r"(?:\.([0-9]+))?(?:[Zz]|([+-])([01][0-9]|2[0-3]):([0-5][0-9]))"
)


def parse_timestamp(text: str) -> Timestamp:
    """An RFC 3339 timestamp, to the nanosecond (further digits are dropped), keeping its offset.

    ... and then Go's ``time.Parse``, which is case-sensitive and checks the calendar: what the
    grammar rejects is ``invalid RFC 3339 timestamp "..."``, what Go rejects after it a conversion
    error, an instant outside years 1..9999 a timestamp overflow (all as Cerbos words them).
    """
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise EvaluationError(f"invalid RFC 3339 timestamp {quote(text)}")
    if text[10] == "t" or text[-1] == "z":
        raise EvaluationError(TIMESTAMP_CONVERSION_ERROR)
    try:
        # Once the grammar has vetted the text, Python's C parser reads it (to the microsecond).
        moment = _fromisoformat(text)
    except ValueError:  # a leap second, February 30, or year 0 (which Go reads, and is out of range)
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if year == 0 and m.group(6) != "60" and day <= _days_in_month(year, month):
            raise EvaluationError(TIMESTAMP_OVERFLOW) from None
        raise EvaluationError(TIMESTAMP_CONVERSION_ERROR) from None
    fraction = m.group(7)
    if fraction:
        nanos = int(moment.replace(microsecond=0).timestamp()) * _NS + int(fraction[:9].ljust(9, "0"))
    else:
        nanos = int(moment.timestamp()) * _NS
    if moment.tzinfo is _UTC and TIMESTAMP_MIN_NANOS <= nanos <= TIMESTAMP_MAX_NANOS:
        return Timestamp(nanos)
    return timestamp_in_range(nanos, moment.utcoffset() // _SECOND)


def timestamp_from_unix(seconds: int) -> Timestamp:
    """The timestamp ``seconds`` after the Unix epoch (UTC), range-checked."""
    if not MIN_UNIX_SECONDS <= seconds <= MAX_UNIX_SECONDS:
        raise EvaluationError(TIMESTAMP_OVERFLOW)
    return Timestamp(seconds * _NS)


_DURATION_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": _NS,
    "m": 60 * _NS,
    "h": 3600 * _NS,
}
_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")
_TWO_63 = 1 << 63


def _leading_fraction(digits: str) -> tuple[int, float]:
    """Go's ``leadingFraction``: the digits as an integer and 10**count, precision capped near 2**63."""
    value, scale = 0, 1.0
    for char in digits:
        if value > (_TWO_63 - 1) // 10:
            break
        grown = value * 10 + ord(char) - 48
        if grown > _TWO_63:
            break
        value, scale = grown, scale * 10
    return value, scale


def parse_duration(text: str) -> Duration:
    """A Go duration string (``1h2m3.5s``, ``-1.5h``, ``100ms``, ``1us``, ``1µs``, ``1ns``), as Go's
    ``time.ParseDuration``, whose float arithmetic on fractions it repeats; any failure is the
    conversion error cel-go reports."""
    body = text[1:] if text[:1] in ("-", "+") else text
    negative = text[:1] == "-"
    if body == "0":
        return Duration(0)
    if not body:
        raise EvaluationError(DURATION_CONVERSION_ERROR)
    total = 0
    position = 0
    while position < len(body):
        m = _DURATION_PART.match(body, position)
        whole, fraction, unit = m.groups()  # the pattern always matches, possibly empty
        scale = _DURATION_UNITS_NS.get(unit)
        whole = whole.lstrip("0")
        if (not m.group(1) and not fraction) or scale is None or len(whole) > 19:
            raise EvaluationError(DURATION_CONVERSION_ERROR)
        value = int(whole or "0")
        if value > _TWO_63 // scale:  # Go's leadingInt overflows past 2**63 before this check
            raise EvaluationError(DURATION_CONVERSION_ERROR)
        value *= scale
        if fraction:
            digits, divisor = _leading_fraction(fraction)
            if digits:
                value += int(float(digits) * (float(scale) / divisor))
                if value > _TWO_63:
                    raise EvaluationError(DURATION_CONVERSION_ERROR)
        total += value
        if total > _TWO_63:
            raise EvaluationError(DURATION_CONVERSION_ERROR)
        position = m.end()
    if negative:
        return Duration(-total)
    if total > INT64_MAX:
        raise EvaluationError(DURATION_CONVERSION_ERROR)
    return Duration(total)


# ---------------------------------------------------------------- constructors


#: Parsed timestamp strings. Request attributes (``createdAt``, ...) repeat across requests, and
#: parsing is the cost of ``timestamp(s)``; timestamps are immutable, so sharing them is safe.
TIMESTAMPS = StringCache(parse_timestamp, maxsize=4096)


@function("timestamp", result_type="timestamp", str_cache=TIMESTAMPS)
def timestamp(value: Any) -> Timestamp:
    """``timestamp(string | int | timestamp)``."""
    tv = type(value)
    if tv is Timestamp:
        return value
    if tv is str:
        return TIMESTAMPS[value]
    if tv is int:
        return timestamp_from_unix(value)
    raise no_such_overload("timestamp", value)


@function("duration", result_type="duration")
def duration(value: Any) -> Duration:
    """``duration(string | duration)``."""
    tv = type(value)
    if tv is Duration:
        return value
    if tv is str:
        return parse_duration(value)
    raise no_such_overload("duration", value)


# ---------------------------------------------------------------- time zones


def _atoi(text: str) -> int:
    """Go's ``strconv.Atoi``, with its error texts."""
    value = parse_int(text)
    if value is not None:
        return value
    reason = "value out of range" if re.fullmatch(r"[+-]?[0-9]+", text) else "invalid syntax"
    raise EvaluationError(f"strconv.Atoi: parsing {quote(text)}: {reason}")


class _UTC:
    """The offset of UTC (and of Go's ``Local``, which is UTC where Cerbos runs in a container)."""

    @staticmethod
    def offset_at(_seconds: int) -> int:
        return 0


_UTC_ZONE = _UTC()


_fromtimestamp = _dt.datetime.fromtimestamp


class _Zone:
    """An IANA time zone: its UTC offset at any instant."""

    __slots__ = ("info",)

    #: Instants are clamped into datetime's range; offsets there are constant (before the first and
    #: after the last transition), so the far years keep the right offset.
    _FIRST = MIN_UNIX_SECONDS + 2 * _SECONDS_PER_DAY
    _LAST = MAX_UNIX_SECONDS - 2 * _SECONDS_PER_DAY

    def __init__(self, info: zoneinfo.ZoneInfo):
        self.info = info

    def offset_at(self, seconds: int) -> int:
        clamped = min(max(seconds, self._FIRST), self._LAST)
        return _fromtimestamp(clamped, self.info).utcoffset() // _SECOND


@lru_cache(maxsize=256)
def _zone(name: str) -> _UTC | _Zone | str:
    """The zone named ``name`` as Go's ``time.LoadLocation`` finds it, or the error text."""
    if name in ("", "UTC", "Local"):
        return _UTC_ZONE
    if ".." in name or name[0] in "/\\":
        return "time: invalid location name"
    try:
        return _Zone(zoneinfo.ZoneInfo(name))
    except (zoneinfo.ZoneInfoNotFoundError, OSError):
        return f"unknown time zone {name}"
    except ValueError:
        return "malformed time zone information"


def zone_offset(ts: Timestamp, tz: Any) -> int:
    """The UTC offset (seconds east) of time zone ``tz`` at ``ts``, as cel-go reads ``tz``: an IANA
    name (``UTC``, ``America/New_York``) or ``[+-]hh:mm`` (each part Go's ``strconv.Atoi``)."""
    colon = tz.find(":")
    if colon < 0:
        zone = _zone(tz)
        if type(zone) is str:
            raise EvaluationError(zone)
        return zone.offset_at(int(ts) // _NS)
    hours = _atoi(tz[:colon])
    minutes = _atoi(tz[colon + 1 :])
    offset_minutes = hours * 60 - minutes if tz.startswith("-") else hours * 60 + minutes
    # Go: int((time.Duration(offset) * time.Minute).Seconds()), an int64 product that wraps.
    product = (offset_minutes * 60 * _NS + _TWO_63) % (1 << 64) - _TWO_63
    return math.trunc(_go_duration_in(product, _NS))


# ---------------------------------------------------------------- accessors


def _date_field(pick: Callable[[int, int, int, int], int]) -> Callable[[int, int], int]:
    """A calendar field from local seconds: ``pick(year, month, day, days since the epoch)``."""

    def field(local: int, _nanos: int) -> int:
        days = local // _SECONDS_PER_DAY
        return pick(*civil_from_days(days), days)

    return field


#: Each accessor as a function of the local time in seconds since the epoch and the nanoseconds.
_TIMESTAMP_FIELDS: dict[str, Callable[[int, int], int]] = {
    "getFullYear": _date_field(lambda y, m, d, days: y),
    "getMonth": _date_field(lambda y, m, d, days: m - 1),
    "getDayOfYear": _date_field(lambda y, m, d, days: days - days_from_civil(y, 1, 1)),
    "getDayOfMonth": _date_field(lambda y, m, d, days: d - 1),
    "getDate": _date_field(lambda y, m, d, days: d),
    "getDayOfWeek": lambda local, _: (local // _SECONDS_PER_DAY + 4) % 7,  # 1970-01-01 was a Thursday
    "getHours": lambda local, _: local % _SECONDS_PER_DAY // 3600,
    "getMinutes": lambda local, _: local % 3600 // 60,
    "getSeconds": lambda local, _: local % 60,
    "getMilliseconds": lambda _, nanos: nanos // 1_000_000,
}

#: Duration accessors, as cel-go computes them: ``int(d.Hours())``, ..., ``d.Milliseconds()``.
_DURATION_ACCESSOR_UNITS = {
    "getHours": 3600 * _NS,
    "getMinutes": 60 * _NS,
    "getSeconds": _NS,
}


def _duration_accessor(name: str) -> Callable[[Duration], int] | None:
    if name == "getMilliseconds":
        return lambda d: int(d) // 1_000_000 if d >= 0 else -(-int(d) // 1_000_000)
    unit = _DURATION_ACCESSOR_UNITS.get(name)
    if unit is None:
        return None
    return lambda d: math.trunc(_go_duration_in(int(d), unit))


def _register_accessor(name: str, field: Callable[[int, int], int]) -> None:
    of_duration = _duration_accessor(name)

    def accessor(target: Any) -> int:
        tt = type(target)
        if tt is Timestamp:
            seconds, nanos = divmod(int(target), _NS)
            return field(seconds, nanos)
        if of_duration is not None and tt is Duration:
            return of_duration(target)
        raise no_such_overload(name, target)

    def accessor_in_zone(target: Any, tz: Any) -> int:
        if type(target) is not Timestamp or type(tz) is not str:
            raise no_such_overload(name, target, tz)
        seconds, nanos = divmod(int(target), _NS)
        return field(seconds + zone_offset(target, tz), nanos)

    accessor.__doc__ = f"``timestamp.{name}()`` in UTC" + (
        f" or ``duration.{name}()``" if of_duration else ""
    )
    accessor_in_zone.__doc__ = f"``timestamp.{name}(tz)`` in the given time zone."
    function(name, member=True)(accessor)
    function(name, member=True)(accessor_in_zone)


for _name, _field in _TIMESTAMP_FIELDS.items():
    _register_accessor(_name, _field)
