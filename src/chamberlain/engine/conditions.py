"""Policy conditions compiled once into small closures, evaluated as Cerbos evaluates them.

A condition is a tree of ``match`` nodes (``expr``, or ``all``/``any``/``none`` of nodes). Each
``expr`` compiles once (the CEL compiler caches by text) and evaluates to true only when its
value is the boolean ``true``: any other value is false. A CEL error makes the expression false
and is recorded as an evaluation error (expression text and message, deduplicated); under
strict evaluation it instead aborts the rule (:class:`StrictEvaluationError`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chamberlain.cel import EvaluationError, Program, compile
from chamberlain.cel.budget import EvaluationTimeout
from chamberlain.cel.cerbos_env import DECLARED_VARIABLES
from chamberlain.cel.lib.hierarchy import Hierarchy
from chamberlain.cel.lib.spiffe import SpiffeID, SpiffeMatcher, SpiffeTrustDomain
from chamberlain.cel.values import CelType, Optional
from chamberlain.engine.activation import EMPTY_VARIABLES, Unconvertible, VariablesMap
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
                values[name] = variable_value(prog.evaluate(act))
            except EvaluationError as exc:
                self.errors[(text, cel_message(exc))] = None
                if not unset_on_error and not self.strict:
                    values[name] = None
        return view


class LazyVariables(VariablesMap):
    """A policy's variables (``V``) evaluated on first read, for the fast path (:class:`FastState`).

    Measured on the engine benchmark's invoice check: evaluating every variable of each policy up front
    was a fifth of the check, while its conditions read one. The values are exactly those of
    :meth:`Evaluation.evaluate_variables` with ``unset_on_error``: reading a name evaluates the variables
    in order up to its last definition, each seeing only those before it (a read during that evaluation
    never evaluates further), and a failing one is recorded and left unset. Only the errors of variables
    never read go unrecorded, which the fast path does not report.
    """

    __slots__ = ("_busy", "_ev", "_last", "_next", "_params")

    def __init__(self, ev: Evaluation, params: Params):
        self._values = {}
        self._ev = ev
        self._params = params
        last = _LAST_DEFINITION.get(params)
        if last is None:
            last = {name: i for i, (name, _, _) in enumerate(params.variables)}
            if len(_LAST_DEFINITION) >= 4096:
                _LAST_DEFINITION.clear()
            _LAST_DEFINITION[params] = last
        self._last = last
        self._next = 0  # the variables before this one are evaluated
        self._busy = False  # evaluating one now: only those before it are visible

    def _upto(self, key: Any) -> None:
        last = self._last.get(key) if type(key) is str else None
        if last is None or last < self._next or self._busy:
            return
        variables = self._params.variables
        ev = self._ev
        act = ev.activation
        saved = act["constants"], act["variables"]
        act["constants"] = act["C"] = self._params.constants
        act["variables"] = act["V"] = self
        self._busy = True
        try:
            values = self._values
            while self._next <= last:
                name, prog, text = variables[self._next]
                self._next += 1
                try:
                    values[name] = variable_value(prog.evaluate(act))
                except EvaluationError as exc:
                    ev.errors[(text, cel_message(exc))] = None
        finally:
            self._busy = False
            act["constants"] = act["C"] = saved[0]
            act["variables"] = act["V"] = saved[1]

    def _all(self) -> None:
        for key in self._last:
            self._upto(key)

    def __getitem__(self, key: str) -> Any:
        self._upto(key)  # always: a name defined twice has its first value before its last
        value = self._values[key]
        if type(value) is Unconvertible:  # readable(), inline: every variable read of a check comes here
            raise EvaluationError(value.message)
        return value

    def __iter__(self) -> Iterator[str]:
        self._all()
        return iter(self._values)

    def __len__(self) -> int:
        self._all()
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        self._upto(key)
        return key in self._values

    def cel_select(self, field: str) -> Any:
        self._upto(field)
        return super().cel_select(field)

    def cel_has(self, field: str) -> bool:
        self._upto(field)
        return field in self._values

    def __repr__(self) -> str:
        self._all()
        return f"VariablesMap({self._values!r})"


_LAST_DEFINITION: dict[Params, dict[str, int]] = {}  # per policy's params: each name's last definition


def variable_value(value: Any) -> Any:
    """A variable's value as later expressions see it: Cerbos keeps each variable as its Go native
    value (``ref.Val.Value()``) and adapts it back, so a top-level hierarchy becomes its list of
    levels, a type value its name and an optional its value (``null`` when empty); a SPIFFE ID, trust
    domain or matcher has no way back (reading the variable is an error); the rest round-trip."""
    kind = type(value)
    if kind is Hierarchy:
        return list(value.levels)
    if kind is CelType:
        return value.name
    if kind is Optional:
        return variable_value(value._value) if value.has_value() else None
    if kind is SpiffeID:
        return Unconvertible(f"unsupported conversion to ref.Val: (spiffeid.ID){value.text}")
    if kind is SpiffeTrustDomain:
        return Unconvertible(f"unsupported conversion to ref.Val: (spiffeid.TrustDomain){value.name}")
    if kind is SpiffeMatcher:  # Go prints the matcher function's address
        return Unconvertible("unsupported conversion to ref.Val: (spiffeid.Matcher)0x0")
    return value


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
    #: The expressions (stripped) when the tree is one expression or nested ``all`` of them: then the
    #: condition holding means each of them held, without error, and explaining it needs no evaluation.
    conjunction: tuple[str, ...] | None = None

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
    return Condition(_compile(condition.match), condition.match, conjunction=_conjunction(condition.match))


def _conjunction(match: m.Match) -> tuple[str, ...] | None:
    if match.op == "expr":
        return (match.expr.strip(),)
    if match.op != "all":
        return None
    parts: list[str] = []
    for sub in match.of:
        inner = _conjunction(sub)
        if inner is None:
            return None
        parts.extend(inner)
    return tuple(parts)


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
