"""Checking one CEL condition the way Cerbos's compiler does: does it compile (parses, names known
fields and functions, type-checks: :mod:`chamberlain.policy.cel_types`), and which constants
(``C.x`` / ``constants.x``) and variables (``V.x`` / ``variables.x``) does it reference?

The engine compiles the same expressions with the same declared variables, so the programs
compiled here are the ones it uses (``chamberlain.cel`` caches them by text).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from chamberlain.caches import memoize
from chamberlain.cel import CompileError, ast, compile
from chamberlain.cel.cerbos_env import DECLARED_VARIABLES
from chamberlain.cel.compiler import Options, build
from chamberlain.cel.parser import parse
from chamberlain.policy.cel_types import type_errors

_CONSTANT_ROOTS = frozenset({"C", "constants"})
_VARIABLE_ROOTS = frozenset({"V", "variables"})
_MAP_ROOTS = frozenset({"C", "constants", "V", "variables", "G", "globals"})
# The fields of the messages Cerbos declares (its type checker knows them): a field name maps to its
# message, or to "" for a value (a map, list or scalar) whose fields are not checked. ``jwts`` is a
# map of messages: ``"*"`` stands for any key.
_VERSION_AND_SCOPE = {"attr": "", "policyVersion": "", "policy_version": "", "scope": ""}
_MESSAGES: dict[str, dict[str, str]] = {
    "principal": {"id": "", "roles": "", **_VERSION_AND_SCOPE},
    "resource": {"kind": "", "id": "", **_VERSION_AND_SCOPE},
    "request": {"principal": "principal", "resource": "resource", "aux_data": "aux", "auxData": "aux"},
    # delegation, session, approval: chamberlain's extensions of the aux data (see DESIGN.md)
    "aux": {"jwt": "", "jwts": "jwts", "delegation": "", "session": "", "approval": ""},
    "jwts": {"*": "jwt"},
    "jwt": {"claims": ""},
    "runtime": {"effectiveDerivedRoles": "", "effective_derived_roles": ""},
}
_ROOT_MESSAGES = {"P": "principal", "R": "resource", "request": "request", "runtime": "runtime"}
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter", "transformList", "transformMap"})


@dataclass(frozen=True, slots=True)
class ExprCheck:
    """The outcome of checking one expression: ``errors`` (empty when it compiles) and references."""

    errors: tuple[str, ...]
    constants: frozenset[str]
    variables: frozenset[str]


@memoize(max_bytes=64 << 20, max_entries=65536, cost=lambda text, check: 512 + 4 * len(text))
def check_expression(expr: str) -> ExprCheck:
    """Compile ``expr`` in Cerbos's environment and list the constants and variables it references."""
    try:
        tree = parse(expr)
    except CompileError as exc:
        return ExprCheck((exc.reason,), frozenset(), frozenset())
    constants: set[str] = set()
    variables: set[str] = set()
    errors: list[str] = []
    nodes = list(_nodes(tree))
    _walk(nodes, constants, variables, errors)
    errors.extend(_undefined_fields(nodes))
    if not errors:
        errors.extend(type_errors(tree))
    if not errors:
        try:
            compile(expr, variables=DECLARED_VARIABLES)
        except CompileError as exc:
            errors.extend(_compile_errors(tree, expr, exc))
    return ExprCheck(tuple(errors), frozenset(constants), frozenset(variables))


_UNDECLARED = "undeclared reference to '"
#: How many undeclared names of one expression are looked for (cel-go reports up to 100 errors).
_MAX_UNDECLARED = 100


def _compile_errors(tree: ast.Expr, expr: str, first: CompileError) -> list[str]:
    """The compile errors of ``expr``, whose compilation stopped at ``first``: cel-go's checker reports
    every undeclared name and function, each time it appears, in source order
    (``principal.attr.dept == resource.attr.dept`` names ``principal`` and then ``resource``), where the
    compiler stops at the first. Each one found is replaced (a name by ``null``, a call by the list of
    its target and arguments, whose names are still checked) and the rest compiled again."""
    if not first.reason.startswith(_UNDECLARED):
        return [first.reason]
    found = [(first.offset, first.reason)]
    options = Options(variables=frozenset(DECLARED_VARIABLES))
    for _ in range(_MAX_UNDECLARED - 1):
        offset, reason = found[-1]
        name = reason[len(_UNDECLARED) :].split("'", 1)[0]
        tree, replaced = _replace_reference(tree, offset, name)
        if not replaced:
            break
        try:
            build(tree, expr, options, fast=False)
        except CompileError as exc:
            if not exc.reason.startswith(_UNDECLARED):
                break
            found.append((exc.offset, exc.reason))
            continue
        break
    return [reason for _, reason in sorted(found, key=lambda f: -1 if f[0] is None else f[0])]


