"""The type errors Cerbos's compiler (cel-go's checker) finds in a condition before any request is seen.

Cerbos declares the request as protobuf messages: ``P.id`` is a ``string``, ``P.roles`` a
``list(string)``, ``P.attr`` a ``map(string, dyn)``, ``now()`` a ``timestamp``. So ``P.id == 1``,
``R.kind > 1`` or ``size(P.roles) == "a"`` are refused when the policy is compiled, not discovered as
an evaluation error on every request (where a DENY rule so written would be skipped for ever).

This is a checker for what can be known: types flow from literals, the declared request fields and
the functions below; anything read from attributes, variables, constants or globals is ``dyn``, which
matches every overload, and a function this module does not describe yields ``dyn`` without a
complaint, so it never refuses what cel-go accepts. The messages are cel-go's (``found no matching
overload for '_+_' applied to '(int, string)'``), compared with the real Cerbos over thousands of
expressions in ``tests/policy/test_cel_types_cerbos.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chamberlain.cel import ast, functions
from chamberlain.cel.lib import hierarchy, time
from chamberlain.cel.lib.core import compile_regex
from chamberlain.cel.lib.strings import format_problem
from chamberlain.cel.values import UInt

#: A type: a name (``int``, ``dyn``, a message's full name) or ``("list", elem)`` / ``("map", key, value)``
#: / ``("type", of)`` (what ``type(x)`` returns).
Type = str | tuple[Any, ...]

DYN, INT, UINT, DOUBLE, STRING, BYTES, BOOL, NULL = (
    "dyn",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "null",
)
TIMESTAMP, DURATION, TYPE = "timestamp", "duration", "type"
#: The element type of an empty list or map literal (``[]``, ``{}``): free until a type parameter
#: meets another type, which it becomes (``P.roles.except([])`` is a ``list(string)``); ``dyn`` once
#: a result is known (cel-go prints it ``dyn``).
FREE = "_free"
#: Cerbos's hierarchy type (``hierarchy("a.b")``), an opaque type to cel-go's checker.
HIERARCHY = "cerbos.lib.hierarchy"
PRINCIPAL = "cerbos.engine.v1.Request.Principal"
RESOURCE = "cerbos.engine.v1.Request.Resource"
REQUEST = "cerbos.engine.v1.Request"
AUX = "cerbos.engine.v1.AuxData"
RUNTIME = "cerbos.engine.v1.Runtime"
_NUMBERS = (INT, UINT, DOUBLE)
_ORDERED = (*_NUMBERS, STRING, BYTES, BOOL, TIMESTAMP, DURATION)
_NULLABLE = (TIMESTAMP, DURATION)


def list_of(elem: Type) -> Type:
    return ("list", elem)


def map_of(key: Type, value: Type) -> Type:
    return ("map", key, value)


_ATTR = map_of(STRING, DYN)
_VERSION_AND_SCOPE = {"attr": _ATTR, "policyVersion": STRING, "policy_version": STRING, "scope": STRING}
#: The fields of Cerbos's request messages (unknown fields are reported by ``cel_check``).
FIELDS: dict[str, dict[str, Type]] = {
    PRINCIPAL: {"id": STRING, "roles": list_of(STRING), **_VERSION_AND_SCOPE},
    RESOURCE: {"kind": STRING, "id": STRING, **_VERSION_AND_SCOPE},
    REQUEST: {"principal": PRINCIPAL, "resource": RESOURCE, "aux_data": AUX, "auxData": AUX},
    AUX: {"jwt": _ATTR},
    RUNTIME: {"effectiveDerivedRoles": list_of(STRING), "effective_derived_roles": list_of(STRING)},
}
ROOTS: dict[str, Type] = {"P": PRINCIPAL, "R": RESOURCE, "request": REQUEST, "runtime": RUNTIME}


def _same(*types: Type) -> list[tuple[tuple[Type, ...], Type]]:
    return [((t, t), t) for t in types]


def _to(result: Type, *sources: Type) -> list[tuple[tuple[Type, ...], Type]]:
    return [((s,), result) for s in sources]


def _same_unary(*types: Type) -> list[tuple[tuple[Type, ...], Type]]:
    return [((t,), t) for t in types]


_SIGNATURES = list[tuple[tuple[Type, ...], Type]]
#: Cerbos's own list functions, declared global and member alike (``hasIntersection(a, b)`` and
#: ``a.hasIntersection(b)``), both lists of one element type: ``hasIntersection(P.roles, "admin")``
#: and ``hasIntersection(P.roles, [1])`` are refused when the policy is compiled.
_SET_FUNCTIONS: dict[str, _SIGNATURES] = {
    **{
        name: [((list_of("A"), list_of("A")), BOOL)]
        for name in ("hasIntersection", "has_intersection", "isSubset", "is_subset")
    },
    **{name: [((list_of("A"), list_of("A")), list_of("A"))] for name in ("intersect", "except")},
}
#: The math extension's functions of numbers, by the types each overload takes and gives.
_MATH: dict[str, _SIGNATURES] = {
    **{name: _same_unary(INT, UINT, DOUBLE) for name in ("math.abs", "math.sign")},
    **{name: [((DOUBLE,), DOUBLE)] for name in ("math.ceil", "math.floor", "math.round", "math.trunc")},
    **{name: [((DOUBLE,), BOOL)] for name in ("math.isNaN", "math.isInf", "math.isFinite")},
    "math.sqrt": [((t,), DOUBLE) for t in _NUMBERS],
    **{name: _same(INT, UINT) for name in ("math.bitAnd", "math.bitOr", "math.bitXor")},
    "math.bitNot": _same_unary(INT, UINT),
    **{
        name: [((INT, INT), INT), ((UINT, INT), UINT)] for name in ("math.bitShiftLeft", "math.bitShiftRight")
    },
}
_COMPARE: _SIGNATURES = [((a, b), BOOL) for a in _NUMBERS for b in _NUMBERS]
_COMPARE += [((t, t), BOOL) for t in _ORDERED[3:]]
#: Global overloads by function: (parameter types, result). ``A``/``B`` are type parameters.
GLOBAL: dict[str, list[tuple[tuple[Type, ...], Type]]] = {
    "_+_": [
        *_same(INT, UINT, DOUBLE, STRING, BYTES, DURATION),
        ((list_of("A"), list_of("A")), list_of("A")),
        ((TIMESTAMP, DURATION), TIMESTAMP),
        ((DURATION, TIMESTAMP), TIMESTAMP),
    ],
    "_-_": [
        *_same(INT, UINT, DOUBLE, DURATION),
        ((TIMESTAMP, TIMESTAMP), DURATION),
        ((TIMESTAMP, DURATION), TIMESTAMP),
    ],
    "_*_": _same(INT, UINT, DOUBLE),
    "_/_": _same(INT, UINT, DOUBLE),
    "_%_": _same(INT, UINT),
    "_<_": _COMPARE,
    "_<=_": _COMPARE,
    "_>_": _COMPARE,
    "_>=_": _COMPARE,
    "-_": [((INT,), INT), ((DOUBLE,), DOUBLE)],
    "!_": [((BOOL,), BOOL)],
    "_==_": [(("A", "A"), BOOL)],
    "_!=_": [(("A", "A"), BOOL)],
    "@in": [(("A", list_of("A")), BOOL), (("A", map_of("A", "B")), BOOL)],
    "_[_]": [((list_of("A"), INT), "A"), ((map_of("A", "B"), "A"), "B"), ((HIERARCHY, INT), STRING)],
    "_?_:_": [((BOOL, "A", "A"), "A")],
    "size": _to(INT, STRING, BYTES, list_of("A"), map_of("A", "B")),
    "int": _to(INT, INT, UINT, DOUBLE, STRING, TIMESTAMP, DURATION),
    "uint": _to(UINT, INT, UINT, DOUBLE, STRING),
    "double": _to(DOUBLE, INT, UINT, DOUBLE, STRING),
    "string": _to(STRING, INT, UINT, DOUBLE, BOOL, BYTES, STRING, TIMESTAMP, DURATION),
    "bytes": _to(BYTES, BYTES, STRING),
    "bool": _to(BOOL, BOOL, STRING),
    "timestamp": _to(TIMESTAMP, TIMESTAMP, STRING, INT),
    "duration": _to(DURATION, DURATION, STRING),
    "dyn": [(("A",), DYN)],
    "type": [(("A",), ("type", "A"))],
    "matches": [((STRING, STRING), BOOL)],
    "now": [((), TIMESTAMP)],
    **_SET_FUNCTIONS,
    "lists.range": [((INT,), list_of(INT))],
    "hierarchy": [((STRING,), HIERARCHY), ((STRING, STRING), HIERARCHY), ((list_of(STRING),), HIERARCHY)],
    **_MATH,
    "base64.encode": [((BYTES,), STRING)],
    "base64.decode": [((STRING,), BYTES)],
    "strings.quote": [((STRING,), STRING)],
    "regex.replace": [((STRING, STRING, STRING), STRING), ((STRING, STRING, STRING, INT), STRING)],
    "regex.extractAll": [((STRING, STRING), list_of(STRING))],
    "json.encode": [(("A",), STRING)],
    **{
        f"sets.{name}": [((list_of("A"), list_of("A")), BOOL)]
        for name in ("contains", "equivalent", "intersects")
    },
}
_TIME_PARTS = ("getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate", "getDayOfWeek")
#: Member overloads: (target type, parameter types, result).
MEMBER: dict[str, list[tuple[Type, tuple[Type, ...], Type]]] = {
    "size": [(t, (), INT) for t in (STRING, BYTES, list_of("A"), map_of("A", "B"), HIERARCHY)],
    "contains": [(STRING, (STRING,), BOOL)],
    "startsWith": [(STRING, (STRING,), BOOL)],
    "endsWith": [(STRING, (STRING,), BOOL)],
    "matches": [(STRING, (STRING,), BOOL)],
    "lowerAscii": [(STRING, (), STRING)],
    "upperAscii": [(STRING, (), STRING)],
    "trim": [(STRING, (), STRING)],
    "reverse": [(STRING, (), STRING), (list_of("A"), (), list_of("A"))],
    "slice": [(list_of("A"), (INT, INT), list_of("A"))],
    "distinct": [(list_of("A"), (), list_of("A"))],
    "flatten": [(list_of(list_of("A")), (), list_of("A")), (list_of(DYN), (INT,), list_of(DYN))],
    # one overload a sortable element type: a list of unknown elements sorts to dyn
    "sort": [(list_of(t), (), list_of(t)) for t in _ORDERED],
    "inIPAddrRange": [(STRING, (STRING,), BOOL)],
    **{name: [(HIERARCHY, (HIERARCHY,), BOOL)] for name in hierarchy.TESTS},
    "commonAncestors": [(HIERARCHY, (HIERARCHY,), HIERARCHY)],
    "charAt": [(STRING, (INT,), STRING)],
    "indexOf": [(STRING, (STRING,), INT), (STRING, (STRING, INT), INT)],
    "lastIndexOf": [(STRING, (STRING,), INT), (STRING, (STRING, INT), INT)],
    "replace": [(STRING, (STRING, STRING), STRING), (STRING, (STRING, STRING, INT), STRING)],
    "substring": [(STRING, (INT,), STRING), (STRING, (INT, INT), STRING)],
    "join": [(list_of(STRING), (), STRING), (list_of(STRING), (STRING,), STRING)],
    "split": [(STRING, (STRING,), list_of(STRING)), (STRING, (STRING, INT), list_of(STRING))],
    "timeSince": [(TIMESTAMP, (), DURATION)],
    "format": [(STRING, (list_of(DYN),), STRING)],
    **{name: [(TIMESTAMP, (), INT), (TIMESTAMP, (STRING,), INT)] for name in _TIME_PARTS},
    **{
        name: [(on, tuple(params), result) for (on, *params), result in sigs]
        for name, sigs in _SET_FUNCTIONS.items()
    },
    **{
        name: [(TIMESTAMP, (), INT), (TIMESTAMP, (STRING,), INT), (DURATION, (), INT)]
        for name in ("getHours", "getMinutes", "getSeconds", "getMilliseconds")
    },
}
_LOGICAL = ("_&&_", "_||_")
#: Function namespaces of Cerbos's libraries (``math.greatest``), never variables.
_NAMESPACES = frozenset(
    {"math", "strings", "base64", "sets", "lists", "optional", "spiffe", "cel", "regex", "json"}
)
_BOOL_MACROS = {"all": "_&&_", "exists": "_||_"}
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})


def type_name(t: Type) -> str:
    """cel-go's spelling: ``list(int)``, ``map(string, dyn)``."""
    if isinstance(t, tuple):
        return f"{t[0]}({', '.join(type_name(p) for p in t[1:])})"
    return DYN if t == FREE else t


