"""RFC 3339 timestamps read as Cerbos reads a ``google.protobuf.Timestamp``: Go's
``time.Parse(time.RFC3339Nano, ...)``, with its error messages, then protobuf's range check.

Go's parser is lenient in places (a one-digit hour, a comma before the fraction, any number of
fraction digits) and strict in others (``T`` and ``Z`` in upper case, a ``±hh:mm`` offset).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

LAYOUT = "2006-01-02T15:04:05.999999999Z07:00"
_MIN_SECONDS = -62135596800  # 0001-01-01T00:00:00Z
_MAX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class _Bad(Exception):
    """The text does not fit the layout element being parsed."""


class _OutOfRange(Exception):
    """A parsed element is out of range; the argument names it."""


def parse_rfc3339(text: str) -> dt.datetime:
    """The instant ``text`` names, in UTC; ``ValueError`` with Go's (or protobuf's) message if invalid."""
    fields = _Fields()
    rest = text
    for prefix, element, parse in _STEPS:
        if not rest.startswith(prefix):
            raise ValueError(_syntax_error(text, rest, prefix))
        rest = hold = rest[len(prefix) :]
        try:
            rest = parse(fields, rest)
        except _OutOfRange as exc:
            raise ValueError(f"parsing time {_quote(text)}: {exc.args[0]} out of range") from None
        except _Bad:
            raise ValueError(_syntax_error(text, hold, element)) from None
    if rest:
        raise ValueError(f"parsing time {_quote(text)}: extra text: {_quote(rest)}")
    if not 1 <= fields.day <= _days_in(fields.month, fields.year):
        raise ValueError(f"parsing time {_quote(text)}: day out of range")
    return _instant(fields)


class _Fields:
    __slots__ = ("day", "hour", "minute", "month", "nanos", "offset", "second", "year")

    def __init__(self) -> None:
        self.year = self.month = self.day = self.hour = self.minute = self.second = 0
        self.nanos = self.offset = 0


def _year(fields: _Fields, rest: str) -> str:
    if len(rest) < 4 or not all(_is_digit(rest, i) for i in range(4)):
        raise _Bad
    fields.year = int(rest[:4])
    return rest[4:]


def _number(rest: str, fixed: bool) -> tuple[int, str]:
    """Go's ``getnum``: one or two digits (exactly two when ``fixed``)."""
    if not _is_digit(rest, 0):
        raise _Bad
    if not _is_digit(rest, 1):
        if fixed:
            raise _Bad
        return int(rest[0]), rest[1:]
    return int(rest[:2]), rest[2:]


def _ranged(name: str, high: int, *, low: int = 0, fixed: bool = True) -> Callable[[_Fields, str], str]:
    def parse(fields: _Fields, rest: str) -> str:
        value, rest = _number(rest, fixed)
        if not low <= value <= high:
            raise _OutOfRange(name)
        setattr(fields, name, value)
        return rest

    return parse


def _day(fields: _Fields, rest: str) -> str:
    fields.day, rest = _number(rest, True)  # checked against the month once everything is parsed
    return rest


def _fraction(fields: _Fields, rest: str) -> str:
    if len(rest) < 2 or rest[0] not in ".," or not _is_digit(rest, 1):
        return rest  # no fraction
    digits = 1
    while _is_digit(rest, digits + 1):
        digits += 1
    fields.nanos = int(rest[1 : 1 + min(digits, 9)].ljust(9, "0"))
    return rest[1 + digits :]


def _zone(fields: _Fields, rest: str) -> str:
    if rest.startswith("Z"):
        return rest[1:]
    if len(rest) < 6 or rest[3] != ":":
        raise _Bad
    hours = _two_digits(rest[1:3])
    minutes = _two_digits(rest[4:6]) if hours is not None else None
    # Go compares with > (some write +24:00) and reports the last range problem it found.
    if minutes is not None and minutes > 60:
        raise _OutOfRange("time zone offset minute")
    if hours is not None and hours > 24:
        raise _OutOfRange("time zone offset hour")
    if hours is None or minutes is None or rest[0] not in "+-":
        raise _Bad
    fields.offset = (hours * 60 + minutes) * 60 * (1 if rest[0] == "+" else -1)
    return rest[6:]


def _two_digits(text: str) -> int | None:
    return int(text[:2]) if _is_digit(text, 0) and _is_digit(text, 1) else None


_STEPS: tuple[tuple[str, str, Callable[[_Fields, str], str]], ...] = (
    ("", "2006", _year),
    ("-", "01", _ranged("month", 12, low=1)),
    ("-", "02", _day),
    ("T", "15", _ranged("hour", 23, fixed=False)),
    (":", "04", _ranged("minute", 59)),
    (":", "05", _ranged("second", 59)),
    ("", ".999999999", _fraction),
    ("", "Z07:00", _zone),
)


def _instant(fields: _Fields) -> dt.datetime:
    """The parsed time in UTC, within protobuf's Timestamp range (years 1 to 9999)."""
    clock = fields.hour * 3600 + fields.minute * 60 + fields.second
    seconds = _days_from_civil(fields.year, fields.month, fields.day) * 86400 + clock - fields.offset
    nanos = f" nanos:{fields.nanos}" if fields.nanos else ""
    if seconds < _MIN_SECONDS:
        raise ValueError(f"proto: timestamp (seconds:{seconds}{nanos}) before 0001-01-01")
    if seconds > _MAX_SECONDS:
        raise ValueError(f"proto: timestamp (seconds:{seconds}{nanos}) after 9999-12-31")
    return _EPOCH + dt.timedelta(seconds=seconds, microseconds=fields.nanos // 1000)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (year 0 included)."""
    if month <= 2:
        year -= 1  # the year counted from March
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _days_in(month: int, year: int) -> int:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 29 if month == 2 and leap else _DAYS_IN_MONTH[month - 1]


def _is_digit(text: str, i: int) -> bool:
    return i < len(text) and "0" <= text[i] <= "9"


def _syntax_error(text: str, value: str, element: str) -> str:
    where = f"parsing time {_quote(text)} as {_quote(LAYOUT)}"
    return f"{where}: cannot parse {_quote(value)} as {_quote(element)}"


def _quote(text: str) -> str:
    """Go's ``time`` quoting: ``"`` and ``\\`` escaped, bytes outside printable ASCII as ``\\xNN``."""
    out = ['"']
    for ch in text:
        if " " <= ch <= "\x7f":
            out.append("\\" + ch if ch in '"\\' else ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
    out.append('"')
    return "".join(out)
