"""One rule's condition planned against one request: the residual node it leaves.

The pipeline for each condition expression is Cerbos's (``planner.evaluateConditionExpression``):
the folded tree (:mod:`.fold`), the policy's variables substituted in (``V.x`` becomes the
variable's own tree), ``runtime.effectiveDerivedRoles`` replaced by the list of derived roles the
planner could not decide (``cond ? ["role"] : [] + ...``), then partial evaluation (:mod:`.partial`):

* an error makes the expression false (under strict evaluation it denies the action);
* a known value is the expression's answer (``true`` only for the boolean ``true``);
* an unknown value leaves the pruned residual, in which each comprehension's body is partially
  evaluated once more with its variables unknown, and whose root is then rewritten when it is
  a lookup into a known map (``P.attr.roles[R.attr.team] == "owner"`` becomes a disjunction over
  the map's entries) or a quantifier (``exists``/``all``) over at most ten known values (unrolled
  into ``||``/``&&``); a rewritten root is evaluated again.

``all``/``any``/``none`` condition trees become ``and``/``or``/``not`` nodes, constants folded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chamberlain.cel.ast import Call, Expr, Ident, ListExpr, Literal, MapExpr, Select
from chamberlain.engine.conditions import StrictEvaluationError, cel_message
from chamberlain.engine.planner.fold import free_names, is_constant, parse_folded, rebuild, walk
from chamberlain.engine.planner.nodes import (
    AND,
    FALSE_NODE,
    OR,
    TRUE_NODE,
    Logical,
    Node,
    Residual,
    const_bool,
    invert,
    right_nested,
)
from chamberlain.engine.planner.partial import (
    UNKNOWN,
    Failed,
    Partial,
    PlanError,
    is_bind,
    macro_variables,
    to_literal,
)
from chamberlain.engine.ruletable import Params
from chamberlain.policy import model as m

NOTE_LOOKUP_ORDER = "map lookup compared in source order: Cerbos reverses <, <=, >, >="
NOTE_BIND = "cel.bind planned: Cerbos fails the request"
NOTE_NESTED = "comprehension nested in an unrolled one planned: Cerbos fails the request"

#: Cerbos unrolls ``exists``/``all`` over a known list only up to this many elements.
MAX_UNROLLED = 10
_RUNTIME_FIELDS = ("effectiveDerivedRoles", "effective_derived_roles")
_COMPARISONS = frozenset(("_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_"))
_SYMMETRIC = frozenset(("_==_", "_!=_"))

DerivedRolesList = Callable[[], Expr]


def empty_roles() -> Expr:
    return ListExpr(0, ())


class PolicyTrees:
    """Condition trees prepared once per policy set: folded, with the policy's variables substituted.

    Keyed by the expression text and the identity of the rule's :class:`Params` (the same text
    means different things under different variables). Filling it from two threads at once at
    worst prepares a tree twice.
    """

    __slots__ = ("conditions", "variables")

    def __init__(self) -> None:
        self.variables: dict[int, tuple[Params, dict[str, Expr]]] = {}
        self.conditions: dict[tuple[str, int], tuple[Params, Expr, bool, bool]] = {}

    def variable_trees(self, params: Params) -> dict[str, Expr]:
        hit = self.variables.get(id(params))
        if hit is not None and hit[0] is params:
            return hit[1]
        out: dict[str, Expr] = {}
        for name, _program, text in params.variables:
            out[name] = substitute_variables(parse_folded(text), out)
        self.variables[id(params)] = (params, out)
        return out

    def condition(self, text: str, params: Params) -> tuple[Expr, bool, bool]:
        """(tree, reads runtime.effectiveDerivedRoles, uses cel.bind) for a condition expression."""
        hit = self.conditions.get((text, id(params)))
        if hit is not None and hit[0] is params:
            return hit[1], hit[2], hit[3]
        folded = parse_folded(text)
        tree = substitute_variables(folded, self.variable_trees(params))
        reads_runtime = any(
            isinstance(n, Ident) and n.name == "runtime" and not n.absolute for n in walk(tree)
        )
        binds = "bind" in text and any(is_bind(node) for node in walk(folded))
        if len(self.conditions) >= 65536:
            self.conditions.clear()
        self.conditions[(text, id(params))] = (params, tree, reads_runtime, binds)
        return tree, reads_runtime, binds


class ConditionPlanner:
    """Plans conditions for one request; collects the CEL errors met (as the check reports them)."""

    __slots__ = ("done", "errors", "notes", "partial", "strict", "trees")

    def __init__(self, partial: Partial, strict: bool, trees: PolicyTrees):
        self.partial = partial
        self.strict = strict
        self.trees = trees
        self.errors: dict[tuple[str, str], None] = {}
        self.notes: dict[str, None] = {}  # where the plan differs from Cerbos's (plan.NOTE_*)
        #: Expressions already planned for this request: a derived role's condition is met once per
        #: rule that names it; ``(text, id(params), id(roles)) -> (params, roles, node or None: failed)``.
        self.done: dict[tuple[str, int, int], tuple[Params, Any, Node | None]] = {}

    # -- condition trees ------------------------------------------------------------------------------

    def condition(self, condition: Any, params: Params, roles: DerivedRolesList) -> Node:
        """A compiled condition (:class:`chamberlain.engine.conditions.Condition`) as a node."""
        if condition is None:
            return TRUE_NODE
        if condition.negated is not None:  # none_of(x): how Cerbos turns an ALLOW into a DENY
            return self._none([lambda: self.condition(condition.negated, params, roles)])
        return self.match(condition.match, params, roles)

    def match(self, match: m.Match | None, params: Params, roles: DerivedRolesList) -> Node:
        if match is None:
            return TRUE_NODE
        if match.op == "expr":
            return self.expression(match.expr, params, roles)
        parts = [lambda sub=sub: self.match(sub, params, roles) for sub in match.of]
        if match.op == "all":
            return self._all_any(parts, decisive=False)
        if match.op == "any":
            return self._all_any(parts, decisive=True)
        return self._none(parts)

    @staticmethod
    def _all_any(parts: list[Callable[[], Node]], *, decisive: bool) -> Node:
        nodes = []
        for part in parts:
            node = part()
            b = const_bool(node)
            if b is decisive:
                return TRUE_NODE if decisive else FALSE_NODE
            if b is None:
                nodes.append(node)
        if not nodes:
            return FALSE_NODE if decisive else TRUE_NODE
        return nodes[0] if len(nodes) == 1 else Logical(OR if decisive else AND, tuple(nodes))

    @staticmethod
    def _none(parts: list[Callable[[], Node]]) -> Node:
        nodes = []
        for part in parts:
            node = part()
            b = const_bool(node)
            if b is True:
                return FALSE_NODE
            if b is None:
                nodes.append(invert(node))
        if not nodes:
            return TRUE_NODE
        return nodes[0] if len(nodes) == 1 else Logical(AND, tuple(nodes))

    # -- one expression -------------------------------------------------------------------------------

    def expression(self, text: str, params: Params, roles: DerivedRolesList) -> Node:
        """A condition expression's node: its constant, or its residual (planned once per request)."""
        key = (text, id(params), id(roles))
        hit = self.done.get(key)
        if hit is not None and hit[0] is params and hit[1] is roles:
            if hit[2] is None:
                raise StrictEvaluationError(text)
            return hit[2]
        try:
            node = self._expression(text, params, roles)
        except StrictEvaluationError:
            self.done[key] = (params, roles, None)
            raise
        self.done[key] = (params, roles, node)
        return node

    def _expression(self, text: str, params: Params, roles: DerivedRolesList) -> Node:
        tree = self.prepare(text, params, roles)
        value, residual = self.partial.residual(tree)
        if type(value) is Failed:
            self.errors[(text, cel_message(value.error))] = None
            if self.strict:
                raise StrictEvaluationError(text)
            return FALSE_NODE
        if value is UNKNOWN:
            return Residual(self.unknown(residual, text))
        return TRUE_NODE if value is True else FALSE_NODE

    def prepare(self, text: str, params: Params, roles: DerivedRolesList) -> Expr:
        """The tree Cerbos evaluates: folded, variables substituted, derived roles list inlined."""
        tree, reads_runtime, binds = self.trees.condition(text, params)
        if binds:
            self.notes[NOTE_BIND] = None
        return replace_runtime(tree, roles) if reads_runtime else tree

    def unknown(self, residual: Expr, text: str) -> Expr:
        """What an unknown residual becomes: bodies evaluated, a known-map lookup or small quantifier expanded."""
        residual = self.comprehension_bodies(residual, frozenset(), text)
        expanded = self.expand_root(residual, text)
        if expanded is None:
            return residual
        value, result = self.partial.residual(expanded)
        if type(value) is Failed:
            raise PlanError(f"error evaluating condition {text!r}: {value.error}")
        return result

    def comprehension_bodies(self, expr: Expr, unknown: frozenset[str], text: str) -> Expr:
        """Each comprehension's body evaluated again with its variables unknown (recursively)."""
        if isinstance(expr, Call) and expr.target is not None:
            variables = macro_variables(expr)
            if variables is not None:
                inner = unknown | set(variables)
                positions = _evaluated_body(expr, len(variables))
                args = list(expr.args)
                for i in positions:
                    value, body = self.partial.residual(args[i], dict.fromkeys(inner, UNKNOWN))
                    if type(value) is Failed:
                        raise PlanError(f"error evaluating condition {text!r}: {value.error}")
                    args[i] = self.comprehension_bodies(body, inner, text)
                target = self.comprehension_bodies(expr.target, unknown, text)
                return Call(expr.pos, expr.function, tuple(args), target)
        return rebuild(expr, lambda child: self.comprehension_bodies(child, unknown, text))

    # -- root rewrites (Cerbos's expression processors) -----------------------------------------------

    def expand_root(self, expr: Expr, text: str) -> Expr | None:
        if not isinstance(expr, Call):
            return None
        if expr.target is None and len(expr.args) == 2 and expr.function in _COMPARISONS:
            lookup = _map_lookup(expr.args[0])
            if lookup is not None and isinstance(expr.args[1], Literal):
                return self._lookup_options(expr.function, lookup, expr.args[1], constant_first=False)
        if expr.target is None and len(expr.args) == 2 and expr.function == "@in":
            lookup = _map_lookup(expr.args[1])
            if lookup is not None and isinstance(expr.args[0], Literal):
                return self._lookup_options("@in", lookup, expr.args[0], constant_first=True)
        variables = macro_variables(expr)
        if variables is not None and expr.function in ("all", "exists"):
            return self._unroll(expr, variables, text)
        return None

    def _lookup_options(
        self,
        function: str,
        lookup: tuple[MapExpr, Expr, str | None],
        constant: Literal,
        *,
        constant_first: bool,
    ) -> Expr | None:
        """``m[k] op c`` over a map literal: ``(k == key1 && m[key1] op c) || ...`` (keys sorted)."""
        mapping, indexer, field = lookup
        notes = self.notes
        if not mapping.entries:
            return None
        entries = list(mapping.entries)
        if all(isinstance(e.key, Literal) and type(e.key.value) is str for e in entries):
            entries.sort(key=lambda e: e.key.value)  # type: ignore[attr-defined]
        options: list[Expr] = []
        for entry in entries:
            value = entry.value if field is None else Select(0, entry.value, field)
            # Cerbos writes ``c op m[key]`` whatever the operator; for <, <=, >, >= that reverses
            # the comparison, so chamberlain keeps the source order for those (see the docs).
            if constant_first or function in _SYMMETRIC:
                check = Call(0, function, (constant, value))
            else:
                check = Call(0, function, (value, constant))
                notes[NOTE_LOOKUP_ORDER] = None
            options.append(Call(0, "_&&_", (Call(0, "_==_", (indexer, entry.key)), check)))
        return right_nested("_||_", options)

    def _unroll(self, expr: Call, variables: tuple[str, ...], text: str) -> Expr | None:
        target = expr.target
        if not isinstance(target, ListExpr | MapExpr) or not is_constant(target):
            return None
        body = expr.args[len(variables)]
        pairs: list[tuple[Any, ...]] = []
        if isinstance(target, ListExpr):
            if len(target.elements) > MAX_UNROLLED:
                return None
            for i, element in enumerate(target.elements):
                v = self.partial.evaluate(element).value
                pairs.append((v,) if len(variables) == 1 else (i, v))
        else:
            if len(target.entries) > MAX_UNROLLED:
                return None
            for entry in target.entries:
                k = self.partial.evaluate(entry.key).value
                v = self.partial.evaluate(entry.value).value
                pairs.append((k,) if len(variables) == 1 else (k, v))
        options = []
        for pair in pairs:
            value, residual = self.partial.residual(body, dict(zip(variables, pair, strict=True)))
            if free_names(residual) & set(variables):
                # A nested comprehension the evaluation did not reach still names the variable
                # (Cerbos fails such plans): substitute the element's literal and evaluate again.
                value, residual = self.partial.residual(_with_literals(body, variables, pair))
                self.notes[NOTE_NESTED] = None
            if type(value) is Failed:
                raise PlanError(f"error evaluating condition {text!r}: {value.error}")
            options.append(residual)
        if not options:
            return None
        return right_nested("_||_" if expr.function == "exists" else "_&&_", options)


