"""Compile-time constant folding of a condition, as Cerbos compiles it (cel-go's constant folder).

Cerbos compiles every condition and variable with cel-go's ``ConstantFoldingOptimizer`` (unless it
calls ``now()`` or ``timeSince()``), and the planner starts from the folded tree. Folding changes
what a plan shows where evaluation never reaches (a ternary's branches, a comprehension's body):
``R.attr.x ? 1 + 1 : 3`` plans as ``if(x, 2, 3)``. The rules:

* a call, selection or presence test whose operands are all literals (or list and map literals
  of literals) is evaluated and replaced by its literal;
* ``&&``/``||`` with a literal operand: the decisive literal wins, the neutral one is dropped;
* a ternary with a literal condition becomes its branch; ``x in []`` is false; a literal needle
  found among a list literal's literal elements is true;
* a comprehension whose only names are its own variables is evaluated.

An evaluation error anywhere (``1/0``) leaves the whole expression unfolded, as cel-go reports
the error and Cerbos keeps the unoptimised tree.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

from chamberlain.cel import runtime
from chamberlain.cel.ast import Call, Expr, Ident, ListExpr, Literal, MapEntry, MapExpr, Select
from chamberlain.cel.parser import parse
from chamberlain.cel.values import CelType, Optional, Timestamp
from chamberlain.engine.planner.partial import (
    Partial,
    is_bind,
    is_has,
    is_known,
    macro_variables,
    to_literal,
)

_LATE_BOUND = frozenset(("now", "timeSince"))
_NO_VARIABLES = Partial({}, {}, frozenset(), Timestamp(0))  # now() is never folded


class _Abort(Exception):
    """A constant sub-expression failed to evaluate: the expression stays unfolded."""


@functools.lru_cache(maxsize=16384)
def parse_folded(text: str) -> Expr:
    """The tree Cerbos plans for a condition or variable text: parsed, then folded."""
    tree = parse(text)
    if any(isinstance(n, Call) and n.function in _LATE_BOUND for n in walk(tree)):
        return tree
    try:
        return _fold(tree, nested=False)
    except _Abort:
        return tree


def walk(node: Expr) -> Iterator[Expr]:
    """Every node of a tree (pre-order)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


def children(node: Expr) -> list[Expr]:
    if isinstance(node, Select):
        return [node.operand]
    if isinstance(node, Call):
        return ([node.target] if node.target is not None else []) + list(node.args)
    if isinstance(node, ListExpr):
        return list(node.elements)
    if isinstance(node, MapExpr):
        return [x for e in node.entries for x in (e.key, e.value)]
    return []


def rebuild(node: Expr, transform: Callable[[Expr], Expr]) -> Expr:
    """``node`` with ``transform`` applied to each direct child (the node itself when none changes)."""
    if isinstance(node, Select):
        operand = transform(node.operand)
        return node if operand is node.operand else Select(node.pos, operand, node.field, node.optional)
    if isinstance(node, Call):
        target = transform(node.target) if node.target is not None else None
        args = tuple(transform(a) for a in node.args)
        if target is node.target and all(a is b for a, b in zip(args, node.args, strict=True)):
            return node
        return Call(node.pos, node.function, args, target)
    if isinstance(node, ListExpr):
        elements = tuple(transform(e) for e in node.elements)
        if all(a is b for a, b in zip(elements, node.elements, strict=True)):
            return node
        return ListExpr(node.pos, elements, node.optional_indices)
    if isinstance(node, MapExpr):
        entries = tuple(
            MapEntry(e.pos, transform(e.key), transform(e.value), e.optional) for e in node.entries
        )
        if all(a.key is b.key and a.value is b.value for a, b in zip(entries, node.entries, strict=True)):
            return node
        return MapExpr(node.pos, entries)
    return node


def is_constant(node: Expr) -> bool:
    """A literal, or a list or map literal of constants (cel-go's ``ConstantValueMatcher``)."""
    if isinstance(node, Literal):
        return True
    if isinstance(node, ListExpr):
        return all(is_constant(e) for e in node.elements)
    if isinstance(node, MapExpr):
        return all(is_constant(e.key) and is_constant(e.value) for e in node.entries)
    return False


def _fold(node: Expr, *, nested: bool) -> Expr:
    if isinstance(node, Call) and node.target is not None and macro_variables(node) is not None:
        folded = rebuild(node, lambda child: _fold(child, nested=True))
        if _closed(folded):
            return _try(folded, abort=not nested)
        return folded
    node = rebuild(node, lambda child: _fold(child, nested=nested))
    if isinstance(node, Select):
        if not node.optional and is_constant(node.operand):
            return _try(node, abort=True)
        return node
    if not isinstance(node, Call) or is_bind(node):
        return node
    if is_has(node):
        select = node.args[0]
        return _try(node, abort=True) if is_constant(select.operand) else node  # type: ignore[attr-defined]
    fn, args = node.function, node.args
    if node.target is None and fn in ("_&&_", "_||_") and any(isinstance(a, Literal) for a in args):
        return _short_circuit(fn, args)
    if node.target is None and fn == "_?_:_" and isinstance(args[0], Literal) and type(args[0].value) is bool:
        return args[1] if args[0].value else args[2]
    if node.target is None and fn == "@in" and isinstance(args[1], ListExpr):
        haystack = args[1]
        if not haystack.elements:
            return Literal(node.pos, False)
        if isinstance(args[0], Literal) and any(
            isinstance(e, Literal) and _equal(e.value, args[0].value) for e in haystack.elements
        ):
            return Literal(node.pos, True)
    operands = ([node.target] if node.target is not None else []) + list(args)
    if all(is_constant(o) for o in operands):
        return _try(node, abort=True)
    return node


def _short_circuit(fn: str, args: tuple[Expr, ...]) -> Expr:
    decisive = fn == "_||_"
    kept = []
    for arg in args:
        if not isinstance(arg, Literal):
            kept.append(arg)
            continue
        if arg.value is decisive:
            return arg
        # the neutral literal (and, as cel-go does, any other literal) is dropped
    if not kept:
        return args[0]
    return kept[0]


def _equal(a: Any, b: Any) -> bool:
    try:
        return runtime.equals(a, b)
    except Exception:
        return False


def _closed(node: Expr) -> bool:
    """Whether every name in a comprehension is one of its (or a nested one's) variables."""
    return not free_names(node)


def free_names(expr: Expr) -> set[str]:
    """The identifiers a tree reads (comprehension variables excluded)."""
    bound: set[str] = set()
    names: set[str] = set()
    for node in walk(expr):
        if isinstance(node, Call):
            variables = macro_variables(node)
            if variables is not None:
                bound.update(variables)
        elif isinstance(node, Ident) and node.name not in bound:
            names.add(node.name)
    return names


def _try(node: Expr, *, abort: bool) -> Expr:
    value = _NO_VARIABLES.evaluate(node).value
    if is_known(value):
        literal = _adapt(value)
        if literal is not None:
            return literal
    if abort:
        raise _Abort
    return node


def _adapt(value: Any) -> Expr | None:
    """A value as a literal expression (cel-go's ``adaptLiteral``: types become names)."""
    if isinstance(value, CelType):
        return Ident(0, value.name)
    if type(value) is Optional:
        if not value.has_value():
            return Call(0, "none", (), Ident(0, "optional"))
        inner = _adapt(value.value)
        return None if inner is None else Call(0, "of", (inner,), Ident(0, "optional"))
    return to_literal(value)
