"""The runtime side of CEL's comprehension macros (all, exists, exists_one, map, filter, ...).

The compiler turns ``r.all(x, p)`` into ``all_of(act, r, lambda x: p)``: the predicate is compiled
Python code, these functions apply CEL's error rules around it. Each iterates its range through
:func:`chamberlain.cel.budget.paced_range` (``act`` says whose budget a long loop charges).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from chamberlain.cel.budget import paced_range
from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.lib.lists import sort_by_keys
from chamberlain.cel.runtime import decide, key_text
from chamberlain.cel.values import NO_SUCH_OVERLOAD, OPTIONAL_NONE, Optional, go_type_name, no_such_overload


def iteration_range(act: Any, target: Any) -> Any:
    """The values a single-variable comprehension iterates: list elements or map keys (paced when long)."""
    if type(target) is list or type(target) is tuple:
        return paced_range(act, target)
    if type(target) is dict:
        return paced_range(act, list(target))
    raise EvaluationError(f"got '{go_type_name(target)}', expected iterable type")


def iteration_pairs(act: Any, target: Any) -> Any:
    """(index, value) for lists, (key, value) for maps: what two-variable comprehensions iterate (paced)."""
    if type(target) is list or type(target) is tuple:
        return enumerate(paced_range(act, target))
    if type(target) is dict:
        return paced_range(act, list(target.items()))
    raise EvaluationError(f"unsupported comprehension range type: {go_type_name(target)}")


def _quantify(items: Any, predicate: Callable[..., Any], decisive: bool, spread: bool) -> bool:
    """all (decisive=False) / exists (decisive=True): the decisive value wins over errors."""
    thunks = (
        functools.partial(predicate, *item) if spread else functools.partial(predicate, item)
        for item in items
    )
    return decide(thunks, decisive)


def all_of(act: Any, target: Any, predicate: Callable[[Any], Any]) -> bool:
    return _quantify(iteration_range(act, target), predicate, False, False)


def exists(act: Any, target: Any, predicate: Callable[[Any], Any]) -> bool:
    return _quantify(iteration_range(act, target), predicate, True, False)


def all_of2(act: Any, target: Any, predicate: Callable[[Any, Any], Any]) -> bool:
    return _quantify(iteration_pairs(act, target), predicate, False, True)


def exists2(act: Any, target: Any, predicate: Callable[[Any, Any], Any]) -> bool:
    return _quantify(iteration_pairs(act, target), predicate, True, True)


def _count_true(items: Any, predicate: Callable[..., Any], spread: bool) -> int:
    count = 0
    for item in items:
        value = predicate(*item) if spread else predicate(item)
        if value is True:
            count += 1
        elif value is not False:
            raise EvaluationError(NO_SUCH_OVERLOAD)
    return count


def exists_one(act: Any, target: Any, predicate: Callable[[Any], Any]) -> bool:
    return _count_true(iteration_range(act, target), predicate, False) == 1


def exists_one2(act: Any, target: Any, predicate: Callable[[Any, Any], Any]) -> bool:
    return _count_true(iteration_pairs(act, target), predicate, True) == 1


def _keep(value: Any) -> bool:
    if value is True or value is False:
        return value
    raise EvaluationError(NO_SUCH_OVERLOAD)


def map_list(act: Any, target: Any, transform: Callable[[Any], Any]) -> list:
    return [transform(x) for x in iteration_range(act, target)]


def map_filter(
    act: Any, target: Any, predicate: Callable[[Any], Any], transform: Callable[[Any], Any]
) -> list:
    return [transform(x) for x in iteration_range(act, target) if _keep(predicate(x))]


def filter_list(act: Any, target: Any, predicate: Callable[[Any], Any]) -> list:
    return [x for x in iteration_range(act, target) if _keep(predicate(x))]


def transform_list(act: Any, target: Any, transform: Callable[[Any, Any], Any], predicate=None) -> list:
    return [
        transform(k, v)
        for k, v in iteration_pairs(act, target)
        if predicate is None or _keep(predicate(k, v))
    ]


def transform_map(act: Any, target: Any, transform: Callable[[Any, Any], Any], predicate=None) -> dict:
    return {
        k: transform(k, v)
        for k, v in iteration_pairs(act, target)
        if predicate is None or _keep(predicate(k, v))
    }


def transform_map_entry(act: Any, target: Any, transform: Callable[[Any, Any], Any], predicate=None) -> dict:
    """Each transform returns a map; the maps are merged (cel-go's ``cel.@mapInsert``), a repeated
    key is an error."""
    result: dict = {}
    for k, v in iteration_pairs(act, target):
        if predicate is not None and not _keep(predicate(k, v)):
            continue
        entries = transform(k, v)
        if type(entries) is not dict:
            raise no_such_overload("cel.@mapInsert", result, entries)
        for key, value in entries.items():
            if (
                key in result
            ):  # Python's key equality: 1, 1u, 1.0 and true meet, which a dict cannot keep apart
                raise EvaluationError(f"insert failed: key {key_text(key)} already exists")
            result[key] = value
    return result


def optional_map(target: Any, transform: Callable[[Any], Any]) -> Optional:
    """``opt.optMap(x, t)``: optional.of(t(value)) or optional.none()."""
    if type(target) is not Optional:
        raise no_such_overload("hasValue", target)  # cel-go expands the macro to a hasValue() test
    return Optional(transform(target.value)) if target.has_value() else OPTIONAL_NONE


def optional_flat_map(target: Any, transform: Callable[[Any], Any]) -> Optional:
    """``opt.optFlatMap(x, t)``: t(value), which must itself be an optional, or optional.none()."""
    if type(target) is not Optional:
        raise no_such_overload("hasValue", target)
    if not target.has_value():
        return OPTIONAL_NONE
    result = transform(target.value)
    if type(result) is not Optional:
        raise no_such_overload("optFlatMap", result)
    return result


def optional_or(target: Any, alternative: Callable[[], Any]) -> Any:
    """``opt.or(other)``: ``opt`` when it has a value; ``other`` (evaluated only then, and returned
    as it is, as cel-go does) otherwise."""
    if type(target) is not Optional:
        raise EvaluationError(NO_SUCH_OVERLOAD)
    return target if target.has_value() else alternative()


def optional_or_value(target: Any, default: Callable[[], Any]) -> Any:
    """``opt.orValue(default)``: the held value; ``default`` is evaluated only when there is none."""
    if type(target) is not Optional:
        raise EvaluationError(NO_SUCH_OVERLOAD)
    return target.value if target.has_value() else default()


def sort_by(act: Any, target: Any, key: Callable[[Any], Any]) -> list:
    """``list.sortBy(x, key)`` (lists extension): a stable sort by the computed keys."""
    values = list(iteration_range(act, target))
    return sort_by_keys(values, [key(v) for v in values])
