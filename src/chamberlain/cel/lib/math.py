"""The CEL math extension, as cel-go's ``ext.Math()`` (latest version).

``math.greatest`` and ``math.least`` take numbers of any numeric type (or one list of them) and
return the winning argument unchanged, comparing across int, uint and double exactly. Bit shifts
of ints are logical on the 64-bit two's complement pattern, as in cel-go.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import function
from chamberlain.cel.values import INT64_MIN, UINT64_MAX, UInt, no_such_overload

_NUMBERS = (int, UInt, float)
_MASK64 = UINT64_MAX


def _is_number(value: Any) -> bool:
    return type(value) in _NUMBERS


def _to_int64(bits: int) -> int:
    """The int64 whose two's complement pattern is the low 64 bits of ``bits``."""
    bits &= _MASK64
    return bits - (1 << 64) if bits >> 63 else bits


def _extreme(name: str, args: tuple[Any, ...], better: Callable[[Any, Any], bool]) -> Any:
    """``name`` is cel-go's internal function (``math.@max``), which its errors name. Three or more
    arguments are a list to cel-go (its macro writes ``math.@max([a, b, c])``), whose runtime dispatch
    looks at the first element only: a first element that is not a number is no overload of
    ``name(list)``, a later one fails inside the function (``no such overload: math.@max``)."""
    if not args:
        raise EvaluationError(f"{name}() requires at least one argument")
    values: Any = args
    if len(args) == 1 and type(args[0]) in (list, tuple):
        values = args[0]
        if not values:
            raise EvaluationError(f"{name}(list) argument must not be empty")
    if not all(_is_number(value) for value in values):
        if len(args) == 2:
            raise no_such_overload(name, *args)
        if not _is_number(values[0]):
            raise no_such_overload(name, list(values))
        raise EvaluationError(f"no such overload: {name}")
    best = values[0]
    for value in values[1:]:
        if better(value, best):  # ties and NaN keep the earlier argument, as cel-go does
            best = value
    return best


@function("math.greatest")
def greatest(*args: Any) -> Any:
    """``math.greatest(a, ...)`` or ``math.greatest(list)``: the largest number."""
    return _extreme("math.@max", args, lambda value, best: best < value)


@function("math.least")
def least(*args: Any) -> Any:
    """``math.least(a, ...)`` or ``math.least(list)``: the smallest number."""
    return _extreme("math.@min", args, lambda value, best: best > value)


# ---------------------------------------------------------------- rounding and classification


def _double_only(name: str, value: Any) -> float:
    if type(value) is not float:
        raise no_such_overload(name, value)
    return value


def _rounding(name: str, rounder: Callable[[float], float]) -> Callable[[Any], float]:
    def apply(value: Any) -> float:
        x = _double_only(name, value)
        if not math.isfinite(x) or abs(x) >= 2.0**52:  # already integral (or inf/NaN)
            return x
        return math.copysign(float(rounder(x)), x)  # keeps the sign of zero: ceil(-0.5) == -0.0

    apply.__doc__ = f"``{name}(double)``."
    function(name)(apply)
    return apply


def _round_half_away(x: float) -> float:
    whole = math.trunc(x)
    if abs(x - whole) >= 0.5:  # exact: subtracting the integral part of a double loses nothing
        whole += 1 if x > 0 else -1
    return whole


ceil = _rounding("math.ceil", math.ceil)
floor = _rounding("math.floor", math.floor)
round_ = _rounding("math.round", _round_half_away)
trunc = _rounding("math.trunc", math.trunc)


@function("math.isInf")
def is_inf(value: Any) -> bool:
    """``math.isInf(double)``."""
    return math.isinf(_double_only("math.isInf", value))


@function("math.isNaN")
def is_nan(value: Any) -> bool:
    """``math.isNaN(double)``."""
    return math.isnan(_double_only("math.isNaN", value))


@function("math.isFinite")
def is_finite(value: Any) -> bool:
    """``math.isFinite(double)``."""
    return math.isfinite(_double_only("math.isFinite", value))


@function("math.abs")
def abs_(value: Any) -> Any:
    """``math.abs(x)`` for int (overflow error on the minimum int), uint and double."""
    tv = type(value)
    if tv is int:
        if value == INT64_MIN:
            raise EvaluationError("integer overflow")
        return abs(value)
    if tv is UInt:
        return value
    if tv is float:
        return abs(value)
    raise no_such_overload("math.abs", value)


@function("math.sign")
def sign(value: Any) -> Any:
    """``math.sign(x)``: -1, 0 or 1 in the type of ``x`` (NaN for NaN)."""
    tv = type(value)
    if tv is int:
        return (value > 0) - (value < 0)
    if tv is UInt:
        return UInt(1 if value else 0)
    if tv is float:
        if math.isnan(value):
            return value
        return 1.0 if value > 0 else (-1.0 if value < 0 else 0.0)
    raise no_such_overload("math.sign", value)


@function("math.sqrt")
def sqrt(value: Any) -> float:
    """``math.sqrt(x)`` for int, uint and double; NaN for negative numbers."""
    if not _is_number(value):
        raise no_such_overload("math.sqrt", value)
    x = float(value)
    return math.sqrt(x) if x >= 0 else math.nan


# ---------------------------------------------------------------- bitwise


def _bitwise(name: str, op: Callable[[int, int], int]) -> None:
    def apply(a: Any, b: Any) -> Any:
        ta = type(a)
        if ta is not type(b) or ta not in (int, UInt):
            raise no_such_overload(name, a, b)
        result = op(a, b)  # two's complement semantics keep int64 results in range
        return UInt(result) if ta is UInt else result

    apply.__doc__ = f"``{name}(a, b)`` for two ints or two uints."
    function(name)(apply)


_bitwise("math.bitAnd", lambda a, b: a & b)
_bitwise("math.bitOr", lambda a, b: a | b)
_bitwise("math.bitXor", lambda a, b: a ^ b)


@function("math.bitNot")
def bit_not(value: Any) -> Any:
    """``math.bitNot(x)`` for int and uint."""
    tv = type(value)
    if tv is int:
        return ~value
    if tv is UInt:
        return UInt(_MASK64 ^ value)
    raise no_such_overload("math.bitNot", value)


def _shift_operands(name: str, value: Any, bits: Any) -> None:
    if type(value) not in (int, UInt) or type(bits) is not int:
        raise no_such_overload(name, value, bits)
    if bits < 0:
        raise EvaluationError(f"{name}() negative offset: {bits}")


@function("math.bitShiftLeft")
def bit_shift_left(value: Any, bits: Any) -> Any:
    """``math.bitShiftLeft(x, n)``: bits shifted out are lost; 0 when ``n >= 64``."""
    _shift_operands("math.bitShiftLeft", value, bits)
    shifted = (value << bits) & _MASK64 if bits < 64 else 0
    return UInt(shifted) if type(value) is UInt else _to_int64(shifted)


@function("math.bitShiftRight")
def bit_shift_right(value: Any, bits: Any) -> Any:
    """``math.bitShiftRight(x, n)``: a logical shift (zeros enter, also for negative ints)."""
    _shift_operands("math.bitShiftRight", value, bits)
    shifted = (value & _MASK64) >> bits if bits < 64 else 0
    return UInt(shifted) if type(value) is UInt else _to_int64(shifted)