def _replace_reference(node: Any, offset: int | None, name: str) -> tuple[Any, bool]:
    """``node`` with the name or call ``name`` at ``offset`` replaced, and whether it was found."""
    if isinstance(node, ast.Ident) and node.pos == offset and node.name == name:
        return ast.Literal(node.pos, None), True
    if isinstance(node, ast.Call) and node.pos == offset and node.function == name:
        parts = node.args if node.target is None else (node.target, *node.args)
        return ast.ListExpr(node.pos, tuple(parts)), True
    if not dataclasses.is_dataclass(node) or isinstance(node, type):
        return node, False
    changes: dict[str, Any] = {}
    for field in _field_names(type(node)):
        value = getattr(node, field)
        if isinstance(value, tuple):
            items = [_replace_reference(v, offset, name) for v in value]
            if any(done for _, done in items):
                changes[field] = tuple(v for v, _ in items)
        elif dataclasses.is_dataclass(value):
            new, done = _replace_reference(value, offset, name)
            if done:
                changes[field] = new
        if changes:
            return dataclasses.replace(node, **changes), True
    return node, False


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _nodes(tree: Any) -> Any:
    """Every expression node of ``tree`` (map entries' and struct field initialisers' too)."""
    stack = [tree]
    while stack:
        current = stack.pop()
        yield current
        for name in _field_names(type(current)):
            value = getattr(current, name)
            if isinstance(value, ast.Expr):
                stack.append(value)
            elif isinstance(value, tuple):
                for v in value:
                    if isinstance(v, ast.Expr):
                        stack.append(v)
                    elif dataclasses.is_dataclass(v):
                        stack.extend(
                            getattr(v, g)
                            for g in _field_names(type(v))
                            if isinstance(getattr(v, g), ast.Expr)
                        )


def _walk(nodes: list[Any], constants: set[str], variables: set[str], errors: list[str]) -> None:
    for current in nodes:
        if isinstance(current, ast.Select) and isinstance(current.operand, ast.Ident):
            root = current.operand.name
            if root in _CONSTANT_ROOTS:
                constants.add(current.field)
            elif root in _VARIABLE_ROOTS:
                variables.add(current.field)
        elif isinstance(current, ast.Call) and current.function in ("_[_]", "_[?_]") and current.args:
            target = current.args[0]
            if isinstance(target, ast.Ident) and target.name in _MAP_ROOTS:
                errors.append(
                    f"found no matching overload for '_[_]' applied to '(cerbos.Variables, ...)': write {target.name}.name instead of {target.name}[...]"
                )


def _undefined_fields(nodes: list[Any]) -> list[str]:
    """Cerbos's ``undefined field 'x'`` for a selection of a field its messages (``P``, ``R``, ``request``,
    ``runtime`` and their parts) do not have; roots rebound by a comprehension are not checked.
    ``nodes``: every node of the expression."""
    selections = [n for n in nodes if isinstance(n, ast.Select)]
    bound = {
        n.args[0].name
        for n in nodes
        if isinstance(n, ast.Call) and n.function in _MACROS and n.args and isinstance(n.args[0], ast.Ident)
    }
    errors = []
    for select in sorted(selections, key=lambda s: s.pos):
        message = _message_of(select.operand, bound)
        if message and select.field not in _MESSAGES[message] and "*" not in _MESSAGES[message]:
            errors.append(f"undefined field '{select.field}'")
    return errors


def _message_of(node: Any, bound: set[str]) -> str:
    """The Cerbos message ``node`` evaluates to, or "" when unknown (or not a message)."""
    if isinstance(node, ast.Ident):
        return "" if node.name in bound or node.absolute else _ROOT_MESSAGES.get(node.name, "")
    if isinstance(node, ast.Select) and not node.optional:
        message = _message_of(node.operand, bound)
        fields = _MESSAGES.get(message, {})
        return fields.get(node.field, fields.get("*", ""))
    return ""
