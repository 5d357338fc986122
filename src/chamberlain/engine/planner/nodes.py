"""The planner's intermediate tree and its translation into the plan's operand tree.

While combining rules the planner keeps each condition's residual CEL tree (:class:`Residual`)
and joins them with :class:`Logical` ``and``/``or``/``not`` nodes (Cerbos's
``PlanResourcesAst``). :func:`to_operand` then writes the operand tree Cerbos sends: operators by
Cerbos's names, operands in source order, ``a.b.c`` chains as one variable, constant lists as one
value, comprehensions as ``<macro>(range, lambda(body, var))``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from chamberlain.cel import functions
from chamberlain.cel.ast import Call, Expr, Ident, ListExpr, Literal, MapExpr, Select, StructExpr
from chamberlain.cel.values import UInt
from chamberlain.engine.planner.operands import Expression, Operand, Value, Variable, normalise
from chamberlain.engine.planner.partial import PlanError, is_has, macro_variables

AND, OR, NOT = "and", "or", "not"


@dataclass(frozen=True, slots=True)
class Residual:
    """A condition (or part of one) as the residual CEL tree left by partial evaluation."""

    expr: Expr


@dataclass(frozen=True, slots=True)
class Logical:
    """``and`` / ``or`` / ``not`` of planner nodes."""

    op: str
    nodes: tuple[Node, ...]


Node = Residual | Logical

TRUE_NODE = Residual(Literal(0, True))
FALSE_NODE = Residual(Literal(0, False))


def const_bool(node: Node | None) -> bool | None:
    """The constant a node stands for (``true``/``false`` literal residuals), else ``None``."""
    if isinstance(node, Residual) and isinstance(node.expr, Literal) and type(node.expr.value) is bool:
        return node.expr.value
    return None


def invert(node: Node) -> Node:
    """``not node``; ``not (not x)`` is ``x`` (a ``not`` of several nodes becomes their ``and``)."""
    if isinstance(node, Logical) and node.op == NOT:
        return node.nodes[0] if len(node.nodes) == 1 else Logical(AND, node.nodes)
    return Logical(NOT, (node,))


def join(op: str, nodes: list[Node]) -> Node | None:
    """``and``/``or`` of the distinct nodes (``None`` for none, the node itself for one)."""
    unique: list[Node] = []
    seen: set[Any] = set()
    for node in nodes:
        key = node_key(node)
        if key in seen:
            continue
        seen.add(key)
        unique.append(node)
    if not unique:
        return None
    if len(unique) == 1:
        return unique[0]
    return Logical(op, tuple(unique))


def add(current: Node | None, new: Node | None, op: str) -> Node | None:
    """Cerbos's ``addNode``: ``current op new`` (either may be missing)."""
    if new is None:
        return current
    if current is None:
        return new
    return join(op, [current, new])


def node_key(node: Node) -> Any:
    if isinstance(node, Logical):
        return ("logical", node.op, tuple(node_key(n) for n in node.nodes))
    return ("expr", expr_key(node.expr, sort_maps=True))


def expr_key(node: Expr, *, sort_maps: bool = False) -> Any:
    """A hashable, position-free key of a CEL tree (map entries sorted by key when asked)."""
    if isinstance(node, Literal):
        v = node.value
        return ("lit", type(v).__name__, v if not isinstance(v, list) else tuple(v))
    if isinstance(node, Ident):
        return ("id", node.name, node.absolute)
    if isinstance(node, Select):
        return ("sel", expr_key(node.operand, sort_maps=sort_maps), node.field, node.optional)
    if isinstance(node, Call):
        target = expr_key(node.target, sort_maps=sort_maps) if node.target is not None else None
        return ("call", node.function, target, tuple(expr_key(a, sort_maps=sort_maps) for a in node.args))
    if isinstance(node, ListExpr):
        return ("list", tuple(expr_key(e, sort_maps=sort_maps) for e in node.elements), node.optional_indices)
    if isinstance(node, MapExpr):
        entries = [
            (expr_key(e.key, sort_maps=sort_maps), expr_key(e.value, sort_maps=sort_maps), e.optional)
            for e in node.entries
        ]
        if sort_maps:
            entries.sort(key=lambda e: repr(e[0]))
        return ("map", tuple(entries))
    return ("other", repr(node))


