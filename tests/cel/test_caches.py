"""The bounded caches of parsed strings: ``timestamp(s)``, ``hierarchy(s)`` and IP ranges."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from chamberlain.cel import compile
from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import StringCache
from chamberlain.cel.lib import cerbos, hierarchy, time
from chamberlain.cel.values import UTC, Timestamp


def test_string_cache_computes_once_and_stays_bounded():
    calls: list[str] = []

    def compute(text: str) -> str:
        calls.append(text)
        return text.upper()

    cache = StringCache(compute, maxsize=3)
    assert cache["a"] == "A" and cache["a"] == "A"
    assert calls == ["a"]
    for key in "bcdef":
        assert cache[key] == key.upper()
        assert len(cache) <= 3
    assert list(cache) == ["d", "e", "f"]  # emptied when full, then refilled


def test_string_cache_does_not_cache_errors():
    calls = []

    def compute(text: str) -> str:
        calls.append(text)
        raise EvaluationError(f"bad {text}")

    cache = StringCache(compute, maxsize=3)
    for _ in range(2):
        with pytest.raises(EvaluationError, match="bad x"):
            cache["x"]
    assert calls == ["x", "x"] and len(cache) == 0


def test_string_cache_is_safe_under_threads():
    cache = StringCache(lambda text: int(text), maxsize=16)
    errors: list[BaseException] = []

    def hammer(offset: int) -> None:
        try:
            for i in range(5000):
                key = str((i * 7 + offset) % 100)
                assert cache[key] == int(key)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(cache) <= 16 + len(threads)


@pytest.mark.parametrize(
    ("text", "expected", "offset"),
    [
        ("2024-03-05T10:00:00Z", dt.datetime(2024, 3, 5, 10, tzinfo=UTC), 0),
        ("2024-03-05T10:00:00.25+01:00", dt.datetime(2024, 3, 5, 9, 0, 0, 250000, tzinfo=UTC), 3600),
        ("2009-02-13T23:31:30.123456789Z", dt.datetime(2009, 2, 13, 23, 31, 30, 123456, tzinfo=UTC), 0),
    ],
)
def test_cached_timestamps_are_the_parsed_ones(text, expected, offset):
    program = compile("timestamp(t)", variables=["t"])
    for _ in range(2):  # the second evaluation is served by the cache
        value = program.evaluate({"t": text})
        assert type(value) is Timestamp and value.to_datetime() == expected and value.offset == offset
    assert time.TIMESTAMPS[text] == time.parse_timestamp(text) == value
    assert compile("timestamp(t) > timestamp('2000-01-01T00:00:00Z')", variables=["t"]).evaluate({"t": text})


@pytest.mark.parametrize("text", ["2024-03-05", "2024-13-05T10:00:00Z", "10000-01-01T00:00:00Z", ""])
def test_bad_timestamp_strings_still_raise_evaluation_errors(text):
    program = compile("timestamp(t) > timestamp('2000-01-01T00:00:00Z')", variables=["t"])
    for _ in range(2):
        with pytest.raises(EvaluationError):
            program.evaluate({"t": text})
    assert text not in time.TIMESTAMPS


def test_timestamp_of_other_types_bypasses_the_cache():
    program = compile("timestamp(t)", variables=["t"])
    instant = Timestamp.from_datetime(dt.datetime(2024, 1, 1, tzinfo=UTC))
    assert program.evaluate({"t": instant}) is instant
    assert program.evaluate({"t": 0}) == Timestamp(0)
    for bad in (1.5, None, ["2024-03-05T10:00:00Z"], {"a": 1}):
        with pytest.raises(EvaluationError, match="no such overload"):
            program.evaluate({"t": bad})


def test_the_caches_are_bounded():
    assert time.TIMESTAMPS.maxsize == hierarchy.DOTTED.maxsize == 4096
    cache = time.TIMESTAMPS
    start = dt.datetime(2000, 1, 1, tzinfo=UTC)
    for seconds in range(cache.maxsize + 50):
        text = (start + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert cache[text].to_datetime() == start + dt.timedelta(seconds=seconds)
    assert len(cache) <= cache.maxsize


def test_cached_hierarchies_and_ranges():
    assert compile("hierarchy(s).ancestorOf(hierarchy('a.b.c'))", variables=["s"]).evaluate({"s": "a.b"})
    assert hierarchy.DOTTED["a.b"].levels == ("a", "b")
    assert cerbos._CIDRS["10.0.0.0/8"] == (b"\n\0\0\0", b"\xff\0\0\0", 0x0A000000, 0xFF000000)
    assert cerbos._CIDRS["2001:db8::/32"][2:] == (None, None)
    with pytest.raises(EvaluationError, match="invalid CIDR"):
        cerbos._CIDRS["10.0.0.0/33"]
    assert "10.0.0.0/33" not in cerbos._CIDRS
