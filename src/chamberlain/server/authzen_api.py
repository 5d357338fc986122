"""OpenID AuthZEN Authorization API 1.0, mapped onto the engine as Cerbos maps it.

Subject -> principal (``cerbos.roles`` property, else the subject type, as roles;
``cerbos.policyVersion`` / ``cerbos.scope``; all properties as attributes), resource -> resource
(``type`` is the kind), action name -> action; context ``cerbos.requestId``, ``cerbos.includeMeta``
(the CheckResources response under ``cerbos.response``) and ``cerbos.auxData``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

import orjson

from chamberlain.engine.request_validation import (
    AUX_DATA,
    STRING,
    VALUE,
    Field,
    InvalidRequest,
    Message,
    check_message,
    validate,
)
from chamberlain.server import decide
from chamberlain.server.http import parse_json
from chamberlain.server.state import ServerState

_PROPS = ("map", VALUE)
SUBJECT = Message(
    "Subject",
    (
        Field("type", "type", STRING, required=True),
        Field("id", "id", STRING, required=True),
        Field("properties", "properties", _PROPS),
    ),
)
RESOURCE = Message(
    "Resource",
    (
        Field("type", "type", STRING, required=True),
        Field("id", "id", STRING, required=True),
        Field("properties", "properties", _PROPS),
    ),
)
ACTION = Message(
    "Action", (Field("name", "name", STRING, required=True), Field("properties", "properties", _PROPS))
)
EVALUATION = Message(
    "AccessEvaluationRequest",
    (
        Field("subject", "subject", SUBJECT, required=True),
        Field("resource", "resource", RESOURCE, required=True),
        Field("action", "action", ACTION, required=True),
        Field("context", "context", _PROPS),
    ),
)
_BATCH_ITEM = Message(
    "Evaluation",
    (
        Field("subject", "subject", SUBJECT),
        Field("resource", "resource", RESOURCE),
        Field("action", "action", ACTION),
        Field("context", "context", _PROPS),
    ),
)
_OPTIONS = Message(
    "AccessEvaluationsOptions", (Field("evaluations_semantic", "evaluations_semantic", STRING),)
)
EVALUATIONS = Message(
    "AccessEvaluationBatchRequest",
    (
        Field("subject", "subject", SUBJECT),
        Field("resource", "resource", RESOURCE),
        Field("action", "action", ACTION),
        Field("context", "context", _PROPS),
        Field("evaluations", "evaluations", ("list", _BATCH_ITEM)),
        Field("options", "options", _OPTIONS),
    ),
)
SEMANTICS = ("execute_all", "deny_on_first_deny", "permit_on_first_permit")


def _prop(props: Mapping[str, Any] | None, name: str) -> Any:
    return (props or {}).get(f"cerbos.{name}")


def _text(props: Mapping[str, Any] | None, name: str) -> str:
    value = _prop(props, name)
    return value if isinstance(value, str) else ""


def principal_of(subject: Mapping[str, Any]) -> dict[str, Any]:
    props = subject.get("properties") or {}
    roles = _prop(props, "roles")
    roles = [r for r in roles if isinstance(r, str) and r] if isinstance(roles, list) else []
    return {
        "id": subject["id"],
        "roles": list(dict.fromkeys(roles)) or [subject["type"]],
        "attr": props,
        "policyVersion": _text(props, "policyVersion"),
        "scope": _text(props, "scope"),
    }


def _resource(resource: Mapping[str, Any]) -> dict[str, Any]:
    props = resource.get("properties") or {}
    return {
        "kind": resource["type"],
        "id": resource["id"],
        "attr": props,
        "policyVersion": _text(props, "policyVersion"),
        "scope": _text(props, "scope"),
    }


def _aux_data(context: Mapping[str, Any] | None) -> dict[str, Any] | None:
    aux = _prop(context, "auxData")
    if aux is None:
        return None
    violations: list[str] = []
    try:
        check_message(AUX_DATA, aux, "context.cerbos.auxData", violations)
    except InvalidRequest as exc:
        raise InvalidRequest(f"invalid auxData: {exc}") from None
    if violations:
        raise InvalidRequest(f"invalid auxData: {violations[0]}")
    return aux


def start_check(
    state: ServerState,
    principal: dict[str, Any],
    entries: list[dict[str, Any]],
    context: Mapping[str, Any] | None,
    call_id: str,
    point: str = "http:authzen",
) -> decide.Started:
    request: dict[str, Any] = {
        "principal": principal,
        "resources": entries,
        "requestId": _text(context, "requestId"),
        "includeMeta": True,
    }
    aux = _aux_data(context)
    if aux is not None:
        request["auxData"] = aux
    return decide.start(state, request, call_id, point, validated=False)


def reason_of(response: dict[str, Any]) -> dict[str, Any] | None:
    """AuthZEN's ``reason_admin`` when the decision log could not record the check, or the session
    the check named denied every action."""
    found = response.get("chamberlain") or {}
    why = found.get("decisionLog") or (found.get("session") or {}).get("denied")
    return {"reason_admin": {"en": why}} if why else None


def _decision(response: dict[str, Any], index: int, action: str) -> bool:
    return response["results"][index]["actions"].get(action) == "EFFECT_ALLOW"


def evaluation(state: ServerState, body: bytes, call_id: str) -> dict[str, Any] | Awaitable[dict[str, Any]]:
    """``POST /access/v1/evaluation``: one subject, resource and action."""
    request = parse_json(body, state.config.max_json_depth, EVALUATION)
    validate(EVALUATION, request)
    context = request.get("context")
    action = request["action"]["name"]
    pending = start_check(
        state,
        principal_of(request["subject"]),
        [{"actions": [action], "resource": _resource(request["resource"])}],
        context,
        call_id,
    )

    def build(responses: list[dict[str, Any]]) -> dict[str, Any]:
        response = responses[0]
        out: dict[str, Any] = {"decision": _decision(response, 0, action)}
        context_out = reason_of(response) or {}
        if _prop(context, "includeMeta") is True:
            context_out["cerbos.response"] = response
        if context_out:
            out["context"] = context_out
        return out

    return decide.settle(state, [pending], build)


def _key(value: Any) -> bytes:
    """A grouping key equal for equal JSON values (whatever their keys' order)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def evaluations(state: ServerState, body: bytes, call_id: str) -> dict[str, Any] | Awaitable[dict[str, Any]]:
    """``POST /access/v1/evaluations``: defaults at the top level, one answer per evaluation, in order."""
    request = parse_json(body, state.config.max_json_depth, EVALUATIONS)
    validate(EVALUATIONS, request)
    semantic = (request.get("options") or {}).get("evaluations_semantic") or "execute_all"
    if semantic not in SEMANTICS:
        raise InvalidRequest(
            f"validation error: options.evaluations_semantic: value must be in list {list(SEMANTICS)}"
        )
    limits = state.config
    items = request.get("evaluations") or []
    if len(items) > limits.max_actions_per_resource * limits.max_resources_per_request:
        raise InvalidRequest(
            f"number of evaluations ({len(items)}) exceeds configured limit "
            f"({limits.max_actions_per_resource * limits.max_resources_per_request})"
        )
    default_context = request.get("context") or None
    groups: dict[tuple[bytes, bytes], list[tuple[int, dict[str, Any], dict[str, Any], str, Any]]] = {}
    for i, item in enumerate(items):
        subject, resource, action = (item.get(k) or request.get(k) for k in ("subject", "resource", "action"))
        missing = [k for k, v in (("subject", subject), ("resource", resource), ("action", action)) if not v]
        if missing:
            raise InvalidRequest(
                f"validation error: evaluations[{i}]: {', '.join(missing)} missing here and in the defaults"
            )
        context = item.get("context") or default_context
        # One check per subject and auxData, one resource entry per resource, each with all its properties:
        # evaluations naming the same ids with other roles or attributes are decided with their own.
        groups.setdefault((_key(subject), _key(_prop(context, "auxData"))), []).append(
            (i, subject, resource, action["name"], context)
        )
    include_meta = _prop(default_context, "includeMeta") is True
    checks: list[tuple[decide.Started, list[tuple[int, int, str]]]] = []
    for group in groups.values():
        by_resource: dict[bytes, list[tuple[int, dict[str, Any], dict[str, Any], str, Any]]] = {}
        for entry in group:
            by_resource.setdefault(_key(entry[2]), []).append(entry)
        if len(by_resource) > limits.max_resources_per_request:
            raise InvalidRequest(
                f"number of resources in batch ({len(by_resource)}) exceeds configured limit "
                f"({limits.max_resources_per_request})"
            )
        entries, slots = [], []
        for index, reqs in enumerate(by_resource.values()):
            if len(reqs) > limits.max_actions_per_resource:
                raise InvalidRequest(
                    f"number of actions ({len(reqs)}) exceeds configured limit "
                    f"({limits.max_actions_per_resource})"
                )
            entries.append(
                {"actions": list(dict.fromkeys(r[3] for r in reqs)), "resource": _resource(reqs[0][2])}
            )
            slots.extend((r[0], index, r[3]) for r in reqs)
        checks.append((start_check(state, principal_of(group[0][1]), entries, group[0][4], call_id), slots))

    def build(responses: list[dict[str, Any]]) -> dict[str, Any]:
        answers: list[dict[str, Any] | None] = [None] * len(items)
        for response, (_, slots) in zip(responses, checks, strict=True):
            reason = reason_of(response)
            for position, index, action in slots:
                answer: dict[str, Any] = {"decision": _decision(response, index, action)}
                context_out = dict(reason or {})
                if include_meta:
                    context_out["cerbos.response"] = response
                if context_out:
                    answer["context"] = context_out
                answers[position] = answer
        if semantic != "execute_all":
            stop_on = semantic == "permit_on_first_permit"
            for i, answer in enumerate(answers):
                if answer is not None and answer["decision"] is stop_on:
                    answers = answers[: i + 1]
                    break
        return {"evaluations": answers} if answers else {}

    return decide.settle(state, [started for started, _ in checks], build)


def metadata(state: ServerState) -> dict[str, Any]:
    """``GET /.well-known/authzen-configuration``, naming the configured URL (``chamberlain.publicURL``).

    Never the request's Host or X-Forwarded-* headers: reflected, they would let a client (or a
    poisoned cache) point other clients at a server of its choosing.
    """
    base = state.config.public_url
    return {
        "policy_decision_point": base,
        "access_evaluation_endpoint": f"{base}/access/v1/evaluation",
        "access_evaluations_endpoint": f"{base}/access/v1/evaluations",
    }
