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
from typing import Any

from chamberlain.cel import EvaluationError, Program, compile
from chamberlain.cel.budget import EvaluationTimeout
from chamberlain.cel.cerbos_env import DECLARED_VARIABLES
from chamberlain.policy import model as m


class StrictEvaluationError(Exception):
    """A condition failed to evaluate while strict evaluation is on (aborts the rule)."""


class Evaluation:
    """Per-check evaluation state: the activation conditions read and the errors they raised."""

    __slots__ = ("activation", "errors", "strict")

    def __init__(self, activation: dict[str, Any], strict: bool):
        self.activation = activation
        self.strict = strict
        self.errors: dict[tuple[str, str], None] = {}

    def failed(self, expression: str, error: EvaluationError) -> None:
        """Record a CEL error for ``expression`` (raises under strict evaluation)."""
        self.errors[(expression, cel_message(error))] = None
        if self.strict:
            raise StrictEvaluationError(expression)


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
