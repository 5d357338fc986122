"""CEL values, conversions and errors against the real Cerbos 0.55 binary, case by case.

Every expression of ``CASES`` becomes two rules of one resource policy: one puts the expression in an
output (``output.when.ruleActivated``), the other uses it in a condition (``[expr].size() == 1``: true
unless the expression fails). Two rules, not one with ``conditionNotMet``: Cerbos folds a constant
condition when it compiles, and when that fails it shows neither output (chamberlain shows the
``conditionNotMet`` one: a difference of the engine, not of CEL, left to the engine's tests). The real Cerbos server and chamberlain's PDP answer the same
CheckResources request, and for every case both must give the same output (value or error text,
exactly) and the same effect. Nothing here states an expected value: the binary is the oracle, in
the same run (under ``CI=true`` a missing binary fails the test).

``~"text"`` in an expression stands for ``(R.attr.empty + "text")``: a string Cerbos cannot fold when
it compiles the policy (it checks constant timestamp, duration and regex literals then and refuses
the policy), so the conversion happens at evaluation time, as with request data. The request's
attributes (``ATTRIBUTES``) give values of every JSON type to convert, index and call.

Cerbos runs with ``TZ=UTC``, as in its container image: its ``now()`` prints the server's local
offset, which chamberlain takes as UTC (docs/concepts/cel.md).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
import yaml

from chamberlain import PDP
from tests.support.cerbos_server import CerbosServer, require_cerbos

ATTRIBUTES: dict[str, Any] = {
    "empty": "",
    "a": "a",
    "zero": 0,
    "one": 1,
    "half": 0.5,
    "big": 1e300,
    "yes": True,
    "nothing": None,
    "list": [1],
    "map": {},
    "stamp": "2024-01-01T00:00:00Z",
}

#: (class of behaviour, expressions). Each expression must compile in Cerbos (its type checker
#: refuses ``1 + "a"`` written out; request data and ``dyn`` reach the run-time errors).
CASES: dict[str, list[str]] = {
    "timestamp parsing": [
        'timestamp(~"2024-06-01T00:00:00Z")',
        'timestamp(~"2024-06-01T00:00:00.000000001Z")',
        'timestamp(~"2024-06-01T00:00:00.123456789Z")',
        'timestamp(~"2024-06-01T00:00:00.1234567891Z")',
        'timestamp(~"2024-06-01T00:00:00.000000000000000000001Z")',
        'timestamp(~"2024-06-01T00:00:00.100Z")',
        'timestamp(~"2024-06-01T00:00:00+05:00")',
        'timestamp(~"2024-06-01T00:00:00.5+05:30")',
        'timestamp(~"2024-06-01T00:00:00+00:00")',
        'timestamp(~"2024-06-01T00:00:00-00:00")',
        'timestamp(~"2024-06-01T00:00:00+00:01")',
        'timestamp(~"2024-06-01T00:00:00+23:59")',
        'timestamp(~"2024-06-01T00:00:00-23:59")',
        'timestamp(~"2024-02-29T00:00:00Z")',
        'timestamp(~"0001-01-01T00:00:00Z")',
        'timestamp(~"0001-01-01T01:00:00+01:00")',
        'timestamp(~"9999-12-31T23:59:59.999999999Z")',
        # refused by RFC 3339's grammar ...
        'timestamp(~"")',
        'timestamp(~"2024-06-01")',
        'timestamp(~"2024-06-01T00:00:00")',
        'timestamp(~"2024-06-01T00:00Z")',
        'timestamp(~"2024-06-01 00:00:00Z")',
        'timestamp(~" 2024-06-01T00:00:00Z")',
        'timestamp(~"2024-06-01T00:00:00Z ")',
        'timestamp(~"+2024-06-01T00:00:00Z")',
        'timestamp(~"2024-6-01T00:00:00Z")',
        'timestamp(~"10000-01-01T00:00:00Z")',
        'timestamp(~"\\uff12\\uff10\\uff12\\uff14-01-01T00:00:00Z")',  # fullwidth digits
        'timestamp(~"2024-00-10T00:00:00Z")',
        'timestamp(~"2024-13-10T00:00:00Z")',
        'timestamp(~"2024-01-00T00:00:00Z")',
        'timestamp(~"2024-01-32T00:00:00Z")',
        'timestamp(~"2024-06-01T24:00:00Z")',
        'timestamp(~"2024-06-01T00:60:00Z")',
        'timestamp(~"2024-06-01T00:00:61Z")',
        'timestamp(~"2024-06-01T00:00:00,5Z")',
        'timestamp(~"2024-06-01T00:00:00.Z")',
        'timestamp(~"2024-06-01T00:00:00+0500")',
        'timestamp(~"2024-06-01T00:00:00+24:00")',
        'timestamp(~"2024-06-01T00:00:00+05:60")',
        'timestamp(~"2024-06-01T00:00:00+05:30z")',
        'timestamp(~"2024-06-01T00:00:00\\t")',
        # ... by Go's time.Parse (case-sensitive, knows the calendar) ...
        'timestamp(~"2024-06-01t00:00:00Z")',
        'timestamp(~"2024-06-01T00:00:00z")',
        'timestamp(~"2024-06-01T00:00:00.1z")',
        'timestamp(~"2023-02-29T00:00:00Z")',
        'timestamp(~"2024-02-30T00:00:00Z")',
        'timestamp(~"2024-04-31T00:00:00Z")',
        'timestamp(~"2024-06-01T23:59:60Z")',
        # ... or out of range
        'timestamp(~"0000-01-01T00:00:00Z")',
        'timestamp(~"0000-12-31T23:59:59Z")',
        'timestamp(~"0001-01-01T00:59:59+01:00")',
        'timestamp(~"9999-12-31T23:00:00-01:00")',
        'timestamp(~"9999-12-31T23:59:59.999999999-01:00")',
    ],
    "timestamp formatting and comparison": [
        'timestamp(~"2024-06-01T00:00:00.000000001Z") == timestamp(~"2024-06-01T00:00:00Z")',
        'timestamp(~"2024-06-01T00:00:00.000000001Z") > timestamp(~"2024-06-01T00:00:00Z")',
        'timestamp(~"2024-06-01T00:00:00+05:00") == timestamp(~"2024-05-31T19:00:00Z")',
        'timestamp(~"2024-06-01T00:00:00+05:00") < timestamp(~"2024-05-31T19:00:00.000000001Z")',
        'string(timestamp(~"2024-06-01T00:00:00.000000001Z"))',
        'string(timestamp(~"2024-06-01T00:00:00.000001Z"))',
        'string(timestamp(~"2024-06-01T00:00:00.120Z"))',
        'string(timestamp(~"2024-06-01T00:00:00.000000000Z"))',
        'string(timestamp(~"2024-06-01T00:00:00.5-00:30"))',
        "string(timestamp(R.attr.stamp))",
        "[timestamp(0), timestamp(1)]",
        '{"at": timestamp(~"2024-06-01T00:00:00.000000001+01:00")}',
    ],
    "timestamp arithmetic and range": [
        'timestamp(~"2024-06-01T00:00:00Z") + duration(~"1ns")',
        'duration(~"1ns") + timestamp(~"2024-06-01T00:00:00Z")',
        'timestamp(~"2024-06-01T00:00:00+05:30") - duration(~"1ns")',
        'timestamp(~"2024-06-01T00:00:00-00:30") - duration(~"1h")',
        'timestamp(~"2024-06-01T00:00:00.000000001Z") - timestamp(~"2024-06-01T00:00:00Z")',
        'timestamp(~"2024-06-01T00:00:00Z") - timestamp(~"2024-06-01T00:00:00+05:00")',
        'timestamp(~"9999-12-31T23:59:59.999999999Z") + duration(~"1ns")',
        'timestamp(~"0001-01-01T00:00:00Z") - duration(~"1ns")',
        'timestamp(~"0001-01-01T00:00:00Z") + duration(~"-0.5s")',
        'timestamp(~"9999-12-31T23:59:59Z") - timestamp(~"0001-01-01T00:00:00Z")',
        'timestamp(~"2262-04-11T23:47:16.854775807Z") - timestamp(~"1970-01-01T00:00:00Z")',
        'timestamp(~"2262-04-11T23:47:16.854775808Z") - timestamp(~"1970-01-01T00:00:00Z")',
        'timestamp(~"2262-04-11T23:47:16.854775807Z") - timestamp(~"1970-01-01T00:00:00.000000001Z")',
        'timestamp(~"2262-04-11T23:47:17Z") - timestamp(~"1970-01-01T00:00:00.5Z")',
        'timestamp(~"1677-09-21T00:12:43.145224192Z") - timestamp(~"1970-01-01T00:00:00Z")',
        'timestamp(~"1677-09-21T00:12:42.5Z") - timestamp(~"1970-01-01T00:00:00Z")',
        'timestamp(~"2024-01-01T00:00:00Z") + duration(~"-2562047h47m16.854775808s")',
        'timestamp(~"2024-01-01T00:00:00Z") - duration(~"-2562047h47m16.854775808s")',
        "timestamp(253402300799)",
        "timestamp(-62135596800)",
        "timestamp(int(R.attr.zero) + 253402300800)",
        "timestamp(int(R.attr.zero) - 62135596801)",
        'int(timestamp(~"2024-06-01T00:00:00.999Z"))',
        'int(timestamp(~"1969-12-31T23:59:59.5Z"))',
        'int(timestamp(~"2024-06-01T00:00:00+05:00"))',
        'timestamp(~"2024-01-01T00:00:00Z") < now()',
    ],
    "timestamp accessors and time zones": [
        'timestamp(~"2024-06-01T00:00:00+05:00").getHours()',
        'timestamp(~"2024-06-01T00:00:00+05:00").getDate()',
        'timestamp(~"2024-06-01T00:00:00+05:00").getDayOfWeek()',
        'timestamp(~"2024-06-01T00:00:00+05:00").getHours("UTC")',
        'timestamp(~"2024-06-01T00:00:00.123456789Z").getMilliseconds()',
        'timestamp(~"2024-06-01T00:00:00.999999999Z").getSeconds()',
        'timestamp(~"1969-12-31T23:59:59.5Z").getSeconds()',
        'timestamp(~"2024-06-01T00:00:00.5Z").getDayOfYear()',
        'timestamp(~"2024-06-01T00:00:00.123456789Z").getMilliseconds("America/New_York")',
        'timestamp(~"2024-06-01T00:00:00Z").getHours("America/New_York")',
        'timestamp(~"2024-01-01T00:00:00Z").getHours("Europe/London")',
        'timestamp(~"2024-07-01T00:00:00Z").getHours("Europe/London")',
        'timestamp(~"2024-01-01T00:00:00Z").getHours("EST")',
        'timestamp(~"2024-01-01T00:00:00Z").getHours("US/Eastern")',
        'timestamp(~"2024-01-01T00:00:00Z").getHours("Etc/GMT+5")',
        'timestamp(~"2024-01-01T00:00:00Z").getMinutes("Asia/Kathmandu")',
        'timestamp(~"2024-01-01T00:00:00Z").getHours("GMT")',
        'timestamp(~"2024-01-01T00:00:00Z").getHours("Factory")',
        'timestamp(~"2024-01-01T00:00:00Z").getHours("Local")',
        'timestamp(~"2024-01-01T00:00:00Z").getHours(R.attr.empty)',
        'timestamp(~"2024-01-01T00:00:00Z").getDayOfWeek("Pacific/Kiritimati")',
        'timestamp(~"2024-01-01T00:00:00Z").getDayOfYear("-10:00")',
        'timestamp(~"2024-01-01T00:00:00Z").getMonth("-10:00")',
        'timestamp(~"2024-01-01T00:00:00Z").getDayOfMonth("-10:00")',
        'timestamp(~"2024-01-01T00:00:00Z").getDate("-10:00")',
        'timestamp(~"2024-06-01T00:00:00Z").getHours("+05:30")',
        'timestamp(~"2024-06-01T00:00:00Z").getMinutes("-05:30")',
        'timestamp(~"2024-06-01T00:00:00Z").getHours("05:30")',
        'timestamp(~"2024-06-01T00:00:00Z").getHours("+5:3")',
        'timestamp(~"2024-06-01T00:00:00Z").getHours("+25:00")',
        'timestamp(~"2024-06-01T00:00:00Z").getHours("+05:60")',
        'timestamp(~"0001-01-01T00:00:00Z").getFullYear("-01:00")',
        'timestamp(~"0001-01-01T00:00:00Z").getDayOfWeek("-01:00")',
        'timestamp(~"0001-01-01T00:00:00Z").getDayOfYear("-01:00")',
        'timestamp(~"0001-01-01T00:00:00Z").getDayOfWeek()',
        'timestamp(~"9999-12-31T23:59:59Z").getFullYear("+01:00")',
        'timestamp(~"9999-12-31T23:59:59Z").getDayOfYear("+01:00")',
        'timestamp(~"0001-01-01T00:00:00Z").getFullYear("America/New_York")',
        'timestamp(~"0001-01-01T00:00:00Z").getMinutes("America/New_York")',
        'timestamp(~"9999-12-31T23:59:59Z").getHours("Asia/Tokyo")',
        'timestamp(~"2024-01-01T00:00:00Z").getHours("Mars/Olympus")',
        'timestamp(~"2024-01-01T00:00:00Z").getHours("utc")',
        'timestamp(~"2024-01-01T00:00:00Z").getHours("zone.tab")',
        'timestamp(~"2024-01-01T00:00:00Z").getHours("../etc")',
        'timestamp(~"2024-01-01T00:00:00Z").getHours("/etc/x")',
        'timestamp(~"2024-01-01T00:00:00Z").getHours("a:b")',
        'timestamp(~"2024-01-01T00:00:00Z").getHours(":")',
        'timestamp(~"2024-01-01T00:00:00Z").getHours("1:")',
        'timestamp(~"2024-01-01T00:00:00Z").getHours("+1:30:00")',
        'timestamp(~"2024-01-01T00:00:00Z").getHours("99999999999999999999:00")',
    ],
    "duration parsing": [
        'duration(~"1ns")',
        'duration(~"1us")',
        'duration(~"1µs")',
        'duration(~"1μs")',
        'duration(~"1.5h")',
        'duration(~"-1us")',
        'duration(~"+1.5h")',
        'duration(~"1h2m3.5s")',
        'duration(~"0")',
        'duration(~"+0")',
        'duration(~"-0")',
        'duration(~".5s")',
        'duration(~"5.s")',
        'duration(~"00001s")',
        'duration(~"1.000000000001s")',
        'duration(~"0.0000000015s")',
        'duration(~"0.9223372036854775807s")',
        'duration(~"1.0000000000000000000000000001h")',
        'duration(~"9223372036854775807ns")',
        'duration(~"9223372036s")',
        'duration(~"2562047h47m16.854775807s")',
        'duration(~"-2562047h47m16.854775808s")',
        'duration(~"9223372036854775808ns")',
        'duration(~"9223372037s")',
        'duration(~"2562047h47m16.854775808s")',
        'duration(~"-2562047h47m16.854775809s")',
        'duration(~"99999999999999999999ns")',
        'duration(~"")',
        'duration(~"-")',
        'duration(~"1")',
        'duration(~"1.5")',
        'duration(~"1d")',
        'duration(~"1H")',
        'duration(~"1h 1m")',
        'duration(~" 1h")',
        'duration(~"1e3s")',
        'duration(~"1h-1m")',
        'duration(~"\\uff11s")',
        'duration(~".s")',
    ],
    "duration formatting, arithmetic and accessors": [
        'string(duration(~"1ns"))',
        'string(duration(~"1µs"))',
        'string(duration(~"-1.5s"))',
        'string(duration(~"1h1ns"))',
        'duration(~"1s") == duration(~"1000ms")',
        'duration(~"1ns") < duration(~"2ns")',
        'duration(~"2562047h47m16.854775807s") + duration(~"1ns")',
        'duration(~"-2562047h47m16.854775808s") - duration(~"1ns")',
        '-dyn(duration(~"1s"))',
        'int(duration(~"1ns"))',
        'int(duration(~"-1.5s"))',
        'duration(~"2562047h47m16.854775807s").getSeconds()',
        'duration(~"2562047h47m16.854775807s").getMinutes()',
        'duration(~"2562047h47m16.854775807s").getHours()',
        'duration(~"2562047h47m16.854775807s").getMilliseconds()',
        'duration(~"-1.999999999s").getSeconds()',
        'duration(~"1.5ms").getMilliseconds()',
        'duration(~"1ns").getMilliseconds()',
        'duration(~"-1.5ms").getMilliseconds()',
        '{"d": [duration(~"-1h"), duration(~"0.25s")]}',
    ],
    "int()": [
        'int(~"1_000")',
        'int(~"+5")',
        'int(~"-0")',
        'int(~"010")',
        'int(~" 5")',
        'int(~"5 ")',
        'int(~"")',
        'int(~"+")',
        'int(~"--1")',
        'int(~"0x10")',
        'int(~"1e3")',
        'int(~"1.0")',
        'int(~"\\uff11\\uff12")',
        'int(~"9223372036854775807")',
        'int(~"9223372036854775808")',
        'int(~"-9223372036854775808")',
        'int(~"-9223372036854775809")',
        "int(R.attr.half)",
        "int(-R.attr.half - 1.0)",
        "int(R.attr.big)",
        "int(9223372036854775807.0)",
        "int(-9223372036854775808.0)",
        "int(9223372036854774784.0)",
        'int(double(~"nan"))',
        'int(double(~"inf"))',
        "int(18446744073709551615u)",
        "int(9223372036854775807u)",
        "int(R.attr.yes)",
        "int(R.attr.nothing)",
    ],
    "uint()": [
        'uint(~"1_000")',
        'uint(~"+5")',
        'uint(~"-0")',
        'uint(~"-1")',
        'uint(~"")',
        'uint(~"0x10")',
        'uint(~"18446744073709551615")',
        'uint(~"18446744073709551616")',
        "uint(R.attr.half)",
        "uint(-R.attr.half)",
        "uint(-R.attr.one)",
        "uint(18446744073709551615.0)",
        "uint(18446744073709549568.0)",
        "uint(int(R.attr.zero) - 1)",
        "uint(R.attr.big)",
        "uint(R.attr.yes)",
    ],
    "double()": [
        'double(~"1_000")',
        'double(~"1_0.5")',
        'double(~"0x1_0p6")',
        'double(~"1_000.000_1")',
        'double(~"0_1")',
        'double(~"1e5_0")',
        'double(~"0x_1p0")',
        'double(~"0x1p1_0")',
        'double(~"1__0")',
        'double(~"_10")',
        'double(~"10_")',
        'double(~"1_e5")',
        'double(~"1e_5")',
        'double(~"0x1_p0")',
        'double(~"0x1p_0")',
        'double(~"0x1p-2")',
        'double(~"0x1.8p1")',
        'double(~"0X1P3")',
        'double(~"0x.8p1")',
        'double(~"0x1.p1")',
        'double(~"0x10")',
        'double(~"0x1.8")',
        'double(~"0xp1")',
        'double(~"0b101")',
        'double(~"0o17")',
        'double(~".5")',
        'double(~"5.")',
        'double(~".")',
        'double(~"1e")',
        'double(~"1e+")',
        'double(~"+1.5")',
        'double(~"-1.5e-3")',
        'double(~"1E5")',
        'double(~"00012")',
        'double(~" 1")',
        'double(~"1 ")',
        'double(~"")',
        'double(~"\\uff11")',
        'string(double(~"inf"))',
        'string(double(~"+Inf"))',
        'string(double(~"-INF"))',
        'string(double(~"infinity"))',
        'string(double(~"-Infinity"))',
        'string(double(~"infin"))',
        'string(double(~"nan"))',
        'string(double(~"NaN"))',
        'string(double(~"-nan"))',
        'string(double(~"+NaN"))',
        'string(double(~"1e308"))',
        'string(double(~"1e309"))',
        'string(double(~"0x1p1024"))',
        'string(double(~"1.7976931348623157e308"))',
        'string(double(~"1.7976931348623159e308"))',
        'double(~"1e-400")',
        'double(~"4.9e-324")',
        'double(~"2e-324")',
        'double(~"0x1p-1080")',
        "double(18446744073709551615u)",
        "double(9223372036854775807)",
        "double(R.attr.yes)",
    ],
    "bool()": [
        'bool(~"1")',
        'bool(~"t")',
        'bool(~"T")',
        'bool(~"TRUE")',
        'bool(~"true")',
        'bool(~"True")',
        'bool(~"0")',
        'bool(~"f")',
        'bool(~"F")',
        'bool(~"FALSE")',
        'bool(~"false")',
        'bool(~"False")',
        'bool(~"tRUE")',
        'bool(~"yes")',
        'bool(~"")',
        'bool(~" true")',
        "bool(R.attr.one)",
    ],
    "string() and bytes()": [
        'string(b"\\xff")',
        'string(b"\\xc3\\x28")',
        'string(b"\\xed\\xa0\\x80")',
        'string(b"abc\\x00")',
        'string(bytes(~"héllo"))',
        'bytes(~"héllo")',
        'size(bytes(~"héllo"))',
        "string(1.0)",
        "string(-0.0)",
        "string(1e21)",
        "string(1e20)",
        "string(123456789.0)",
        "string(0.000001)",
        "string(0.0000001)",
        "string(1.5e-7)",
        "string(R.attr.big)",
        "string(18446744073709551615u)",
        "string(-9223372036854775808)",
        "string(R.attr.list)",
        "string(R.attr.map)",
        "string(R.attr.nothing)",
        "bytes(R.attr.one)",
    ],
    "timestamp() and duration() of other types": [
        "timestamp(R.attr.one)",
        "timestamp(R.attr.yes)",
        "duration(R.attr.one)",
    ],
    "output values as JSON": [
        "9007199254740991",
        "9007199254740992",
        "-9007199254740991",
        "-9007199254740992",
        "9007199254740992u",
        "18446744073709551615u",
        'int(~"9223372036854775807")',
        "1e21",
        "1e20",
        "123456789012345680000.0",
        "0.000001",
        "0.0000001",
        "-0.0",
        "R.attr.big",
        '[1, 1.5, "a", null, true]',
        '{"k": [{"x": 1u}]}',
        'b"abc"',
        '{"a": b"\\x00\\xff"}',
        "null",
        "1u",
        '"\\u00e9"',
        "optional.of(1)",
        '{"a": optional.of(1)}',
        "optional.none()",
        "{1: 2}",
        "{true: 1}",
        "{1u: 1}",
        "{1.5: 1}",
        "type(1)",
        "int",
        "[type(1)]",
        "type(R.attr.zero)",
        'hierarchy("a.b")',
        'hierarchy(R.attr.empty + "a..b")',
        'ip("1.2.3.4")',
        'cidr("10.0.0.0/8")',
        'spiffeID("spiffe://a/b")',
        'spiffeTrustDomain("x")',
        "V",
        "C",
        "G",
        "P.attr",
    ],
    "no such key and indexes": [
        '{"a": 1}.b',
        '{"a": 1}["b"]',
        '{"a": {"b": 1}}.a.c',
        "R.attr.missing",
        "R.attr.a.missing",
        "R.attr.one.x",
        "R.attr.nothing.x",
        "R.attr.yes.x",
        "R.attr.list.x",
        "has(R.attr.list.x)",
        "has(R.attr.one.x)",
        "{1: 2}[3]",
        "{1u: 2}[3u]",
        "{true: 2}[false]",
        '{"a": 1}[R.attr.one]',
        '{"a": 1}[dyn(2.5)]',
        "R.attr.map[R.attr.one]",
        "R.attr.map[R.attr.one + 1.0]",
        "R.attr.map[R.attr.yes]",
        "R.attr.map[int(R.attr.one)]",
        "R.attr.map[uint(R.attr.one)]",
        "R.attr.map[R.attr.list]",
        "R.attr.map[R.attr.nothing]",
        "R.attr.map[bytes(R.attr.a)]",
        "R.attr.map[R.attr.map]",
        "R.attr.map[timestamp(R.attr.stamp)]",
        "[1][1]",
        "[1][-1]",
        "[1][int(R.attr.zero) - 1]",
        "[1][dyn(1u)]",
        "[1][dyn(1.0)]",
        "[1][dyn(-1.0)]",
        "R.attr.list[R.attr.one + 0.5]",
        "R.attr.list[R.attr.big]",
        "R.attr.list[uint(R.attr.one) + 18446744073709551614u]",
        "R.attr.list[R.attr.a]",
        "R.attr.list[R.attr.yes]",
        "R.attr.list[R.attr.nothing]",
        "R.attr.list[R.attr.list]",
        "R.attr.list[R.attr.map]",
        "R.attr.one[0]",
        "R.attr.a[0]",
        "R.attr.nothing[0]",
        "R.attr.yes[0]",
        "R.attr.one.?x",
        "R.attr.list.?x",
        "R.attr.list[?R.attr.a]",
        "R.attr.list[?R.attr.one]",
        "R.attr.list[?5]",
        "R.attr.map[?R.attr.list]",
        "R.attr.one[?0]",
        '{"a": 1}[?"b"]',
        'hierarchy("a.b")[5]',
        'hierarchy("a")[dyn(5)]',
        'dyn(hierarchy("a"))["x"]',
    ],
    "no such overload": [
        "R.attr.yes + 1",
        "R.attr.nothing + 1",
        "R.attr.list + 1",
        "R.attr.map + R.attr.map",
        "R.attr.a - 1",
        "R.attr.one % R.attr.one",
        "int(R.attr.one) % R.attr.one",
        "-R.attr.yes",
        "-R.attr.nothing",
        "-R.attr.list",
        "-R.attr.a",
        "-dyn(1u)",
        "-dyn(timestamp(0))",
        "R.attr.yes < 1",
        "R.attr.list < R.attr.list",
        "R.attr.map < R.attr.map",
        "R.attr.nothing < R.attr.nothing",
        'dyn(1) <= "a"',
        'dyn(b"a") < 1',
        "timestamp(R.attr.stamp) + R.attr.one",
        "R.attr.one + timestamp(R.attr.stamp)",
        "dyn(timestamp(0)) - 1",
        'dyn(duration(~"1s")) * 2',
        "R.attr.a * 2",
        "R.attr.list * 2",
        "R.attr.yes * 2",
        "R.attr.one / R.attr.a",
        "R.attr.a / 1",
        "R.attr.nothing / 1",
        'dyn(hierarchy("a")) + 1',
        'dyn(hierarchy("a")) < 1',
        '-dyn(hierarchy("a"))',
        'dyn(ip("1.2.3.4")) + 1',
        'dyn(ip("1.2.3.4")) < 1',
        "dyn(optional.of(1)) + 1",
        "-dyn(optional.of(1))",
        "dyn(type(1)) + 1",
        "R.attr.one in R.attr.one",
        "1 in R.attr.a",
        "R.attr.one in R.attr.nothing",
        "R.attr.one ? 1 : 2",
        "R.attr.nothing ? 1 : 2",
        "R.attr.yes && R.attr.one",
        "R.attr.one && R.attr.yes",
        "R.attr.one && false",
        "R.attr.yes || R.attr.one",
        "R.attr.one || R.attr.one",
        "!R.attr.one",
        "!R.attr.nothing",
        "size(R.attr.one)",
        "size(R.attr.nothing)",
        "size(R.attr.yes)",
        "R.attr.one.size()",
        "size(dyn(timestamp(0)))",
        'size(dyn(ip("1.2.3.4")))',
        "size(dyn(optional.of(1)))",
        'size(dyn(hierarchy("a.b")))',
        'R.attr.one.contains("a")',
        "R.attr.a.contains(R.attr.one)",
        'R.attr.one.startsWith("a")',
        'R.attr.one.endsWith("a")',
        'R.attr.one.matches("a")',
        "R.attr.a.matches(R.attr.one)",
        "int(R.attr.yes)",
        "uint(R.attr.yes)",
        "R.attr.one.charAt(0)",
        '"a".charAt(dyn("x"))',
        'R.attr.one.indexOf("a")',
        'R.attr.one.lastIndexOf("a")',
        "R.attr.one.lowerAscii()",
        "R.attr.one.upperAscii()",
        'R.attr.one.replace("a", "b")',
        'R.attr.one.split(",")',
        '"abc".split(",", dyn(1.5))',
        "R.attr.one.substring(1)",
        "R.attr.one.trim()",
        "R.attr.one.join()",
        "dyn([1, 2]).join()",
        'dyn(["a", 1]).join(",")',
        "R.attr.one.reverse()",
        "R.attr.one.format([])",
        '"%d".format(dyn(1))',
        "strings.quote(R.attr.one)",
        "R.attr.one.getHours()",
        'R.attr.one.getHours("UTC")',
        "timestamp(0).getHours(dyn(1))",
        "R.attr.one.timeSince()",
        "R.attr.one.hasValue()",
        "R.attr.one.value()",
        "R.attr.one.or(optional.of(1))",
        "R.attr.one.orValue(1)",
        "optional.none().or(R.attr.one)",
        "optional.of(1).or(R.attr.one)",
        "optional.unwrap(R.attr.one)",
        "R.attr.one.slice(0, 1)",
        "R.attr.one.flatten()",
        "R.attr.one.flatten(1)",
        "R.attr.one.sort()",
        "R.attr.one.distinct()",
        "R.attr.one.first()",
        "R.attr.one.last()",
        "lists.range(R.attr.a)",
        "sets.contains(R.attr.one, [1])",
        "sets.intersects(R.attr.one, [1])",
        "sets.equivalent(R.attr.one, [1])",
        "math.abs(R.attr.a)",
        "math.ceil(R.attr.a)",
        "math.greatest(R.attr.a, 1)",
        "math.greatest([R.attr.a])",
        "math.greatest(1, 2, R.attr.a)",
        "math.bitAnd(R.attr.a, 1)",
        "math.sqrt(R.attr.a)",
        "math.isNaN(dyn(1))",
        "base64.encode(R.attr.one)",
        "base64.decode(R.attr.one)",
        "hierarchy(R.attr.one)",
        'hierarchy("a", dyn(1))',
        'R.attr.a.ancestorOf(hierarchy("a"))',
        'R.attr.one.ancestorOf(hierarchy("a"))',
        'hierarchy("a").ancestorOf(R.attr.one)',
        'R.attr.one.descendentOf(hierarchy("a"))',
        'R.attr.one.immediateChildOf(hierarchy("a"))',
        'R.attr.one.immediateParentOf(hierarchy("a"))',
        'R.attr.one.siblingOf(hierarchy("a"))',
        'R.attr.one.overlaps(hierarchy("a"))',
        'R.attr.one.commonAncestors(hierarchy("a"))',
        'hierarchy("a").descendentOf(R.attr.one)',
        'hierarchy("a").commonAncestors(R.attr.one)',
        'R.attr.one.inIPAddrRange("10.0.0.0/8")',
        '"10.0.0.1".inIPAddrRange(R.attr.one)',
        "except(R.attr.one, [1])",
        "intersect(R.attr.one, [1])",
        "hasIntersection(R.attr.one, [1])",
        "isSubset(R.attr.one, [1])",
        "R.attr.one.except([1])",
        "basePath(R.attr.one)",
        "joinPath(R.attr.one)",
        "joinPath(R.attr.list)",
        'pathMatch(R.attr.one, "a")',
        "ip(R.attr.one)",
        "cidr(R.attr.one)",
        "isIP(R.attr.one)",
        "R.attr.one.family()",
        "spiffeID(R.attr.one)",
        "spiffeMatchExact(R.attr.one)",
        'cel.bind(x, R.attr.one, x + "a")',
        '"a".replace(R.attr.one, "b")',
        '"a".replace("a", R.attr.one)',
        '"a".replace("a", "b", R.attr.a)',
        '"a".split(R.attr.one)',
        '"a".split(",", R.attr.a)',
        '"abc".substring(R.attr.a)',
        '"abc".substring(0, R.attr.a)',
        '"abc".indexOf(R.attr.one)',
        '"abc".indexOf("a", R.attr.a)',
        '"abc".lastIndexOf(R.attr.one)',
        '"abc".charAt(R.attr.one)',
        '"%s".format(R.attr.one)',
        '"abc".startsWith(R.attr.one)',
        "R.attr.list.join(R.attr.one)",
        "math.floor(R.attr.a)",
        "math.round(R.attr.a)",
        "math.trunc(R.attr.a)",
        "math.sign(R.attr.a)",
        "math.isInf(R.attr.a)",
        "math.isFinite(R.attr.a)",
        "math.bitOr(R.attr.a, 1)",
        "math.bitXor(1, R.attr.a)",
        "math.bitNot(R.attr.a)",
        "math.bitShiftRight(R.attr.a, 1)",
        "math.bitShiftLeft(1, R.attr.a)",
        "math.least(R.attr.a, R.attr.one)",
        "sets.contains([1], R.attr.one)",
        "sets.intersects([1], R.attr.one)",
        "sets.equivalent([1], R.attr.one)",
        "[1].slice(R.attr.a, 1)",
        "[1].slice(0, R.attr.a)",
        "R.attr.list.flatten(R.attr.a)",
        "lists.range(R.attr.one)",
        "R.attr.one.unwrapOpt()",
        "optional.unwrap([R.attr.one])",
        "R.attr.one.optMap(x, x)",
        "R.attr.one.optFlatMap(x, x)",
        'hierarchy("a").ancestorOf(R.attr.a)',
        'hierarchy("a", R.attr.one)',
        'hierarchy(R.attr.one, ":")',
        "R.attr.a.inIPAddrRange(R.attr.one)",
        "isCIDR(R.attr.one)",
        "ip.isCanonical(R.attr.one)",
        "R.attr.one.isLoopback()",
        "R.attr.one.isUnspecified()",
        "R.attr.one.isGlobalUnicast()",
        "R.attr.one.isLinkLocalMulticast()",
        "R.attr.one.isLinkLocalUnicast()",
        'cidr("10.0.0.0/8").containsIP(R.attr.one)',
        'cidr("10.0.0.0/8").containsCIDR(R.attr.one)',
        'R.attr.one.containsIP("1.2.3.4")',
        "R.attr.one.ip()",
        "R.attr.one.masked()",
        "R.attr.one.prefixLength()",
        "R.attr.one.isMask()",
        "spiffeTrustDomain(R.attr.one)",
        "spiffeMatchOneOf(R.attr.one)",
        "spiffeMatchOneOf([R.attr.one])",
        "spiffeMatchTrustDomain(R.attr.one)",
        "R.attr.one.trustDomain()",
        "R.attr.a.trustDomain()",
        "R.attr.one.path()",
        "R.attr.one.name()",
        'R.attr.one.isMemberOf(spiffeTrustDomain("x"))',
        'R.attr.a.isMemberOf(spiffeTrustDomain("x"))',
        'R.attr.one.matchesID(spiffeID("spiffe://a/b"))',
        "spiffeMatchAny().matchesID(R.attr.one)",
        'spiffeID("spiffe://a/b").isMemberOf(R.attr.one)',
        'dyn(spiffeTrustDomain("x")).path()',
        'dyn(spiffeID("spiffe://a/b")).name()',
        "dyn(spiffeMatchAny()).path()",
        'dyn(spiffeID("spiffe://a/b")) + 1',
        'dyn(ip("1.2.3.4")).path()',
        'dyn(hierarchy("a")).path()',
        "dirPath(R.attr.one)",
        "extPath(R.attr.one)",
        'relPath(R.attr.one, "a")',
        'relPath("a", R.attr.one)',
        "volumeName(R.attr.one)",
        'pathHasPrefix(R.attr.one, "a")',
        'pathHasPrefix("a", R.attr.one)',
        'pathMatch("a", R.attr.one)',
        'pathMatchAnyOf("a", R.attr.one)',
        'pathMatchAnyOf("a", [R.attr.one])',
        'pathMatchAnyOf(R.attr.one, ["a"])',
        "R.attr.list.except(R.attr.one)",
        "R.attr.list.intersect(R.attr.one)",
        "R.attr.list.hasIntersection(R.attr.one)",
        "R.attr.list.isSubset(R.attr.one)",
        "R.attr.list in R.attr.map",
        "R.attr.one in R.attr.map",
        "R.attr.yes in R.attr.map",
        "R.attr.nothing in R.attr.list",
        "R.attr.a in R.attr.list",
        "R.attr.one.transformMap(k, v, v)",
    ],
    "format clauses": [
        '"%d".format([R.attr.half])',
        '"%d".format([R.attr.big])',
        '"%d".format([uint(R.attr.one)])',
        '"%f".format([int(R.attr.one)])',
        '"%.2f".format([int(R.attr.one)])',
        '"%e".format([uint(R.attr.one)])',
        '"%.3e".format([R.attr.big])',
        '"%d".format([double(~"nan")])',
        '"%d".format([double(~"inf")])',
        '"%d".format([1e21])',
        '"%X".format([R.attr.a])',
        '"%s".format([R.attr.nothing])',
        '"%s".format([R.attr.list])',
        '"%s".format([R.attr.map])',
        '"%s".format([timestamp(R.attr.stamp)])',
        '"%s".format([duration(~"1.5s")])',
        '"%s".format([1.0])',
        '"%s".format([R.attr.big])',
        '"%s".format([type(1)])',
        '"%s".format([bytes(R.attr.a)])',
        '"%d".format([R.attr.a])',
        '"%d".format([R.attr.yes])',
        '"%f".format([R.attr.a])',
        '"%f".format([R.attr.nothing])',
        '"%e".format([R.attr.a])',
        '"%x".format([R.attr.yes])',
        '"%x".format([R.attr.half])',
        '"%o".format([R.attr.a])',
        '"%o".format([R.attr.half])',
        '"%b".format([R.attr.a])',
    ],
    "maps": [
        '{"a": 1, "a": 2}',
        '{R.attr.a: 1, "a": 2}',
        '{"a": 1, R.attr.a: 2}',
        '{R.attr.a: 1, "a": 2}.size()',
        "{true: 1, false: 2, true: 3}[true]",
        "{R.attr.yes: 1, false: 2, true: 3}[true]",
        "R.attr.list.transformMapEntry(i, v, {string(i): v})",
        'R.attr.list.transformMapEntry(i, v, {"a": v, "b": v})',
        "R.attr.list.transformMapEntry(i, v, R.attr.one)",
        '[1, 1].transformMapEntry(i, v, {"a": v})',
        "R.attr.map.transformMap(k, v, v)",
        "[1, 2, 3].exists(x, x == R.attr.one)",
        "R.attr.list.map(x, x * 2)",
        "R.attr.list.filter(x, x > 0)",
        "R.attr.list.all(i, v, v > 0)",
        "R.attr.list.exists(i, v, v == 1)",
    ],
    "IP addresses and ranges": [
        'ip(~"1.2.3.4")',
        'string(ip(~"::FFFF:1.2.3.4"))',
        'string(cidr(~"10.1.2.3/8"))',
        'ip(~"")',
        'ip(~"a")',
        'ip(~"é")',
        'ip(~"1.2.3")',
        'ip(~"1.2.3.4.5")',
        'ip(~"01.2.3.4")',
        'ip(~"1.2.3.256")',
        'ip(~"1..2.3")',
        'ip(~"1.2.3.x")',
        'ip(~"1:2:3:4:5:6:7:8:9")',
        'ip(~"1:2:3:4:5:6:7::8")',
        'ip(~"12345::")',
        'ip(~"g::")',
        'ip(~"fe80::1%")',
        'ip(~"fe80::1%eth0")',
        'ip(~"%x")',
        'ip(~":1")',
        'ip(~"1:")',
        'ip(~"1:::2")',
        'ip(~"1::2::3")',
        'ip(~"::1.2.3")',
        'ip(~"::ffff:1.2.3.4")',
        'ip(~"1:2:3:4:5:6:7:1.2.3.4")',
        'cidr(~"10.0.0.0")',
        'cidr(~"10.0.0.0/33")',
        'cidr(~"10.0.0.0/08")',
        'cidr(~"10.0.0.0/+8")',
        'cidr(~"x/8")',
        'cidr(~"::/129")',
        'cidr(~"fe80::1%eth0/64")',
        'cidr(~"::ffff:1.2.3.4/120")',
        'isIP(~"1.2.3")',
        'isCIDR(~"1.2.3.4/")',
        'ip.isCanonical(~"1.2.3")',
        "ip.isCanonical(R.attr.a)",
        'cidr("10.0.0.0/8").containsIP(~"1.2.3")',
        'cidr("10.0.0.0/8").containsCIDR(R.attr.a)',
    ],
    "division, modulus and overflow": [
        "1 / int(R.attr.zero)",
        "1 % int(R.attr.zero)",
        "1u / uint(R.attr.zero)",
        "1u % uint(R.attr.zero)",
        "string(1.0 / R.attr.zero)",
        "string(R.attr.zero / R.attr.zero)",
        "9223372036854775807 + int(R.attr.one)",
        "-9223372036854775808 - int(R.attr.one)",
        "-(-9223372036854775807 - int(R.attr.one))",
        "9223372036854775807 * (int(R.attr.one) + 1)",
        "(-9223372036854775807 - 1) / -int(R.attr.one)",
        "(-9223372036854775807 - 1) % -int(R.attr.one)",
        "18446744073709551615u + uint(R.attr.one)",
        "0u - uint(R.attr.one)",
        "18446744073709551615u * (uint(R.attr.one) + 1u)",
        "math.abs(-9223372036854775807 - int(R.attr.one))",
        "math.bitShiftLeft(1, -int(R.attr.one))",
    ],
    "invalid regular expressions": [
        '"a".matches(~"(")',
        '"a".matches(~"[")',
        '"a".matches(~"a**")',
        '"a".matches(~"*")',
        '"a".matches(~"a)")',
        '"a".matches(~"\\\\8")',
        '"a".matches(~"[z-a]")',
        '"a".matches(~"\\\\")',
        '"a".matches(~"(?P<n")',
        '"a".matches(~"(?i")',
        '"a".matches(~"a{2,1}")',
        '"a".matches(~"a{1001}")',
        '"a".matches(~"(?<name>a)")',
        '"a".matches(~"\\\\p{Foo}")',
        '"a".matches(~"[[:foo:]]")',
        '"a".matches(~"x{2}{3}")',
        '"a".matches(~"(?z)")',
        '"a".matches(~"(?=a)")',
        '"a".matches(~"\\\\Q")',
        '"a".matches(~"a++")',
        '"a".matches(~"\\\\C")',
        '"a".matches(~"((a)")',
        '"a".matches(~"a|*")',
        '"a".matches(~"(?P<n>a)(?P<n>b)")',
        '"a".matches(~"\\\\z")',
        '"a".matches(~"\\\\Z")',
    ],
    "other function errors": [
        '"abc".substring(-1)',
        '"abc".substring(2, 1)',
        '"abc".substring(int(R.attr.one) + 4)',
        '"abc".charAt(-1)',
        '"abc".charAt(int(R.attr.one) + 4)',
        '"abc".indexOf("c", -1)',
        '"abc".indexOf("b", 10)',
        "[1].slice(0, 5)",
        "[1].slice(1, 0)",
        "[1].flatten(-1)",
        "[R.attr.one, R.attr.a].sort()",
        "math.least(R.attr.list)",
        "math.bitShiftLeft(1, -1)",
        'base64.decode(~"!!!")',
        'base64.decode(~"YQ==")',
        'base64.decode(~"YQ")',
        'base64.decode(~"YQ=")',
        'base64.decode(~"Y")',
        'base64.decode(~"YQ==a")',
        'base64.decode(~"Y\\nQ==")',
        'base64.decode(~"YQ=\\n=")',
        'base64.decode(~"====")',
        'base64.decode(~"YWJ")',
        "hierarchy([R.attr.a, R.attr.one])",
        "hierarchy([R.attr.a, R.attr.yes])",
        "hierarchy([R.attr.a, R.attr.nothing])",
        '"10.0.0.1".inIPAddrRange(~"10.0.0.0/33")',
        '"x".inIPAddrRange(~"10.0.0.0/8")',
        'pathMatch("a", ~"[")',
        'spiffeID(~"x")',
        "optional.none().value()",
    ],
    "macros": [
        "R.attr.one.exists(x, true)",
        "R.attr.a.exists(x, true)",
        "R.attr.nothing.exists(x, true)",
        "R.attr.yes.all(x, true)",
        "R.attr.one.map(x, x)",
        "R.attr.one.filter(x, x)",
        "R.attr.one.exists_one(x, x)",
        'dyn(hierarchy("a")).exists(x, true)',
        "dyn(optional.of(1)).exists(x, true)",
        "dyn(timestamp(0)).exists(x, true)",
        "[1].exists(x, R.attr.one)",
        "[1].all(x, R.attr.one)",
        "[1].exists_one(x, R.attr.one)",
        "[1].filter(x, R.attr.one)",
        '{"a": 1}.exists(k, R.attr.one)',
        "[1, 2].exists(x, R.attr.one)",
        "[true, false].all(x, R.attr.one)",
        "[1, 2].exists(x, x == 2 || 1 / 0 == 1)",
        "[1].map(x, true, R.attr.one)",
        "[1].map(x, R.attr.one, x)",
        "[1].map(x, x / int(R.attr.zero))",
        "R.attr.list.transformList(i, v, R.attr.one, v)",
        "R.attr.one.transformList(i, v, v)",
        "R.attr.map.all(k, R.attr.one)",
        "R.attr.list.sortBy(x, x)",
        "[1, R.attr.a].sortBy(x, x)",
    ],
}


def _expand(expression: str) -> str:
    return re.sub(r'~"', 'R.attr.empty + "', expression)


@dataclass(frozen=True)
class Case:
    """One expression; ``action`` puts it in an output, ``condition`` uses it in a condition."""

    number: int
    group: str
    expression: str

    @property
    def action(self) -> str:
        return f"out{self.number}"

    @property
    def condition(self) -> str:
        return f"cond{self.number}"


ALL_CASES = [
    Case(n, group, expr) for n, (group, expr) in enumerate((g, e) for g, es in CASES.items() for e in es)
]


def _policy(cases: list[Case]) -> dict[str, Any]:
    rules = []
    for case in cases:
        expression = _expand(case.expression)
        rules.append(
            {
                "name": case.action,
                "actions": [case.action],
                "effect": "EFFECT_ALLOW",
                "roles": ["*"],
                "output": {"when": {"ruleActivated": expression}},
            }
        )
        rules.append(
            {
                "name": case.condition,
                "actions": [case.condition],
                "effect": "EFFECT_ALLOW",
                "roles": ["*"],
                "condition": {"match": {"expr": f"[{expression}].size() == 1"}},
            }
        )
    return {
        "apiVersion": "api.cerbos.dev/v1",
        "resourcePolicy": {"resource": "probe", "version": "default", "rules": rules},
    }


def _requests(cases: list[Case]) -> Iterator[dict[str, Any]]:
    """CheckResources requests within Cerbos's limits (50 resources of 50 actions each)."""
    actions = [name for case in cases for name in (case.action, case.condition)]
    chunks = [actions[i : i + 50] for i in range(0, len(actions), 50)]
    for start in range(0, len(chunks), 50):
        resources = [
            {"actions": chunk, "resource": {"kind": "probe", "id": f"r{start + i}", "attr": ATTRIBUTES}}
            for i, chunk in enumerate(chunks[start : start + 50])
        ]
        yield {"requestId": "cel", "principal": {"id": "p", "roles": ["user"]}, "resources": resources}


