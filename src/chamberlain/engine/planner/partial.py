"""Partial evaluation of a CEL expression with the resource unknown, and the residual it leaves.

Cerbos plans with cel-go's partial evaluation: ``R`` and ``request.resource`` are unknown except
for the attributes the request names (``R.attr.<name>``), ``R.kind`` and ``R.scope``; everything
else (the principal, aux data, constants, globals) is known. cel-go evaluates the expression,
recording the value of every node it evaluates, then *prunes* the tree (``interpreter.PruneAst``):
a node whose value is known and expressible as a literal becomes that literal, ``&&``/``||``
drop a known operand, a ternary with a known condition becomes its branch, ``x in []`` is
false; the rest keeps its shape. The plan's operand tree is built from that residual, so its shape
(which sub-expressions are folded, which stay) is cel-go's. This module reproduces it:

* :meth:`Partial.evaluate` walks the tree as cel-go's interpreter does and returns a
  :class:`Trace`: each node with its value (a CEL value, :data:`UNKNOWN`, a :class:`Failed`
  error, or :data:`NOT_EVALUATED`) and the traces of the children it evaluated. The rules that
  shape the residual are cel-go's: ``&&``/``||`` stop at a decisive operand and prefer unknown to
  error; a ternary with an unknown condition evaluates neither branch; a call with an unknown or
  failed argument returns the first such argument (three or more arguments stop at it); an
  identifier followed by selections is one *attribute* whose root is never recorded, resolved by
  its most qualified known name first (``R.attr.status``), and unknown as a whole when its root
  is; a comprehension over a known range folds its body with the unknowns merged.
* :func:`prune` turns a trace into the residual tree (chamberlain's CEL AST; macros stay calls).

Values are chamberlain's CEL runtime values and every operator and function is the CEL runtime's
own, so a known sub-expression evaluates exactly as the check evaluates it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from chamberlain.cel import EvaluationError, comprehensions, functions, runtime
from chamberlain.cel.ast import Call, Expr, Ident, ListExpr, Literal, MapEntry, MapExpr, Select, StructExpr
from chamberlain.cel.cerbos_env import NOW_KEY
from chamberlain.cel.lib.time import format_duration, format_timestamp
from chamberlain.cel.values import Duration, Optional, Timestamp, UInt, no_such_overload
from chamberlain.errors import Error


class PlanError(Error):
    """A condition the planner cannot turn into a query plan (Cerbos fails the request too)."""


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


class _NotEvaluated:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_EVALUATED"


UNKNOWN: Any = _Unknown()
NOT_EVALUATED: Any = _NotEvaluated()


class Failed:
    """An error value (a CEL evaluation error) in a trace."""

    __slots__ = ("error",)

    def __init__(self, error: EvaluationError):
        self.error = error

    def __repr__(self) -> str:
        return f"Failed({self.error})"


def is_known(value: Any) -> bool:
    """Whether a traced value is a CEL value (not unknown, an error, or unevaluated)."""
    return value is not UNKNOWN and value is not NOT_EVALUATED and type(value) is not Failed


class Trace:
    """A node, the value cel-go would record for it, and the traces of the children it evaluated.

    ``target``: the operand of a selection, the receiver of a member call, or a comprehension's
    range. ``args``: a call's arguments (``None`` where not evaluated), a list's elements, a map's
    keys and values (interleaved).
    """

    __slots__ = ("args", "node", "target", "value")

    def __init__(
        self, node: Expr, value: Any, target: Trace | None = None, args: list[Trace | None] | None = None
    ):
        self.node = node
        self.value = value
        self.target = target
        self.args = args


# -- macros -------------------------------------------------------------------------------------------

#: Comprehension macros: name -> the argument counts of their one- and two-variable forms.
_ONE_VAR = {
    "all": (2,),
    "exists": (2,),
    "exists_one": (2,),
    "existsOne": (2,),
    "map": (2, 3),
    "filter": (2,),
    "sortBy": (2,),
    "optMap": (2,),
    "optFlatMap": (2,),
}
_TWO_VAR = {
    "all": (3,),
    "exists": (3,),
    "exists_one": (3,),
    "existsOne": (3,),
    "transformList": (3, 4),
    "transformMap": (3, 4),
    "transformMapEntry": (3, 4),
}


def macro_variables(node: Call) -> tuple[str, ...] | None:
    """The iteration variable(s) of a comprehension macro call, or ``None`` when it is not one."""
    if node.target is None:
        return None
    name, n = node.function, len(node.args)
    if n in _ONE_VAR.get(name, ()):
        count = 1
    elif n in _TWO_VAR.get(name, ()):
        count = 2
    else:
        return None
    names = []
    for arg in node.args[:count]:
        if not isinstance(arg, Ident) or arg.absolute:
            return None
        names.append(arg.name)
    return tuple(names)


def is_has(node: Expr) -> bool:
    return (
        isinstance(node, Call)
        and node.function == "has"
        and node.target is None
        and len(node.args) == 1
        and isinstance(node.args[0], Select)
        and not node.args[0].optional
    )


def is_bind(node: Expr) -> bool:
    return (
        isinstance(node, Call)
        and node.function == "bind"
        and len(node.args) == 3
        and isinstance(node.target, Ident)
        and node.target.name == "cel"
        and isinstance(node.args[0], Ident)
    )


def namespaced_function(node: Call, bound: Mapping[str, Any]) -> str | None:
    """``math.greatest`` for ``math.greatest(a, b)`` (parsed as a member call on ``math``)."""
    target = node.target
    parts: list[str] = []
    while isinstance(target, Select) and not target.optional:
        parts.append(target.field)
        target = target.operand
    if not isinstance(target, Ident) or target.name in bound or target.name in _VARIABLES:
        return None
    qualified = ".".join([target.name, *reversed(parts), node.function])
    return qualified if functions.lookup(qualified) is not None else None


_VARIABLES = frozenset(("request", "P", "R", "runtime", "variables", "V", "constants", "C", "globals", "G"))


# -- literals -------------------------------------------------------------------------------------------


def to_literal(value: Any, messages: frozenset[int] = frozenset()) -> Expr | None:
    """The literal expression of a known value, as cel-go's pruner writes it; ``None`` if there is none.

    Scalars are literals; durations and timestamps become ``duration("…s")`` / ``timestamp("…")``;
    lists and maps become list and map literals when every element can; messages (the request,
    the principal, aux data) and other objects cannot.
    """
    t = type(value)
    if value is None or t is bool or t is int or t is UInt or t is float or t is str or t is bytes:
        return Literal(0, value)
    if t is Duration:
        return Call(0, "duration", (Literal(0, format_duration(value)),))
    if t is Timestamp:
        return Call(0, "timestamp", (Literal(0, format_timestamp(value)),))
    if t is list or t is tuple:
        elements = []
        for v in value:
            lit = to_literal(v, messages)
            if lit is None:
                return None
            elements.append(lit)
        return ListExpr(0, tuple(elements))
    if t is dict and id(value) not in messages:
        entries = []
        for k, v in value.items():
            key, val = to_literal(k, messages), to_literal(v, messages)
            if key is None or val is None:
                return None
            entries.append(MapEntry(0, key, val))
        return MapExpr(0, tuple(entries))
    return None


def _is_symbolic(names: list[str], symbolic: frozenset[str]) -> bool:
    """Whether the attribute ``names`` (root first) is, or lies under, one of the ``symbolic`` names."""
    return any(".".join(names[:length]) in symbolic for length in range(1, len(names) + 1))


# -- evaluation -----------------------------------------------------------------------------------------


class Partial:
    """A partial evaluator over one request's known values.

    ``variables``: root names to values (``request``, ``P``, ``C``, ...); ``known``: qualified
    names to values (``R.attr.status``, ``request.resource.kind``, ...); ``unknown_roots``: what
    is unknown as a whole (``R``, ``request.resource``); ``messages``: ids of the values that are
    messages in Cerbos (never turned into literals); ``now``: the request's time.
    """

    __slots__ = ("known", "known_presence", "messages", "now", "symbolic", "variables")

    def __init__(
        self,
        variables: Mapping[str, Any],
        known: Mapping[str, Any],
        messages: frozenset[int],
        now: Timestamp,
        symbolic: frozenset[str] = frozenset(),
    ):
        self.variables = variables
        self.known = known
        self.messages = messages
        self.now = now
        #: Qualified names unknown as a whole besides the resource (``P.attr``, ``request.aux_data``):
        #: what the vault map plans with when it asks about a role rather than one principal.
        self.symbolic = symbolic
        #: Known attributes tested with ``has()`` whose value is not ``true`` (Cerbos's planner
        #: answers such a test with the value itself).
        self.known_presence: set[str] = set()

    # -- entry points -------------------------------------------------------------------------------

    def evaluate(self, node: Expr, bound: Mapping[str, Any] | None = None) -> Trace:
        """Evaluate ``node`` with comprehension variables ``bound`` (name -> value or UNKNOWN)."""
        return self._ev(node, bound or {})

    def residual(self, node: Expr, bound: Mapping[str, Any] | None = None) -> tuple[Any, Expr]:
        """The value of ``node`` and its pruned residual."""
        trace = self._ev(node, bound or {})
        return trace.value, prune(trace, self.messages)

    # -- nodes ----------------------------------------------------------------------------------------

    def _ev(self, node: Expr, bound: Mapping[str, Any]) -> Trace:
        if isinstance(node, Literal):
            return Trace(node, node.value)
        if isinstance(node, Ident):
            return Trace(node, self._ident(node, bound))
        if isinstance(node, Select):
            if node.optional:
                return self._optional_select(node, bound)
            return self._chain(node, bound)
        if isinstance(node, Call):
            return self._call(node, bound)
        if isinstance(node, ListExpr):
            return self._list(node, bound)
        if isinstance(node, MapExpr):
            return self._map(node, bound)
        if isinstance(node, StructExpr):
            raise PlanError(f"message construction {node.type_name}{{...}} is not supported in conditions")
        raise PlanError(f"unsupported expression node {type(node).__name__}")

    def _ident(self, node: Ident, bound: Mapping[str, Any]) -> Any:
        name = node.name
        if not node.absolute and name in bound:
            return bound[name]
        if name == "R" or name == "request":
            return UNKNOWN  # an unknown pattern with no qualifiers matches the bare name
        if name in self.variables:
            return self.variables[name]
        return Failed(EvaluationError(f"no such attribute: {name}"))

    def _list(self, node: ListExpr, bound: Mapping[str, Any]) -> Trace:
        traces, bad = self._operands(list(node.elements), bound)
        if bad is not None:
            return Trace(node, bad, args=traces)
        values = [t.value for t in traces]  # type: ignore[union-attr]
        if node.optional_indices:
            try:
                return Trace(node, runtime.make_list_optional(values, node.optional_indices), args=traces)
            except EvaluationError as exc:
                return Trace(node, Failed(exc), args=traces)
        return Trace(node, values, args=traces)

    def _map(self, node: MapExpr, bound: Mapping[str, Any]) -> Trace:
        parts = [x for e in node.entries for x in (e.key, e.value)]
        traces, bad = self._operands(parts, bound)
        if bad is not None:
            return Trace(node, bad, args=traces)
        values = [t.value for t in traces]  # type: ignore[union-attr]
        entries = [(values[2 * i], values[2 * i + 1], e.optional) for i, e in enumerate(node.entries)]
        try:
            if any(e[2] for e in entries):
                return Trace(node, runtime.make_map_optional(entries), args=traces)
            return Trace(node, runtime.make_map((k, v) for k, v, _ in entries), args=traces)
        except EvaluationError as exc:
            return Trace(node, Failed(exc), args=traces)

    # -- attributes -------------------------------------------------------------------------------------

    def _chain(self, node: Expr, bound: Mapping[str, Any]) -> Trace:
        """An attribute: a root followed by selections and indexes, resolved as cel-go resolves it."""
        quals: list[Expr] = []
        current = node
        while True:
            if isinstance(current, Select) and not current.optional:
                quals.append(current)
                current = current.operand
            elif _is_index(current):
                quals.append(current)
                current = current.args[0]  # type: ignore[attr-defined]
            else:
                break
        quals.reverse()
        root = current
        start = 0
        if isinstance(root, Ident) and not (not root.absolute and root.name in bound):
            root_trace = Trace(root, NOT_EVALUATED)  # the root of an attribute is never recorded
            names = [root.name]
            for q in quals:
                key = _static_key(q)
                if key is None:
                    break
                names.append(key)
            value = NOT_EVALUATED
            for length in range(len(names), 1, -1):
                found = self.known.get(".".join(names[:length]), _MISSING)
                if found is not _MISSING:
                    value, start = found, length - 1
                    break
            else:
                if root.name == "R" or (
                    root.name == "request" and (len(names) == 1 or names[1] == "resource")
                ):
                    return self._unknown_chain(quals, root_trace, bound)
                if self.symbolic and _is_symbolic(names, self.symbolic):
                    return self._unknown_chain(quals, root_trace, bound)
                value = self.variables.get(root.name, _MISSING)
                if value is _MISSING:
                    value = Failed(EvaluationError(f"no such attribute: {root.name}"))
        else:
            root_trace = self._ev(root, bound)
            value = root_trace.value
            if isinstance(root, Ident):
                root_trace.value = NOT_EVALUATED  # the root of an attribute is never recorded
                if value is UNKNOWN and quals:
                    return self._unknown_chain(quals, root_trace, bound)
        inner = root_trace
        for i, q in enumerate(quals):
            if i < start:  # part of the qualified name: only its last node has the value
                inner = _link(Trace(q, value if i == start - 1 else NOT_EVALUATED), q, inner, None)
                continue
            key_trace = None
            if is_known(value):
                if isinstance(q, Select):
                    key: Any = q.field
                else:
                    key_trace = self._ev(q.args[1], bound)  # type: ignore[attr-defined]
                    key = key_trace.value
                if not is_known(key):
                    value = key
                else:
                    try:
                        value = (
                            runtime.select(value, key) if isinstance(q, Select) else runtime.index(value, key)
                        )
                    except EvaluationError as exc:
                        value = Failed(exc)
            inner = _link(Trace(q, value), q, inner, key_trace)
        return inner

    def _unknown_chain(self, quals: list[Expr], root_trace: Trace, bound: Mapping[str, Any]) -> Trace:
        """An attribute whose root is unknown: unknown, or an error if an index key fails.

        cel-go resolves the attribute-valued index keys to match them against the unknown
        patterns, so a failing key makes the whole attribute an error; nothing is recorded.
        """
        value: Any = UNKNOWN
        for q in quals:
            if isinstance(q, Select) or isinstance(q.args[1], Literal):  # type: ignore[attr-defined]
                continue
            key = self._ev(q.args[1], bound).value  # type: ignore[attr-defined]
            if type(key) is Failed:
                value = key
                break
        inner = root_trace
        for i, q in enumerate(quals):
            inner = _link(Trace(q, value if i == len(quals) - 1 else NOT_EVALUATED), q, inner, None)
        return inner

    def _optional_select(self, node: Select, bound: Mapping[str, Any]) -> Trace:
        path = _static_path(node.operand)
        if path is not None and path.split(".", 1)[0] not in bound:
            found = self.known.get(f"{path}.{node.field}", _MISSING)
            if found is not _MISSING:  # R.attr.?x with x given in advance: optional.of(x)
                return Trace(node, runtime.optional_select({node.field: found}, node.field))
        operand = self._ev(node.operand, bound)
        value = operand.value
        if is_known(value):
            try:
                value = runtime.optional_select(value, node.field)
            except EvaluationError as exc:
                value = Failed(exc)
        return Trace(node, value, target=operand)

    def _has(self, node: Call, bound: Mapping[str, Any]) -> Trace:
        select = node.args[0]
        assert isinstance(select, Select)
        path = _static_path(select)
        if path is not None and path.split(".", 1)[0] not in bound and path in self.known:
            if self.known[path] is not True:
                self.known_presence.add(path)
            return Trace(node, True)  # a resource attribute given in advance is present
        operand = self._ev(select.operand, bound)
        value = operand.value
        if is_known(value):
            try:
                value = runtime.has_field(value, select.field)
            except EvaluationError as exc:
                value = Failed(exc)
        elif value is NOT_EVALUATED:
            value = UNKNOWN  # has(R.attr.x): the operand is part of an unknown attribute
        inner = Trace(select, NOT_EVALUATED, target=operand)
        return Trace(node, value, args=[inner])

    # -- calls ----------------------------------------------------------------------------------------

    def _call(self, node: Call, bound: Mapping[str, Any]) -> Trace:
        fn = node.function
        if node.target is None:
            if fn == "_&&_" or fn == "_||_":
                return self._logical(node, bound, decisive=(fn == "_||_"))
            if fn == "_?_:_":
                return self._conditional(node, bound)
            if fn == "_[_]" and len(node.args) == 2:
                return self._chain(node, bound)
            if is_has(node):
                return self._has(node, bound)
        else:
            variables = macro_variables(node)
            if variables is not None:
                return self._comprehension(node, variables, bound)
            if is_bind(node):
                return self._bind(node, bound)
            if fn in ("or", "orValue") and len(node.args) == 1:
                return self._optional_or(node, bound)
            qualified = namespaced_function(node, bound)
            if qualified is not None:
                return self._strict(node, qualified, None, list(node.args), bound)
        if fn == "now" and node.target is None and not node.args:
            return Trace(node, self.now)
        if fn in _LIST_SET_FUNCTIONS and len(node.args) + (node.target is not None) == 2:
            return self._list_set(node, bound)
        target = node.target
        return self._strict(node, fn, target, list(node.args), bound)

    def _strict(
        self, node: Call, fn: str, target: Expr | None, args: list[Expr], bound: Mapping[str, Any]
    ) -> Trace:
        """A strict call: operands in order until one fails; an error wins over an unknown."""
        operands = ([target] if target is not None else []) + args
        traces, bad = self._operands(operands, bound)
        target_trace = traces[0] if target is not None else None
        arg_traces = traces[1:] if target is not None else traces
        if bad is not None:
            return Trace(node, bad, target=target_trace, args=arg_traces)
        values = [t.value for t in traces]  # type: ignore[union-attr]
        return Trace(
            node, self._apply(fn, values, member=target is not None), target=target_trace, args=arg_traces
        )

    def _operands(self, operands: list[Expr], bound: Mapping[str, Any]) -> tuple[list[Trace | None], Any]:
        """Evaluate strict operands in order, stopping at the first error (the rest unevaluated).

        Returns the traces and the result's stand-in: the error, else the first unknown, else None.
        """
        traces: list[Trace | None] = [None] * len(operands)
        unknown = None
        for i, operand in enumerate(operands):
            t = traces[i] = self._ev(operand, bound)
            if type(t.value) is Failed:
                return traces, t.value
            if t.value is UNKNOWN and unknown is None:
                unknown = t.value
        return traces, unknown

    def _list_set(self, node: Call, bound: Mapping[str, Any]) -> Trace:
        """Cerbos's list set functions: the first unknown or failed operand, in order, is the result.

        (For the built-in functions an error wins over an unknown; for these the left operand is
        looked at first, as Cerbos answers ``hasIntersection(R.attr.a, P.attr.missing)`` with a
        residual and ``hasIntersection(P.attr.missing, R.attr.a)`` with an error.)
        """
        operands = ([node.target] if node.target is not None else []) + list(node.args)
        traces: list[Trace] = [self._ev(a, bound) for a in operands]
        target_trace = traces[0] if node.target is not None else None
        arg_traces: list[Trace | None] = list(traces[1:] if node.target is not None else traces)
        for t in traces:
            if not is_known(t.value):
                return Trace(node, t.value, target=target_trace, args=arg_traces)
        values = [t.value for t in traces]
        value = self._apply(node.function, values, member=node.target is not None)
        return Trace(node, value, target=target_trace, args=arg_traces)

    def _apply(self, fn: str, values: list[Any], *, member: bool) -> Any:
        try:
            if not member:
                operator = _OPERATORS.get(fn)
                if operator is not None and len(values) == operator[1]:
                    return operator[0](*values)
            overloads = functions.lookup(fn)
            if overloads is None:
                raise EvaluationError(f"undeclared reference to '{fn}'")
            impl = overloads.lookup(member, len(values) - (1 if member else 0))
            if impl is None:
                raise no_such_overload(fn, *values)
            if impl.needs_activation:
                return impl.fn({NOW_KEY: self.now}, *values)
            return impl.fn(*values)
        except EvaluationError as exc:
            return Failed(exc)
        except (ArithmeticError, ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
            return Failed(runtime.as_error(exc))

    def _logical(self, node: Call, bound: Mapping[str, Any], *, decisive: bool) -> Trace:
        """cel-go's ``&&`` / ``||``: stop at the decisive value; unknown wins over an error."""
        traces: list[Trace | None] = [None, None]
        unknown = False
        error: Any = None
        for i, arg in enumerate(node.args):
            t = traces[i] = self._ev(arg, bound)
            v = t.value
            if v is decisive:
                return Trace(node, decisive, args=traces)
            if v is UNKNOWN:
                unknown = True
            elif v is not (not decisive) and error is None:
                error = v if type(v) is Failed else Failed(no_such_overload(node.function, v))
        if unknown:
            return Trace(node, UNKNOWN, args=traces)
        if error is not None:
            return Trace(node, error, args=traces)
        return Trace(node, not decisive, args=traces)

    def _conditional(self, node: Call, bound: Mapping[str, Any]) -> Trace:
        cond = self._ev(node.args[0], bound)
        v = cond.value
        if v is True or v is False:
            branch = self._ev(node.args[1] if v else node.args[2], bound)
            args: list[Trace | None] = [cond, branch, None] if v else [cond, None, branch]
            return Trace(node, branch.value, args=args)
        if v is UNKNOWN:
            return Trace(node, UNKNOWN, args=[cond, None, None])
        error = v if type(v) is Failed else Failed(no_such_overload("_?_:_", v))
        return Trace(node, error, args=[cond, None, None])

    # -- comprehensions ---------------------------------------------------------------------------------

    def _comprehension(self, node: Call, variables: tuple[str, ...], bound: Mapping[str, Any]) -> Trace:
        assert node.target is not None
        range_trace = self._ev(node.target, bound)
        rv = range_trace.value
        if not is_known(rv):
            return Trace(node, rv, target=range_trace)
        if node.function in ("optMap", "optFlatMap"):
            return Trace(node, self._optional_map(node, variables[0], rv, bound), target=range_trace)
        try:
            value = self._fold(node, variables, rv, bound)
        except EvaluationError as exc:
            value = Failed(exc)
        return Trace(node, value, target=range_trace)

    def _fold(self, node: Call, variables: tuple[str, ...], rv: Any, bound: Mapping[str, Any]) -> Any:
        name, args = node.function, node.args
        two = len(variables) == 2
        # Paced by the thread's evaluation budget (chamberlain.cel.budget; no activation here): lazily, so
        # that the clock is read between bodies (a list built first let a long loop of short loops run on).
        items: Iterable[tuple[Any, ...]]
        if two:
            items = (tuple(pair) for pair in comprehensions.iteration_pairs(None, rv))
        else:
            items = ((v,) for v in comprehensions.iteration_range(None, rv))

        def body(expr: Expr, item: tuple[Any, ...]) -> Any:
            scope = dict(bound)
            scope.update(zip(variables, item, strict=True))
            return self._ev(expr, scope).value

        n = len(variables)
        if name in ("all", "exists"):
            decisive = name == "exists"
            unknown, error = False, None
            for item in items:
                v = body(args[n], item)
                if v is decisive:
                    return decisive
                if v is UNKNOWN:
                    unknown = True
                elif v is not (not decisive) and error is None:
                    error = v if type(v) is Failed else Failed(no_such_overload(name, v))
            return UNKNOWN if unknown else (error if error is not None else not decisive)
        if name in ("exists_one", "existsOne"):
            accu: Any = 0
            for item in items:
                v = body(args[n], item)
                if v is True:
                    accu = accu + 1 if type(accu) is int else accu
                elif v is UNKNOWN:
                    accu = UNKNOWN
                elif v is not False:
                    accu = v if type(v) is Failed else Failed(no_such_overload("_?_:_", v))
            return accu == 1 if type(accu) is int else accu
        if name in ("map", "filter", "transformList"):
            return self._collect_list(node, variables, items, body)
        if name in ("transformMap", "transformMapEntry"):
            return self._collect_map(node, variables, items, body)
        if name == "sortBy":
            seen, keys = [], []
            for item in items:
                v = body(args[n], item)
                if not is_known(v):
                    return v
                seen.append(item)
                keys.append(v)
            order = sorted(
                range(len(seen)), key=functools.cmp_to_key(lambda a, b: runtime.compare(keys[a], keys[b]))
            )
            return [seen[i][0] for i in order]
        raise PlanError(f"the {name}() macro is not supported in query plans")

    def _collect_list(
        self,
        node: Call,
        variables: tuple[str, ...],
        items: Iterable[tuple[Any, ...]],
        body: Callable[[Expr, tuple[Any, ...]], Any],
    ) -> Any:
        """map / filter / transformList: ``accu + [e]`` (under a predicate when there is one)."""
        name, args, n = node.function, node.args, len(variables)
        predicate = transform = None
        if name == "filter":
            predicate = args[n]
        elif len(args) == n + 2:
            predicate, transform = args[n], args[n + 1]
        else:
            transform = args[n]
        accu: Any = []
        for item in items:
            verdict = _verdict(predicate, item, body)
            if verdict is False:
                continue
            if verdict is not True:
                accu = verdict
                continue
            if type(accu) is not list:
                continue  # an unknown or failed accumulator stays so (its left operand wins)
            e = item[-1] if transform is None else body(transform, item)
            if is_known(e):
                accu.append(e)  # the loop's own list (a copy per element was quadratic)
            else:
                accu = e
        return accu

    def _collect_map(
        self,
        node: Call,
        variables: tuple[str, ...],
        items: Iterable[tuple[Any, ...]],
        body: Callable[[Expr, tuple[Any, ...]], Any],
    ) -> Any:
        name, args = node.function, node.args
        predicate = args[2] if len(args) == 4 else None
        transform = args[-1]
        accu: Any = {}
        for item in items:
            verdict = _verdict(predicate, item, body)
            if verdict is False:
                continue
            if verdict is not True:
                accu = verdict
                continue
            if type(accu) is not dict:
                continue
            e = body(transform, item)
            if not is_known(e):
                accu = e
                continue
            try:
                # the loop's own map, filled in place (a copy per entry was quadratic)
                if name == "transformMap":
                    accu[item[0]] = e
                else:
                    if type(e) is not dict:
                        raise no_such_overload("cel.@mapInsert", accu, e)
                    for k, v in e.items():
                        if k in accu:
                            raise EvaluationError(f"insert failed: key {k!r} already exists")
                        accu[k] = v
            except EvaluationError as exc:
                accu = Failed(exc)
        return accu

    def _optional_map(self, node: Call, variable: str, target: Any, bound: Mapping[str, Any]) -> Any:
        if type(target) is not Optional:
            return Failed(no_such_overload(node.function, target))
        if not target.has_value():
            return target
        scope = dict(bound)
        scope[variable] = target.value
        v = self._ev(node.args[1], scope).value
        if not is_known(v) or node.function == "optFlatMap":
            return v
        return Optional(v)

    def _optional_or(self, node: Call, bound: Mapping[str, Any]) -> Trace:
        """``opt.or(other)`` / ``opt.orValue(v)``: the argument is evaluated only when needed."""
        assert node.target is not None
        target = self._ev(node.target, bound)
        v = target.value
        if not is_known(v):
            return Trace(node, v, target=target)
        if type(v) is not Optional:
            return Trace(node, Failed(no_such_overload(node.function, v)), target=target)
        if v.has_value():
            return Trace(node, v if node.function == "or" else v.value, target=target)
        arg = self._ev(node.args[0], bound)
        return Trace(node, arg.value, target=target, args=[arg])

    def _bind(self, node: Call, bound: Mapping[str, Any]) -> Trace:
        """``cel.bind(x, init, body)``: the body with ``x`` bound to init's value."""
        name = node.args[0].name  # type: ignore[attr-defined]
        init = self._ev(node.args[1], bound)
        scope = dict(bound)
        scope[name] = init.value if init.value is not NOT_EVALUATED else UNKNOWN
        result = self._ev(node.args[2], scope)
        return Trace(node, result.value)


