"""Query plans in the decision log: a data-layer read gets a policy basis, as a check does.

A plan is recorded through the decision log's public recording path (:func:`chamberlain.audit.
recording.submit`), one entry per action, with the effect ``EFFECT_DENY`` when the plan is
``KIND_ALWAYS_DENIED`` and ``EFFECT_ALLOW`` otherwise (some rows may be read), the policy
``chamberlain.query_plan``, and a ``plan`` field:

- ``kind``: the plan's kind;
- ``filter_digest``: SHA-256 of the filter's canonical JSON (RFC 8785), so the exact condition can
  be checked against a later replay;
- ``filter_debug``: Cerbos's debug form of the condition (at most 4096 characters, then cut);
- whatever the enforcement point adds (the SQLAlchemy integration adds the SQL's ``dialect`` and
  ``sql_digest``, SHA-256 of the statement it runs).

If the log cannot record the plan, the plan becomes ``KIND_ALWAYS_DENIED``: nothing is read
without a record (fail closed), and :attr:`QueryPlan.log_error` says why.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

import rfc8785

from chamberlain.audit.log import DecisionLog
from chamberlain.audit.write import recording
from chamberlain.engine.planner import PlanInput, PlanKind, QueryPlan
from chamberlain.engine.request import CheckInput, Resource
from chamberlain.engine.result import ActionEffect, CheckOutput
from chamberlain.policy.model import EFFECT_ALLOW, EFFECT_DENY

PLAN_POLICY = "chamberlain.query_plan"
_DEBUG_LIMIT = 4096


def digest(value: Any) -> str:
    """SHA-256 (hex) of a JSON value's canonical form (RFC 8785)."""
    return hashlib.sha256(rfc8785.dumps(value)).hexdigest()


def plan_record(plan: QueryPlan) -> dict[str, Any]:
    """The ``plan`` field of a plan's log entries."""
    debug = plan.filter_debug
    if len(debug) > _DEBUG_LIMIT:
        debug = debug[:_DEBUG_LIMIT] + "…(cut)"
    return {"kind": plan.kind.value, "filter_digest": digest(plan.filter_json()), "filter_debug": debug}


def submit(
    log: DecisionLog | None,
    inp: PlanInput,
    plan: QueryPlan,
    *,
    when: dt.datetime | int,
    call_id: str,
    point: str,
    request: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    loop: Any = None,
) -> recording.PendingCheck:
    """Submit a plan's entries (``extra``: more fields for the ``plan`` record); never raises for the log."""
    effect = EFFECT_DENY if plan.kind is PlanKind.ALWAYS_DENIED else EFFECT_ALLOW
    resource = Resource.prevalidated(inp.kind, "", inp.resource_attr, inp.policy_version, inp.scope)
    check_input = CheckInput(inp.principal, resource, inp.actions, inp.aux_data, inp.request_id)
    effects = {a: ActionEffect(effect, PLAN_POLICY, plan.matched_scopes.get(a, "")) for a in inp.actions}
    output = CheckOutput(inp.request_id, "", effects, validation_errors=list(plan.validation_errors))
    record = plan_record(plan)
    if extra:
        record.update(extra)
    return recording.submit(
        log,
        [check_input],
        [output],
        when=int(when) if isinstance(when, int) else when,
        call_id=call_id,
        point=point,
        request=request,
        loop=loop,
        extra={"plan": record},
    )


def deny_unrecorded(plan: QueryPlan, reason: str) -> QueryPlan:
    """The plan that stands when the log could not record ``plan``: nothing may be read."""
    deny_plan(plan)
    plan.log_error = reason
    return plan


def deny_plan(plan: QueryPlan) -> QueryPlan:
    """``plan`` turned into ALWAYS_DENIED (nothing may be read), in place."""
    plan.kind = PlanKind.ALWAYS_DENIED
    plan.condition = plan.exact_thunk = None
    plan.filter_debug = "(false)"
    return plan