def _with_literals(body: Expr, variables: tuple[str, ...], values: tuple[Any, ...]) -> Expr:
    for name, value in zip(variables, values, strict=True):
        literal = to_literal(value)
        if literal is None:
            raise PlanError(f"cannot plan a comprehension over {type(value).__name__} values")
        body = bind_variable(body, name, literal)
    return body


def _evaluated_body(expr: Call, n: int) -> tuple[int, ...]:
    """Which arguments of a macro Cerbos evaluates again (the expansion's loop-step operand)."""
    name, count = expr.function, len(expr.args)
    if name in ("all", "exists", "exists_one", "existsOne", "filter"):
        return (n,)
    if name == "map":
        return (1,)  # the transform, or the predicate of map(x, p, t)
    if name in ("transformList", "transformMapEntry"):
        return (n,)  # the transform, or the predicate of the four-argument form
    if name == "transformMap":
        return (n,) if count == 4 else ()  # Cerbos re-evaluates the key variable: nothing changes
    raise PlanError(f"the {name}() macro cannot be planned over unknown values")


def _map_lookup(expr: Expr) -> tuple[MapExpr, Expr, str | None] | None:
    """``{...}[R.attr.k]`` or ``{...}[R.attr.k].field``: the map literal, the indexer and the field."""
    field = None
    if isinstance(expr, Select) and not expr.optional:
        field, expr = expr.field, expr.operand
    if isinstance(expr, Call) and expr.function == "_[_]" and expr.target is None and len(expr.args) == 2:
        mapping, indexer = expr.args
        if isinstance(mapping, MapExpr) and isinstance(indexer, Select):
            return mapping, indexer, field
    return None