_MISSING: Any = object()


def _verdict(
    predicate: Expr | None, item: tuple[Any, ...], body: Callable[[Expr, tuple[Any, ...]], Any]
) -> Any:
    """A comprehension predicate on one item: True (take it), False (skip it), or the unknown or
    error the accumulator becomes (``p ? accu + [x] : accu`` with ``p`` not a bool)."""
    if predicate is None:
        return True
    p = body(predicate, item)
    if p is True or p is False:
        return p
    return p if p is UNKNOWN or type(p) is Failed else Failed(no_such_overload("_?_:_", p))


#: Cerbos's list set functions (global and member forms), which look at their operands in order.
_LIST_SET_FUNCTIONS = frozenset(
    ("hasIntersection", "has_intersection", "intersect", "except", "isSubset", "is_subset")
)

#: CEL operators (calls without a receiver) by name: implementation and arity.
_OPERATORS: dict[str, tuple[Callable[..., Any], int]] = {
    "_==_": (runtime.equals, 2),
    "_!=_": (runtime.not_equals, 2),
    "_<_": (runtime.less, 2),
    "_<=_": (runtime.less_equal, 2),
    "_>_": (runtime.greater, 2),
    "_>=_": (runtime.greater_equal, 2),
    "_+_": (runtime.add, 2),
    "_-_": (runtime.subtract, 2),
    "_*_": (runtime.multiply, 2),
    "_/_": (runtime.divide, 2),
    "_%_": (runtime.modulo, 2),
    "-_": (runtime.negate, 1),
    "!_": (runtime.logical_not, 1),
    "@in": (runtime.contains, 2),
    "_[?_]": (runtime.optional_index, 2),
}


