"""Timestamps and durations: parsing, accessors, formatting and checked arithmetic, to the nanosecond.

The expected values and error texts are cel-go's as the Cerbos 0.55 binary gives them (the
binary itself re-checks them in tests/cel/test_cerbos_binary.py).
"""

from __future__ import annotations

import datetime as dt
import pickle
from typing import Any

import pytest

from chamberlain.cel import compile
from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import REGISTRY
from chamberlain.cel.lib import time as cel_time
from chamberlain.cel.values import UTC, Duration, Timestamp

NS = 1_000_000_000


def call(name: str, *args: Any, member: bool = False) -> Any:
    """Call a registered function as the compiler would."""
    arity = len(args) - 1 if member else len(args)
    return REGISTRY[name].lookup(member, arity).fn(*args)


def ts(text: str) -> Timestamp:
    return call("timestamp", text)


def dur(text: str) -> Duration:
    return call("duration", text)


def unix(*fields: int) -> int:
    """Nanoseconds since the epoch of a UTC date and time (year, month, day, hour, minute, second)."""
    return int(dt.datetime(*fields, tzinfo=UTC).timestamp()) * NS


@pytest.mark.parametrize(
    ("text", "nanos", "offset"),
    [
        ("2009-02-13T23:31:30Z", unix(2009, 2, 13, 23, 31, 30), 0),
        ("2023-02-03T23:31:20+00:00", unix(2023, 2, 3, 23, 31, 20), 0),
        ("2009-02-13T23:31:30.123456789Z", unix(2009, 2, 13, 23, 31, 30) + 123456789, 0),
        ("2009-02-13T23:31:30.5-01:30", unix(2009, 2, 14, 1, 1, 30) + NS // 2, -5400),
        ("2009-02-13T23:31:30.0000000019Z", unix(2009, 2, 13, 23, 31, 30) + 1, 0),  # digits past 9 dropped
        ("0001-01-01T00:00:00Z", cel_time.TIMESTAMP_MIN_NANOS, 0),
        ("9999-12-31T23:59:59.999999999Z", cel_time.TIMESTAMP_MAX_NANOS, 0),
        ("2024-02-29T00:00:00Z", unix(2024, 2, 29, 0, 0, 0), 0),
    ],
)
def test_timestamp_parse(text: str, nanos: int, offset: int) -> None:
    result = ts(text)
    assert type(result) is Timestamp and int(result) == nanos and result.offset == offset


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # RFC 3339's grammar refuses these ...
        ("2009-02-13 23:31:30Z", 'invalid RFC 3339 timestamp "2009-02-13 23:31:30Z"'),
        ("2009-02-13T23:31:30", 'invalid RFC 3339 timestamp "2009-02-13T23:31:30"'),
        ("2009-02-13T24:00:00Z", 'invalid RFC 3339 timestamp "2009-02-13T24:00:00Z"'),
        ("2009-02-13T23:31:61Z", 'invalid RFC 3339 timestamp "2009-02-13T23:31:61Z"'),
        ("2009-02-32T00:00:00Z", 'invalid RFC 3339 timestamp "2009-02-32T00:00:00Z"'),
        ("2009-02-13T23:31:30+24:00", 'invalid RFC 3339 timestamp "2009-02-13T23:31:30+24:00"'),
        ("2009-2-13T23:31:30Z", 'invalid RFC 3339 timestamp "2009-2-13T23:31:30Z"'),
        ("10000-01-01T00:00:00Z", 'invalid RFC 3339 timestamp "10000-01-01T00:00:00Z"'),
        ("2009-02-13T23:31:30,5Z", 'invalid RFC 3339 timestamp "2009-02-13T23:31:30,5Z"'),
        ("", 'invalid RFC 3339 timestamp ""'),
        ("\t", 'invalid RFC 3339 timestamp "\\t"'),
        ("\x01", 'invalid RFC 3339 timestamp "\\x01"'),
        # ... Go's time.Parse these (it is case-sensitive and knows the calendar)
        ("2009-02-13t23:31:30Z", "type conversion error from 'string' to 'google.protobuf.Timestamp'"),
        ("2009-02-13T23:31:30z", "type conversion error from 'string' to 'google.protobuf.Timestamp'"),
        ("2009-02-29T00:00:00Z", "type conversion error from 'string' to 'google.protobuf.Timestamp'"),
        ("2009-04-31T00:00:00Z", "type conversion error from 'string' to 'google.protobuf.Timestamp'"),
        ("2009-02-13T23:59:60Z", "type conversion error from 'string' to 'google.protobuf.Timestamp'"),
    ],
)
def test_timestamp_parse_errors(text: str, message: str) -> None:
    with pytest.raises(EvaluationError) as raised:
        ts(text)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    "arg",
    [
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:59:59+01:00",
        "9999-12-31T23:00:00-01:00",
        -62135596801,
        253402300800,
    ],
)
def test_timestamp_range(arg: Any) -> None:
    with pytest.raises(EvaluationError, match=r"^timestamp overflow$"):
        call("timestamp", arg)