def type_errors(tree: ast.Expr) -> list[str]:
    """cel-go's checker errors for ``tree`` in Cerbos's environment, in the order cel-go reports them."""
    checker = _Checker()
    checker.check(tree, {})
    return checker.errors or checker.validation  # cel-go validates only what type-checks


def _literal(value: Any) -> Type:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, UInt):
        return UINT
    for python, cel in ((int, INT), (float, DOUBLE), (str, STRING), (bytes, BYTES)):
        if isinstance(value, python):
            return cel
    return DYN


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.validation: list[str] = []  # cel-go's validators run once the checker is done

    def check(self, node: ast.Expr, scope: dict[str, Type]) -> Type:
        if isinstance(node, ast.Literal):
            return _literal(node.value)
        if isinstance(node, ast.Ident):
            return scope.get(node.name) or ROOTS.get(node.name, DYN)
        if isinstance(node, ast.Select):
            return self.select(node, scope)
        if isinstance(node, ast.ListExpr):
            return list_of(_join([self.check(e, scope) for e in node.elements]) if node.elements else FREE)
        if isinstance(node, ast.MapExpr):
            if not node.entries:
                return map_of(FREE, FREE)
            keys = [self.check(e.key, scope) for e in node.entries]
            values = [self.check(e.value, scope) for e in node.entries]
            return map_of(_join(keys), _join(values))
        if isinstance(node, ast.Call):
            return self.call(node, scope)
        for child in _children(node):
            self.check(child, scope)
        return DYN

    def select(self, node: ast.Select, scope: dict[str, Type]) -> Type:
        operand = self.check(node.operand, scope)
        if node.optional:
            return DYN
        return self.field(operand, node.field)

    def field(self, operand: Type, name: str) -> Type:
        if operand == DYN:
            return DYN
        if isinstance(operand, tuple) and operand[0] == "map":
            return _resolved(operand[2])
        if isinstance(operand, str) and operand in FIELDS:
            return FIELDS[operand].get(name, DYN)  # an unknown field is cel_check's to report
        if isinstance(operand, str) and "." in operand:
            return DYN  # a message this module does not describe
        self.errors.append(f"type '{type_name(operand)}' does not support field selection")
        return DYN

    def call(self, node: ast.Call, scope: dict[str, Type]) -> Type:
        name = node.function
        if node.target is not None and name in _MACROS and node.args and isinstance(node.args[0], ast.Ident):
            return self.comprehension(node, scope)
        if (
            name == "bind"
            and isinstance(node.target, ast.Ident)
            and node.target.name == "cel"
            and len(node.args) == 3
        ):
            return self.bind(node, scope)
        if name == "has" and len(node.args) == 1 and isinstance(node.args[0], ast.Select):
            self.select(node.args[0], scope)
            return BOOL
        namespace = node.target
        if isinstance(namespace, ast.Ident) and namespace.name in _NAMESPACES and namespace.name not in scope:
            node = ast.Call(
                node.pos, f"{namespace.name}.{name}", node.args
            )  # math.greatest(...): one function
            name = node.function
        slot = len(self.validation)  # a call's problems come before its arguments' (cel-go's order)
        target = self.check(node.target, scope) if node.target is not None else None
        args = [self.check(a, scope) for a in node.args]
        if name in _LOGICAL:
            for t in args:
                if t not in (BOOL, DYN):
                    self.errors.append(f"expected type 'bool' but found '{type_name(t)}'")
            return BOOL
        self.literal_arguments(node, args)
        if name == "format" and target == STRING:
            self.format_arguments(node, scope, slot)
        if name in ("math.greatest", "math.least") and target is None and args:
            return self.extremum(node, args)
        if (problem := _no_overload(name, target, args)) is not None:
            self.errors.append(problem)
            return DYN
        if target is not None:
            return self.resolve_member(name, target, args)
        return self.resolve(name, args)

    def literal_arguments(self, node: ast.Call, args: list[Type]) -> None:
        """cel-go's validators of literal arguments: a regex, a timestamp, a duration."""
        name = node.function
        pattern = node.args[-1] if name == "matches" and node.args else None
        if isinstance(pattern, ast.Literal) and isinstance(pattern.value, str) and _bad_regex(pattern.value):
            self.errors.append("invalid matches argument")
        if node.target is not None or len(node.args) != 1 or not isinstance(node.args[0], ast.Literal):
            return
        value = node.args[0].value
        if name == "timestamp" and _bad_timestamp(value):
            self.errors.append("invalid timestamp argument")
        elif name == "duration" and _bad_duration(value):
            self.errors.append("invalid duration argument")

    def format_arguments(self, node: ast.Call, scope: dict[str, Type], slot: int) -> None:
        """cel-go's validator of ``"literal".format([list literal])``: clauses, argument count and types."""
        template, args = node.target, node.args
        if not (
            isinstance(template, ast.Literal)
            and isinstance(template.value, str)
            and len(args) == 1
            and isinstance(args[0], ast.ListExpr)
        ):
            return
        types = [_format_type(_Checker().check(e, scope)) for e in args[0].elements]
        if (problem := format_problem(template.value, types)) is not None:
            self.validation.insert(slot, problem)

    def extremum(self, node: ast.Call, args: list[Type]) -> Type:
        """Cerbos's ``math.greatest``/``math.least`` (cel-go's macro over ``math.@max``/``math.@min``):
        one number or list of numbers, two numbers, or three or more numbers taken as one list;
        the result is the numbers' type when they have one, else ``dyn``."""
        if len(args) == 1:
            return self.extremum_of_one(node, args[0])
        if any(_literal_node(a) and not _numeric_scalar(a) for a in node.args):
            self.errors.append(f"{node.function}() simple literal arguments must be numeric")
            return DYN
        if len(args) > 2:
            return _number_type(_join(args))
        if not all(a in (DYN, *_NUMBERS) for a in args):
            shown = ", ".join(type_name(a) for a in args)
            self.errors.append(f"found no matching overload for '{_internal(node)}' applied to '({shown})'")
            return DYN
        return _number_type(_join(args))

    def extremum_of_one(self, node: ast.Call, arg_type: Type) -> Type:
        """``math.greatest(x)``: ``x`` a number or a list of numbers."""
        (arg,) = node.args
        if _literal_node(arg) and not _numeric_literal(arg):
            self.errors.append(f"{node.function}() invalid single argument value")
            return DYN
        if not (arg_type in (DYN, *_NUMBERS) or _is_list_of(arg_type, (DYN, *_NUMBERS))):
            shown = type_name(arg_type)
            self.errors.append(f"found no matching overload for '{_internal(node)}' applied to '({shown})'")
            return DYN
        return _number_type(arg_type[1] if _is_list_of(arg_type) else arg_type)

    def resolve(self, name: str, args: list[Type]) -> Type:
        overloads = GLOBAL.get(name)
        if overloads is None or (name == "_[_]" and args[0] == NULL):  # cel-go indexes null (as an optional)
            return DYN
        matched = (_match(params, args, result) for params, result in overloads if len(params) == len(args))
        results = [r for r in matched if r is not None]
        if results:
            return _join(results)
        if any(len(params) == len(args) for params, _ in overloads):
            shown = ", ".join(type_name(a) for a in args)
            self.errors.append(f"found no matching overload for '{name}' applied to '({shown})'")
        return DYN

    def resolve_member(self, name: str, target: Type, args: list[Type]) -> Type:
        overloads = MEMBER.get(name)
        if overloads is None or (name == "size" and target == NULL):  # as cel-go does
            return DYN
        results = [
            r
            for on, params, result in overloads
            if len(params) == len(args)
            for r in [_match((on, *params), [target, *args], result)]
            if r
        ]
        if results:
            return _join(results)
        if any(len(params) == len(args) for _, params, _ in overloads):
            shown = ", ".join(type_name(a) for a in args)
            self.errors.append(
                f"found no matching overload for '{name}' applied to '{type_name(target)}.({shown})'"
            )
        return DYN

    def bind(self, node: ast.Call, scope: dict[str, Type]) -> Type:
        """``cel.bind(name, init, body)``: ``name`` has the type of ``init`` in ``body``."""
        var, init, body = node.args
        if not isinstance(var, ast.Ident):
            return DYN
        return self.check(body, {**scope, var.name: self.check(init, scope)})

    def comprehension(self, node: ast.Call, scope: dict[str, Type]) -> Type:
        assert node.target is not None
        var = node.args[0]
        assert isinstance(var, ast.Ident)
        range_type = self.check(node.target, scope)
        if range_type == DYN or not isinstance(range_type, tuple) or range_type[0] not in ("list", "map"):
            if range_type != DYN:
                self.errors.append(
                    f"expression of type '{type_name(range_type)}' cannot be range of a "
                    "comprehension (must be list, map, or dynamic)"
                )
            elem: Type = DYN
        else:
            elem = _resolved(range_type[1])
        inner = {**scope, var.name: elem}
        bodies = [self.check(a, inner) for a in node.args[1:]]
        body = bodies[-1] if bodies else DYN
        if node.function in _BOOL_MACROS and body not in (BOOL, DYN):
            self.errors.append(f"expected type 'bool' but found '{type_name(body)}'")
        elif node.function in ("exists_one", "filter") and len(bodies) == 1 and body not in (BOOL, DYN):
            # cel-go expands them to ``body ? accu + ... : accu``
            accu = type_name(INT if node.function == "exists_one" else list_of(elem))
            self.errors.append(
                f"found no matching overload for '_?_:_' applied to '({type_name(body)}, {accu}, {accu})'"
            )
        if node.function == "map":
            return list_of(bodies[-1] if bodies else DYN)
        if node.function == "filter":
            return range_type if isinstance(range_type, tuple) and range_type[0] == "list" else list_of(elem)
        return BOOL