def _is_index(node: Expr) -> bool:
    return isinstance(node, Call) and node.function == "_[_]" and node.target is None and len(node.args) == 2


def _static_key(q: Expr) -> str | None:
    """The name a qualifier adds to a qualified variable name (a field, or a string literal index)."""
    if isinstance(q, Select):
        return q.field
    key = q.args[1]  # type: ignore[attr-defined]
    if isinstance(key, Literal) and type(key.value) is str:
        return key.value
    return None


def _static_path(node: Expr) -> str | None:
    """``a.b.c`` for a chain of field selections on an identifier, else ``None``."""
    parts: list[str] = []
    while isinstance(node, Select) and not node.optional:
        parts.append(node.field)
        node = node.operand
    if not isinstance(node, Ident) or node.absolute:
        return None
    return ".".join([node.name, *reversed(parts)])


def _link(trace: Trace, q: Expr, inner: Trace, key_trace: Trace | None) -> Trace:
    if isinstance(q, Select):
        trace.target = inner
    else:
        trace.args = [inner, key_trace]
    return trace


# -- pruning --------------------------------------------------------------------------------------------


def prune(trace: Trace, messages: frozenset[int] = frozenset()) -> Expr:
    """The residual of an evaluated tree (cel-go's ``PruneAst``)."""
    return _prune(trace, messages)[0]


