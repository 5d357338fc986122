"""A plan's condition as a SQL predicate that selects exactly the rows the check allows.

CEL evaluates a condition to ``true``, ``false`` or an error, and the check allows a row only on
``true``. Every boolean sub-expression becomes a SQL expression that is TRUE, FALSE or NULL exactly
when CEL gives ``true``, ``false`` or an error: SQL's three-valued ``AND``/``OR``/``NOT`` then
agree with CEL's ``&&``/``||``/``!`` (``false && error`` is false, ``true && error`` an error), and
``WHERE`` keeps exactly the TRUE rows.

Values carry their CEL type (from the column's SQLAlchemy type or the constant) and what a SQL NULL
means for them: an error (an attribute left out of the row when its column is NULL, or any computed
value) or CEL's ``null`` (an attribute sent as an explicit ``null``). Equality, inequality and
membership tell a null value from an error; CEL's type rules decide the rest (``"1" == 1`` is
false, ``"a" < 1`` an error; numbers from JSON are doubles, so ``R.attr.n + 1`` with an int
literal is an error in every row).

What SQL cannot express exactly raises :class:`UntranslatableFilter` naming the operator and the
attribute; nothing is ever translated into a wider filter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Double,
    String,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
)
from sqlalchemy import types as sqltypes
from sqlalchemy.sql.elements import ColumnElement

from chamberlain.cel import EvaluationError
from chamberlain.cel.lib.time import parse_timestamp
from chamberlain.engine.planner.nodes import HOLDS
from chamberlain.engine.planner.operands import Expression, Operand, Value, Variable
from chamberlain.errors import Error
from chamberlain.integrations.sqlalchemy.constructs import (
    CodePointOrder,
    ExactMatch,
    ExactText,
    NotNaN,
    StringMatch,
    TextAfter,
    TextLength,
)

EXPLICIT, OMITTED = "explicit", "omitted"
_ERROR, _VALUE = "error", "value"  # what a SQL NULL stands for
_PRINCIPAL = "request.principal."


class UntranslatableFilter(Error):
    """A plan condition SQL cannot express exactly; names the operator and the attribute."""

    def __init__(self, operator: str, attribute: str, reason: str):
        self.operator = operator
        self.attribute = attribute
        where = f" on {attribute}" if attribute else ""
        super().__init__(f"cannot translate {operator!r}{where} into SQL exactly: {reason}")


@dataclass(frozen=True)
class Relation:
    """A collection attribute read from a related table (one row per element).

    ``table``: the related table or ORM entity; ``join``: the condition tying its rows to the
    resource row (it correlates the subquery). Elements are ``value`` (a scalar per row, e.g.
    ``Tag.name``) or maps of ``fields`` (``{"amount": Line.amount}`` for ``x.amount`` in a lambda).
    ``null``: how a NULL element column reaches the check (``explicit`` null or ``omitted``).
    With ``key``, the attribute is a map, ``{key: value}`` (``R.attr.members[P.id]``): ``key`` is a
    NOT NULL string column, unique per resource row, and ``value`` NOT NULL unless null values are
    ``omitted`` from the map.
    """

    table: Any
    join: Any
    value: Any = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    null: str = EXPLICIT
    key: Any = None


@dataclass(frozen=True)
class _V:
    """A translated value: its SQL, its CEL type and what its SQL NULL means."""

    sql: Any
    kind: str  # bool number string null timestamp hierarchy list relation element dyn
    mode: str = _ERROR
    const: Any = None  # the Python value of a constant
    is_const: bool = False
    int_literal: bool = False  # an int constant (CEL int: arithmetic with doubles is an error)
    maybe_int: bool = False  # a JSON plan's integral number: an int or a double, the JSON does not say
    items: tuple[_V, ...] = ()  # a list's elements
    relation: Relation | None = None
    attribute: str = ""  # the attribute it reads, for error messages
    fields: Mapping[str, Any] | None = None  # an element of a relation with fields
    ambiguous_null: bool = False  # SQL NULL may be CEL's null or an error (a ternary over a nullable column)


_NULL_BOOL = _V(null(), "bool")


class Translator:
    """Translates one plan condition for one attribute mapping."""

    def __init__(
        self,
        attr_map: Mapping[str, Any],
        *,
        default_null: str = EXPLICIT,
        null_by_attribute: Mapping[str, str] | None = None,
        overrides: Mapping[str, Callable[..., Any]] | None = None,
        doubles: bool = False,
        principal: Mapping[str, Any] | None = None,
    ):
        for mode in (default_null, *(null_by_attribute or {}).values()):
            if mode not in (EXPLICIT, OMITTED):
                raise ValueError(f"null representation must be 'explicit' or 'omitted', not {mode!r}")
        self.attr_map = attr_map
        self.default_null = default_null
        self.null_by_attribute = dict(null_by_attribute or {})
        self.overrides = dict(overrides or {})
        self.doubles = doubles  # a JSON plan: integral numbers may have been doubles
        # request.principal as conditions see it (Principal.cel()): a plan names it where it is the
        # container or the key of an index the planner could not resolve (P.attr.orgs[R.attr.org])
        self.principal = principal
        self.scope: dict[str, _V] = {}
        self.negated = False  # under an odd number of ``not``s (where NULL and FALSE differ)

    # -- entry ---------------------------------------------------------------------------------------

    def condition(self, operand: Operand) -> ColumnElement[bool]:
        """The WHERE clause for a condition (TRUE exactly where the check allows)."""
        v = self.value(operand)
        if v.kind != "bool":
            return false()  # a condition that is not a bool never allows (Cerbos: false)
        return v.sql

    # -- values ----------------------------------------------------------------------------------------

    def value(self, op: Operand) -> _V:
        if isinstance(op, Value):
            return self.constant(op.value)
        if isinstance(op, Variable):
            return self.variable(op.name)
        return self.expression(op)

    def constant(self, value: Any) -> _V:
        if value is None:
            return _V(null(), "null", _VALUE, None, True)
        if isinstance(value, bool):
            return _V(true() if value else false(), "bool", const=value, is_const=True)
        if isinstance(value, int | float):
            is_int = isinstance(value, int) and not self.doubles
            ambiguous = self.doubles and float(value).is_integer()
            return _V(
                literal(float(value), Double()),
                "number",
                const=float(value),
                is_const=True,
                int_literal=is_int,
                maybe_int=ambiguous,
            )
        if isinstance(value, str):
            return _V(literal(value, String()), "string", const=value, is_const=True)
        if isinstance(value, list | tuple):
            items = tuple(self.constant(v) for v in value)
            return _V(None, "list", const=list(value), is_const=True, items=items)
        if isinstance(value, Mapping):
            return _V(None, "map", const=dict(value), is_const=True)
        raise UntranslatableFilter("value", "", f"constant of type {type(value).__name__}")

    def variable(self, name: str) -> _V:
        if name.startswith(_PRINCIPAL):
            if self.principal is None:
                raise UntranslatableFilter("variable", name, "the plan names the principal: pass principal=")
            return self._principal_value(name)
        head, _, rest = name.partition(".")
        bound = self.scope.get(head)
        if bound is not None:
            if not rest:
                return bound
            if bound.fields is None or rest not in bound.fields:
                raise UntranslatableFilter("get-field", name, "the relation declares no such element field")
            column = bound.fields[rest]
            mode = _VALUE if (bound.relation is None or bound.relation.null == EXPLICIT) else _ERROR
            return _V(column, _kind_of(column), mode, attribute=name)
        target = self.attr_map.get(name)
        if target is None:
            raise UntranslatableFilter("variable", name, "the attribute is not mapped (add it to attr_map)")
        if isinstance(target, Relation):
            return _V(None, "relation", relation=target, attribute=name)
        mode = self.null_by_attribute.get(name, self.default_null)
        if getattr(getattr(target, "expression", target), "nullable", True) is False:
            mode = OMITTED  # a NOT NULL column: never null, nothing to tell apart
        return _V(target, _kind_of(target), _VALUE if mode == EXPLICIT else _ERROR, attribute=name)

    def _principal_value(self, name: str) -> _V:
        value: Any = self.principal
        for part in name[len(_PRINCIPAL) :].split("."):
            if not isinstance(value, Mapping) or part not in value:
                raise UntranslatableFilter("variable", name, "the principal has no such attribute")
            value = value[part]
        if isinstance(value, float | int) and not isinstance(value, bool):
            return _V(literal(float(value), Double()), "number", const=float(value), is_const=True)
        return self.constant(value)  # a principal's numbers are doubles, as the check reads them

    # -- expressions -----------------------------------------------------------------------------------

    def expression(self, expr: Expression) -> _V:
        op, operands = expr.operator, expr.operands
        override = self.overrides.get(op)
        if override is not None:
            return self._override(override, op, operands)
        handler = _HANDLERS.get(op)
        if handler is None:
            raise UntranslatableFilter(op, _first_attribute(expr), _REFUSED.get(op, "no exact SQL form"))
        return handler(self, op, operands)

    def _override(self, fn: Callable[..., Any], op: str, operands: Sequence[Operand]) -> _V:
        """A caller's translation (``operator_override_fns``): ``fn(column, value)``; its NULLs are the caller's."""
        args = []
        for o in operands:
            if isinstance(o, Value):
                args.append(o.value)
            else:
                v = self.value(o)
                args.append(v.relation if v.kind == "relation" else v.sql)
        return _V(fn(*args), "bool")

    # logical

    def logical(self, op: str, operands: Sequence[Operand]) -> _V:
        if op == "not":
            self.negated = not self.negated
            try:
                return _V(not_(self.as_bool(self.value(operands[0]))), "bool")
            finally:
                self.negated = not self.negated
        parts = [self.as_bool(self.value(o)) for o in operands]
        return _V(and_(*parts) if op == "and" else or_(*parts), "bool")

    def holds(self, op: str, operands: Sequence[Operand]) -> _V:
        """One policy condition: the check counts its errors as false (only visible under ``not``)."""
        inner = self.as_bool(self.value(operands[0]))
        if not self.negated:
            return _V(inner, "bool")  # NULL and FALSE both exclude the row: keep it index-friendly
        return _V(func.coalesce(inner, false()), "bool")

    @staticmethod
    def as_bool(v: _V) -> Any:
        """A value used as a condition: itself if a bool, else an error (NULL)."""
        return v.sql if v.kind == "bool" else null()

    def conditional(self, op: str, operands: Sequence[Operand]) -> _V:
        c, a, b = (self.value(o) for o in operands)
        modes = {v.mode for v in (a, b) if not v.is_const}  # a constant is never NULL
        if a.kind != b.kind or len(modes) > 1 or a.kind not in ("bool", "number", "string", "timestamp"):
            raise UntranslatableFilter(
                "if",
                a.attribute or b.attribute,
                f"branches of kinds {a.kind} and {b.kind} (or null conventions that differ)",
            )
        cond = self.as_bool(c)
        mode = modes.pop() if modes else _ERROR
        sql = case((cond, a.sql), (not_(cond), b.sql), else_=null())
        return _V(sql, a.kind, mode, attribute=a.attribute or b.attribute, ambiguous_null=mode == _VALUE)

    # comparisons

    def comparison(self, op: str, operands: Sequence[Operand]) -> _V:
        a, b = (self.value(o) for o in operands)
        if op in ("eq", "ne"):
            equal = self.equal(a, b)
            return _V(not_(equal) if op == "ne" else equal, "bool")
        return self.order(op, a, b)

    def equal(self, a: _V, b: _V) -> Any:
        """CEL ``a == b``: never an error for present values; null equals only null."""
        for v in (a, b):
            if v.ambiguous_null:
                raise UntranslatableFilter(
                    "eq", v.attribute, "a ternary whose branch may be an explicit null"
                )
            if v.kind in ("list", "map", "relation", "element", "dyn"):
                raise UntranslatableFilter("eq", v.attribute, f"equality of a {_KIND_NAMES[v.kind]}")
        if a.kind == "null" or b.kind == "null":
            other = b if a.kind == "null" else a
            if other.kind == "null":
                return true()
            if other.mode == _VALUE:
                return other.sql.is_(None)
            return _unless_error(other, false())
        if not _comparable(a.kind, b.kind):  # CEL: values of different types are not equal
            return _unless_error(a, _unless_error(b, false()))
        if a.kind == "timestamp" and (a.is_const != b.is_const):
            constant = a if a.is_const else b
            if constant.const % 1000:  # a column holds microseconds: it never equals this instant
                column = b if a.is_const else a
                return false() if column.mode == _VALUE else _unless_error(column, false())
        sql_a, sql_b = _operands(a, b)
        if a.kind in ("string", "hierarchy"):
            exact = (sql_a if a.is_const else ExactText(sql_a)) == (sql_b if b.is_const else ExactText(sql_b))
            eq = ExactMatch(sql_a == sql_b, exact) if a.is_const or b.is_const else exact
        else:
            eq = sql_a == sql_b
        if a.kind == "number" and not (a.is_const or b.is_const):
            eq = and_(eq, NotNaN(sql_a))  # PostgreSQL: NaN = NaN; CEL: NaN equals nothing
        if a.is_const or b.is_const:
            column = b if a.is_const else a
            # an explicit null is not equal to a constant: FALSE, where SQL's comparison gives NULL
            return and_(eq, column.sql.is_not(None)) if column.mode == _VALUE else eq
        if a.mode == _VALUE or b.mode == _VALUE:
            checks = []
            a_null = a.sql.is_(None) if a.mode == _VALUE else None
            b_null = b.sql.is_(None) if b.mode == _VALUE else None
            if a_null is not None and b_null is not None:
                checks.append((and_(a_null, b_null), true()))
            for this_null, other in ((a_null, b), (b_null, a)):
                if this_null is not None:
                    # null == x is false for a present x; an absent x is an error
                    outcome = (
                        false()
                        if other.mode == _VALUE
                        else case((other.sql.is_(None), null()), else_=false())
                    )
                    checks.append((this_null, outcome))
            return case(*checks, else_=eq)
        return eq

    def order(self, op: str, a: _V, b: _V) -> _V:
        """``<``, ``<=``, ``>``, ``>=``: defined for two numbers, strings, bools or timestamps."""
        kinds = {a.kind, b.kind}
        if len(kinds) != 1 or a.kind not in ("number", "string", "bool", "timestamp"):
            if kinds <= {"number", "string", "bool", "timestamp", "null"}:
                return _NULL_BOOL  # CEL: no such overload, in every row
            raise UntranslatableFilter(op, a.attribute or b.attribute, f"ordering of {a.kind} and {b.kind}")
        if a.kind == "timestamp" and a.is_const != b.is_const:
            return _V(_timestamp_order(op, a, b), "bool")
        sql_a, sql_b = _operands(a, b)
        if a.kind == "string":
            sql_a, sql_b = CodePointOrder(sql_a), CodePointOrder(sql_b)
        compare = {"lt": sql_a < sql_b, "le": sql_a <= sql_b, "gt": sql_a > sql_b, "ge": sql_a >= sql_b}[op]
        if a.kind == "number":  # PostgreSQL orders NaN above every number; CEL: NaN is not ordered
            guards = [NotNaN(v.sql) for v in (a, b) if not v.is_const and not _is_integer(v)]
            compare = and_(compare, *guards) if guards else compare
        return _V(compare, "bool")

    def membership(self, op: str, operands: Sequence[Operand]) -> _V:
        needle, haystack = (self.value(o) for o in operands)
        if haystack.kind == "list":
            return _V(self._in_list(needle, haystack.items), "bool")
        if haystack.kind == "map":  # a constant map: its keys
            return _V(self._in_list(needle, tuple(self.constant(k) for k in haystack.const)), "bool")
        if haystack.kind == "relation":
            assert haystack.relation is not None
            element = self._element(haystack.relation, haystack.attribute)
            return _V(self._any_row(haystack.relation, lambda: self.equal(element, needle), needle), "bool")
        raise UntranslatableFilter(
            "in",
            haystack.attribute or needle.attribute,
            "membership in a column (declare the collection as a Relation)",
        )

    def _in_list(self, needle: _V, items: Sequence[_V]) -> Any:
        if needle.ambiguous_null:
            raise UntranslatableFilter(
                "in", needle.attribute, "a ternary whose branch may be an explicit null"
            )
        if needle.kind == "map":
            raise UntranslatableFilter("in", needle.attribute, "membership of a map")
        if all(i.is_const for i in items) and needle.kind not in ("list", "relation", "null"):
            same = [i.const for i in items if i.kind == needle.kind or _comparable(i.kind, needle.kind)]
            has_null = any(i.kind == "null" for i in items)
            if needle.kind == "dyn":
                raise UntranslatableFilter("in", needle.attribute, f"membership of a {_KIND_NAMES['dyn']}")
            if not same:
                found: Any = false()
            else:
                values = [_bind(needle, v) for v in same]
                if needle.kind == "string":
                    found = _exact_in(needle.sql, values)
                elif _is_integer(needle) and not all(_small_integral(v) for v in same):
                    found = cast(needle.sql, Double()).in_(values)  # compared as CEL compares: as doubles
                else:
                    found = needle.sql.in_(values)
            if needle.mode == _VALUE:
                return case((needle.sql.is_(None), true() if has_null else false()), else_=found)
            return _unless_error(needle, found) if not same else found
        return or_(*(self.equal(needle, i) for i in items)) if items else _unless_error(needle, false())

    def index(self, op: str, operands: Sequence[Operand]) -> _V:
        """``m[k]`` of a constant map (the principal's, a map literal) with string keys and values of one
        kind: ``CASE`` over its entries, SQL NULL (an error) for a key it lacks; of a map
        :class:`Relation`: its value row's. Other indexes are refused."""
        container, key = (self.value(o) for o in operands)
        where = container.attribute or key.attribute
        if container.relation is not None and container.relation.key is not None:
            return self._map_lookup(container.relation, container.attribute, key)
        if container.kind != "map":
            raise UntranslatableFilter("index", where, f"an index of a {container.kind} value")
        entries = container.const
        values = [self.constant(v) for v in entries.values()]
        shapes = {(v.kind, v.int_literal, v.maybe_int) for v in values}
        if (
            not entries
            or not all(isinstance(k, str) for k in entries)
            or len(shapes) != 1
            or values[0].kind not in ("string", "number", "bool")
        ):
            raise UntranslatableFilter(
                "index",
                where,
                "a map without entries, or with keys that are not strings or values of mixed kinds",
            )
        first = values[0]
        kind, shape = first.kind, {"int_literal": first.int_literal, "maybe_int": first.maybe_int}
        if key.is_const:  # folded by the planner unless the map is the principal's
            return self.constant(entries[key.const]) if key.const in entries else _V(null(), kind, **shape)
        if key.ambiguous_null or key.kind in ("list", "map", "relation", "element", "dyn"):
            raise UntranslatableFilter("index", where, f"a key of a {key.kind} value")
        if key.kind != "string":  # CEL: no such key, on every row (a null key included)
            return _V(null(), kind, attribute=key.attribute, **shape)
        whens = [(self.equal(key, self.constant(k)), v.sql) for k, v in zip(entries, values, strict=True)]
        return _V(case(*whens, else_=null()), kind, _ERROR, attribute=key.attribute, **shape)

    def _map_lookup(self, rel: Relation, attribute: str, key: _V) -> _V:
        """``m[k]`` of a map :class:`Relation`: the value of the row whose key equals ``k`` (none: an error)."""
        if _nullable(rel.key) or (rel.null == EXPLICIT and _nullable(rel.value)):
            raise UntranslatableFilter(
                "index",
                attribute,
                "a map's key column, and its value column unless null values are omitted, must be NOT NULL",
            )
        if _kind_of(rel.key) != "string":
            raise UntranslatableFilter("index", attribute, "a map's key column must be a string column")
        if key.ambiguous_null or key.kind in ("list", "map", "relation", "element", "dyn"):
            raise UntranslatableFilter("index", attribute or key.attribute, f"a key of a {key.kind} value")
        kind = _kind_of(rel.value)
        if key.kind != "string":  # CEL: no such key, on every row (a null key included)
            return _V(null(), kind, attribute=attribute)
        found = self.equal(_V(rel.key, "string", _VALUE, attribute=attribute), key)
        value = (
            select(rel.value)
            .select_from(rel.table)
            .where(rel.join)
            .where(found)
            .correlate_except(rel.table)
            .scalar_subquery()
        )
        return _V(value, kind, _ERROR, attribute=attribute)

    def map_literal(self, op: str, operands: Sequence[Operand]) -> _V:
        """A map literal with constant entries (``struct`` of ``set-field``s): a constant map."""
        entries: dict[Any, Any] = {}
        for o in operands:
            if not (
                isinstance(o, Expression)
                and o.operator == "set-field"
                and all(isinstance(x, Value) for x in o.operands)
            ):
                raise UntranslatableFilter(
                    "struct",
                    _first_attribute(Expression("struct", tuple(operands))),
                    "a map literal with computed entries",
                )
            k, v = (x.value for x in o.operands)  # type: ignore[union-attr]
            entries[k] = v
        return self.constant(entries)

    # arithmetic

    def arithmetic(self, op: str, operands: Sequence[Operand]) -> _V:
        a, b = (self.value(o) for o in operands)
        if op == "add" and a.kind == "string" and b.kind == "string":
            return _V(a.sql + b.sql, "string")  # || propagates NULL (an error) in both dialects
        if a.kind != "number" or b.kind != "number":
            if {a.kind, b.kind} <= {"number", "string", "bool", "null", "timestamp"}:
                return _V(null(), "number")  # CEL: no such overload
            raise UntranslatableFilter(op, a.attribute or b.attribute, f"{op} of {a.kind} and {b.kind}")
        if a.maybe_int != b.maybe_int:
            raise UntranslatableFilter(
                op,
                a.attribute or b.attribute,
                f"the plan's JSON does not say whether {(a if a.maybe_int else b).const:g} is an int "
                "(then the check fails on every row) or a double: plan with chamberlain (pdp.filter), "
                "or write the policy's literal as a double (1.0)",
            )
        if a.int_literal != b.int_literal:
            return _V(null(), "number")  # int with double: an error in every row
        if op == "div":
            if not b.is_const or b.const == 0:
                raise UntranslatableFilter(
                    "div",
                    a.attribute or b.attribute,
                    "division by a column or by zero (CEL gives ±Infinity or NaN, SQL an error)",
                )
            return _V(_double(a) / _double(b), "number")
        if op == "mod":
            return _V(null(), "number")  # % is defined on ints only; attribute numbers are doubles
        sql = {
            "add": _double(a) + _double(b),
            "sub": _double(a) - _double(b),
            "mult": _double(a) * _double(b),
        }[op]
        return _V(sql, "number")

    # strings

    def string_match(self, op: str, operands: Sequence[Operand]) -> _V:
        h, n = (self.value(o) for o in operands)
        if h.kind != "string" or n.kind != "string":
            if {h.kind, n.kind} <= {"number", "string", "bool", "null", "timestamp"}:
                return _NULL_BOOL
            raise UntranslatableFilter(op, h.attribute or n.attribute, f"{op} of {h.kind} and {n.kind}")
        needle: Any = n.const if n.is_const else n.sql
        return _V(StringMatch(op, h.sql, needle), "bool")

    def size(self, op: str, operands: Sequence[Operand]) -> _V:
        (v,) = (self.value(o) for o in operands)
        if v.kind == "string":
            return _V(TextLength(v.sql), "number")
        if v.kind == "relation":
            assert v.relation is not None
            rel = v.relation
            count = (
                select(func.count())
                .select_from(rel.table)
                .where(rel.join)
                .correlate_except(rel.table)
                .scalar_subquery()
            )
            return _V(cast(count, Double()), "number")
        raise UntranslatableFilter("size", v.attribute, f"size of a {v.kind} value")

    def conversion(self, op: str, operands: Sequence[Operand]) -> _V:
        """``double(x)`` of a number and ``string(x)`` of a string are the value itself; others are refused."""
        (v,) = (self.value(o) for o in operands)
        if (op == "double" and v.kind == "number") or (op == "string" and v.kind == "string"):
            return _V(v.sql, v.kind, v.mode, v.const, v.is_const, attribute=v.attribute)
        raise UntranslatableFilter(op, v.attribute, f"{op}() of a {v.kind} value: {_REFUSED[op]}")

    # timestamps and hierarchies

    def timestamp(self, op: str, operands: Sequence[Operand]) -> _V:
        (v,) = (self.value(o) for o in operands)
        if v.is_const and isinstance(v.const, str):
            nanos = _parse_timestamp(v.const)
            return _V(
                literal(_datetime(nanos), sqltypes.DateTime(timezone=True)),
                "timestamp",
                const=nanos,
                is_const=True,
            )
        if v.kind == "timestamp":
            return v
        raise UntranslatableFilter(
            "timestamp", v.attribute, "timestamp() of a string column (map a DateTime column instead)"
        )

    def hierarchy(self, op: str, operands: Sequence[Operand]) -> _V:
        if len(operands) != 1:
            raise UntranslatableFilter("hierarchy", "", "a custom delimiter")
        v = self.value(operands[0])
        if v.kind != "string":
            raise UntranslatableFilter("hierarchy", v.attribute, f"hierarchy of a {v.kind} value")
        return _V(v.sql, "hierarchy", v.mode, v.const, v.is_const, attribute=v.attribute)

    def hierarchy_relation(self, op: str, operands: Sequence[Operand]) -> _V:
        a, b = (self.value(o) for o in operands)
        if a.kind != "hierarchy" or b.kind != "hierarchy":
            raise UntranslatableFilter(
                op, a.attribute or b.attribute, "operands must be hierarchy(...) values"
            )
        if a.is_const == b.is_const:
            raise UntranslatableFilter(op, a.attribute or b.attribute, "exactly one side must be a constant")
        column, levels = (b, a.const.split(".")) if a.is_const else (a, b.const.split("."))
        column_first = not a.is_const
        return _V(_hierarchy_sql(op, column.sql, levels, column_first), "bool")

    # collections

    def quantifier(self, op: str, operands: Sequence[Operand]) -> _V:
        collection = self.value(operands[0])
        lam = operands[1]
        if not isinstance(lam, Expression) or lam.operator != "lambda" or len(lam.operands) != 2:
            raise UntranslatableFilter(op, collection.attribute, "expected a one-variable lambda")
        body, var = lam.operands
        if not isinstance(var, Variable):
            raise UntranslatableFilter(op, collection.attribute, "expected a lambda variable")
        if collection.kind == "list":
            results = [
                self._with(var.name, item, lambda: self.as_bool(self.value(body)))
                for item in collection.items
            ]
            return _V(_fold_list(op, results), "bool")
        if collection.kind == "relation":
            rel = collection.relation
            assert rel is not None
            element = self._element(rel, collection.attribute)
            predicate = self._with(var.name, element, lambda: self.as_bool(self.value(body)))
            return _V(_fold_relation(op, rel, predicate), "bool")
        raise UntranslatableFilter(
            op, collection.attribute, "a collection in a column (declare it as a Relation)"
        )

    def set_check(self, op: str, operands: Sequence[Operand]) -> _V:
        a, b = (self.value(o) for o in operands)
        rel, lit = (a, b) if a.kind == "relation" else (b, a)
        if rel.kind != "relation" or lit.kind != "list" or not all(i.is_const for i in lit.items):
            raise UntranslatableFilter(op, a.attribute or b.attribute, "needs a Relation and a constant list")
        assert rel.relation is not None
        if rel.relation.key is not None:
            raise UntranslatableFilter(op, rel.attribute, "a map (CEL defines it on lists)")
        element = self._element(rel.relation, rel.attribute)
        if op == "hasIntersection":
            found = self._any_row(rel.relation, lambda: self._in_list(element, lit.items), None)
            return _V(found, "bool")
        if rel is a:  # isSubset(relation, list): every element is in the list
            inside = self._in_list(element, lit.items)
            missing = _rows(rel.relation, or_(not_(inside), inside.is_(None)))
            return _V(not_(missing), "bool")
        checks = [self._any_row(rel.relation, lambda i=i: self.equal(element, i), None) for i in lit.items]
        return _V(and_(*checks) if checks else true(), "bool")

    def has(self, op: str, operands: Sequence[Operand]) -> _V:
        (o,) = operands
        if not isinstance(o, Variable):
            raise UntranslatableFilter("has", "", "has() of a computed value")
        v = self.variable(o.name)
        if v.kind == "relation" or v.mode == _VALUE:
            return _V(true(), "bool")  # always sent (possibly as null or an empty list)
        return _V(v.sql.is_not(None), "bool")

    # helpers

    def _with(self, name: str, value: _V, build: Callable[[], Any]) -> Any:
        saved = self.scope.get(name)
        self.scope[name] = value
        try:
            return build()
        finally:
            if saved is None:
                del self.scope[name]
            else:
                self.scope[name] = saved

    @staticmethod
    def _element(rel: Relation, attribute: str) -> _V:
        if rel.key is not None:  # a map's elements, for `in` and the quantifiers, are its keys
            if _nullable(rel.key):
                raise UntranslatableFilter("in", attribute, "a map's key column must be NOT NULL")
            return _V(rel.key, _kind_of(rel.key), _VALUE, attribute=attribute, relation=rel)
        mode = _VALUE if rel.null == EXPLICIT else _ERROR
        if rel.value is not None:
            return _V(rel.value, _kind_of(rel.value), mode, attribute=attribute, relation=rel)
        return _V(None, "element", mode, attribute=attribute, relation=rel, fields=rel.fields)

    def _any_row(self, rel: Relation, predicate: Callable[[], Any], needle: _V | None) -> Any:
        """CEL membership over a relation: true if an element matches, an error if the needle is one."""
        found = _rows(rel, predicate())
        if needle is not None and needle.mode == _ERROR and not needle.is_const:
            return case((needle.sql.is_(None), null()), else_=found)
        return found


def _nullable(column: Any) -> bool:
    return bool(getattr(getattr(column, "expression", column), "nullable", True))


def _rows(rel: Relation, condition: Any) -> Any:
    """``EXISTS`` a related row matching ``condition``, correlated to the resource row (never to itself)."""
    return (
        select(literal(1))
        .select_from(rel.table)
        .where(rel.join)
        .where(condition)
        .correlate_except(rel.table)
        .exists()
    )


def _fold_list(op: str, results: list[Any]) -> Any:
    """exists / all / exists_one over known elements (SQL's AND/OR are CEL's over errors)."""
    if op == "exists":
        return or_(*results) if results else false()
    if op == "all":
        return and_(*results) if results else true()
    if op == "exists_one":
        if not results:
            return false()
        count = sum((case((r, 1), else_=0) for r in results[1:]), case((results[0], 1), else_=0))
        return case((or_(*(r.is_(None) for r in results)), null()), else_=count == 1)
    raise UntranslatableFilter(op, "", "no exact SQL form over a constant list")


def _fold_relation(op: str, rel: Relation, predicate: Any) -> Any:
    """exists / all / exists_one over a relation's rows, errors included (a NULL predicate)."""

    def rows(condition: Any) -> Any:
        return _rows(rel, condition)

    if op == "exists":
        return case((rows(predicate), true()), (rows(predicate.is_(None)), null()), else_=false())
    if op == "all":
        return case((rows(not_(predicate)), false()), (rows(predicate.is_(None)), null()), else_=true())
    if op == "exists_one":
        count = (
            select(func.count())
            .select_from(rel.table)
            .where(rel.join)
            .where(predicate)
            .correlate_except(rel.table)
            .scalar_subquery()
        )
        return case((rows(predicate.is_(None)), null()), else_=count == 1)
    raise UntranslatableFilter(op, "", "no exact SQL form over a relation")


def _hierarchy_sql(op: str, column: Any, levels: list[str], column_first: bool) -> Any:
    """A relation between ``hierarchy(column)`` and a constant hierarchy, as string tests."""
    path = ".".join(levels)
    prefixes = [".".join(levels[:k]) for k in range(1, len(levels))]
    if not column_first:  # hierarchy(const).op(hierarchy(column)): the mirrored relation
        op = _MIRROR.get(op, op)

    def below() -> Any:  # column is a proper descendant of the constant
        return StringMatch("startsWith", column, path + ".")

    def child() -> Any:  # column is the constant plus one level
        rest = TextAfter(column, path + ".")
        return and_(below(), not_(StringMatch("contains", rest, ".")))

    if op == "ancestorOf":
        return _exact_in(column, prefixes) if prefixes else _known(column, false())
    if op == "descendentOf":
        return below()
    if op == "immediateParentOf":
        return _exact_in(column, [".".join(levels[:-1])]) if len(levels) > 1 else _known(column, false())
    if op == "immediateChildOf":
        return child()
    if op == "overlaps":
        return or_(_exact_in(column, [*prefixes, path]), below())
    if op == "siblingOf":
        if len(levels) == 1:
            return not_(StringMatch("contains", column, "."))
        parent = ".".join(levels[:-1])
        rest = TextAfter(column, parent + ".")
        return and_(StringMatch("startsWith", column, parent + "."), not_(StringMatch("contains", rest, ".")))
    raise UntranslatableFilter(op, "", "no exact SQL form")


def _exact_in(column: Any, values: Sequence[str]) -> Any:
    """``column IN values``, code point by code point (whatever the column's collation: the values are
    bound as plain strings, not with the column's type, which may name its collation)."""
    if len(values) == 1:
        value = literal(values[0], String())
        return ExactMatch(column == value, ExactText(column) == value)
    return ExactMatch(column.in_(values), ExactText(column).in_([literal(v, String()) for v in values]))


_MIRROR = {
    "ancestorOf": "descendentOf",
    "descendentOf": "ancestorOf",
    "immediateParentOf": "immediateChildOf",
    "immediateChildOf": "immediateParentOf",
}


def _known(column: Any, value: Any) -> Any:
    """``value`` where the column is not NULL, NULL (an error) where it is."""
    return case((column.is_(None), null()), else_=value)


def _unless_error(v: _V, value: Any) -> Any:
    if v.is_const or v.mode == _VALUE:
        return value
    return case((v.sql.is_(None), null()), else_=value)


def _comparable(a: str, b: str) -> bool:
    return a == b or {a, b} == {"string", "hierarchy"}


_KIND_NAMES = {
    "list": "list",
    "map": "map",
    "relation": "collection",
    "element": "collection element",
    "dyn": "column whose SQL type has no CEL type (map Integer, Float, String, Boolean or DateTime columns)",
}


def _operands(a: _V, b: _V) -> tuple[Any, Any]:
    """The SQL of two compared values, constants bound as the other side's column type.

    An integral constant below 2**53 against an integer column stays an integer (the comparison is
    the same as CEL's over doubles, and an index on the column stays usable); a timestamp constant
    takes the column's DateTime type (naive columns hold UTC).
    """
    return _bound(a, b), _bound(b, a)


def _bound(v: _V, other: _V) -> Any:
    if not v.is_const:
        # An integer column beside another column or a constant of 2**53 or more is compared as a
        # double, as the check compares it: SQLite compares integers with reals exactly, and both
        # databases compare two integers exactly (2**53 + 1 > 2**53 there, not in CEL).
        if _is_integer(v) and not (
            other.is_const and other.kind == "number" and _small_integral(other.const)
        ):
            return cast(v.sql, Double())
        return v.sql
    if other.is_const:
        return v.sql
    column_type = getattr(other.sql, "type", None)
    integral = v.kind == "number" and _small_integral(v.const)
    if integral and isinstance(column_type, sqltypes.Integer):
        return literal(int(v.const), column_type)
    if v.kind == "timestamp" and isinstance(column_type, sqltypes.DateTime):
        return _timestamp_literal(v.const, column_type)
    return v.sql


_FLIP = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}


