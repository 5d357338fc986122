"""CEL runtime values as plain Python values.

| CEL type      | Python                                         |
|---------------|------------------------------------------------|
| int           | ``int`` (never ``bool``), range int64          |
| uint          | :class:`UInt`, a subclass of ``int``, range uint64 |
| double        | ``float``                                      |
| bool          | ``bool``                                       |
| string, bytes | ``str``, ``bytes``                             |
| null          | ``None``                                       |
| list, map     | ``list`` (``tuple`` accepted), ``dict``        |
| timestamp     | :class:`Timestamp`, an ``int`` of nanoseconds since the Unix epoch |
| duration      | :class:`Duration`, an ``int`` of nanoseconds   |
| type          | :class:`CelType`                               |
| optional      | :class:`Optional`                              |

Timestamps and durations are nanosecond-exact, as in cel-go (Go's ``time.Time`` and
``time.Duration``). ``Timestamp.from_datetime`` and ``Duration.from_timedelta`` build them from
Python's types; ``to_datetime`` and ``to_timedelta`` go back (truncating to microseconds).
"""

from __future__ import annotations

import datetime as _dt
import time as _time
from typing import Any

from chamberlain.cel.errors import EvaluationError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1

UTC = _dt.UTC
NANOS_PER_SECOND = 1_000_000_000
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = _dt.timedelta(microseconds=1)