def _value_of(trace: Trace | None) -> Any:
    return trace.value if trace is not None else NOT_EVALUATED


def _prune(t: Trace, messages: frozenset[int]) -> tuple[Expr, bool]:
    node = t.node
    if is_known(t.value):
        literal = to_literal(t.value, messages)
        if literal is not None:
            return literal, True
    if isinstance(node, Select):
        if t.target is not None:
            operand, pruned = _prune(t.target, messages)
            if pruned:
                return Select(node.pos, operand, node.field, node.optional), True
        return node, False
    if isinstance(node, Call):
        return _prune_call(t, node, messages)
    if isinstance(node, ListExpr):
        elements, changed = _prune_all(node.elements, t.args, messages)
        return (ListExpr(node.pos, elements, node.optional_indices), True) if changed else (node, False)
    if isinstance(node, MapExpr):
        flat = [x for e in node.entries for x in (e.key, e.value)]
        parts, changed = _prune_all(tuple(flat), t.args, messages)
        if not changed:
            return node, False
        entries = tuple(
            MapEntry(e.pos, parts[2 * i], parts[2 * i + 1], e.optional) for i, e in enumerate(node.entries)
        )
        return MapExpr(node.pos, entries), True
    return node, False


def _prune_all(
    nodes: tuple[Expr, ...], traces: list[Trace | None] | None, messages: frozenset[int]
) -> tuple[tuple[Expr, ...], bool]:
    out = []
    changed = False
    for i, n in enumerate(nodes):
        t = traces[i] if traces is not None and i < len(traces) else None
        if t is None:
            out.append(n)
            continue
        new, pruned = _prune(t, messages)
        out.append(new)
        changed = changed or pruned
    return tuple(out), changed


