"""Which principal and resource attributes a check read: found statically in the CEL it evaluated.

For each rule row the check evaluated, the expressions of its condition, of its derived role's
condition and of the variables either uses are parsed (once per row) and searched for
``R.attr.x``, ``request.resource.attr["x"]``, ``P.attr.x`` and the like. An attribute map used any
other way (passed whole to a function, indexed by a computed key) counts as reading every attribute.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chamberlain.cel import CelError
from chamberlain.cel import ast as a
from chamberlain.cel.parser import parse

ALL: frozenset[str] = frozenset({"\0all"})  # marker: every attribute
_NONE: frozenset[str] = frozenset()
_ROOTS = {"R": "resource", "P": "principal"}
_INDEX = ("_[_]", "_[?_]")
_CACHE_LIMIT = 65536


@dataclass(frozen=True, slots=True)
class Reads:
    """Attribute names read of the resource and the principal (:data:`ALL` for every one)."""

    resource: frozenset[str] = _NONE
    principal: frozenset[str] = _NONE

    def __or__(self, other: Reads) -> Reads:
        return Reads(_union(self.resource, other.resource), _union(self.principal, other.principal))


NOTHING = Reads()
_EVERYTHING = Reads(ALL, ALL)
_by_text: dict[str, Reads] = {}
_by_row: dict[Any, Reads] = {}


def _union(x: frozenset[str], y: frozenset[str]) -> frozenset[str]:
    if x is ALL or y is ALL:
        return ALL
    return x | y if y else x


def pick(attrs: dict[str, Any], names: frozenset[str]) -> dict[str, Any]:
    """The attributes among ``attrs`` that ``names`` says were read."""
    if names is ALL:
        return attrs
    return {k: attrs[k] for k in names if k in attrs} if names else {}


def expression_reads(text: str) -> Reads:
    """What one CEL expression reads (cached by text); an unparsable one counts as reading everything."""
    found = _by_text.get(text)
    if found is None:
        try:
            tree = parse(text)
        except CelError:
            found = _EVERYTHING
        else:
            names: dict[str, set[str] | None] = {"resource": set(), "principal": set()}
            _walk(tree, names)
            found = Reads(_frozen(names["resource"]), _frozen(names["principal"]))
        if len(_by_text) >= _CACHE_LIMIT:
            _by_text.clear()
        _by_text[text] = found
    return found


def row_reads(row: Any) -> Reads:
    """What evaluating one rule table row reads (its condition, derived role and variables)."""
    found = _by_row.get(row)
    if found is None:
        found = NOTHING
        for text in _row_expressions(row):
            found = found | expression_reads(text)
        if len(_by_row) >= _CACHE_LIMIT:
            _by_row.clear()
        _by_row[row] = found
    return found


def rows_reads(rows: Iterable[Any]) -> Reads:
    found = NOTHING
    for row in rows:
        found = found | row_reads(row)
    return found


_listed: dict[tuple[Any, ...], dict[str, Any]] = {}


def read_names(rows: tuple[Any, ...]) -> dict[str, Any]:
    """``{"principal": names, "resource": names}`` as an entry's ``read`` shows what ``rows`` read (sorted
    lists, or ``"*"`` for every attribute); cached by rows, so callers must not change the result."""
    found = _listed.get(rows)
    if found is None:
        reads = rows_reads(rows)
        found = {"principal": _listing(reads.principal), "resource": _listing(reads.resource)}
        if len(_listed) >= _CACHE_LIMIT:
            _listed.clear()
        _listed[rows] = found
    return found


def _listing(names: frozenset[str]) -> list[str] | str:
    return "*" if names is ALL else sorted(names)


def _row_expressions(row: Any) -> Iterable[str]:
    condition = row.condition
    yield from _condition_expressions(condition)
    yield from (text for _, _, text in row.params.variables)
    dr = row.derived_role
    if dr is not None:
        yield from _condition_expressions(dr.condition)
        yield from (text for _, _, text in dr.params.variables)


def _condition_expressions(condition: Any) -> Iterable[str]:
    while condition is not None and condition.negated is not None:
        condition = condition.negated
    if condition is not None and condition.match is not None:
        yield from _match_expressions(condition.match)


def _match_expressions(match: Any) -> Iterable[str]:
    if match.op == "expr":
        yield match.expr
    for sub in match.of:
        yield from _match_expressions(sub)


def _frozen(names: set[str] | None) -> frozenset[str]:
    return ALL if names is None else frozenset(names)


def _root(node: a.Expr) -> str | None:
    """``resource``/``principal`` when ``node`` is ``R``/``P`` or ``request.resource``/``request.principal``."""
    if isinstance(node, a.Ident):
        return _ROOTS.get(node.name)
    if isinstance(node, a.Select) and isinstance(node.operand, a.Ident) and node.operand.name == "request":
        return node.field if node.field in ("resource", "principal") else None
    return None


def _attr_map(node: a.Expr) -> str | None:
    """Which attribute map ``node`` is (``R.attr``, ``request.principal.attr``, ...), if any."""
    if isinstance(node, a.Select) and node.field == "attr":
        return _root(node.operand)
    return None


def _walk(node: Any, names: dict[str, set[str] | None]) -> None:
    if isinstance(node, a.Select):
        owner = _attr_map(node.operand)
        if owner is not None:
            _add(names, owner, node.field)
            return
        owner = _attr_map(node)
        if owner is not None:  # the whole map, not one of its fields
            names[owner] = None
            return
        if _root(node.operand) is not None:  # R.id, request.principal.roles: no attributes
            return
        owner = _root(node)
        if owner is not None:  # request.resource used whole
            names[owner] = None
            return
        if isinstance(node.operand, a.Ident) and node.operand.name == "request":
            return  # request.aux_data and the like
        _walk(node.operand, names)
        return
    if isinstance(node, a.Call):
        if node.function in _INDEX and len(node.args) == 2:
            owner = _attr_map(node.args[0])
            key = node.args[1]
            if owner is not None:
                if isinstance(key, a.Literal) and isinstance(key.value, str):
                    _add(names, owner, key.value)
                else:
                    names[owner] = None
                _walk(key, names)
                return
        if node.target is not None:
            _walk(node.target, names)
        for arg in node.args:
            _walk(arg, names)
        return
    if isinstance(node, a.Ident):
        owner = _ROOTS.get(node.name)
        if owner is not None:  # R or P used whole
            names[owner] = None
        elif node.name == "request":
            names["resource"] = names["principal"] = None
        return
    if isinstance(node, a.ListExpr):
        for element in node.elements:
            _walk(element, names)
    elif isinstance(node, a.MapExpr):
        for entry in node.entries:
            _walk(entry.key, names)
            _walk(entry.value, names)
    elif isinstance(node, a.StructExpr):
        for init in node.fields:
            _walk(init.value, names)


def _add(names: dict[str, set[str] | None], owner: str, name: str) -> None:
    found = names[owner]
    if found is not None:
        found.add(name)