class UInt(int):
    """A CEL ``uint``: an ``int`` that remembers it is unsigned."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"UInt({int(self)})"

    __str__ = int.__repr__


class Timestamp(int):
    """A CEL ``timestamp``: nanoseconds since 1970-01-01T00:00:00Z, an ``int`` that remembers it is one.

    Being an ``int`` makes ordering, equality and hashing the integer's, at C speed: the compiled
    fast path compares two timestamps with Python's own ``<``. ``offset`` is the UTC offset (seconds
    east) the timestamp was written with (``+05:30`` in ``timestamp("...+05:30")``). As the location
    of Go's ``time.Time`` it only changes how the value prints (``string()``, JSON), never what it
    equals or how it orders; arithmetic keeps it. Most timestamps are UTC: the class attribute
    serves them, and only the others carry an instance attribute.
    """

    offset = 0

    @classmethod
    def at(cls, nanos: int, offset: int = 0) -> Timestamp:
        """The timestamp ``nanos`` after the epoch, printed with UTC offset ``offset`` (seconds east)."""
        value = cls(nanos)
        if offset:
            value.offset = offset
        return value

    @classmethod
    def from_datetime(cls, value: _dt.datetime) -> Timestamp:
        """The instant of a timezone-aware ``datetime``, as a UTC timestamp."""
        if value.tzinfo is None:
            raise ValueError("a timestamp needs a timezone-aware datetime")
        return cls(((value - _EPOCH) // _MICROSECOND) * 1000)

    @classmethod
    def now(cls) -> Timestamp:
        """The system clock's current time, to the nanosecond."""
        return cls(_time.time_ns())

    def to_datetime(self) -> _dt.datetime:
        """This instant as a UTC ``datetime`` (truncated to microseconds)."""
        return _EPOCH + _dt.timedelta(microseconds=int(self) // 1000)

    def __repr__(self) -> str:
        from chamberlain.cel.lib.time import format_timestamp  # local: the time library imports this module

        return f"Timestamp({format_timestamp(self)!r})"

    __str__ = __repr__

    def __reduce__(self):
        return (Timestamp.at, (int(self), self.offset))


class Duration(int):
    """A CEL ``duration``: a whole number of nanoseconds in int64's range, as Go's ``time.Duration``."""

    __slots__ = ()

    @classmethod
    def from_timedelta(cls, value: _dt.timedelta) -> Duration:
        """A ``timedelta`` as a duration."""
        return cls((value // _MICROSECOND) * 1000)

    def to_timedelta(self) -> _dt.timedelta:
        """This duration as a ``timedelta`` (truncated toward zero to microseconds)."""
        micros = abs(int(self)) // 1000
        return _dt.timedelta(microseconds=-micros if self < 0 else micros)

    def __repr__(self) -> str:
        from chamberlain.cel.lib.time import format_duration  # local: the time library imports this module

        return f"Duration({format_duration(self)!r})"

    __str__ = __repr__


class CelType:
    """A CEL type value, as returned by ``type(x)``; compared by identity (one instance per name)."""

    __slots__ = ("name",)
    _registry: dict[str, CelType] = {}

    def __new__(cls, name: str) -> CelType:
        existing = cls._registry.get(name)
        if existing is not None:
            return existing
        self = super().__new__(cls)
        self.name = name
        cls._registry[name] = self
        return self

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self):
        return (CelType, (self.name,))


INT = CelType("int")
UINT = CelType("uint")
DOUBLE = CelType("double")
BOOL = CelType("bool")
STRING = CelType("string")
BYTES = CelType("bytes")
NULL_TYPE = CelType("null_type")
LIST = CelType("list")
MAP = CelType("map")
TYPE = CelType("type")
TIMESTAMP = CelType("google.protobuf.Timestamp")
DURATION = CelType("google.protobuf.Duration")
OPTIONAL_TYPE = CelType("optional_type")

#: Names that evaluate to type values when used as identifiers (``type(1) == int``).
TYPE_IDENTIFIERS: dict[str, CelType] = {
    t.name: t for t in (INT, UINT, DOUBLE, BOOL, STRING, BYTES, NULL_TYPE, LIST, MAP, TYPE)
} | {
    "google.protobuf.Timestamp": TIMESTAMP,
    "google.protobuf.Duration": DURATION,
    "optional_type": OPTIONAL_TYPE,
}


class Optional:
    """A CEL optional value (``optional.of(x)``, ``optional.none()``, ``m.?key``)."""

    __slots__ = ("_has", "_value")

    def __init__(self, value: Any = None, has: bool = True):
        self._value = value
        self._has = has

    def has_value(self) -> bool:
        return self._has

    @property
    def value(self) -> Any:
        if not self._has:
            raise EvaluationError("optional.none() dereference")
        return self._value

    def __eq__(self, other: object) -> bool:
        from chamberlain.cel.runtime import equals  # local: runtime imports this module

        if not isinstance(other, Optional):
            return NotImplemented
        if self._has != other._has:
            return False
        return not self._has or equals(self._value, other._value)

    def __hash__(self) -> int:
        return hash((self._has, self._value)) if self._has else 0

    def __repr__(self) -> str:
        return f"optional.of({self._value!r})" if self._has else "optional.none()"


OPTIONAL_NONE = Optional(None, False)

_PY_TYPES: dict[type, CelType] = {
    bool: BOOL,
    int: INT,
    UInt: UINT,
    float: DOUBLE,
    str: STRING,
    bytes: BYTES,
    type(None): NULL_TYPE,
    list: LIST,
    tuple: LIST,
    dict: MAP,
    Timestamp: TIMESTAMP,
    Duration: DURATION,
    CelType: TYPE,
    Optional: OPTIONAL_TYPE,
}


def type_of(value: Any) -> CelType:
    """The CEL type of a runtime value; extension types declare ``cel_type`` (a :class:`CelType`)."""
    found = _PY_TYPES.get(type(value))
    if found is not None:
        return found
    declared = getattr(value, "cel_type", None)
    if isinstance(declared, CelType):
        return declared
    raise EvaluationError(f"unsupported value of Python type {type(value).__name__}")


def type_name(value: Any) -> str:
    """The CEL type name of a value, for error messages; never raises."""
    try:
        return type_of(value).name
    except EvaluationError:
        return type(value).__name__


#: cel-go's word for an operand that cannot take part in a call (``1 + "a"``, ``!1``, ``1 in 2``).
NO_SUCH_OVERLOAD = "no such overload"


def no_such_overload(function: str, *args: Any) -> EvaluationError:
    """The error for a call whose argument types match no overload, as cel-go's function dispatcher
    words it (``no such overload: int(bool)``); returned, to be raised."""
    return EvaluationError(f"{NO_SUCH_OVERLOAD}: {function}({', '.join(type_name(a) for a in args)})")


#: Types whose cel-go values receive the calls they cannot serve themselves (cel-go's
#: ``traits.Receiver``), and so answer a plain "no such overload" (extension types say so with
#: ``cel_receiver = True``).
_RECEIVERS = frozenset((str, Timestamp, Duration))


def no_such_overload_for(function: str, operand: Any, able: frozenset[type] = frozenset()) -> EvaluationError:
    """The error cel-go gives when ``operand`` is the first operand of ``function`` (an operator, or a
    function bound to a trait such as ``size``) and the call fails: plain "no such overload" when the
    operand's type has the trait (``able``: it is the other operand that does not fit) or receives
    calls, else "no such overload: function" (``no such overload: _+_`` for ``true + 1``)."""
    kind = type(operand)
    if kind in able or kind in _RECEIVERS or getattr(operand, "cel_receiver", False):
        return EvaluationError(NO_SUCH_OVERLOAD)
    return EvaluationError(f"{NO_SUCH_OVERLOAD}: {function}")


#: cel-go's Go type names, which some of its messages print (``got 'types.Int', expected iterable type``).
_GO_TYPE_NAMES: dict[type, str] = {
    bool: "types.Bool",
    int: "types.Int",
    UInt: "types.Uint",
    float: "types.Double",
    str: "types.String",
    bytes: "types.Bytes",
    type(None): "types.Null",
    list: "*types.baseList",
    tuple: "*types.baseList",
    dict: "*types.baseMap",
    Timestamp: "types.Timestamp",
    Duration: "types.Duration",
    CelType: "*types.Type",
    Optional: "*types.Optional",
}


def go_type_name(value: Any) -> str:
    """The Go type of ``value``'s cel-go counterpart (extension types declare ``cel_go_type``)."""
    return _GO_TYPE_NAMES.get(type(value)) or getattr(value, "cel_go_type", type_name(value))


#: cel-go's errors when a value that is not a string must become a Go string (a JSON map key, a
#: ``hierarchy`` segment).
_NATIVE_STRING_ERRORS = {
    int: "unsupported type conversion from 'int' to string",
    UInt: "unsupported type conversion from 'uint' to string",
    bool: "type conversion error from bool to 'string'",
    float: "type conversion error from Double to 'string'",
    type(None): "type conversion error from 'null_type' to 'string'",
    list: "type conversion error from list to 'string'",
    tuple: "type conversion error from list to 'string'",
    dict: "type conversion error from map to 'string'",
}


def native_string_error(value: Any) -> str:
    """cel-go's error for converting ``value`` (not a string) to a Go string."""
    return (
        _NATIVE_STRING_ERRORS.get(type(value))
        or f"type conversion error from '{type_name(value)}' to 'string'"
    )
