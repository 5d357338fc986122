"""``compile(text) -> Program`` and ``Program.evaluate(activation)``: the public face of the compiler."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from chamberlain.caches import memoize
from chamberlain.cel.ast import Expr
from chamberlain.cel.compiler import Options, build
from chamberlain.cel.errors import CompileError, EvaluationError
from chamberlain.cel.parser import parse
from chamberlain.cel.runtime import as_error


class Program:
    """A compiled CEL expression. Safe to share between threads.

    ``evaluate(activation)`` returns the expression's value for ``activation`` or raises
    :class:`EvaluationError`. It is the generated function itself (no method-call layer), since
    on the hot path every call counts. The fast function is generated on the first evaluation:
    compiling a large policy set then pays only for parsing and the exact path, which is what
    checks the expression, and conditions never evaluated cost nothing more.
    """

    __slots__ = ("_exact", "_options", "_tree", "evaluate", "exact_source", "expression", "fast_source")

    def __init__(
        self, expression: str, tree: Expr, options: Options, exact: Callable[[Any], Any], exact_source: str
    ):
        self.expression = expression
        self.exact_source = exact_source
        self.fast_source = ""
        self._tree = tree
        self._options = options
        self._exact = exact
        self.evaluate: Callable[[Mapping[str, Any]], Any] = self._first_evaluate

    def _first_evaluate(self, activation: Mapping[str, Any]) -> Any:
        self.warm_up()
        return self.evaluate(activation)

    def warm_up(self) -> None:
        """Generate the fast function now (otherwise the first evaluation does)."""
        if self.evaluate != self._first_evaluate:
            return
        try:
            fast, self.fast_source = build(
                self._tree, self.expression, self._options, fast=True, exact=self._exact
            )
        except (SyntaxError, RecursionError, MemoryError):
            fast = self._exact  # beyond CPython's limits for inline code: the exact path only
        self.evaluate = fast

    def __repr__(self) -> str:
        return f"Program({self.expression!r})"


def _checked(exact: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The exact path, with anything unexpected turned into an EvaluationError."""

    def evaluate_exactly(activation: Mapping[str, Any]) -> Any:
        try:
            return exact(activation)
        except EvaluationError:
            raise
        except Exception as exc:
            raise as_error(exc) from None

    return evaluate_exactly


def compile(
    expression: str,
    *,
    container: str = "",
    disable_macros: bool = False,
    variables: Iterable[str] | None = None,
    check: bool = True,
) -> Program:
    """Compile a CEL expression (cached by text and options).

    ``variables``: the declared variable names; with them, an undeclared name is a compile error
    and dotted names resolve at compile time. Without them, names resolve against the activation.
    ``container``: the namespace names are resolved in (``a.b`` tries ``a.b.x``, ``a.x``, ``x``).
    ``check=False``: an unknown function is an evaluation error rather than a compile error
    (CEL's unchecked mode, for conformance with the spec's ``disable_check`` cases).
    """
    if not isinstance(expression, str):
        raise CompileError(f"expression must be a string, got {type(expression).__name__}")
    declared = frozenset(variables) if variables is not None else None
    return _compile_cached(expression, Options(container, disable_macros, declared, check))


def _program_cost(key: tuple[str, Options], program: Program) -> int:
    """Measured: a compiled program keeps about 90 bytes per character of its expression (the tree,
    the generated source and code of both paths)."""
    return 2048 + 100 * len(key[0])


# Large enough for every distinct condition of a big policy set (10,000 policies compile each of
# theirs once: validation and the engine share the cached program), bounded by what the programs
# keep (expressions of any length: the CLI's, a reloaded set's).
@memoize(max_bytes=256 << 20, max_entries=65536, cost=_program_cost)
def _compile_cached(expression: str, options: Options) -> Program:
    tree = parse(expression)
    exact, exact_source = build(tree, expression, options, fast=False)
    return Program(expression, tree, options, _checked(exact), exact_source)