@dataclass(frozen=True)
class Answer:
    """What one side answered for one case: the output (value or error) and the condition's effect."""

    output: tuple[str, Any]
    effect: str


def _answers(response: dict[str, Any]) -> dict[str, Answer]:
    outputs: dict[str, tuple[str, Any]] = {}
    effects: dict[str, str] = {}
    for result in response["results"]:
        effects.update(result["actions"])
        for entry in result.get("outputs", []):
            outputs[entry["action"]] = (
                ("error", entry["error"]) if "error" in entry else ("value", entry.get("val"))
            )
    return {
        action.removeprefix("out"): Answer(output, effects[f"cond{action.removeprefix('out')}"])
        for action, output in outputs.items()
    }


@dataclass
class Run:
    cerbos: dict[str, Answer]
    chamberlain: dict[str, Answer]
    cerbos_now: list[str]
    chamberlain_now: list[str]


NOW_PROBE = ["now()", "string(now())", "[now(), now()]"]
#: Cerbos compiles the ~1,800 rules before it answers: allow for a loaded machine.
STARTUP_TIMEOUT = 180.0


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    binary = require_cerbos()
    with tempfile.TemporaryDirectory(prefix="cel-binary-") as work:
        policy_dir = Path(work)
        (policy_dir / "probe.yaml").write_text(yaml.safe_dump(_policy(ALL_CASES), allow_unicode=True))
        (policy_dir / "now.yaml").write_text(yaml.safe_dump(_now_policy(), allow_unicode=True))
        pdp = PDP.from_directory(policy_dir)
        server = CerbosServer(binary, policy_dir, startup_timeout=STARTUP_TIMEOUT)
        with mock.patch.dict(os.environ, {"TZ": "UTC"}), server:
            cerbos: dict[str, Answer] = {}
            ours: dict[str, Answer] = {}
            with httpx.Client(base_url=server.url, timeout=60) as client:
                for request in _requests(ALL_CASES):
                    reply = client.post("/api/check/resources", json=request)
                    assert reply.status_code == 200, reply.text
                    cerbos.update(_answers(reply.json()))
                    ours.update(_answers(json.loads(json.dumps(pdp.check_resources(request)))))
                now_request = {
                    "requestId": "now",
                    "principal": {"id": "p", "roles": ["user"]},
                    "resources": [{"actions": ["now"], "resource": {"kind": "clock", "id": "c"}}],
                }
                reply = client.post("/api/check/resources", json=now_request)
                cerbos_now = [o["val"] for o in reply.json()["results"][0]["outputs"]]
                chamberlain_now = [
                    o["val"] for o in pdp.check_resources(now_request)["results"][0]["outputs"]
                ]
        yield Run(cerbos, ours, cerbos_now, chamberlain_now)