def test_timestamp_from_int_and_identity() -> None:
    assert call("timestamp", 1000000000) == Timestamp(1000000000 * NS)
    assert call("timestamp", -62135596800) == Timestamp(cel_time.TIMESTAMP_MIN_NANOS)
    t = ts("2009-02-13T23:31:30Z")
    assert call("timestamp", t) is t
    with pytest.raises(EvaluationError, match="no such overload"):
        call("timestamp", 1.5)


def test_timestamps_convert_from_and_to_python() -> None:
    moment = dt.datetime(2009, 2, 13, 23, 31, 30, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    stamp = Timestamp.from_datetime(moment)
    assert stamp == ts("2009-02-13T21:31:30.123456Z") and stamp.offset == 0
    assert ts("2009-02-13T23:31:30.123456789+05:00").to_datetime() == moment.replace(hour=20, minute=31)
    with pytest.raises(ValueError, match="timezone-aware"):
        Timestamp.from_datetime(dt.datetime(2009, 2, 13))
    assert Duration.from_timedelta(dt.timedelta(seconds=-1.5)) == dur("-1.5s")
    assert dur("-1.0000019s").to_timedelta() == dt.timedelta(microseconds=-1000001)


def test_timestamps_pickle_with_their_offset() -> None:
    stamp = ts("2009-02-13T23:31:30.5-01:30")
    copy = pickle.loads(pickle.dumps(stamp))
    assert type(copy) is Timestamp and copy == stamp and copy.offset == -5400
    assert pickle.loads(pickle.dumps(dur("1ns"))) == dur("1ns")


def test_offsets_change_printing_not_equality() -> None:
    local, utc = ts("2009-02-13T23:31:30+05:30"), ts("2009-02-13T18:01:30Z")
    assert local == utc and hash(local) == hash(utc)
    assert cel_time.format_timestamp(local) == "2009-02-13T23:31:30+05:30"
    assert cel_time.format_timestamp(utc) == "2009-02-13T18:01:30Z"
    assert cel_time.format_timestamp(cel_time.add_timestamp_duration(local, dur("1ns"))) == (
        "2009-02-13T23:31:30.000000001+05:30"
    )


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("0", 0),
        ("-0", 0),
        ("100s", 100 * NS),
        ("1h2m3.5s", 3_723_500_000_000),
        ("-1.5h", -5_400 * NS),
        ("+1m", 60 * NS),
        ("100ms", 100_000_000),
        ("1us", 1_000),
        ("1µs", 1_000),
        ("1μs", 1_000),
        ("1500ns", 1_500),
        ("1ns", 1),
        ("-999999999ns", -999_999_999),
        (".5s", 500_000_000),
        ("1.s", NS),
        ("2h45m", 9_900 * NS),
        ("0.0000000015s", 1),  # Go multiplies the fraction as a double, and truncates
        ("0.9223372036854775807s", 922_337_203),  # and stops reading digits near 2**63
        ("00000000000000000000001s", NS),
        ("9223372036854775807ns", 2**63 - 1),
        ("-9223372036854775808ns", -(2**63)),
        ("-2562047h47m16.854775808s", -(2**63)),
    ],
)
def test_duration_parse(text: str, nanos: int) -> None:
    result = dur(text)
    assert type(result) is Duration and int(result) == nanos


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1",
        "-",
        "1x",
        "s",
        ".s",
        "1h 2m",
        " 1h",
        "1.5.5s",
        "0s0",
        "1d",
        "1H",
        "1e3s",
        "\uff11s",
        "9223372036854775808ns",
        "9223372037s",
        "2562048h",
        "-9223372036854775809ns",
        "99999999999999999999ns",
    ],
)
def test_duration_parse_errors(text: str) -> None:
    with pytest.raises(
        EvaluationError, match=r"^type conversion error from 'string' to 'google\.protobuf\.Duration'$"
    ):
        dur(text)


