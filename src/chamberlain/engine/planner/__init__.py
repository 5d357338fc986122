"""Query plans: which resources of a kind may a principal act on (Cerbos's PlanResources).

The planner partially evaluates the compiled rule table's conditions against what is known (the
principal, aux data, globals, constants, the resource attributes given in advance) and leaves a
residual condition over the unknown resource attributes, as Cerbos's operand tree
(:mod:`.operands`). See ``docs/concepts/query-plans.md``.
"""

from __future__ import annotations

from chamberlain.engine.planner.operands import (
    KIND_ALWAYS_ALLOWED,
    KIND_ALWAYS_DENIED,
    KIND_CONDITIONAL,
    Expression,
    Operand,
    PlanFormatError,
    Value,
    Variable,
    debug_string,
    from_json,
)
from chamberlain.engine.planner.partial import PlanError
from chamberlain.engine.planner.plan import PlanInput, PlanKind, QueryPlan, plan_resources

__all__ = [
    "KIND_ALWAYS_ALLOWED",
    "KIND_ALWAYS_DENIED",
    "KIND_CONDITIONAL",
    "Expression",
    "Operand",
    "PlanError",
    "PlanFormatError",
    "PlanInput",
    "PlanKind",
    "QueryPlan",
    "Value",
    "Variable",
    "debug_string",
    "from_json",
    "plan_resources",
]