def to_expr(node: Node) -> Expr:
    """A planner node as one CEL tree (``and``/``or`` as right-nested ``&&``/``||``)."""
    if isinstance(node, Residual):
        return node.expr
    if node.op == NOT:
        return Call(0, "!_", (to_expr(node.nodes[0]),))
    return right_nested("_&&_" if node.op == AND else "_||_", [to_expr(n) for n in node.nodes])


def right_nested(function: str, args: list[Expr]) -> Expr:
    """``a op (b op (c op d))``."""
    result = args[-1]
    for arg in reversed(args[:-1]):
        result = Call(0, function, (arg, result))
    return result


# -- the operand tree ----------------------------------------------------------------------------------

_OPERATORS = {
    "_==_": "eq",
    "_!=_": "ne",
    "_>_": "gt",
    "_>=_": "ge",
    "_<_": "lt",
    "_<=_": "le",
    "@in": "in",
    "_+_": "add",
    "_-_": "sub",
    "_*_": "mult",
    "_/_": "div",
    "_%_": "mod",
    "_[_]": "index",
    "_&&_": "and",
    "_||_": "or",
    "!_": "not",
    "_?_:_": "if",
}


#: chamberlain's marker around one policy condition expression in :attr:`QueryPlan.exact_condition`.
HOLDS = "chamberlain.holds"


def to_operand(node: Node, *, marked: bool = False) -> Operand:
    """The plan's operand tree for a planner node.

    ``marked``: each condition expression's residual wrapped in ``chamberlain.holds(...)``: the
    check counts a condition that fails to evaluate as false, and an ``and``/``or``/``not`` of
    conditions is two-valued, while inside one expression CEL's errors propagate. Cerbos's plan
    does not show where one ends and the other starts; translators need it to be exact under
    ``not`` (a DENY rule's condition that fails does not deny).
    """
    if isinstance(node, Residual):
        operand = expr_operand(node.expr)
        if marked:
            operand = normalise(operand)
            if not (isinstance(operand, Value) and isinstance(operand.value, bool)):
                return Expression(HOLDS, (operand,))
        return operand
    return Expression(node.op, tuple(to_operand(n, marked=marked) for n in node.nodes))


def expr_operand(expr: Expr, parent: Expr | None = None) -> Operand:
    """Cerbos's ``buildExpr``: a residual CEL tree as an operand."""
    if isinstance(expr, Literal):
        return Value(constant(expr.value))
    if isinstance(expr, Ident):
        return Variable(expr.name)
    if isinstance(expr, Select):
        names = [expr.field]
        current: Expr = expr.operand
        while isinstance(current, Select) and not current.optional:
            names.append(current.field)
            current = current.operand
        if isinstance(current, Ident) and not expr.optional:
            return Variable(".".join([current.name, *reversed(names)]))
        if expr.optional:  # cel-go's a.?b: the call _?._(a, "b"), an optional (none if b is absent)
            return Expression("_?._", (expr_operand(expr.operand, expr), Value(expr.field)))
        return Expression("get-field", (expr_operand(expr.operand, expr), Variable(expr.field)))
    if isinstance(expr, ListExpr):
        if all(isinstance(e, Literal) for e in expr.elements):
            return Value([constant(e.value) for e in expr.elements])  # type: ignore[attr-defined]
        return Expression("list", tuple(expr_operand(e, expr) for e in expr.elements))
    if isinstance(expr, MapExpr):
        if (
            isinstance(parent, Call)
            and parent.function == "@in"
            and len(parent.args) == 2
            and parent.args[1] is expr
        ):
            return expr_operand(ListExpr(0, sorted_keys(expr)), parent)
        return Expression(
            "struct",
            tuple(
                Expression("set-field", (expr_operand(e.key, expr), expr_operand(e.value, expr)))
                for e in expr.entries
            ),
        )
    if isinstance(expr, StructExpr):
        return Expression(
            "struct",
            tuple(
                Expression("set-field", (Value(f.field), expr_operand(f.value, expr))) for f in expr.fields
            ),
        )
    if isinstance(expr, Call):
        if is_has(expr):
            select = expr.args[0]
            assert isinstance(select, Select)
            return Expression("has", (expr_operand(Select(select.pos, select.operand, select.field), expr),))
        variables = macro_variables(expr)
        if variables is not None:
            return lambda_operand(expr, variables)
        operator = _OPERATORS.get(expr.function, expr.function) if expr.target is None else expr.function
        operands = [expr_operand(a, expr) for a in expr.args]
        if expr.target is not None:
            qualified = _namespaced(expr)
            if qualified is not None:
                return Expression(_MACRO_FUNCTIONS.get(qualified, qualified), tuple(operands))
            operands.insert(0, expr_operand(expr.target, expr))
        return Expression(operator, tuple(operands))
    raise PlanError(f"cannot express {type(expr).__name__} in a query plan")


