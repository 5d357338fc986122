"""PlanResources on the wire: Cerbos's request JSON in, its response JSON out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chamberlain.engine.planner.plan import PlanInput, QueryPlan
from chamberlain.engine.wire import (
    JWTVerifier,
    RequestError,
    parse_aux_data,
    parse_principal,
    validation_error_json,
)


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """A parsed PlanResources request: what to plan, and how to answer."""

    input: PlanInput
    include_meta: bool
    single_action: bool  # the deprecated ``action`` field was used (the answer says ``action``)


def parse_plan_resources(data: Any, verify_jwt: JWTVerifier | None = None) -> PlanRequest:
    """A PlanResources request (``action`` or ``actions``, ``principal``, ``resource``, ``auxData``)."""
    if not isinstance(data, Mapping):
        raise RequestError("$", "expected a JSON object")
    request_id = _string(data, "requestId", "request_id")
    action = _string(data, "action")
    actions = data.get("actions")
    if actions is not None and not isinstance(actions, list):
        raise RequestError("actions", "expected a list of strings")
    if bool(action) == bool(actions):
        raise RequestError("actions", "exactly one of 'action' or 'actions' must be set")
    names = [action] if action else list(actions or [])
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise RequestError(f"actions[{i}]", "expected a non-empty string")
    principal = parse_principal(data.get("principal"), "principal")
    resource = data.get("resource")
    if not isinstance(resource, Mapping):
        raise RequestError("resource", "expected an object")
    kind = resource.get("kind")
    if not isinstance(kind, str) or not kind:
        raise RequestError("resource.kind", "expected a non-empty string")
    attr = resource.get("attr") or {}
    if not isinstance(attr, Mapping):
        raise RequestError("resource.attr", "expected an object")
    aux = parse_aux_data(data.get("auxData", data.get("aux_data")), "auxData", verify_jwt)
    include_meta = data.get("includeMeta", data.get("include_meta")) or False
    if not isinstance(include_meta, bool):
        raise RequestError("includeMeta", "expected a boolean")
    inp = PlanInput(principal, kind, tuple(names), dict(attr), _string(resource, "policyVersion", "policy_version"),
                    _string(resource, "scope"), aux, request_id)  # fmt: skip
    return PlanRequest(inp, include_meta, bool(action))


def _string(data: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = data.get(name)
        if value is not None:
            if not isinstance(value, str):
                raise RequestError(name, "expected a string")
            return value
    return ""


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