def _prune_call(t: Trace, node: Call, messages: frozenset[int]) -> tuple[Expr, bool]:
    if is_has(node):
        inner = t.args[0] if t.args else None
        select = node.args[0]
        assert isinstance(select, Select)
        if inner is not None and inner.target is not None:
            operand, pruned = _prune(inner.target, messages)
            if pruned:
                return Call(node.pos, "has", (Select(select.pos, operand, select.field),)), True
        return node, False
    if node.target is not None and macro_variables(node) is not None:
        if t.target is not None:
            target, pruned = _prune(t.target, messages)
            if pruned:
                return Call(node.pos, node.function, node.args, target), True
        return node, False
    if is_bind(node):
        return node, False
    args, changed = _prune_all(node.args, t.args, messages)
    target = node.target
    if target is not None and t.target is not None:
        target, target_pruned = _prune(t.target, messages)
        changed = changed or target_pruned
    call = Call(node.pos, node.function, args, target) if changed else node
    if node.target is None and t.value is not NOT_EVALUATED:
        shortened = _prune_function(call, t, messages)
        if shortened is not None:
            return shortened, True
    return call, changed


def _pruned_value(trace: Trace | None, pruned: Expr) -> Any:
    """An argument's value as cel-go's pruner sees it: its evaluated value, or else the literal
    pruning turned it into (``maybeCreateLiteral`` records the literal's value under the node's id,
    so ``x in {}`` pruned to ``false`` decides an enclosing ``&&``, ``!`` or ternary)."""
    value = _value_of(trace)
    if not is_known(value) and isinstance(pruned, Literal):
        return pruned.value
    return value


def _prune_function(call: Call, t: Trace, messages: frozenset[int]) -> Expr | None:
    fn = call.function
    arg_values = [_pruned_value(a, call.args[i]) for i, a in enumerate(t.args or [])]
    if fn == "_||_" or fn == "_&&_":
        decisive = fn == "_||_"
        for i in (0, 1):
            v = arg_values[i] if i < len(arg_values) else NOT_EVALUATED
            if is_known(v):
                if v is decisive:
                    return Literal(0, decisive)
                return call.args[1 - i]
        return None
    if fn == "_?_:_":
        v = arg_values[0] if arg_values else NOT_EVALUATED
        if v is True:
            return call.args[1]
        if v is False:
            return call.args[2]
        return None
    if fn == "@in":
        v = arg_values[1] if len(arg_values) > 1 else NOT_EVALUATED
        if is_known(v) and type(v) in (list, tuple, dict, str, bytes) and len(v) == 0:
            return Literal(0, False)
        return None
    if fn == "!_":
        v = arg_values[0] if arg_values else NOT_EVALUATED
        if v is True or v is False:
            return Literal(0, not v)
    return None


__all__ = ["NOT_EVALUATED", "UNKNOWN", "Failed", "Optional", "Partial", "PlanError", "Trace", "prune"]
