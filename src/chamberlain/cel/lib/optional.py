"""CEL optional values (cel-go's ``OptionalTypes``): ``optional.of``, ``optional.none``,
``optional.ofNonZeroValue``, ``optional.unwrap`` and the members ``hasValue``, ``value``, ``or``,
``orValue`` and ``unwrapOpt``.

cel-go evaluates ``x.or(y)`` and ``x.orValue(y)`` lazily: ``y`` is evaluated only when ``x`` is
``optional.none()``. The implementations here are the strict fallbacks; the compiler is expected to
short-circuit them.
"""

from __future__ import annotations

from typing import Any

from chamberlain.cel.functions import function
from chamberlain.cel.lib.time import TIMESTAMP_MIN_NANOS
from chamberlain.cel.values import OPTIONAL_NONE, Duration, Optional, Timestamp, UInt, no_such_overload

_SIZED = frozenset((str, bytes, list, tuple, dict))
_NUMBERS = frozenset((int, UInt, float))


def is_zero_value(value: Any) -> bool:
    """Whether ``value`` is its type's zero value (cel-go's ``IsZeroValue``); other types never are."""
    kind = type(value)
    if value is None or value is False:
        return True
    if kind in _NUMBERS:
        return value == 0
    if kind in _SIZED:
        return not value
    if kind is Duration:
        return value == 0
    if kind is Timestamp:
        return value == TIMESTAMP_MIN_NANOS  # Go's zero time.Time: 0001-01-01T00:00:00Z
    return False


def _require_optional(name: str, value: Any, *args: Any) -> Optional:
    if type(value) is not Optional:
        raise no_such_overload(name, value, *args)
    return value


@function("optional.of")
def optional_of(value: Any) -> Optional:
    """``optional.of(x)``: an optional holding ``x``."""
    return Optional(value)


@function("optional.none")
def optional_none() -> Optional:
    """``optional.none()``: the empty optional."""
    return OPTIONAL_NONE


@function("optional.ofNonZeroValue")
def optional_of_non_zero_value(value: Any) -> Optional:
    """``optional.ofNonZeroValue(x)``: empty when ``x`` is a zero value (``0``, ``""``, ``[]``, null ...)."""
    return OPTIONAL_NONE if is_zero_value(value) else Optional(value)


@function("hasValue", member=True)
def has_value(opt: Any) -> bool:
    """``opt.hasValue()``."""
    return _require_optional("hasValue", opt).has_value()


@function("value", member=True)
def value(opt: Any) -> Any:
    """``opt.value()``: the held value; an error for ``optional.none()``."""
    return _require_optional("value", opt).value


def _unwrap(name: str, values: Any) -> list:
    if type(values) is not list and type(values) is not tuple:
        raise no_such_overload(name, values)
    result = []
    for item in values:
        if type(item) is not Optional:
            raise no_such_overload(name, values)  # cel-go's overload takes list(optional)
        if item.has_value():
            result.append(item.value)
    return result


@function("optional.unwrap")
def optional_unwrap(values: Any) -> list:
    """``optional.unwrap([optionals])``: the values of those that have one."""
    return _unwrap("optional.unwrap", values)


@function("unwrapOpt", member=True)
def unwrap_opt(values: Any) -> list:
    """``[optionals].unwrapOpt()``: the values of those that have one."""
    return _unwrap("unwrapOpt", values)
