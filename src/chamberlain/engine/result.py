"""What a check returns: per action the effect and the policy and scope that decided it, plus
outputs, effective derived roles, validation and evaluation errors, and an explanation.

The hot path only stores references (the deciding row, the rows it evaluated); explanations
are rendered on demand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chamberlain.cel.budget import EVALUATION_TIMEOUT
from chamberlain.engine.conditions import ExprOutcome
from chamberlain.engine.names import NO_MATCH
from chamberlain.policy.model import EFFECT_ALLOW, EFFECT_DENY
from chamberlain.text import printable

if TYPE_CHECKING:
    from chamberlain.engine.ruletable import Row


# What the trace says of each row a check evaluated (Cerbos's tracer: activated, or why skipped).
HELD = "held"
CONDITION_NOT_MET = "did not hold"
DERIVED_ROLE_NOT_MET = "derived role did not hold"
FAILED = "failed to evaluate"
LIFTED = "held, lifted by an approval"


@dataclass(slots=True)
class ActionEffect:
    """The decision for one action: effect, the deciding policy key and scope, and rule row."""

    effect: str = EFFECT_DENY
    policy: str = NO_MATCH
    scope: str = ""
    row: Row | None = None

    @property
    def allowed(self) -> bool:
        return self.effect == EFFECT_ALLOW

    @property
    def rule(self) -> str:
        """The deciding rule's name (``rule-001`` when unnamed), or ``""``."""
        return self.row.name if self.row is not None else ""

    def __repr__(self) -> str:
        rule = f", rule={self.rule!r}" if self.rule else ""
        return f"ActionEffect({self.effect!r}, policy={self.policy!r}{rule})"


@dataclass(frozen=True, slots=True)
class OutputEntry:
    """An output: ``src`` (``<policy key>#<rule>``), the action, and its value or error."""

    src: str
    action: str
    val: Any = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class ValidationError:
    """A schema violation: ``source`` is ``SOURCE_PRINCIPAL`` or ``SOURCE_RESOURCE``."""

    path: str
    message: str
    source: str


@dataclass(frozen=True, slots=True)
class ExpressionError:
    """A CEL error raised by a condition or variable (the condition then counted as false)."""

    expression: str
    message: str


@dataclass(frozen=True, slots=True)
class RuleTrace:
    """One rule the check evaluated for an action, and whether its condition held.

    ``outcome``: :data:`HELD`, :data:`CONDITION_NOT_MET`, :data:`DERIVED_ROLE_NOT_MET` (the rule's
    derived role did not hold, so its condition was not evaluated), :data:`FAILED` (strict
    evaluation) or :data:`LIFTED`.
    """

    action: str
    policy: str
    scope: str
    rule: str
    effect: str
    outcome: str
    role: str
    derived_role: str

    @property
    def satisfied(self) -> bool | None:
        """Whether the rule applied; ``None`` when its condition failed to evaluate."""
        return None if self.outcome == FAILED else self.outcome in (HELD, LIFTED)


@dataclass(frozen=True, slots=True)
class ActionExplanation:
    """Why an action got its effect."""

    action: str
    effect: str
    policy: str
    scope: str
    rule: str
    rule_effect: str
    conditions: tuple[ExprOutcome, ...]
    evaluated: tuple[RuleTrace, ...]

    def __str__(self) -> str:
        where = f"{self.policy}" + (f" (scope {self.scope!r})" if self.scope else "")
        rule = f" rule {self.rule!r} ({self.rule_effect})" if self.rule else " no rule matched"
        if self.policy == EVALUATION_TIMEOUT:
            rule = ": the conditions ran out of time before this action was decided"
        lines = [f"{self.action}: {self.effect} by {where}{rule}"]
        for c in self.conditions:
            state = f"error: {c.error}" if c.error else ("held" if c.held else "did not hold")
            lines.append(f"    {c.expression.strip()} -> {state}")
        if not self.rule:  # a default DENY: say which rules were tried and why none applied
            for t in self.evaluated:
                via = f"derived role {t.derived_role}" if t.derived_role else f"role {t.role}"
                lines.append(
                    f"    tried {t.policy} rule {t.rule!r} ({t.effect or 'no effect'}, {via}): {t.outcome}"
                )
        # One line each: an action or expression holding a newline cannot forge another line.
        return "\n".join(map(printable, lines))


@dataclass(slots=True)
class CheckOutput:
    """The decisions for one resource (Cerbos's ``CheckOutput``).

    ``effective_derived_roles`` is sorted by name (Cerbos lists the same set in Go's random map
    order), as ``runtime.effectiveDerivedRoles`` is in conditions.
    """

    request_id: str
    resource_id: str
    actions: dict[str, ActionEffect]
    effective_derived_roles: list[str] = field(default_factory=list)
    validation_errors: list[ValidationError] = field(default_factory=list)
    outputs: list[OutputEntry] = field(default_factory=list)
    evaluation_errors: list[ExpressionError] = field(default_factory=list)
    session_id: str = ""
    actor_chain: tuple[str, ...] = ()
    approval_id: str = ""
    trace: list[tuple[Any, ...]] = field(default_factory=list, repr=False)
    state: Any = field(default=None, repr=False)  # what explain() re-evaluates conditions against

    def is_allowed(self, action: str) -> bool:
        effect = self.actions.get(action)
        return effect is not None and effect.effect == EFFECT_ALLOW

    def __repr__(self) -> str:
        effects = ", ".join(f"{a}={e.effect.removeprefix('EFFECT_')}" for a, e in self.actions.items())
        extras = "".join(
            f", {name}={len(value)}"
            for name, value in (
                ("outputs", self.outputs),
                ("validation_errors", self.validation_errors),
                ("evaluation_errors", self.evaluation_errors),
            )
            if value
        )
        return f"CheckOutput({self.resource_id!r}: {effects}{extras})"

    def explain(self, action: str) -> ActionExplanation:
        """Which policy, scope and rule decided ``action``, and which of its conditions held."""
        decision = self.actions[action]
        row = decision.row
        conditions: tuple[ExprOutcome, ...] = ()
        if row is not None and row.condition is not None and self.state is not None:
            conditions = tuple(self.state.explain_condition(row))
        evaluated = tuple(
            RuleTrace(
                a,
                r.policy.key,
                scope,
                r.name,
                r.effect or "",
                outcome,
                r.role,
                r.derived_role.name if r.derived_role else "",
            )
            for a, scope, r, outcome in self.trace
            if a == action
        )
        return ActionExplanation(
            action,
            decision.effect,
            decision.policy,
            decision.scope,
            row.name if row is not None else "",
            row.effect if row is not None else "",
            conditions,
            evaluated,
        )

    def explanation(self) -> str:
        """Every action's explanation as text."""
        return "\n".join(str(self.explain(a)) for a in self.actions)