# -- substitutions --------------------------------------------------------------------------------------


def substitute_variables(tree: Expr, variables: Mapping[str, Expr]) -> Expr:
    """``V.x`` / ``variables.x`` replaced by variable ``x``'s tree; ``cel.bind`` inlined."""

    def replace(node: Expr) -> Expr:
        operand = node.operand if isinstance(node, Select) and not node.optional else None
        if isinstance(operand, Ident) and operand.name in ("V", "variables") and not operand.absolute:
            found = variables.get(node.field)  # type: ignore[union-attr]
            if found is None:
                raise PlanError(f"unknown variable {node.field!r}")  # type: ignore[union-attr]
            return found
        if is_bind(node):
            name = node.args[0].name  # type: ignore[union-attr]
            init = replace(node.args[1])  # type: ignore[union-attr]
            return replace(bind_variable(node.args[2], name, init))  # type: ignore[union-attr]
        return rebuild(node, replace)

    return replace(tree)


def bind_variable(tree: Expr, name: str, value: Expr) -> Expr:
    """``tree`` with the free occurrences of ``name`` replaced by ``value`` (macro variables shadow)."""

    def replace(node: Expr, shadowed: bool) -> Expr:
        if isinstance(node, Ident) and node.name == name and not node.absolute and not shadowed:
            return value
        if isinstance(node, Call) and node.target is not None:
            variables = macro_variables(node)
            if variables is not None:
                target = replace(node.target, shadowed)
                inner = shadowed or name in variables
                args = tuple(replace(a, inner) for a in node.args)
                return Call(node.pos, node.function, args, target)
        return rebuild(node, lambda child: replace(child, shadowed))

    return replace(tree, False)


def replace_runtime(tree: Expr, roles: DerivedRolesList) -> Expr:
    """``runtime.effectiveDerivedRoles`` replaced by the derived roles list expression."""

    def replace(node: Expr) -> Expr:
        if (
            isinstance(node, Select)
            and isinstance(node.operand, Ident)
            and node.operand.name == "runtime"
            and node.field in _RUNTIME_FIELDS
        ):
            return roles()
        return rebuild(node, replace)

    return replace(tree)


def derived_roles_list(conditions: list[tuple[str, Node]]) -> Expr:
    """``(c1 ? ["r1"] : []) + ((c2 ? ["r2"] : []) + ...)`` for the scope's derived roles, by name."""
    from chamberlain.engine.planner.nodes import to_expr

    if not conditions:
        return ListExpr(0, ())
    elements = [
        Call(0, "_?_:_", (to_expr(node), ListExpr(0, (Literal(0, name),)), ListExpr(0, ())))
        for name, node in sorted(conditions, key=lambda c: c[0])
    ]
    return right_nested("_+_", elements)


__all__ = ["MAX_UNROLLED", "ConditionPlanner", "derived_roles_list", "empty_roles", "substitute_variables"]
