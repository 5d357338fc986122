"""Policy conditions compiled once into small closures, evaluated as Cerbos evaluates them.

A condition is a tree of ``match`` nodes (``expr``, or ``all``/``any``/``none`` of nodes). Each
``expr`` compiles once (the CEL compiler caches by text) and evaluates to true only when its
value is the boolean ``true``: any other value is false. A CEL error makes the expression false
and is recorded as an evaluation error (expression text and message, deduplicated); under
strict evaluation it instead aborts the rule (:class:`StrictEvaluationError`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chamberlain.cel import EvaluationError, Program, compile
from chamberlain.cel.budget import EvaluationTimeout
from chamberlain.cel.cerbos_env import DECLARED_VARIABLES
from chamberlain.engine.activation import EMPTY_VARIABLES, VariablesMap
from chamberlain.policy import model as m

if TYPE_CHECKING:
    from chamberlain.engine.ruletable import Params


class StrictEvaluationError(Exception):
    """A condition failed to evaluate while strict evaluation is on (aborts the rule)."""


class Evaluation:
    """Per-check evaluation state: the activation conditions read, the constants and variables it
    shows (``C``/``V``: each policy's variables evaluated once per check) and the errors raised."""

    __slots__ = ("activation", "errors", "params", "strict", "var_cache")

    def __init__(self, activation: dict[str, Any], strict: bool):
        self.activation = activation
        self.strict = strict
        self.errors: dict[tuple[str, str], None] = {}
        self.params: Params | None = None  # whose constants and variables C and V show now
        self.var_cache: dict[Any, VariablesMap] = {}

    def failed(self, expression: str, error: EvaluationError) -> None:
        """Record a CEL error for ``expression`` (raises under strict evaluation)."""
        self.errors[(expression, cel_message(error))] = None
        if self.strict:
            raise StrictEvaluationError(expression)

    def use_params(self, params: Params) -> None:
        """Point ``C``/``V`` at a policy's constants and (evaluated once per check) variables."""
        if params is self.params:
            return
        act = self.activation
        act["constants"] = act["C"] = params.constants
        if not params.variables:
            act["variables"] = act["V"] = EMPTY_VARIABLES
        else:
            values = self.var_cache.get(params)
            if values is None:
                values = self.var_cache[params] = self.evaluate_variables(params, unset_on_error=True)
            act["variables"] = act["V"] = values
        self.params = params

    def evaluate_variables(self, params: Params, *, unset_on_error: bool) -> VariablesMap:
        """A policy's variables in order, each seeing those before it; a failing one is recorded and
        left unset (``unset_on_error``, as rules see it) or ``null`` (derived roles, non-strict)."""
        self.params = None  # C and V now point elsewhere
        act = self.activation
        act["constants"] = act["C"] = params.constants
        values: dict[str, Any] = {}
        view = VariablesMap.__new__(VariablesMap)
        view._values = values  # the variables evaluated so far, without copying
        act["variables"] = act["V"] = view
        for name, prog, text in params.variables:
            try:
                values[name] = prog.evaluate(act)
            except EvaluationError as exc:
                self.errors[(text, cel_message(exc))] = None
                if not unset_on_error and not self.strict:
                    values[name] = None
        return view


def cel_message(error: BaseException) -> str:
    """The message of a CEL error, which chamberlain.cel words as cel-go does (``no such key: x``)."""
    return str(error)


def program(expression: str) -> Program:
    """The compiled CEL program for a condition, output or variable expression."""
    return compile(expression, variables=DECLARED_VARIABLES)


Check = Callable[[Evaluation], bool]


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled condition: ``test(evaluation) -> bool`` and the source ``match`` it came from."""

    test: Check
    match: m.Match | None  # None for the synthetic "none of" wrappers
    negated: Condition | None = None  # for "none of [x]" wrappers: x

    def explain(self, activation: Mapping[str, Any]) -> list[ExprOutcome]:
        """Re-evaluate each expression of the tree against ``activation``: which held, which failed."""
        if self.negated is not None:
            return self.negated.explain(activation)
        out: list[ExprOutcome] = []
        if self.match is not None:
            _explain(self.match, activation, out)
        return out


@dataclass(frozen=True, slots=True)
class ExprOutcome:
    """One expression of a condition and what it gave: ``held``, or ``error`` (a CEL error message)."""

    expression: str
    held: bool
    error: str = ""


def _explain(match: m.Match, activation: Mapping[str, Any], out: list[ExprOutcome]) -> None:
    if match.op == "expr":
        try:
            value = program(match.expr).evaluate(activation)
        except EvaluationError as exc:
            out.append(ExprOutcome(match.expr, False, cel_message(exc)))
            return
        except EvaluationTimeout as exc:
            out.append(ExprOutcome(match.expr, False, str(exc)))
            return
        out.append(ExprOutcome(match.expr, value is True))
        return
    for sub in match.of:
        _explain(sub, activation, out)


def compile_condition(condition: m.Condition | None) -> Condition | None:
    """The compiled form of a rule's condition (``None`` when the rule has none)."""
    if condition is None or condition.match is None:
        return None
    return Condition(_compile(condition.match), condition.match)


def none_of(condition: Condition) -> Condition:
    """``none: [condition]`` — how Cerbos turns a conditional ALLOW into a DENY."""
    inner = condition.test

    def test(ev: Evaluation) -> bool:
        return not inner(ev)

    return Condition(test, None, condition)


def _compile(match: m.Match) -> Check:
    if match.op == "expr":
        return _expression(match.expr)
    parts = tuple(_compile(sub) for sub in match.of)
    if match.op == "all":
        return lambda ev: all(part(ev) for part in parts)
    if match.op == "any":
        return lambda ev: any(part(ev) for part in parts)
    return lambda ev: not any(part(ev) for part in parts)


def _expression(text: str) -> Check:
    prog = program(text)

    def test(ev: Evaluation) -> bool:
        try:
            return prog.evaluate(ev.activation) is True
        except EvaluationError as exc:
            ev.failed(text, exc)
            return False

    return test