def _no_overload(name: str, target: Type | None, args: list[Type]) -> str | None:
    """cel-go's checker error for a call of a known function with no overload of that arity and
    style (``"a".startsWith()``, ``lowerAscii("a")``, ``math.abs(1, 2)``), else None."""
    overloads = functions.lookup(name)
    if overloads is None or name.startswith("_") or name in _LOGICAL:
        return None
    if name in ("math.greatest", "math.least") and target is None and not args:
        return f"{name}() requires at least one argument"
    if overloads.lookup(target is not None, len(args)) is not None:
        return None
    shown = ", ".join(type_name(a) for a in args)
    return f"found no matching overload for '{name}' applied to '{'' if target is None else type_name(target) + '.'}({shown})'"


def _format_type(t: Type) -> str | None:
    """How cel-go names a format argument's type (None: dyn): ``list``, ``google.protobuf.Timestamp``."""
    if t == DYN or t in ("A", "B"):
        return None
    if isinstance(t, tuple):
        return str(t[0])
    return {
        NULL: "null_type",
        TIMESTAMP: "google.protobuf.Timestamp",
        DURATION: "google.protobuf.Duration",
    }.get(t, t)


def _children(node: ast.Expr) -> Iterator[ast.Expr]:
    if isinstance(node, ast.StructExpr):
        for f in node.fields:
            yield f.value


