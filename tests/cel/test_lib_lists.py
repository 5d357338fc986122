"""cel-go's lists extension and the optional library's first/last."""

from __future__ import annotations

import pytest

from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.lib import lists
from chamberlain.cel.values import OPTIONAL_NONE, Duration, Optional, Timestamp, UInt


def test_range():
    assert lists.lists_range(3) == [0, 1, 2]
    assert lists.lists_range(0) == []
    assert lists.lists_range(-2) == []
    with pytest.raises(EvaluationError, match="no such overload"):
        lists.lists_range(UInt(3))


def test_slice():
    assert lists.slice_([1, 2, 3, 4], 1, 3) == [2, 3]
    assert lists.slice_([1, 2, 3, 4], 2, 4) == [3, 4]
    assert lists.slice_([1, 2], 1, 1) == []
    assert lists.slice_((1, 2), 0, 2) == [1, 2]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (-1, 2, r"cannot slice\(-1, 2\), negative indexes not supported"),
        (2, 1, r"cannot slice\(2, 1\), start index must be less than or equal to end index"),
        (0, 5, r"cannot slice\(0, 5\), list is length 4"),
    ],
)
def test_slice_errors(start, end, message):
    with pytest.raises(EvaluationError, match=message):
        lists.slice_([1, 2, 3, 4], start, end)


def test_flatten():
    assert lists.flatten([1, [2, 3], [4]]) == [1, 2, 3, 4]
    assert lists.flatten([1, [2, [3, 4]]]) == [1, 2, [3, 4]]
    assert lists.flatten([1, 2, [], [], [3, 4]]) == [1, 2, 3, 4]
    assert lists.flatten_depth([1, [2, [3, [4]]]], 2) == [1, 2, 3, [4]]
    assert lists.flatten_depth([1, [2, [3, [4]]]], 0) == [1, [2, [3, [4]]]]
    assert lists.flatten_depth([[{"a": [1]}]], 5) == [{"a": [1]}]
    with pytest.raises(EvaluationError, match="level must be non-negative"):
        lists.flatten_depth([1], -1)


def test_sort():
    assert lists.sort([3, 2, 1]) == [1, 2, 3]
    assert lists.sort(["c", "b", "a"]) == ["a", "b", "c"]
    assert lists.sort([True, False]) == [False, True]
    assert lists.sort([b"b", b"a"]) == [b"a", b"b"]
    assert lists.sort([UInt(2), UInt(1)]) == [1, 2]
    assert lists.sort([Duration(2), Duration(1)]) == [Duration(1), Duration(2)]
    assert lists.sort([Timestamp(2), Timestamp(1)]) == [Timestamp(1), Timestamp(2)]
    assert lists.sort([]) == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([1, "b"], "list elements must have the same type"),
        ([1, 2.0], "list elements must have the same type"),
        ([1, UInt(2)], "list elements must have the same type"),
        ([[1, 2, 3]], "list elements must be comparable"),
        ([{"a": 1}, {"b": 2}], "list elements must be comparable"),
    ],
)
def test_sort_errors(values, message):
    with pytest.raises(EvaluationError, match=message):
        lists.sort(values)


def test_sort_by_keys():
    players = [{"name": "foo"}, {"name": "bar"}, {"name": "baz"}]
    assert lists.sort_by_keys(players, [0, -10, 1000]) == [players[1], players[0], players[2]]
    assert lists.sort_by_keys(["a", "b", "c"], [1, 0, 1]) == ["b", "a", "c"]
    with pytest.raises(EvaluationError, match="same size"):
        lists.sort_by_keys([1, 2], [1])


def test_reverse():
    assert lists.reverse([2, 1, "a"]) == ["a", 1, 2]
    assert lists.reverse([]) == []
    assert lists.reverse("abc") == "cba"  # ext.Strings' reverse shares the name


def test_distinct():
    assert lists.distinct([1, 2, 2, 3, 3, 3]) == [1, 2, 3]
    assert lists.distinct(["b", "b", "c", "a", "c"]) == ["b", "c", "a"]
    assert lists.distinct([1, "b", 2, "b"]) == [1, "b", 2]
    assert lists.distinct([1, 1.0, UInt(1), True]) == [1, True]
    assert lists.distinct([[1], [1.0], {"a": 1}, {"a": 1}]) == [[1], {"a": 1}]
    assert lists.distinct([1, 2, 1, 2, 3, 1, 2]) == [1, 2, 3]


def test_first_and_last():
    assert lists.first([1, 2, 3]) == Optional(1)
    assert lists.last([1, 2, 3]) == Optional(3)
    assert lists.first([]) is OPTIONAL_NONE
    assert lists.last([]) is OPTIONAL_NONE


def test_type_errors():
    for call in (
        lambda: lists.slice_("abc", 0, 1),
        lambda: lists.slice_([1], 0, 1.0),
        lambda: lists.flatten({"a": 1}),
        lambda: lists.sort("cba"),
        lambda: lists.reverse(1),
        lambda: lists.distinct("a"),
        lambda: lists.first("a"),
    ):
        with pytest.raises(EvaluationError, match="no such overload"):
            call()


@pytest.mark.parametrize(
    "expr",
    [
        "[3, 2, 1].sort() == [1, 2, 3] && ['c', 'b', 'a'].sort() == ['a', 'b', 'c']",
        "[2, 1, 'a'].reverse() == ['a', 1, 2] && 'abc'.reverse() == 'cba'",
        "lists.range(3) == [0, 1, 2]",
        "[1, 2, 1, 2, 3, 1, 2].distinct().sort() == [1, 2, 3]",
        "[1, 2, 3, 4].slice(1, 3) == [2, 3] && [1, 2, 3, 4].slice(2, 4) == [3, 4]",
        "[1,[2,[3,4]]].flatten() == [1, 2, [3, 4]] && [1,[2,[3,[4]]]].flatten(2) == [1, 2, 3, [4]]",
        "[1, 2, 3].first().value() == 1 && [1, 2, 3].last() == optional.of(3)",
        "[].first() == optional.none() && [].last().orValue('test') == 'test'",
        '[{"name": "foo", "score": 0}, {"name": "bar", "score": -10}, {"name": "baz", "score": 1000}]'
        '.sortBy(e, e.score).map(e, e.name) == ["bar", "foo", "baz"]',
    ],
)
def test_compiled(expr):
    from chamberlain.cel import compile

    assert compile(expr).evaluate({}) is True


@pytest.mark.parametrize("expr", ["[1, 'b'].sort()", "[[1]].sort()", "[1].slice(0, 2)", "[1].flatten(-1)"])
def test_compiled_errors(expr):
    from chamberlain.cel import compile

    with pytest.raises(EvaluationError):
        compile(expr).evaluate({})


def test_lists_range_is_bounded():
    """``n`` can come from a request: a few bytes must not ask for terabytes."""
    from chamberlain.cel import EvaluationError, compile

    prog = compile("lists.range(R.n).size()", variables=["R"])
    assert prog.evaluate({"R": {"n": 1_000_000}}) == 1_000_000
    with pytest.raises(EvaluationError, match=r"lists.range\(1099511627776\) is longer than the limit"):
        prog.evaluate({"R": {"n": 1 << 40}})
