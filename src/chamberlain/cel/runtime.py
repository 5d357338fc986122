"""CEL operators with exact semantics: equality, ordering, arithmetic, indexing, membership, size.

These are the checked implementations the compiled code calls. Every function here either returns
a CEL value or raises :class:`EvaluationError`; no other exception escapes for CEL values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.golang import format_float_g
from chamberlain.cel.values import (
    INT64_MAX,
    INT64_MIN,
    NO_SUCH_OVERLOAD,
    OPTIONAL_NONE,
    UINT64_MAX,
    Duration,
    Optional,
    Timestamp,
    UInt,
    go_type_name,
    no_such_overload,
    no_such_overload_for,
    type_name,
)

_NUMERIC = frozenset((int, UInt, float))
_LISTS = frozenset((list, tuple))
#: Types whose same-type Python ordering is CEL's ordering.
ORDERED = frozenset((int, UInt, float, str, bytes, bool, Timestamp, Duration))
_MAP_KEY_TYPES = frozenset((int, UInt, bool, str))

INT_OVERFLOW = "integer overflow"
UINT_OVERFLOW = "unsigned integer overflow"

# The types that have each operator's cel-go trait: a failing operator names itself when its first
# operand's type lacks the trait (see no_such_overload_for).
_ADDERS = frozenset((int, UInt, float, str, bytes, list, tuple, Timestamp, Duration))
_SUBTRACTORS = frozenset((int, UInt, float, Timestamp, Duration))
_MULTIPLIERS = frozenset((int, UInt, float))
_MODDERS = frozenset((int, UInt))
_NEGATERS = frozenset((int, float, bool, Duration))
_SIZERS = frozenset((str, bytes, list, tuple, dict))
#: The index types cel-go makes qualifiers of; any other is an "invalid qualifier type".
_QUALIFIERS = frozenset((str, int, UInt, bool, float))


# ---------------------------------------------------------------- equality and ordering


def equals(a: Any, b: Any) -> bool:
    """CEL heterogeneous equality: numbers compare across int/uint/double, lists and maps deeply."""
    ta, tb = type(a), type(b)
    if ta is tb:
        if ta is list or ta is tuple:
            return _lists_equal(a, b)
        if ta is dict:
            return _maps_equal(a, b)
        return a == b
    if ta in _NUMERIC and tb in _NUMERIC:
        return _numeric_order(a, b) == 0
    if ta in _LISTS and tb in _LISTS:
        return _lists_equal(a, b)
    cel_equals = getattr(a, "cel_equals", None)  # Cerbos's SPIFFE values compare with strings
    if cel_equals is not None:
        return bool(cel_equals(b))
    return False


def _lists_equal(a: Any, b: Any) -> bool:
    return len(a) == len(b) and all(equals(x, y) for x, y in zip(a, b, strict=True))


def _maps_equal(a: dict, b: dict) -> bool:
    if len(a) != len(b):
        return False
    for key, value in a.items():
        found = _map_get(b, key, _MISSING)
        if found is _MISSING or not equals(value, found):
            return False
    return True


def not_equals(a: Any, b: Any) -> bool:
    return not equals(a, b)


def _numeric_order(a: Any, b: Any) -> int | None:
    """Order of two numbers of different CEL types as cel-go defines it; None when NaN is involved.

    An int or uint meets a double as a double (so 2**63 - 1 equals 2.0**63), after the double is
    checked against the integer type's range; int and uint compare exactly.
    """
    if type(a) is float or type(b) is float:
        if type(a) is float:
            d, i, sign = a, b, 1
        else:
            d, i, sign = b, a, -1
        if d != d:
            return None
        # The bounds are doubles, as in Go, where float64(MaxInt64) rounds up to 2**63.
        low, high = (0.0, float(UINT64_MAX)) if type(i) is UInt else (float(INT64_MIN), float(INT64_MAX))
        if d < low:
            order = -1
        elif d > high:
            order = 1
        else:
            converted = float(i)
            order = -1 if d < converted else (1 if d > converted else 0)
        return order * sign
    return -1 if a < b else (1 if a > b else 0)


def _order(a: Any, b: Any, op: str) -> int | None:
    ta, tb = type(a), type(b)
    if ta is tb and ta in ORDERED:
        if ta is float and (a != a or b != b):
            return None
        return -1 if a < b else (1 if a > b else 0)
    if ta in _NUMERIC and tb in _NUMERIC:
        return _numeric_order(a, b)
    cel_compare = getattr(a, "cel_compare", None)  # a SPIFFE trust domain
    if cel_compare is not None:
        return int(cel_compare(b))
    raise no_such_overload_for(op, a, ORDERED)


def less(a: Any, b: Any) -> bool:
    order = _order(a, b, "_<_")
    return order is not None and order < 0


def less_equal(a: Any, b: Any) -> bool:
    order = _order(a, b, "_<=_")
    return order is not None and order <= 0


def greater(a: Any, b: Any) -> bool:
    order = _order(a, b, "_>_")
    return order is not None and order > 0


def greater_equal(a: Any, b: Any) -> bool:
    order = _order(a, b, "_>=_")
    return order is not None and order >= 0


def compare(a: Any, b: Any) -> int:
    """-1, 0 or 1 for CEL-comparable values (NaN compares equal to everything here); else an error."""
    return _order(a, b, "compare") or 0


# ---------------------------------------------------------------- arithmetic


def _check_int(value: int) -> int:
    if INT64_MIN <= value <= INT64_MAX:
        return value
    raise EvaluationError(INT_OVERFLOW)


def _check_uint(value: int) -> UInt:
    if 0 <= value <= UINT64_MAX:
        return UInt(value)
    raise EvaluationError(UINT_OVERFLOW)


def add(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is tb:
        if ta is int:
            return _check_int(a + b)
        if ta is float or ta is str or ta is bytes:
            return a + b
        if ta is UInt:
            return _check_uint(a + b)
        if ta is list or ta is tuple:
            return [*a, *b]
        if ta is Duration:
            return _time().add_durations(a, b)
    elif ta in _LISTS and tb in _LISTS:
        return [*a, *b]
    elif ta is Timestamp and tb is Duration:
        return _time().add_timestamp_duration(a, b)
    elif ta is Duration and tb is Timestamp:
        return _time().add_timestamp_duration(b, a)
    raise no_such_overload_for("_+_", a, _ADDERS)


def subtract(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is tb:
        if ta is int:
            return _check_int(a - b)
        if ta is float:
            return a - b
        if ta is UInt:
            return _check_uint(a - b)
        if ta is Timestamp:
            return _time().sub_timestamps(a, b)
        if ta is Duration:
            return _time().sub_durations(a, b)
    elif ta is Timestamp and tb is Duration:
        return _time().sub_timestamp_duration(a, b)
    raise no_such_overload_for("_-_", a, _SUBTRACTORS)


def multiply(a: Any, b: Any) -> Any:
    ta = type(a)
    if ta is type(b):
        if ta is int:
            return _check_int(a * b)
        if ta is float:
            return a * b
        if ta is UInt:
            return _check_uint(a * b)
    raise no_such_overload_for("_*_", a, _MULTIPLIERS)


def divide(a: Any, b: Any) -> Any:
    ta = type(a)
    if ta is type(b):
        if ta is int or ta is UInt:
            if b == 0:
                raise EvaluationError("division by zero")
            quotient = abs(a) // abs(b)
            if (a < 0) != (b < 0):
                quotient = -quotient
            return _check_int(quotient) if ta is int else UInt(quotient)
        if ta is float:
            if b == 0.0:
                if a == 0.0 or math.isnan(a):
                    return math.nan
                return math.copysign(math.inf, a) * math.copysign(1.0, b)
            return a / b
    raise no_such_overload_for("_/_", a, _MULTIPLIERS)


def modulo(a: Any, b: Any) -> Any:
    ta = type(a)
    if ta is type(b) and (ta is int or ta is UInt):
        if b == 0:
            raise EvaluationError("modulus by zero")
        if a == INT64_MIN and b == -1:
            raise EvaluationError(INT_OVERFLOW)
        remainder = abs(a) % abs(b)  # the sign follows the dividend, as in Go and C
        return (-remainder if a < 0 else remainder) if ta is int else UInt(remainder)
    raise no_such_overload_for("_%_", a, _MODDERS)


def negate(a: Any) -> Any:
    ta = type(a)
    if ta is int:
        return _check_int(-a)
    if ta is float:
        return -a
    if ta is Duration:
        return _time().neg_duration(a)
    raise no_such_overload_for("-_", a, _NEGATERS)


def logical_not(a: Any) -> bool:
    if a is True:
        return False
    if a is False:
        return True
    raise EvaluationError(NO_SUCH_OVERLOAD)


def require_bool(a: Any) -> bool:
    """``a`` when it is a bool; the error a logical operator raises otherwise."""
    if a is True or a is False:
        return a
    raise EvaluationError(NO_SUCH_OVERLOAD)


# ---------------------------------------------------------------- containers

_MISSING = object()


def _map_get(mapping: dict, key: Any, default: Any) -> Any:
    """Map lookup with CEL key semantics: 1, 1u and 1.0 find the same entry; bools only bools."""
    tk = type(key)
    if tk is str or tk is int or tk is UInt:
        found = mapping.get(key, default)
        if found is not default and type(key) is not str and _stored_key_is_bool(mapping, key):
            return default
        return found
    if tk is bool:
        for stored, value in mapping.items():
            if type(stored) is bool and stored == key:
                return value
        return default
    if tk is float:
        if key.is_integer():
            return _map_get(mapping, int(key), default)
        return default
    raise EvaluationError(f"unsupported map key type: {type_name(key)}")


def _stored_key_is_bool(mapping: dict, key: Any) -> bool:
    # Python's True == 1 makes a bool key and an int key collide; CEL keeps them apart.
    if key not in (0, 1):
        return False
    return any(type(k) is bool and k == key for k in mapping)


def index(container: Any, key: Any) -> Any:
    """``container[key]``: list by integral index, map by key; errors (cel-go's words) when out of
    range or absent."""
    tc = type(container)
    if tc is Optional:
        return optional_index(container, key)
    if type(key) not in _QUALIFIERS:
        raise EvaluationError(f"invalid qualifier type: {go_type_name(key)}")
    if tc is dict:
        found = _map_get(container, key, _MISSING)
        if found is _MISSING:
            raise EvaluationError(f"no such key: {key_text(key)}")
        return found
    if tc is list or tc is tuple:
        return container[_list_position(container, key)]
    cel_index = getattr(container, "cel_index", None)
    if cel_index is not None:
        return cel_index(key)
    raise EvaluationError(f"no such key: {key_text(key)}")  # cel-go: a value without entries


def _list_position(container: Any, key: Any) -> int:
    """cel-go's ``IndexOrError``, then the bounds check."""
    tk = type(key)
    if tk is int:
        position = key
    elif (tk is float and key.is_integer() and INT64_MIN <= key < 2.0**63) or (
        tk is UInt and key <= INT64_MAX
    ):
        position = int(key)
    elif tk is float or tk is UInt:
        raise EvaluationError(f"unsupported index value {key_text(key)} in list")
    else:
        raise EvaluationError(f"unsupported index type '{type_name(key)}' in list")
    if 0 <= position < len(container):
        return position
    raise EvaluationError(f"index out of bounds: {position}")


def key_text(key: Any) -> str:
    """A map key or index as cel-go prints it in errors (Go's ``%v``): ``b``, ``1``, ``1.5``, ``true``."""
    tk = type(key)
    if tk is str:
        return key
    if tk is bool:
        return "true" if key else "false"
    if tk is float:
        return format_float_g(key)
    return str(key)


def select(operand: Any, field: str) -> Any:
    """``operand.field``: a map entry (or an optional's value's entry, as an optional)."""
    if type(operand) is dict:
        try:
            return operand[field]
        except KeyError:
            raise EvaluationError(f"no such key: {field}") from None
    if type(operand) is Optional:
        return optional_select(operand, field)
    cel_select = getattr(operand, "cel_select", None)
    if cel_select is not None:
        return cel_select(field)
    # cel-go's attribute resolution (refQualify): a list rejects the string index, any other
    # value reports the missing key.
    if isinstance(operand, list | tuple):
        raise EvaluationError("unsupported index type 'string' in list")
    raise EvaluationError(f"no such key: {field}")


def has_field(operand: Any, field: str) -> bool:
    """``has(operand.field)``."""
    if type(operand) is dict:
        return field in operand
    if type(operand) is Optional:
        return operand.has_value() and has_field(operand.value, field)
    cel_has = getattr(operand, "cel_has", None)
    if cel_has is not None:
        return cel_has(field)
    if isinstance(operand, list | tuple):
        raise EvaluationError("unsupported index type 'string' in list")
    # As cel-go without EnableErrorOnBadPresenceTest (Cerbos's setting): a primitive has no fields.
    return False


def has_set_field(operand: Any, field: str) -> bool:
    """``has(m.field)`` for one of Cerbos's request messages (principal, resource, request, aux data):
    protobuf presence, so an empty string, list or map is absent (``has(R.scope)`` with no scope, or
    ``has(R.attr)`` with no attributes, is false), and the aux data is present only with JWT claims."""
    if type(operand) is not dict:
        return has_field(operand, field)
    value = operand.get(field)
    if field == "aux_data" or field == "auxData":
        return type(value) is dict and any(value.values())
    if value is None or value == "":
        return False
    return not (type(value) in (list, tuple, dict) and not value)


def optional_select_set(operand: Any, field: str) -> Optional:
    """``m.?field`` for one of Cerbos's request messages (present as :func:`has_set_field` says)."""
    return optional_select(operand, field, has_set_field)


def optional_select(operand: Any, field: str, present: Callable[[Any, str], bool] = has_field) -> Optional:
    """``operand.?field``: optional.of(value) when the field is ``present``, else optional.none()."""
    if type(operand) is Optional:
        if not operand.has_value():
            return OPTIONAL_NONE
        operand = operand.value
    if present(operand, field):
        return Optional(select(operand, field))
    return OPTIONAL_NONE


def optional_index(container: Any, key: Any) -> Optional:
    """``container[?key]``: optional.none() when the entry is absent (or ``container`` has none)."""
    if type(container) is Optional:
        if not container.has_value():
            return OPTIONAL_NONE
        container = container.value
    if type(key) not in _QUALIFIERS:
        raise EvaluationError(f"invalid qualifier type: {go_type_name(key)}")
    tc = type(container)
    if tc is dict:
        found = _map_get(container, key, _MISSING)
        return OPTIONAL_NONE if found is _MISSING else Optional(found)
    if tc is list or tc is tuple:
        try:
            return Optional(container[_list_position(container, key)])
        except EvaluationError:
            if type(key) not in _NUMERIC:
                raise
            return OPTIONAL_NONE
    cel_index = getattr(container, "cel_index", None)
    if cel_index is not None:
        return Optional(cel_index(key))
    return OPTIONAL_NONE


def contains(element: Any, container: Any) -> bool:
    """``element in container``: list membership by CEL equality, or map key presence."""
    tc = type(container)
    if tc is list or tc is tuple:
        te = type(element)
        if te is str or te is bytes:
            return element in container  # same-type Python equality is CEL's for these
        return any(equals(element, item) for item in container)
    if tc is dict:
        if type(element) not in _MAP_KEY_TYPES and type(element) is not float:
            return False
        return _map_get(container, element, _MISSING) is not _MISSING
    cel_contains = getattr(container, "cel_contains", None)
    if cel_contains is not None:
        return cel_contains(element)
    raise EvaluationError(NO_SUCH_OVERLOAD)


def size(value: Any) -> int:
    tv = type(value)
    if tv is str or tv is bytes or tv is list or tv is tuple or tv is dict:
        return len(value)
    cel_size = getattr(value, "cel_size", None)
    if cel_size is not None:
        return cel_size()
    raise no_such_overload_for("size", value, _SIZERS)


# ---------------------------------------------------------------- literals


def make_map(entries: Iterable[tuple[Any, Any]]) -> dict:
    """A map literal: keys must be int, uint, bool, string (or, as cel-go allows, double).

    A repeated key keeps the last value, as in cel-go. Keys of different types that Python's dict
    cannot keep apart (``1``, ``1u``, ``1.0``, ``true``), which cel-go keeps as separate entries,
    are an error rather than a map with one entry lost.
    """
    result: dict = {}
    kinds: dict = {}
    for key, value in entries:
        kind = type(key)
        if kind not in _MAP_KEY_TYPES and kind is not float:
            raise EvaluationError(f"unsupported key type: {type_name(key)}")
        if kinds.setdefault(key, kind) is not kind:
            raise EvaluationError(f"Failed with repeated key: {key_text(key)}")
        result[key] = value
    return result


def make_map_optional(entries: Iterable[tuple[Any, Any, bool]]) -> dict:
    """A map literal with ``?key: optional`` entries, which are kept only when the optional has a value."""
    kept = []
    for key, value, optional in entries:
        if optional:
            if type(value) is not Optional:
                raise no_such_overload("optional map entry", value)
            if not value.has_value():
                continue
            value = value.value
        kept.append((key, value))
    return make_map(kept)


def make_list_optional(elements: list, optional_positions: tuple[int, ...]) -> list:
    """A list literal with ``?element`` entries, kept only when the optional has a value."""
    result = []
    for position, value in enumerate(elements):
        if position in optional_positions:
            if type(value) is not Optional:
                raise no_such_overload("optional list element", value)
            if not value.has_value():
                continue
            value = value.value
        result.append(value)
    return result


# ---------------------------------------------------------------- non-strict operators (exact path)


def as_error(exc: BaseException) -> EvaluationError:
    """The CEL error value an exception stands for."""
    if isinstance(exc, EvaluationError):
        return exc
    if isinstance(exc, RecursionError):
        return EvaluationError("expression too deeply nested to evaluate")
    if isinstance(exc, KeyError):
        return EvaluationError(f"no such key: {exc.args[0]!r}" if exc.args else "no such key")
    return EvaluationError(f"{type(exc).__name__}: {exc}")


def decide(operands: Iterable[Callable[[], Any]], decisive: bool) -> bool:
    """CEL's non-strict ``&&``/``||`` (and ``all``/``exists``) over thunks, in order.

    The decisive value (False for and, True for or) wins over errors; otherwise the first error
    is raised; otherwise the result is the other bool.
    """
    error: EvaluationError | None = None
    for operand in operands:
        try:
            value = operand()
        except Exception as exc:
            error = error or as_error(exc)
            continue
        if value is decisive:
            return decisive
        if value is not (not decisive):
            error = error or EvaluationError(NO_SUCH_OVERLOAD)
    if error is not None:
        raise error
    return not decisive


def logical_and(*operands: Callable[[], Any]) -> bool:
    """``a && b && ...``: false if any operand is false, else the first error, else true."""
    return decide(operands, False)


def logical_or(*operands: Callable[[], Any]) -> bool:
    """``a || b || ...``: true if any operand is true, else the first error, else false."""
    return decide(operands, True)


def conditional(condition: Any, if_true: Callable[[], Any], if_false: Callable[[], Any]) -> Any:
    if condition is True:
        return if_true()
    if condition is False:
        return if_false()
    raise EvaluationError(NO_SUCH_OVERLOAD)


def _time():
    from chamberlain.cel.lib import time  # lazy: the time library imports this module

    return time
