"""cel-go's ``ext.Lists`` (latest version) and the optional library's list members.

``lists.range(n)``, ``l.slice(i, j)``, ``l.flatten()``, ``l.flatten(depth)``, ``l.sort()``,
``l.reverse()``, ``l.distinct()``, ``l.first()`` and ``l.last()``. The ``sortBy`` macro compiles to
``@sortByAssociatedKeys(list, keys)`` (also exported as :func:`sort_by_keys`).
"""

from __future__ import annotations

from typing import Any

from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import function
from chamberlain.cel.lib.sets import is_list
from chamberlain.cel.lib.strings import reverse as reverse_string
from chamberlain.cel.runtime import equals
from chamberlain.cel.values import (
    OPTIONAL_NONE,
    Duration,
    Optional,
    Timestamp,
    UInt,
    no_such_overload,
    no_such_overload_for,
    type_name,
)

#: Types whose values ``sort`` accepts (cel-go's comparable types).
_SORTABLE = frozenset((int, UInt, float, bool, str, bytes, Timestamp, Duration))


def _require_list(name: str, value: Any, *args: Any) -> None:
    if not is_list(value):
        raise no_such_overload(name, value, *args)


#: The longest list ``lists.range`` builds: ``n`` can come from a request, and ``lists.range(1 << 40)``
#: would ask for terabytes from a few bytes of input (no comprehension to pace).
MAX_RANGE = 1_000_000


@function("lists.range")
def lists_range(n: Any) -> list[int]:
    """``lists.range(n)``: ``[0, 1, ..., n - 1]`` (empty when ``n <= 0``); ``n`` at most :data:`MAX_RANGE`."""
    if type(n) is not int:
        raise no_such_overload("lists.range", n)
    if n > MAX_RANGE:
        raise EvaluationError(f"lists.range({n}) is longer than the limit of {MAX_RANGE} elements")
    return list(range(n))


@function("slice", member=True)
def slice_(values: Any, start: Any, end: Any) -> list:
    """``l.slice(start, end)``: the elements at ``start`` up to (excluding) ``end``."""
    if not is_list(values) or type(start) is not int or type(end) is not int:
        raise no_such_overload("slice", values, start, end)
    if start < 0 or end < 0:
        raise EvaluationError(f"cannot slice({start}, {end}), negative indexes not supported")
    if start > end:
        raise EvaluationError(
            f"cannot slice({start}, {end}), start index must be less than or equal to end index"
        )
    if end > len(values):
        raise EvaluationError(f"cannot slice({start}, {end}), list is length {len(values)}")
    return list(values[start:end])


def _flatten(values: Any, depth: int) -> list:
    result: list = []
    for item in values:
        if depth > 0 and is_list(item):
            result.extend(_flatten(item, depth - 1))
        else:
            result.append(item)
    return result


def _flatten_error(*args: Any) -> EvaluationError:
    # cel-go names the target's type as its checker saw it: a list from request data is list(dyn).
    target, rest = args[0], args[1:]
    kind = "list(dyn)" if is_list(target) else type_name(target)
    return EvaluationError(f"no such overload: {kind}.flatten({', '.join(map(type_name, rest))})")


@function("flatten", member=True)
def flatten(values: Any) -> list:
    """``l.flatten()``: nested lists spliced in, one level deep."""
    if not is_list(values):
        raise _flatten_error(values)
    return _flatten(values, 1)


@function("flatten", member=True)
def flatten_depth(values: Any, depth: Any) -> list:
    """``l.flatten(depth)``: nested lists spliced in, up to ``depth`` levels."""
    if not is_list(values) or type(depth) is not int:
        raise _flatten_error(values, depth)
    if depth < 0:
        raise EvaluationError("level must be non-negative")
    return _flatten(values, depth)


def sort_by_keys(values: Any, keys: Any) -> list:
    """``values`` ordered by the associated ``keys`` (the runtime part of the ``sortBy`` macro).

    Keys must all have one comparable type. Equal keys keep their order (cel-go does not promise
    this for lists longer than 12).
    """
    if not is_list(values) or not is_list(keys):
        raise no_such_overload("@sortByAssociatedKeys", values, keys)
    if len(values) != len(keys):
        raise EvaluationError(
            "@sortByAssociatedKeys() expected a list of the same size as the associated keys list, "
            f"but got {len(values)} and {len(keys)} elements respectively"
        )
    if not values:
        return list(values)
    kind = type(keys[0])
    if kind not in _SORTABLE:
        raise EvaluationError("list elements must be comparable")
    if any(type(k) is not kind for k in keys):
        raise EvaluationError("list elements must have the same type")
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return [values[i] for i in order]


function("@sortByAssociatedKeys", member=True)(sort_by_keys)


@function("sort", member=True)
def sort(values: Any) -> list:
    """``l.sort()``: the elements in ascending order; they must share one comparable type."""
    if not is_list(values):
        raise no_such_overload_for("sort", values)
    return sort_by_keys(values, values)


@function("reverse", member=True)
def reverse(values: Any) -> Any:
    """``l.reverse()``; also ``s.reverse()`` on strings.

    The registry keeps one implementation per name and arity, and this one (registered after
    ext.Strings') replaces the string version, so it delegates to it.
    """
    if type(values) is str:
        return reverse_string(values)
    _require_list("reverse", values)
    return list(reversed(values))


@function("distinct", member=True)
def distinct(values: Any) -> list:
    """``l.distinct()``: the elements without repeats (CEL equality), first occurrences kept."""
    _require_list("distinct", values)
    seen_hashable: set = set()
    result: list = []
    for item in values:
        if type(item) is str:
            # Fast path: strings only ever equal strings.
            if item in seen_hashable:
                continue
            seen_hashable.add(item)
        elif any(equals(item, kept) for kept in result):
            continue
        result.append(item)
    return result


@function("first", member=True)
def first(values: Any) -> Optional:
    """``l.first()``: the first element, or ``optional.none()`` for an empty list."""
    _require_list("first", values)
    return Optional(values[0]) if values else OPTIONAL_NONE


@function("last", member=True)
def last(values: Any) -> Optional:
    """``l.last()``: the last element, or ``optional.none()`` for an empty list."""
    _require_list("last", values)
    return Optional(values[-1]) if values else OPTIONAL_NONE
