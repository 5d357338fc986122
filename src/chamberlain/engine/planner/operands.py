"""The query plan's condition: Cerbos's operand tree, its JSON, its debug string and its normal form.

A plan's condition (``PlanResourcesFilter.Expression.Operand``) is one of:

* :class:`Value` — a constant (``google.protobuf.Value``: null, bool, number, string, or a list
  of those);
* :class:`Variable` — a name: ``request.resource.attr.status``, or a lambda's ``x.tags``;
* :class:`Expression` — ``operator`` and ``operands``. Operators are Cerbos's names (``and or not
  eq ne lt le gt ge in add sub mult div mod index get-field set-field list struct if lambda all
  exists exists_one filter map transformList transformMap transformMapEntry``); any other CEL
  function keeps its own name (``startsWith``, ``size``, ``timestamp``, ``hasIntersection``, ...).
  Operands keep source order: ``1 < R.attr.n`` is ``lt(1, n)``. A lambda's operands are the body
  first, then its variable(s).

chamberlain adds one operator, ``has`` (``has(R.attr.x)``): Cerbos folds a presence test to
``true`` (an over-grant); see ``docs/concepts/query-plans.md``.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chamberlain.errors import Error

KIND_ALWAYS_ALLOWED = "KIND_ALWAYS_ALLOWED"
KIND_ALWAYS_DENIED = "KIND_ALWAYS_DENIED"
KIND_CONDITIONAL = "KIND_CONDITIONAL"
KINDS = (KIND_ALWAYS_ALLOWED, KIND_ALWAYS_DENIED, KIND_CONDITIONAL)

#: The expansions of the abbreviated variable names (``R.attr.x`` -> ``request.resource.attr.x``).
_ABBREVIATIONS = {
    "P": "request.principal",
    "R": "request.resource",
    "C": "constants",
    "V": "variables",
    "G": "globals",
}


class PlanFormatError(Error):
    """A plan (JSON or an SDK object) that is not a well-formed Cerbos PlanResources filter."""


@dataclass(frozen=True, slots=True)
class Value:
    """A constant operand: ``None``, a bool, a number, a string, or a list of those."""

    value: Any

    def to_json(self) -> dict[str, Any]:
        return {"value": json_value(self.value)}


@dataclass(frozen=True, slots=True)
class Variable:
    """A named operand (``request.resource.attr.owner``, or a lambda variable such as ``x``)."""

    name: str

    def to_json(self) -> dict[str, Any]:
        return {"variable": self.name}


@dataclass(frozen=True, slots=True)
class Expression:
    """``operator(operands...)``."""

    operator: str
    operands: tuple[Operand, ...]

    def to_json(self) -> dict[str, Any]:
        return {"expression": {"operator": self.operator, "operands": [o.to_json() for o in self.operands]}}


Operand = Value | Variable | Expression

TRUE = Value(True)
FALSE = Value(False)


def expand_abbreviation(name: str) -> str:
    """``R.attr.x`` -> ``request.resource.attr.x`` (``P``, ``R``, ``C``, ``V``, ``G``), as Cerbos prints names."""
    head, dot, rest = name.partition(".")
    expanded = _ABBREVIATIONS.get(head)
    if expanded is None:
        return name
    return f"{expanded}{dot}{rest}"


# -- JSON -------------------------------------------------------------------------------------------


def json_value(value: Any) -> Any:
    """A constant as the HTTP API prints a ``google.protobuf.Value``: numbers are doubles, bytes base64."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        number = float(value)
        if number.is_integer() and abs(number) < 1e21:
            return int(number)
        return number
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    raise TypeError(f"not a plan constant: {type(value).__name__}")


def from_json(data: Any, path: str = "condition") -> Operand:
    """An operand from its JSON (``{"expression": ...}``, ``{"value": ...}`` or ``{"variable": ...}``)."""
    if not isinstance(data, Mapping):
        raise PlanFormatError(f"{path}: expected an object, got {type(data).__name__}")
    keys = [k for k in ("expression", "value", "variable") if k in data]
    if len(keys) != 1:
        raise PlanFormatError(f"{path}: expected exactly one of expression, value or variable")
    if keys[0] == "value":
        return Value(_plain(data["value"], f"{path}.value"))
    if keys[0] == "variable":
        name = data["variable"]
        if not isinstance(name, str) or not name:
            raise PlanFormatError(f"{path}.variable: expected a non-empty string")
        return Variable(name)
    expr = data["expression"]
    if not isinstance(expr, Mapping):
        raise PlanFormatError(f"{path}.expression: expected an object")
    operator = expr.get("operator")
    if not isinstance(operator, str) or not operator:
        raise PlanFormatError(f"{path}.expression.operator: expected a non-empty string")
    operands = expr.get("operands") or []
    if not isinstance(operands, list):
        raise PlanFormatError(f"{path}.expression.operands: expected a list")
    return Expression(
        operator, tuple(from_json(o, f"{path}.expression.operands[{i}]") for i, o in enumerate(operands))
    )


def _plain(value: Any, path: str) -> Any:
    if value is None or isinstance(value, bool | str | int | float):
        return value
    if isinstance(value, list):
        return [_plain(v, path) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v, path) for k, v in value.items()}
    raise PlanFormatError(f"{path}: not a JSON value ({type(value).__name__})")


