"""The vault map: for each subject, resource kind and action, ALWAYS / CONDITIONALLY / NEVER allowed.

Computed by the query planner over the compiled policies, not by sampling. What is not known about
a subject is symbolic: a bare role's principal id and attributes, a logged principal's attributes,
and every subject's aux data (tokens) are unknown, so a condition that reads them stays in the
answer (CONDITIONALLY, with the condition) instead of folding to a false NEVER. ALWAYS holds for
every value they may take, NEVER for none. A condition the planner cannot plan is CONDITIONALLY,
with the reason as its condition: never a guess in either direction.

Delegation narrows: a chain (a person and the agents acting for them) is allowed only where every
one of them is, so its cell is the intersection of theirs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chamberlain.analysis.budget import Budget
from chamberlain.analysis.readable import readable
from chamberlain.analysis.subjects import CHAIN, DERIVED_ROLE, Subject
from chamberlain.analysis.targets import Target
from chamberlain.cel.lib.time import format_timestamp
from chamberlain.cel.values import Timestamp
from chamberlain.engine.planner import PlanError, PlanInput, PlanKind, plan_resources
from chamberlain.engine.request import Principal

#: Unknown for every subject: what a request's tokens carry.
SYMBOLIC_AUX = frozenset({"request.aux_data", "request.auxData"})
#: Unknown when the subject's attributes are (a role, a logged principal).
SYMBOLIC_ATTR = SYMBOLIC_AUX | {"P.attr", "request.principal.attr"}
#: Unknown for a bare role: its id too.
SYMBOLIC_ALL = SYMBOLIC_ATTR | {"P.id", "request.principal.id"}
#: The principal id a bare role is planned with (its value never shows: ``P.id`` is symbolic).
ROLE_PRINCIPAL_ID = "chamberlain:any-principal"


class Access(StrEnum):
    ALWAYS = "ALWAYS"
    CONDITIONALLY = "CONDITIONALLY"
    NEVER = "NEVER"


@dataclass(frozen=True, slots=True)
class Cell:
    """One answer: ``conditions`` are ``(via, condition)`` pairs (via: who it applies to, or ``""``)."""

    subject: str
    target: str
    action: str
    access: Access
    conditions: tuple[tuple[str, str], ...] = ()
    sensitive: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "subject": self.subject,
            "resource": self.target,
            "action": self.action,
            "access": self.access.value,
        }
        if self.conditions:
            out["conditions"] = [{"via": via, "condition": text} for via, text in self.conditions]
        if self.sensitive:
            out["sensitive"] = True
        return out


@dataclass
class VaultMap:
    subjects: list[Subject]
    targets: list[Target]
    cells: list[Cell] = field(default_factory=list)
    now: str = ""
    complete: bool = True
    stopped: str = ""
    notes: list[str] = field(default_factory=list)

    def cell(self, subject: str, target: str, action: str) -> Cell | None:
        for c in self.cells:
            if c.subject == subject and c.target == target and c.action == action:
                return c
        return None

    def to_json(self) -> dict[str, Any]:
        from chamberlain.analysis.sensitive import sensitive_summary

        return {
            "now": self.now,
            "complete": self.complete,
            "stopped": self.stopped,
            "notes": self.notes,
            "sensitive": sensitive_summary(self),
            "subjects": [s.to_json() | {"label": s.label} for s in self.subjects],
            "resources": [t.to_json() for t in self.targets],
            "cells": [c.to_json() for c in self.cells],
        }


def build_map(
    engine: Any,
    subjects: list[Subject],
    targets: list[Target],
    *,
    now: Timestamp | None = None,
    budget: Budget | None = None,
) -> VaultMap:
    """Plan every (subject, target, action); stops early (``complete`` False) when ``budget`` is spent."""
    when = now if now is not None else Timestamp.now()
    budget = budget or Budget()
    result = VaultMap(subjects, targets, now=format_timestamp(when))
    budget.start(sum(len(t.actions) for t in targets) * len(subjects))
    for subject in subjects:
        for target in targets:
            for action in target.actions:
                access, conditions = subject_access(engine, subject, target, action, when)
                result.cells.append(
                    Cell(
                        subject.label,
                        target.label,
                        action,
                        access,
                        tuple(conditions),
                        target.is_sensitive(action),
                    )
                )
                if not budget.step():
                    result.complete, result.stopped = False, budget.stopped
                    return result
    return result


def subject_access(
    engine: Any, subject: Subject, target: Target, action: str, now: Timestamp
) -> tuple[Access, list[tuple[str, str]]]:
    """One cell's answer and its conditions."""
    if subject.kind == CHAIN:
        return intersect(
            [(hop.name, *subject_access(engine, hop, target, action, now)) for hop in subject.chain]
        )
    if subject.kind == DERIVED_ROLE:
        parts = [(f"as {role}", *_plan(engine, subject, role, target, action, now)) for role in subject.roles]
        return any_parent(parts)
    access, condition = _plan(engine, subject, "", target, action, now)
    return access, [("", condition)] if condition else []


def _plan(
    engine: Any, subject: Subject, role: str, target: Target, action: str, now: Timestamp
) -> tuple[Access, str]:
    if subject.principal_id is None:
        principal, symbolic = Principal(ROLE_PRINCIPAL_ID, (role,) if role else subject.roles), SYMBOLIC_ALL
    elif subject.attr is None:
        principal, symbolic = Principal(subject.principal_id, subject.roles), SYMBOLIC_ATTR
    else:
        principal, symbolic = Principal(subject.principal_id, subject.roles, dict(subject.attr)), SYMBOLIC_AUX
    inp = PlanInput(
        principal,
        target.kind,
        (action,),
        policy_version=target.version,
        scope=target.scope,
        symbolic=symbolic,
        only_derived_role=subject.derived_role,
    )
    try:
        plan = plan_resources(engine, inp, now)
    except PlanError as exc:
        return Access.CONDITIONALLY, f"(cannot be planned: {exc})"
    if plan.kind is PlanKind.ALWAYS_ALLOWED:
        return Access.ALWAYS, ""
    if plan.kind is PlanKind.ALWAYS_DENIED or plan.condition is None:
        return Access.NEVER, ""
    return Access.CONDITIONALLY, readable(plan.condition)


def intersect(
    parts: Iterable[tuple[str, Access, list[tuple[str, str]]]],
) -> tuple[Access, list[tuple[str, str]]]:
    """Every one must allow: NEVER if any never does, ALWAYS if all always do, else their conditions."""
    parts = list(parts)
    if any(access is Access.NEVER for _, access, _ in parts):
        return Access.NEVER, []
    if all(access is Access.ALWAYS for _, access, _ in parts):
        return Access.ALWAYS, []
    conditions = [(_via(who, via), text) for who, access, conds in parts for via, text in conds]
    return Access.CONDITIONALLY, conditions


def any_parent(parts: list[tuple[str, Access, str]]) -> tuple[Access, list[tuple[str, str]]]:
    """A derived role held through any of its parent roles: ALWAYS only if through each, NEVER if through none."""
    if all(access is Access.NEVER for _, access, _ in parts):
        return Access.NEVER, []
    if all(access is Access.ALWAYS for _, access, _ in parts):
        return Access.ALWAYS, []
    conditions = []
    for via, access, text in parts:
        conditions.append((via, text if access is Access.CONDITIONALLY else access.value.lower()))
    return Access.CONDITIONALLY, conditions


def _via(who: str, via: str) -> str:
    return f"{who} {via}" if via else who