def _timestamp_order(op: str, a: _V, b: _V) -> Any:
    """A DateTime column (microseconds) against an instant that may have nanoseconds, exactly.

    For a column value ``r`` (a whole number of microseconds) and an instant ``c``: ``r < c`` is
    ``r < ceil(c)``, ``r <= c`` is ``r <= floor(c)``, ``r > c`` is ``r > floor(c)``, ``r >= c`` is
    ``r >= ceil(c)`` (rounding ``c`` to microseconds).
    """
    column, constant = (b, a) if a.is_const else (a, b)
    if a.is_const:
        op = _FLIP[op]
    nanos = constant.const
    rounded = nanos - nanos % 1000 if op in ("le", "gt") else -((-nanos) // 1000) * 1000
    column_type = getattr(column.sql, "type", None)
    if not isinstance(column_type, sqltypes.DateTime):
        column_type = sqltypes.DateTime(timezone=True)
    value = _timestamp_literal(rounded, column_type)
    sql = column.sql
    return {"lt": sql < value, "le": sql <= value, "gt": sql > value, "ge": sql >= value}[op]


def _timestamp_literal(nanos: int, column_type: Any) -> Any:
    when = _datetime(nanos - nanos % 1000)
    return literal(when if column_type.timezone else when.replace(tzinfo=None), column_type)


def _datetime(nanos: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=nanos // 1000)


def _double(v: _V) -> Any:
    return v.sql if v.is_const else cast(v.sql, Double())


def _small_integral(value: Any) -> bool:
    """A whole number below 2**53: an integer column compares with it as with the double."""
    return float(value).is_integer() and abs(value) < 2**53


def _is_integer(v: _V) -> bool:
    """An integer column (its values above 2**53 are rounded when the check reads them as doubles)."""
    return (
        v.kind == "number" and not v.is_const and isinstance(getattr(v.sql, "type", None), sqltypes.Integer)
    )


def _bind(needle: _V, value: Any) -> Any:
    if needle.kind == "number":
        if _small_integral(value) and isinstance(getattr(needle.sql, "type", None), sqltypes.Integer):
            return int(value)
        return float(value)
    return value


def _kind_of(column: Any) -> str:
    type_ = getattr(column, "type", None)
    if isinstance(type_, sqltypes.Boolean):
        return "bool"
    if isinstance(type_, sqltypes.Integer | sqltypes.Float):
        return "number"
    if isinstance(type_, sqltypes.String | sqltypes.Enum):
        return "string"
    if isinstance(type_, sqltypes.DateTime):
        return "timestamp"
    return "dyn"


def _parse_timestamp(text: str) -> int:
    """An RFC 3339 timestamp (as CEL's ``timestamp()`` reads it) in nanoseconds since the epoch."""
    try:
        return int(parse_timestamp(text))
    except EvaluationError as exc:
        raise UntranslatableFilter("timestamp", "", f"{text!r}: {exc}") from None


def _first_attribute(expr: Expression) -> str:
    stack: list[Operand] = [expr]
    while stack:
        op = stack.pop()
        if isinstance(op, Variable):
            return op.name
        if isinstance(op, Expression):
            stack.extend(reversed(op.operands))
    return ""


#: Why an operator is refused (when it is: anything not in _HANDLERS is).
_REFUSED = {
    "matches": "RE2 regular expressions have no exact SQL equivalent",
    "int": "SQL CAST reads a numeric prefix and rounds where CEL demands the whole string and truncates",
    "double": "SQL CAST reads a numeric prefix where CEL demands the whole string",
    "string": "SQL renders numbers and booleans differently from CEL",
    "lowerAscii": "SQL lower() also folds non-ASCII letters",
    "upperAscii": "SQL upper() also folds non-ASCII letters",
    "get-field": "a field of a computed value",
    "filter": "filter() returns a list, not a boolean",
    "map": "map() returns a list, not a boolean",
    "transformList": "returns a list, not a boolean",
    "transformMap": "returns a map, not a boolean",
    "timeSince": "depends on the database's clock",
    "duration": "duration arithmetic differs between databases",
}

_HANDLERS: dict[str, Callable[[Translator, str, Sequence[Operand]], _V]] = {
    "and": Translator.logical,
    "or": Translator.logical,
    "not": Translator.logical,
    "eq": Translator.comparison,
    "ne": Translator.comparison,
    "lt": Translator.comparison,
    "le": Translator.comparison,
    "gt": Translator.comparison,
    "ge": Translator.comparison,
    "in": Translator.membership,
    "add": Translator.arithmetic,
    "sub": Translator.arithmetic,
    "mult": Translator.arithmetic,
    "div": Translator.arithmetic,
    "mod": Translator.arithmetic,
    "contains": Translator.string_match,
    "startsWith": Translator.string_match,
    "endsWith": Translator.string_match,
    "size": Translator.size,
    "timestamp": Translator.timestamp,
    "hierarchy": Translator.hierarchy,
    "ancestorOf": Translator.hierarchy_relation,
    "descendentOf": Translator.hierarchy_relation,
    "immediateParentOf": Translator.hierarchy_relation,
    "immediateChildOf": Translator.hierarchy_relation,
    "overlaps": Translator.hierarchy_relation,
    "siblingOf": Translator.hierarchy_relation,
    "if": Translator.conditional,
    "exists": Translator.quantifier,
    "all": Translator.quantifier,
    "exists_one": Translator.quantifier,
    "hasIntersection": Translator.set_check,
    "isSubset": Translator.set_check,
    "has": Translator.has,
    HOLDS: Translator.holds,
    "double": Translator.conversion,
    "string": Translator.conversion,
    "list": lambda t, op, operands: _V(None, "list", items=tuple(t.value(o) for o in operands)),
    "index": Translator.index,
    "struct": Translator.map_literal,
}

__all__ = ["EXPLICIT", "OMITTED", "Relation", "Translator", "UntranslatableFilter"]
