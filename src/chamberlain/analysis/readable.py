"""A query plan's condition as people read it: CEL-like text with ``R.``/``P.`` abbreviations.

``(and (eq request.resource.attr.status "APPROVED") (le request.resource.attr.amount 1000))``
reads ``R.attr.status == "APPROVED" && R.attr.amount <= 1000``. Operators without an infix form
print as calls (``hasIntersection(a, b)``); lambdas as CEL macros (``xs.exists(x, x > 1)``).
"""

from __future__ import annotations

import json
from typing import Any

from chamberlain.engine.planner.operands import Expression, Operand, Value, Variable

_INFIX = {
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "in": "in",
    "add": "+",
    "sub": "-",
    "mult": "*",
    "div": "/",
    "mod": "%",
}
_PREFIXES = (("request.resource.", "R."), ("request.principal.", "P."))
_METHODS = {
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "overlaps",
    "ancestorOf",
    "descendentOf",
    "immediateParentOf",
    "immediateChildOf",
    "siblingOf",
    "orValue",
    "hasValue",
}
_MACROS = {"exists", "all", "exists_one", "filter", "map", "except"}


def readable(operand: Operand, *, limit: int = 4000) -> str:
    """The condition as text (cut at ``limit`` characters with ``…``: a map must stay legible)."""
    text = _render(operand, top=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def variable_name(name: str) -> str:
    """``request.resource.attr.x`` -> ``R.attr.x`` (and ``P.`` for the principal)."""
    for long, short in _PREFIXES:
        if name.startswith(long):
            return short + name[len(long) :]
    return name


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, default=str)


def _render(o: Operand, *, top: bool = False) -> str:
    if isinstance(o, Value):
        return _value(o.value)
    if isinstance(o, Variable):
        return variable_name(o.name)
    assert isinstance(o, Expression)
    op, args = o.operator, o.operands
    if op in ("and", "or"):
        joiner = " && " if op == "and" else " || "
        text = joiner.join(_render(a, top=not _needs_parens(a, op)) for a in args)
        return text if top else f"({text})"
    if op == "not" and len(args) == 1:
        inner = args[0]
        if isinstance(inner, Expression) and inner.operator == "eq":
            return _binary("!=", inner.operands, top)
        return f"!{_atom(inner)}"
    if op in _INFIX and len(args) == 2:
        return _binary(_INFIX[op], args, top)
    if op == "if" and len(args) == 3:
        text = f"{_atom(args[0])} ? {_atom(args[1])} : {_atom(args[2])}"
        return text if top else f"({text})"
    if op == "get-field" and len(args) == 2 and isinstance(args[1], Variable):
        return f"{_atom(args[0])}.{args[1].name}"
    if op == "_?._" and len(args) == 2 and isinstance(args[1], Value) and isinstance(args[1].value, str):
        return f"{_atom(args[0])}.?{args[1].value}"  # an optional selection: R.attr.?tier
    if op == "index" and len(args) == 2:
        return f"{_atom(args[0])}[{_render(args[1], top=True)}]"
    if op == "list":
        return "[" + ", ".join(_render(a, top=True) for a in args) + "]"
    if op in _MACROS and len(args) == 2 and isinstance(args[1], Expression) and args[1].operator == "lambda":
        body, *variables = args[1].operands
        names = ", ".join(_render(v) for v in variables)
        return f"{_atom(args[0])}.{op}({names}, {_render(body, top=True)})"
    if op in _METHODS and args:
        return f"{_atom(args[0])}.{op}(" + ", ".join(_render(a, top=True) for a in args[1:]) + ")"
    return f"{op}(" + ", ".join(_render(a, top=True) for a in args) + ")"


def _binary(symbol: str, args: tuple[Operand, ...], top: bool) -> str:
    text = f"{_atom(args[0])} {symbol} {_atom(args[1])}"
    return text if top else f"({text})"


def _atom(o: Operand) -> str:
    """An operand inside a larger expression: parenthesised unless it is a name, a value or a call."""
    return _render(o)


def _needs_parens(o: Operand, parent: str) -> bool:
    """``a || b`` inside ``&&`` (and the other way round) keeps its parentheses."""
    return isinstance(o, Expression) and o.operator in ("and", "or") and o.operator != parent