def test_duration_identity_and_overload() -> None:
    d = dur("100s")
    assert call("duration", d) is d
    with pytest.raises(EvaluationError, match="no such overload"):
        call("duration", 100)


@pytest.mark.parametrize(
    ("accessor", "expected"),
    [
        ("getDate", 13),
        ("getDayOfMonth", 12),
        ("getDayOfWeek", 5),
        ("getDayOfYear", 43),
        ("getFullYear", 2009),
        ("getHours", 23),
        ("getMinutes", 31),
        ("getMonth", 1),
        ("getSeconds", 30),
    ],
)
def test_timestamp_accessors_utc(accessor: str, expected: int) -> None:
    assert call(accessor, ts("2009-02-13T23:31:30Z"), member=True) == expected


def test_get_milliseconds() -> None:
    assert call("getMilliseconds", ts("2009-02-13T23:31:20.123456789Z"), member=True) == 123


@pytest.mark.parametrize(
    ("text", "accessor", "tz", "expected"),
    [
        ("2009-02-13T23:31:30Z", "getDate", "Australia/Sydney", 14),
        ("2009-02-13T23:31:30Z", "getDayOfMonth", "US/Central", 12),
        ("2009-02-13T23:31:30Z", "getDayOfMonth", "+11:00", 13),
        ("2009-02-13T02:00:00Z", "getDayOfMonth", "-02:30", 11),
        ("2009-02-13T02:00:00Z", "getDayOfMonth", "America/St_Johns", 11),
        ("2009-02-13T23:31:30Z", "getDayOfWeek", "UTC", 5),
        ("2009-02-13T23:31:30Z", "getDayOfYear", "US/Central", 43),
        ("2009-02-13T23:31:30Z", "getFullYear", "-09:30", 2009),
        ("2009-02-13T23:31:30Z", "getHours", "02:00", 1),
        ("2009-02-13T23:31:30Z", "getMinutes", "Asia/Kathmandu", 16),
        ("2009-02-13T23:31:30Z", "getMonth", "UTC", 1),
        ("2009-02-13T23:31:30Z", "getSeconds", "-00:00", 30),
        ("2009-02-13T23:31:30Z", "getHours", "-00:30", 23),
        ("2009-02-13T23:31:30Z", "getHours", "", 23),
        ("2023-07-01T12:00:00Z", "getHours", "Europe/London", 13),  # summer time
        ("2009-02-13T23:31:30Z", "getHours", "+05:60", 5),  # Go reads the minutes as they are: +06:00
        ("2009-02-13T23:31:30Z", "getHours", "+25:00", 0),
        ("2009-02-13T23:31:30Z", "getHours", "Local", 23),  # Cerbos's zone in its container: UTC
        ("2009-02-13T23:31:30+05:00", "getHours", "UTC", 18),
        # Calendar fields past years 1..9999, as Go computes them:
        ("9999-12-31T23:00:00Z", "getFullYear", "Asia/Tokyo", 10000),
        ("0001-01-01T00:00:00Z", "getFullYear", "-01:00", 0),
        ("0001-01-01T00:00:00Z", "getDayOfYear", "-01:00", 365),
        ("0001-01-01T00:00:00Z", "getDayOfWeek", "-01:00", 0),
        ("0001-01-01T00:00:00Z", "getMinutes", "America/New_York", 3),  # local mean time, -4:56:02
    ],
)
def test_timestamp_accessors_with_zone(text: str, accessor: str, tz: str, expected: int) -> None:
    assert call(accessor, ts(text), tz, member=True) == expected