def _now_policy() -> dict[str, Any]:
    rules = [
        {
            "name": f"n{i}",
            "actions": ["now"],
            "effect": "EFFECT_ALLOW",
            "roles": ["*"],
            "output": {"when": {"ruleActivated": expr}},
        }
        for i, expr in enumerate(NOW_PROBE)
    ]
    return {
        "apiVersion": "api.cerbos.dev/v1",
        "resourcePolicy": {"resource": "clock", "version": "default", "rules": rules},
    }


@pytest.mark.parametrize("case", ALL_CASES, ids=[f"{c.group}: {c.expression}" for c in ALL_CASES])
def test_same_output_and_effect_as_cerbos(run: Run, case: Case) -> None:
    key = str(case.number)
    assert key in run.cerbos, f"Cerbos gave no output for {case.expression}"
    assert run.chamberlain.get(key) == run.cerbos[key], (
        f"{case.expression}\n  cerbos:      {run.cerbos[key]}\n  chamberlain: {run.chamberlain.get(key)}"
    )


_RFC3339_NANO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")


def test_now_prints_like_cerbos(run: Run) -> None:
    """``now()`` cannot be compared by value: both print RFC 3339 in UTC with up to nine digits, the
    same instant within a request, and close to this test's clock."""
    for values in (run.cerbos_now, run.chamberlain_now):
        stamp, text, pair = values
        assert stamp == text and pair == [stamp, stamp]
        assert _RFC3339_NANO_UTC.fullmatch(stamp), stamp
        moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        assert abs(moment - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)


def test_now_reads_the_clock_to_the_nanosecond() -> None:
    """Without ``now``, the PDP reads the system clock with ``time.time_ns()`` and keeps every digit."""
    request = {
        "requestId": "now",
        "principal": {"id": "p", "roles": ["user"]},
        "resources": [{"actions": ["now"], "resource": {"kind": "clock", "id": "c"}}],
    }
    with tempfile.TemporaryDirectory(prefix="cel-now-") as work:
        (Path(work) / "now.yaml").write_text(yaml.safe_dump(_now_policy()))
        pdp = PDP.from_directory(work)
        with mock.patch("time.time_ns", return_value=1_717_200_000_123_456_789):
            outputs = pdp.check_resources(request)["results"][0]["outputs"]
    assert [o["val"] for o in outputs] == ["2024-06-01T00:00:00.123456789Z"] * 2 + [
        ["2024-06-01T00:00:00.123456789Z"] * 2
    ]
