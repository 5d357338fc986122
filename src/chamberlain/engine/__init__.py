"""The policy engine: a policy set compiled into Cerbos's rule table, and checks against it.

>>> from chamberlain.engine import compile_policies, CheckInput, Principal, Resource
>>> engine = compile_policies(load_directory("policies/"))
>>> [out] = engine.check([CheckInput(Principal("alice", ["user"]), Resource("doc", "1"), ("view",))])
>>> out.actions["view"].effect
'EFFECT_ALLOW'
"""

from __future__ import annotations

from chamberlain.engine.check import Engine
from chamberlain.engine.conditions import ExprOutcome
from chamberlain.engine.options import EngineOptions, OptionsError
from chamberlain.engine.request import AuxData, CheckInput, Principal, Resource
from chamberlain.engine.result import (
    ActionEffect,
    ActionExplanation,
    CheckOutput,
    ExpressionError,
    OutputEntry,
    RuleTrace,
    ValidationError,
)
from chamberlain.engine.ruletable import build
from chamberlain.gcpause import paused
from chamberlain.policy import PolicySet
from chamberlain.policy.model import EFFECT_ALLOW, EFFECT_DENY


def compile_policies(policies: PolicySet, options: EngineOptions | None = None) -> Engine:
    """Compile a validated policy set into an engine (conditions compiled, rules indexed)."""
    with paused():  # see chamberlain.gcpause
        return Engine(policies, build(policies), options or EngineOptions())


__all__ = [
    "EFFECT_ALLOW",
    "EFFECT_DENY",
    "ActionEffect",
    "ActionExplanation",
    "AuxData",
    "CheckInput",
    "CheckOutput",
    "Engine",
    "EngineOptions",
    "ExprOutcome",
    "ExpressionError",
    "OptionsError",
    "OutputEntry",
    "Principal",
    "Resource",
    "RuleTrace",
    "ValidationError",
    "compile_policies",
]