# -- the debug string (meta.filterDebug) ------------------------------------------------------------


def debug_string(operand: Operand) -> str:
    """Cerbos's ``filterDebug``: ``(and (eq request.resource.attr.x "a") ...)``."""
    parts: list[str] = []
    _debug(operand, parts)
    return "".join(parts)


def _debug(operand: Operand, out: list[str]) -> None:
    if isinstance(operand, Expression):
        out.append(f"({operand.operator} ")
        for i, op in enumerate(operand.operands):
            if i:
                out.append(" ")
            _debug(op, out)
        out.append(")")
    elif isinstance(operand, Variable):
        out.append(operand.name)
    else:
        out.append(go_json(json_value(operand.value)))


def go_json(value: Any) -> str:
    """Compact JSON as Go's protojson writes it (numbers in ES6 form: ``42``, ``0.5``, ``1e+21``)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return _go_number(float(value))
    if isinstance(value, list):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{go_json(str(k))}:{go_json(v)}" for k, v in sorted(value.items())) + "}"
    raise TypeError(f"not JSON: {type(value).__name__}")


def _go_number(n: float) -> str:
    if math.isnan(n):
        return '"NaN"'
    if math.isinf(n):
        return '"Infinity"' if n > 0 else '"-Infinity"'
    magnitude = abs(n)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = repr(n)  # shortest digits in exponent form, as Go's: 1e+21, 1.5e-07
        if re.search(r"e-0\d$", text):
            text = text[:-2] + text[-1]  # protojson writes 1.5e-7
        return text
    return format(Decimal(repr(n)).normalize(), "f")


# -- Cerbos's normal form ---------------------------------------------------------------------------


def normalise(operand: Operand) -> Operand:
    """Cerbos's ``normaliseFilter`` on a condition (before it is checked for a constant).

    ``in`` with a one-element list becomes ``eq`` (an empty list: ``false``; a non-list constant:
    ``eq``); ``and``/``or`` drop neutral constants, collapse on absorbing ones and drop repeated
    operands; a single-operand ``and``/``or`` is its operand; ``not`` of a constant is folded;
    abbreviated variable names are expanded.
    """
    return _normalise(operand)[0]


def _normalise(operand: Operand) -> tuple[Operand, Operand]:
    """(normal form, the form Cerbos hashes to drop repeats: rewritten but not collapsed)."""
    if isinstance(operand, Variable):
        expanded = Variable(expand_abbreviation(operand.name))
        return expanded, expanded
    if isinstance(operand, Value):
        return operand, operand
    operator, operands = operand.operator, operand.operands
    if operator == "in" and len(operands) == 2 and isinstance(operands[1], Value):
        rhs = operands[1].value
        if isinstance(rhs, list | tuple):
            if not rhs:
                return FALSE, operand
            if len(rhs) == 1:
                operator, operands = "eq", (operands[0], Value(rhs[0]))
        elif isinstance(rhs, Mapping):
            if not rhs:
                return FALSE, operand
            if len(rhs) == 1:
                operator, operands = "eq", (operands[0], Value(next(iter(rhs))))
        else:
            operator = "eq"
    logical = operator in ("and", "or", "not")
    seen: set[Any] = set()
    kept: list[Operand] = []
    for op in operands:
        normal, hashed = _normalise(op)
        if logical and isinstance(normal, Value) and isinstance(normal.value, bool):
            b = normal.value
            if (operator == "and" and b) or (operator == "or" and not b):
                continue
            if operator == "and":
                return FALSE, Expression(operator, tuple(kept))
            if operator == "or":
                return TRUE, Expression(operator, tuple(kept))
        if operator in ("and", "or"):
            key = operand_key(hashed)
            if key in seen:
                continue
            seen.add(key)
        kept.append(normal)
    rewritten = Expression(operator, tuple(kept))
    if logical:
        if not kept:
            if operator == "and":
                return TRUE, rewritten
            if operator == "or":
                return FALSE, rewritten
        elif len(kept) == 1:
            if operator in ("and", "or"):
                return kept[0], rewritten
            only = kept[0]
            if isinstance(only, Value) and isinstance(only.value, bool):
                return Value(not only.value), rewritten
    return rewritten, rewritten


def operand_key(operand: Operand) -> Any:
    """A hashable, type-exact key of an operand (``1``, ``1.0`` and ``true`` differ)."""
    if isinstance(operand, Variable):
        return ("var", operand.name)
    if isinstance(operand, Value):
        return ("val", _value_key(operand.value))
    return ("expr", operand.operator, tuple(operand_key(o) for o in operand.operands))


def _value_key(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ("list", tuple(_value_key(v) for v in value))
    if isinstance(value, Mapping):
        return ("map", tuple(sorted((str(k), _value_key(v)) for k, v in value.items())))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return ("num", float(value))  # a plan's numbers are doubles: 1 and 1.0 are one constant
    return (type(value).__name__, value)


def walk(operand: Operand) -> Iterator[Operand]:
    """Every operand of the tree, depth first (the root first)."""
    stack = [operand]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, Expression):
            stack.extend(reversed(current.operands))