def _join(types: list[Type]) -> Type:
    """The one type of ``types``, or ``dyn`` when they differ (or there are none)."""
    unique = set(types)
    return unique.pop() if len(unique) == 1 else DYN


def _match(params: tuple[Type, ...], args: list[Type], result: Type) -> Type | None:
    """``result`` (type parameters substituted) when every argument fits its parameter, else None."""
    bound: dict[str, Type] = {}
    for param, arg in zip(params, args, strict=True):
        if not _fits(param, arg, bound):
            return None
    return _substitute(result, bound) or DYN


def _fits(param: Type, arg: Type, bound: dict[str, Type]) -> bool:
    if isinstance(param, str) and param in ("A", "B"):
        if param not in bound:
            bound[param] = arg
            return True
        if not (_assignable(bound[param], arg) or _assignable(arg, bound[param])):
            return False
        bound[param] = _least_upper_bound(bound[param], arg)  # as cel-go widens a type parameter
        return True
    if arg in (DYN, FREE) or param == DYN:
        return True
    if isinstance(param, tuple):
        if not isinstance(arg, tuple) or arg[0] != param[0]:
            return False
        return all(_fits(p, a, bound) for p, a in zip(param[1:], arg[1:], strict=True))
    return param == arg or (arg == NULL and _nullable(param))