def test_accessors_without_a_zone_read_utc() -> None:
    assert call("getHours", ts("2009-02-13T23:31:30+05:00"), member=True) == 18


@pytest.mark.parametrize(
    ("tz", "message"),
    [
        ("Mars/Olympus", "unknown time zone Mars/Olympus"),
        ("utc", "unknown time zone utc"),
        ("zone.tab", "malformed time zone information"),
        ("../etc/passwd", "time: invalid location name"),
        ("/etc/localtime", "time: invalid location name"),
        ("x:00", 'strconv.Atoi: parsing "x": invalid syntax'),
        (":30", 'strconv.Atoi: parsing "": invalid syntax'),
        ("+1:30:00", 'strconv.Atoi: parsing "30:00": invalid syntax'),
        ("99999999999999999999:00", 'strconv.Atoi: parsing "99999999999999999999": value out of range'),
    ],
)
def test_bad_time_zones(tz: str, message: str) -> None:
    with pytest.raises(EvaluationError) as raised:
        call("getHours", ts("2009-02-13T23:31:30Z"), tz, member=True)
    assert str(raised.value) == message


def test_duration_accessors() -> None:
    assert call("getHours", dur("10000s"), member=True) == 2
    assert call("getMilliseconds", dur("1ns"), member=True) == 0
    assert call("getMilliseconds", dur("-1.5ms"), member=True) == -1
    assert call("getSeconds", dur("-1.999999999s"), member=True) == -1
    longest = dur("2562047h47m16.854775807s")
    assert [
        call(f, longest, member=True) for f in ("getHours", "getMinutes", "getSeconds", "getMilliseconds")
    ] == [2562047, 153722867, 9223372036, 9223372036854]
    assert call("getMinutes", dur("3730s"), member=True) == 62
    assert call("getSeconds", dur("3730s"), member=True) == 3730
    assert call("getSeconds", dur("-1.5s"), member=True) == -1
    # cel-go returns the whole duration in milliseconds (the spec's "portion" differs).
    assert call("getMilliseconds", dur("123.321456s"), member=True) == 123321
    with pytest.raises(EvaluationError, match="no such overload"):
        call("getFullYear", dur("1s"), member=True)
    with pytest.raises(EvaluationError, match="no such overload"):
        call("getHours", dur("1s"), "UTC", member=True)


def test_arithmetic_helpers() -> None:
    t = ts("2009-02-13T23:00:00Z")
    assert cel_time.add_timestamp_duration(t, dur("240s")) == ts("2009-02-13T23:04:00Z")
    assert cel_time.sub_timestamps(ts("2009-02-13T23:31:00Z"), ts("2009-02-13T23:29:00Z")) == dur("120s")
    assert cel_time.add_durations(dur("600s"), dur("50s")) == dur("650s")
    assert cel_time.sub_durations(dur("900s"), dur("42s")) == dur("858s")
    assert cel_time.neg_duration(dur("1s")) == dur("-1s")
    assert cel_time.sub_timestamps(ts("2009-02-13T23:31:00.000000001Z"), ts("2009-02-13T23:31:00Z")) == dur(
        "1ns"
    )
    assert cel_time.sub_timestamp_duration(ts("2009-02-13T23:31:00+01:00"), dur("1ns")).offset == 3600


