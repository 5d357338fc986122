"""PlanResources on the wire: Cerbos's request JSON in, its response JSON out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chamberlain.engine.planner.plan import PlanInput, QueryPlan
from chamberlain.engine.request_validation import validate_plan_resources
from chamberlain.engine.wire import JWTVerifier, parse_aux_data, principal_from_json, validation_error_json


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """A parsed PlanResources request: what to plan, and how to answer."""

    input: PlanInput
    include_meta: bool
    single_action: bool  # the deprecated ``action`` field was used (the answer says ``action``)


def parse_plan_resources(
    data: Any, verify_jwt: JWTVerifier | None = None, *, validated: bool = False
) -> PlanRequest:
    """A PlanResources request (``action`` or ``actions``, ``principal``, ``resource``, ``auxData``),
    validated as the Cerbos server validates it unless the caller just did (``validated``)."""
    if not validated:
        validate_plan_resources(data)
    action = data.get("action") or ""
    names = [action] if action else list(data["actions"])
    resource = data["resource"]
    aux = parse_aux_data(data.get("auxData", data.get("aux_data")), "auxData", verify_jwt)
    inp = PlanInput(
        principal_from_json(data["principal"]),
        resource["kind"],
        tuple(names),
        dict(resource.get("attr") or {}),
        _string(resource, "policyVersion", "policy_version"),
        _string(resource, "scope"),
        aux,
        _string(data, "requestId", "request_id"),
    )
    return PlanRequest(inp, bool(data.get("includeMeta", data.get("include_meta"))), bool(action))


def _string(data: Mapping[str, Any], *names: str) -> str:
    return next((data[n] for n in names if data.get(n) is not None), "")


def plan_response(plan: QueryPlan, *, include_meta: bool, single_action: bool) -> dict[str, Any]:
    """The PlanResources response JSON, as Cerbos's HTTP API writes it (empty fields left out)."""
    out: dict[str, Any] = {}
    if plan.request_id:
        out["requestId"] = plan.request_id
    if single_action:
        out["action"] = plan.actions[0]
    else:
        out["actions"] = list(plan.actions)
    out["resourceKind"] = plan.resource_kind
    if plan.policy_version:
        out["policyVersion"] = plan.policy_version
    out["filter"] = plan.filter_json()
    if include_meta:
        meta: dict[str, Any] = {"filterDebug": plan.filter_debug}
        if single_action:
            scope = plan.matched_scopes.get(plan.actions[0], "")
            if scope:
                meta["matchedScope"] = scope
        elif plan.matched_scopes:
            meta["matchedScopes"] = dict(plan.matched_scopes)
        out["meta"] = meta
    if plan.validation_errors:
        out["validationErrors"] = [validation_error_json(e) for e in plan.validation_errors]
    return out