def _least_upper_bound(a: Type, b: Type) -> Type:
    """The narrowest type both ``a`` and ``b`` (assignable to each other) are: ``dyn`` when either is,
    element by element for lists and maps (``list(int)`` and ``list(dyn)`` give ``list(dyn)``), the
    other type for ``null``."""
    if a == b or b in (NULL, FREE):
        return a
    if a in (NULL, FREE):
        return b
    if DYN in (a, b):
        return DYN
    if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0] and len(a) == len(b):
        return (a[0], *(_least_upper_bound(x, y) for x, y in zip(a[1:], b[1:], strict=True)))
    return a


def _nullable(t: Type) -> bool:
    """Types ``null`` is assignable to: timestamps, durations and messages."""
    return t in _NULLABLE or (isinstance(t, str) and "." in t)


def _assignable(to: Type, value: Type) -> bool:
    if DYN in (to, value) or FREE in (to, value) or to == value:
        return True
    if value == NULL:
        return _nullable(to)
    if to == NULL:
        return _assignable(value, to)
    if isinstance(to, tuple) and isinstance(value, tuple) and to[0] == value[0] == "type":
        return True  # cel-go compares any two types: type(1) == type("a")
    if isinstance(to, tuple) and isinstance(value, tuple) and to[0] == value[0]:
        return all(_assignable(t, v) for t, v in zip(to[1:], value[1:], strict=True))
    return False