@pytest.mark.parametrize(
    ("operation", "message"),
    [
        (
            lambda: cel_time.add_timestamp_duration(ts("0001-01-01T00:00:00Z"), dur("-1ns")),
            "timestamp overflow",
        ),
        (
            lambda: cel_time.add_timestamp_duration(ts("9999-12-31T23:59:59.999999999Z"), dur("1ns")),
            "timestamp overflow",
        ),
        (
            lambda: cel_time.sub_timestamps(ts("9999-12-31T23:59:59Z"), ts("0001-01-01T00:00:00Z")),
            "integer overflow",
        ),
        (
            lambda: cel_time.sub_timestamps(ts("0001-01-01T00:00:00Z"), ts("9999-12-31T23:59:59Z")),
            "integer overflow",
        ),
        # cel-go multiplies the whole seconds by 10^9 first: these overflow although the result would fit.
        (
            lambda: cel_time.sub_timestamps(ts("2262-04-11T23:47:17Z"), ts("1970-01-01T00:00:00.5Z")),
            "integer overflow",
        ),
        (
            lambda: cel_time.sub_timestamps(ts("1677-09-21T00:12:43.5Z"), ts("1970-01-01T00:00:00Z")),
            "integer overflow",
        ),
        (lambda: cel_time.add_durations(dur("5000000000s"), dur("5000000000s")), "integer overflow"),
        (lambda: cel_time.sub_durations(dur("-5000000000s"), dur("5000000000s")), "integer overflow"),
        (
            lambda: cel_time.sub_timestamp_duration(ts("2000-01-01T00:00:00Z"), Duration(-(2**63))),
            "integer overflow",
        ),
    ],
)
def test_arithmetic_overflow(operation: Any, message: str) -> None:
    with pytest.raises(EvaluationError, match=f"^{message}$"):
        operation()


def test_formatting() -> None:
    assert cel_time.format_timestamp(ts("2009-02-13T23:31:30.000100Z")) == "2009-02-13T23:31:30.0001Z"
    assert cel_time.format_timestamp(ts("0001-01-01T00:00:00Z")) == "0001-01-01T00:00:00Z"
    assert cel_time.format_timestamp(ts("2009-02-13T23:31:30.000000001Z")) == "2009-02-13T23:31:30.000000001Z"
    assert cel_time.format_timestamp(ts("2009-02-13T23:31:30.120-00:00")) == "2009-02-13T23:31:30.12Z"
    assert cel_time.format_duration(dur("1ns")) == "0.000000001s"
    assert cel_time.format_duration(dur("1h1ns")) == "3600.000000001s"
    assert cel_time.format_duration(dur("1h45m47s")) == "6347s"
    assert cel_time.format_duration(dur("0")) == "0s"
    assert cel_time.format_duration(dur("-1us")) == "-0.000001s"
    # Computed through a double, as Go does: the last digit is the double's, not the exact value.
    assert cel_time.format_duration(dur("9223372036.854775s")) == "9223372036.854774s"


@pytest.mark.parametrize(
    "expr",
    [
        "timestamp('2009-02-13T23:31:30Z').getDate('Australia/Sydney') == 14",
        "timestamp('2009-02-13T02:00:00Z').getDayOfMonth('America/St_Johns') == 11",
        "timestamp(t).getMilliseconds('-05:00') == 21 && timestamp(t).getMonth('NZ') == 3",
        "timestamp(t) + duration('24h') == timestamp('2021-04-21T10:05:20.021-05:00')",
        "duration('3750s').getMilliseconds() == 3750000 && duration('3750s').getMinutes() == 62",
        "string(duration('1h45m47s')) == '6347s' && int(duration('1s')) == 1000000000",
        "timestamp('2009-02-13T23:31:00Z') - timestamp('2009-02-13T23:29:00Z') == duration('120s')",
    ],
)
def test_through_the_compiler(expr: str) -> None:
    assert compile(expr).evaluate({"t": "2021-04-20T10:05:20.021-05:00"}) is True


@pytest.mark.parametrize(
    "expr",
    [
        "timestamp('9999-12-31T23:59:59Z') + duration('1s')",
        "timestamp('9999-12-31T23:59:59Z') - timestamp('0001-01-01T00:00:00Z')",
        "timestamp(253402300800)",
    ],
)
def test_range_errors_through_the_compiler(expr: str) -> None:
    with pytest.raises(EvaluationError, match="overflow"):
        compile(expr).evaluate({})
