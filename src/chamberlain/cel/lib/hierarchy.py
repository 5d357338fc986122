"""Cerbos's ``hierarchy`` type: a dotted path such as ``a.b.c`` seen as a list of levels.

``hierarchy("a.b.c")``, ``hierarchy("a:b:c", ":")`` and ``hierarchy(["a", "b", "c"])`` build one;
its members test ancestry (``ancestorOf``, ``descendentOf``, ``immediateChildOf``,
``immediateParentOf``, ``siblingOf``, ``overlaps``) and compute ``commonAncestors``. ``h[i]`` and
``h.size()`` go through the runtime's ``cel_index`` and ``cel_size`` hooks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NoReturn

from chamberlain.caches import ENTRY_OVERHEAD
from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import StringCache, function
from chamberlain.cel.values import (
    NO_SUCH_OVERLOAD,
    TYPE_IDENTIFIERS,
    CelType,
    native_string_error,
    no_such_overload,
    no_such_overload_for,
    type_name,
)

HIERARCHY_TYPE = CelType("cerbos.lib.hierarchy")
TYPE_IDENTIFIERS.setdefault(HIERARCHY_TYPE.name, HIERARCHY_TYPE)

#: The members that test how two hierarchies are related (each takes a hierarchy, gives a bool).
TESTS = ("ancestorOf", "descendentOf", "immediateChildOf", "immediateParentOf", "overlaps", "siblingOf")


class Hierarchy:
    """An immutable sequence of hierarchy levels."""

    __slots__ = ("levels",)
    cel_type = HIERARCHY_TYPE
    #: Cerbos's error for a hierarchy in an output (it has no JSON form).
    cel_json_error = "unsupported native conversion from hierarchy to '*structpb.Value'"
    #: As Cerbos's hierarchy value: it receives the calls it cannot serve, and is a types.Hierarchy.
    cel_receiver = True
    cel_go_type = "types.Hierarchy"

    def __init__(self, levels: Iterable[str]):
        self.levels = tuple(levels)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Hierarchy):
            return NotImplemented
        return self.levels == other.levels

    def __hash__(self) -> int:
        return hash(self.levels)

    def __repr__(self) -> str:
        return f"hierarchy({list(self.levels)!r})"

    def cel_index(self, index: Any) -> str:
        """``h[i]``: the level at ``i`` (an int)."""
        if type(index) is not int:
            raise EvaluationError(f"unsupported index type '{type_name(index)}'")
        if not 0 <= index < len(self.levels):
            raise EvaluationError("index out of range")
        return self.levels[index]

    def cel_select(self, field: str) -> str:
        """``h.field`` (and ``has(h.field)``): a field is a string index, which Cerbos refuses."""
        return self.cel_index(field)

    cel_has = cel_select

    def cel_size(self) -> int:
        """``h.size()``: the number of levels."""
        return len(self.levels)

    def cel_to_string(self) -> str:
        """``string(h)``: the levels joined with dots."""
        return ".".join(self.levels)


def _split(text: str, delimiter: str) -> list[str]:
    # Go's strings.Split with an empty separator splits into characters ("" gives no elements).
    return text.split(delimiter) if delimiter else list(text)


def _from_dotted(value: str) -> Hierarchy:
    return Hierarchy(value.split("."))


def _hierarchy_cost(key: str, value: Hierarchy) -> int:
    return ENTRY_OVERHEAD + 2 * len(key) + 64 * len(value.levels)


#: Scopes and paths repeat across requests, and hierarchies are immutable: build each once.
DOTTED = StringCache(_from_dotted, maxsize=4096)
DOTTED.cost = _hierarchy_cost


@function("hierarchy", str_cache=DOTTED)
def hierarchy(value: Any) -> Hierarchy:
    """``hierarchy("a.b.c")`` or ``hierarchy(["a", "b", "c"])``."""
    if type(value) is Hierarchy:
        return value
    if type(value) is str:
        return DOTTED[value]
    if type(value) is list or type(value) is tuple:
        if value and type(value[0]) is not str:
            raise no_such_overload("hierarchy", value)  # cel-go matches list(string) on the first element
        for level in value:
            if type(level) is not str:
                raise EvaluationError(f"failed to convert list to string slice: {native_string_error(level)}")
        return Hierarchy(value)
    raise no_such_overload("hierarchy", value)


@function("hierarchy")
def hierarchy_with_delimiter(value: Any, delimiter: Any) -> Hierarchy:
    """``hierarchy("a:b:c", ":")``."""
    if type(value) is not str or type(delimiter) is not str:
        raise no_such_overload("hierarchy", value, delimiter)
    return Hierarchy(_split(value, delimiter))


def _mismatch(name: str, h: Any, other: Any) -> NoReturn:
    if type(h) is not Hierarchy:
        raise no_such_overload_for(name, h)  # "no such overload: ancestorOf", plain for strings
    raise EvaluationError(NO_SUCH_OVERLOAD)


# The relations check their operands and test prefixes inline, calling out only to raise: a
# Python call costs about as much as the whole test, and they run on every request that names
# a scope (``hierarchy(R.attr.scope).ancestorOf(...)``).


@function("ancestorOf", member=True)
def ancestor_of(h: Any, other: Any) -> bool:
    """``h.ancestorOf(other)``: ``h`` is a proper prefix of ``other``."""
    a = h.levels if type(h) is Hierarchy else _mismatch("ancestorOf", h, other)
    b = other.levels if type(other) is Hierarchy else _mismatch("ancestorOf", h, other)
    return len(b) > len(a) and b[: len(a)] == a


@function("descendentOf", member=True)
def descendent_of(h: Any, other: Any) -> bool:
    """``h.descendentOf(other)``: ``other`` is a proper prefix of ``h``."""
    a = h.levels if type(h) is Hierarchy else _mismatch("descendentOf", h, other)
    b = other.levels if type(other) is Hierarchy else _mismatch("descendentOf", h, other)
    return len(a) > len(b) and a[: len(b)] == b


@function("immediateParentOf", member=True)
def immediate_parent_of(h: Any, other: Any) -> bool:
    """``h.immediateParentOf(other)``: ``other`` is ``h`` plus one level."""
    a = h.levels if type(h) is Hierarchy else _mismatch("immediateParentOf", h, other)
    b = other.levels if type(other) is Hierarchy else _mismatch("immediateParentOf", h, other)
    return len(b) == len(a) + 1 and b[: len(a)] == a


@function("immediateChildOf", member=True)
def immediate_child_of(h: Any, other: Any) -> bool:
    """``h.immediateChildOf(other)``: ``h`` is ``other`` plus one level."""
    a = h.levels if type(h) is Hierarchy else _mismatch("immediateChildOf", h, other)
    b = other.levels if type(other) is Hierarchy else _mismatch("immediateChildOf", h, other)
    return len(a) == len(b) + 1 and a[: len(b)] == b


@function("siblingOf", member=True)
def sibling_of(h: Any, other: Any) -> bool:
    """``h.siblingOf(other)``: same length, same levels except possibly the last."""
    a = h.levels if type(h) is Hierarchy else _mismatch("siblingOf", h, other)
    b = other.levels if type(other) is Hierarchy else _mismatch("siblingOf", h, other)
    return len(a) == len(b) and a[:-1] == b[:-1]


@function("overlaps", member=True)
def overlaps(h: Any, other: Any) -> bool:
    """``h.overlaps(other)``: one is a prefix of the other (or they are equal)."""
    a = h.levels if type(h) is Hierarchy else _mismatch("overlaps", h, other)
    b = other.levels if type(other) is Hierarchy else _mismatch("overlaps", h, other)
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return long[: len(short)] == short


@function("commonAncestors", member=True)
def common_ancestors(h: Any, other: Any) -> Hierarchy:
    """``h.commonAncestors(other)``: the longest shared prefix, excluding a shared last level."""
    a = h.levels if type(h) is Hierarchy else _mismatch("commonAncestors", h, other)
    b = other.levels if type(other) is Hierarchy else _mismatch("commonAncestors", h, other)
    if len(a) == len(b):
        if not a:  # Go slices [:-1] here and panics
            raise EvaluationError("commonAncestors of empty hierarchies")
        a, b = a[:-1], b[:-1]
    common = []
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common.append(x)
    return Hierarchy(common)
