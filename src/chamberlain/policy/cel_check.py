"""Checking one CEL condition the way Cerbos's compiler does: does it compile, and which
constants (``C.x`` / ``constants.x``) and variables (``V.x`` / ``variables.x``) does it reference?

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
from chamberlain.cel.parser import parse

_CONSTANT_ROOTS = frozenset({"C", "constants"})
_VARIABLE_ROOTS = frozenset({"V", "variables"})
_MAP_ROOTS = frozenset({"C", "constants", "V", "variables", "G", "globals"})


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
    _walk(tree, constants, variables, errors)
    if not errors:
        try:
            compile(expr, variables=DECLARED_VARIABLES)
        except CompileError as exc:
            errors.append(exc.reason)
    return ExprCheck(tuple(errors), frozenset(constants), frozenset(variables))


def _walk(node: Any, constants: set[str], variables: set[str], errors: list[str]) -> None:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Select) and isinstance(current.operand, ast.Ident):
            root = current.operand.name
            if root in _CONSTANT_ROOTS:
                constants.add(current.field)
            elif root in _VARIABLE_ROOTS:
                variables.add(current.field)
        elif isinstance(current, ast.Call) and current.function in ("_[_]", "_[?_]") and current.args:
            target = current.args[0]
            if isinstance(target, ast.Ident) and target.name in _MAP_ROOTS:
                errors.append(f"found no matching overload for '_[_]' applied to '(cerbos.Variables, ...)': write {target.name}.name instead of {target.name}[...]")  # fmt: skip
        for f in dataclasses.fields(current):
            value = getattr(current, f.name)
            if isinstance(value, ast.Expr):
                stack.append(value)
            elif isinstance(value, tuple):
                stack.extend(v for v in value if isinstance(v, ast.Expr))
                for v in value:  # map entries and struct field initialisers hold expressions
                    if dataclasses.is_dataclass(v) and not isinstance(v, ast.Expr):
                        stack.extend(getattr(v, g.name) for g in dataclasses.fields(v) if isinstance(getattr(v, g.name), ast.Expr))  # fmt: skip