def _substitute(t: Type, bound: dict[str, Type]) -> Type:
    if isinstance(t, tuple):
        return (t[0], *(_substitute(p, bound) for p in t[1:]))
    return _resolved(bound.get(t, DYN)) if t in ("A", "B") else t


def _resolved(t: Type) -> Type:
    """``t`` with its free element types (of empty literals) as ``dyn``, at the top level (a value
    read from an empty literal), but kept inside a list or map type (``list(_free)`` still meets)."""
    return DYN if t == FREE else t


def _internal(node: ast.Call) -> str:
    """The function cel-go's math macros call, which its messages name."""
    return "math.@max" if node.function == "math.greatest" else "math.@min"


def _literal_node(node: ast.Expr) -> bool:
    return isinstance(node, ast.Literal | ast.ListExpr | ast.MapExpr)


def _numeric_scalar(node: ast.Expr) -> bool:
    return isinstance(node, ast.Literal) and _literal(node.value) in _NUMBERS


def _is_list_of(t: Type, elements: tuple[Type, ...] | None = None) -> bool:
    """Whether ``t`` is a list (of one of ``elements``, when given)."""
    return isinstance(t, tuple) and t[0] == "list" and (elements is None or t[1] in elements)


def _number_type(t: Type) -> Type:
    """``t`` when it is a number type, else ``dyn``."""
    return t if t in _NUMBERS else DYN


def _numeric_literal(node: ast.Expr) -> bool:
    """A number, or a non-empty list whose literal elements are numbers (not lists), written as a literal."""
    if isinstance(node, ast.ListExpr):
        literal = (e for e in node.elements if _literal_node(e))
        return bool(node.elements) and all(_numeric_scalar(e) for e in literal)
    return _numeric_scalar(node)


def _bad_regex(pattern: str) -> bool:
    return _fails(compile_regex, pattern)  # Go's rules, as the check applies them


def _bad_timestamp(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool | UInt) or not isinstance(value, str | int):
        return False
    return _fails(time.timestamp, value)


def _bad_duration(value: Any) -> bool:
    return value is None or (isinstance(value, str) and _fails(time.duration, value))


def _fails(convert: Any, value: Any) -> bool:
    try:
        convert(value)
    except Exception:
        return True
    return False