#: cel-go macros that expand into an internal function, and the name a plan shows.
_MACRO_FUNCTIONS = {"math.greatest": "math.@max", "math.least": "math.@min"}


def _namespaced(expr: Call) -> str | None:
    parts: list[str] = []
    target = expr.target
    while isinstance(target, Select) and not target.optional:
        parts.append(target.field)
        target = target.operand
    if not isinstance(target, Ident):
        return None
    qualified = ".".join([target.name, *reversed(parts), expr.function])
    return qualified if functions.lookup(qualified) is not None else None


def constant(value: Any) -> Any:
    """A literal's value in a plan (bytes as base64, as ``google.protobuf.Value`` holds them)."""
    if type(value) is bytes:
        return base64.b64encode(value).decode("ascii")
    if type(value) is UInt:
        return int(value)
    return value


def sorted_keys(expr: MapExpr) -> tuple[Expr, ...]:
    """A map literal's keys in Cerbos's order (by the key's kind, then its value)."""
    return tuple(sorted((e.key for e in expr.entries), key=_key_order))


_KIND_ORDER = {
    bool: "bool_value",
    bytes: "bytes_value",
    float: "double_value",
    int: "int64_value",
    type(None): "null_value",
    str: "string_value",
    UInt: "uint64_value",
}


def _key_order(key: Expr) -> tuple[str, str]:
    if isinstance(key, Literal):
        return (_KIND_ORDER.get(type(key.value), "~"), str(key.value))
    return ("~", repr(key))


# -- comprehensions as lambdas ---------------------------------------------------------------------------


def lambda_operand(expr: Call, variables: tuple[str, ...]) -> Operand:
    """``op(range, lambda(body[, body2], var[, var2]))`` with Cerbos's operator for the macro form."""
    operator, body, body2 = lambda_parts(expr, variables)
    assert expr.target is not None
    lambda_args = [expr_operand(body, expr)]
    if body2 is not None:
        lambda_args.append(expr_operand(body2, expr))
    lambda_args.extend(Variable(v) for v in variables)
    target = expr.target
    if isinstance(target, MapExpr) and operator not in ("transformMap", "transformMapEntry", "transformList"):
        target = ListExpr(0, sorted_keys(target))
    return Expression(operator, (expr_operand(target, expr), Expression("lambda", tuple(lambda_args))))


def lambda_parts(expr: Call, variables: tuple[str, ...]) -> tuple[str, Expr, Expr | None]:
    """The operator and lambda bodies Cerbos reads back from a macro's expansion."""
    name, args, n = expr.function, expr.args, len(variables)
    if name in ("all", "exists"):
        return name, args[n], None
    if name in ("exists_one", "existsOne"):
        return "exists_one", args[n], None
    if name == "filter":
        return "filter", args[n], None
    if name == "map" and len(args) == 2:
        return "map", args[1], None
    if name == "sortBy":
        return "sortBy", args[1], None
    if name == "transformList" and len(args) == 3:
        return "transformList", args[2], None
    if (name == "map" and len(args) == 3) or (name == "transformList" and len(args) == 4):
        predicate, transform = args[n], args[n + 1]
        # Cerbos recognises the transform only when it is a function call in the expansion.
        if _is_plain_call(transform):
            return "transformList", predicate, transform
        return "filter", predicate, None
    if name in ("transformMap", "transformMapEntry"):
        if len(args) == 4:
            return name, args[2], args[3]
        return name, args[2], None
    raise PlanError(f"the {name}() macro cannot be expressed in a query plan")


def _is_plain_call(expr: Expr) -> bool:
    return isinstance(expr, Call) and not is_has(expr) and macro_variables(expr) is None
