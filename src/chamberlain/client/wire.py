"""The client's side of the Cerbos HTTP API: chamberlain objects to request JSON, response JSON back to the
results the embedded :class:`~chamberlain.PDP` returns (or, when the PDP could not answer, a DENY naming why)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from chamberlain.client.context import Acting
from chamberlain.engine import AuxData, Principal, Resource
from chamberlain.engine.planner import PlanKind, QueryPlan, from_json
from chamberlain.engine.request_validation import RequestError
from chamberlain.engine.result import ActionEffect, CheckOutput, OutputEntry, ValidationError
from chamberlain.errors import Error
from chamberlain.pdp import CheckResult
from chamberlain.policy.model import EFFECT_ALLOW, EFFECT_DENY
from chamberlain.strictjson import non_finite
from chamberlain.text import printable

#: The ``matchedPolicy`` of an action denied because the PDP gave no decision (unreachable, broken answer).
UNAVAILABLE_POLICY = "chamberlain.pdp_unavailable"
CLIENT_SOURCE = "chamberlain.client"


class NotSupported(Error):
    """What the embedded PDP offers but a remote one cannot do (the message says what to do instead)."""


class PDPUnavailable(Error):
    """The PDP gave no decision (unreachable, timed out, answered with an error); raised with ``raise_on_error``."""


class RemoteCheckResult(CheckResult):
    """A :class:`~chamberlain.pdp.CheckResult` from a remote PDP: ``response`` is its JSON, ``error`` why it
    failed closed (``""`` when the PDP decided). ``denied_by(action)`` names who denied, as the PDP says."""

    __slots__ = ("error", "response")

    def __init__(
        self,
        outputs: list[CheckOutput],
        *,
        response: Mapping[str, Any] | None = None,
        error: str = "",
        log_error: str = "",
    ) -> None:
        super().__init__(outputs, log_error)
        self.response = dict(response or {})
        self.error = error

    def __repr__(self) -> str:
        reason = f", reason={self.reason!r}" if self.reason else ""
        return f"RemoteCheckResult({self.outputs!r}{reason})"

    @property
    def reason(self) -> str:
        """Why every action was denied without a decision (PDP unavailable, decision log down), or ``""``."""
        return self.error or self.log_error

    def denied_by(self, action: str, index: int = 0) -> str:
        """Who or what denied ``action`` on the ``index``-th resource: the reason, a delegation party, or the policy."""
        if self.reason:
            return self.reason
        delegated = self.response.get("delegation") or {}
        results = delegated.get("results") or []
        if index < len(results):
            who = ((results[index].get("actions") or {}).get(action) or {}).get("deniedBy")
            if who:
                return str(who)
        effect = self.outputs[index].actions.get(action)
        return effect.policy if effect is not None else ""

    def explanation(self) -> str:
        """Each action's effect and who decided it (a remote PDP reports the policy and scope, not the rule)."""
        blocks = []
        for i, out in enumerate(self.outputs):
            lines = [f"{printable(out.resource_id)}:"]
            for action, effect in out.actions.items():
                where = effect.policy + (f" (scope {effect.scope!r})" if effect.scope else "")
                line = f"{action}: {effect.effect} by {where}"
                if not effect.allowed and self.denied_by(action, i) != effect.policy:
                    line += f": {self.denied_by(action, i)}"
                lines.append(printable(line))
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)


def aux_json(aux_data: AuxData | Mapping[str, Any] | None, acting: Acting) -> dict[str, Any] | None:
    """``auxData`` for a request: the caller's, plus the delegation, session and approval in effect.

    Extension fields are sent only when set, so a plain request stays one real Cerbos accepts.
    """
    aux: dict[str, Any] = {}
    if isinstance(aux_data, AuxData):
        if aux_data.jwt or aux_data.jwts or aux_data.delegation is not None:
            raise NotSupported(
                "a remote PDP verifies tokens itself: pass the JWT as aux_data={'jwt': {'token': ...}} "
                "or token=..., not decoded claims"
            )
    elif aux_data is not None:
        aux.update(aux_data)
    if acting.token:
        aux["jwt"] = {"token": acting.token}
    if acting.delegation is not None:
        aux["delegation"] = dict(acting.delegation)
    if acting.session_id:
        aux["session"] = {"id": acting.session_id}
    if acting.approval_id:
        aux["approval"] = {"id": acting.approval_id}
    return aux or None


def encode(request: Mapping[str, Any]) -> bytes:
    """The request's JSON; raises :class:`RequestError` naming a number JSON cannot hold (inf, nan): orjson
    writes it as ``null``, and the PDP would decide on null what the embedded PDP decides on inf (a guarding
    DENY ``R.attr.amount > 100`` fails on null and is skipped under Cerbos's default evaluation)."""
    body = orjson.dumps(request)
    if b"null" in body:  # where an inf or a nan went, if any did
        found = non_finite(request)
        if found is not None:
            raise RequestError(
                found[0], f"{found[1]!r} is a number JSON cannot hold, so it cannot be sent to the PDP"
            )
    return body


def principal_json(principal: Principal) -> dict[str, Any]:
    return principal.to_json()


def resource_json(resource: Resource) -> dict[str, Any]:
    out = resource.to_json()
    if resource.attr:
        out["attr"] = dict(resource.attr)
    return out


def check_request(
    principal: Principal,
    resources: Iterable[Resource],
    actions: Sequence[str],
    *,
    aux: dict[str, Any] | None,
    request_id: str,
) -> dict[str, Any]:
    """A CheckResources request (``includeMeta``: the result names the deciding policy and scope)."""
    request: dict[str, Any] = {
        "principal": principal_json(principal),
        "resources": [{"resource": resource_json(r), "actions": list(actions)} for r in resources],
        "includeMeta": True,
    }
    if request_id:
        request["requestId"] = request_id
    if aux:
        request["auxData"] = aux
    return request


def plan_request(
    principal: Principal,
    kind: str,
    actions: Sequence[str],
    *,
    resource_attr: Mapping[str, Any],
    aux: dict[str, Any] | None,
    scope: str,
    policy_version: str,
    request_id: str,
) -> dict[str, Any]:
    resource: dict[str, Any] = {"kind": kind}
    if resource_attr:
        resource["attr"] = dict(resource_attr)
    if scope:
        resource["scope"] = scope
    if policy_version:
        resource["policyVersion"] = policy_version
    request: dict[str, Any] = {
        "principal": principal_json(principal),
        "resource": resource,
        "includeMeta": True,
    }
    if len(actions) == 1:
        request["action"] = actions[0]
    else:
        request["actions"] = list(actions)
    if request_id:
        request["requestId"] = request_id
    if aux:
        request["auxData"] = aux
    return request


def _validation_errors(entries: Any) -> list[ValidationError]:
    return [
        ValidationError(e.get("path", ""), e.get("message", ""), e.get("source", "")) for e in entries or ()
    ]


def check_result(response: Mapping[str, Any], request: Mapping[str, Any]) -> RemoteCheckResult:
    """The result of a CheckResources ``response`` to ``request`` (results in the request's order)."""
    request_id = str(response.get("requestId", ""))
    results = response.get("results")
    wanted = request["resources"]
    if not isinstance(results, list) or len(results) != len(wanted):
        raise ValueError("the response's results do not match the request's resources")
    # The decision log could not record the check: the PDP denies it all; an answer saying otherwise is not read.
    log_error = ((response.get("chamberlain") or {}).get("decisionLog")) or ""
    outputs = []
    for i, (entry, asked) in enumerate(zip(results, wanted, strict=True)):
        _same_resource(entry.get("resource"), asked["resource"], i)
        effects = entry.get("actions") or {}
        meta = (entry.get("meta") or {}).get("actions") or {}
        actions = {}
        for action in asked["actions"]:  # an action the answer leaves out is denied
            m = meta.get(action) or {}
            effect = effects.get(action)
            actions[action] = ActionEffect(
                EFFECT_ALLOW if effect == EFFECT_ALLOW and not log_error else EFFECT_DENY,
                m.get("matchedPolicy", ""),
                m.get("matchedScope", ""),
            )
        outs = [
            OutputEntry(o.get("src", ""), o.get("action", ""), o.get("val"), o.get("error", ""))
            for o in entry.get("outputs") or ()
        ]
        outputs.append(
            CheckOutput(
                request_id,
                str((entry.get("resource") or {}).get("id", "")),
                actions,
                list((entry.get("meta") or {}).get("effectiveDerivedRoles") or ()),
                _validation_errors(entry.get("validationErrors")),
                outs,
            )
        )
    return RemoteCheckResult(outputs, response=response, log_error=str(log_error))


def _same_resource(answered: Any, asked: Mapping[str, Any], index: int) -> None:
    """An answer is read only for the resource it names: results are matched to resources by position, so a
    result naming another resource (reordered, or another request's answer) would decide the wrong one."""
    answered = answered if isinstance(answered, Mapping) else {}
    for key in ("id", "kind"):
        if key in answered and answered[key] != asked.get(key):
            raise ValueError(
                f"results[{index}] is for resource {key} {printable(repr(answered[key]))[:200]}, "
                f"not {asked.get(key)!r} as asked"
            )
    if answered.get("id") is None:
        raise ValueError(f"results[{index}] names no resource id: it cannot be matched to the request")


def denied_result(request: Mapping[str, Any], reason: str) -> RemoteCheckResult:
    """Every action of ``request`` denied because the PDP gave no decision; each names the reason."""
    outputs = []
    for entry in request["resources"]:
        actions = {a: ActionEffect(EFFECT_DENY, UNAVAILABLE_POLICY) for a in entry["actions"]}
        outs = [OutputEntry(CLIENT_SOURCE, a, {"error": reason}) for a in entry["actions"]]
        outputs.append(
            CheckOutput(request.get("requestId", ""), entry["resource"].get("id", ""), actions, outputs=outs)
        )
    return RemoteCheckResult(outputs, error=reason)


def denied_response(request: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """A CheckResources response denying every action of a request dict, with the reason under ``chamberlain``."""
    results = []
    for i, entry in enumerate(_list(request.get("resources"))):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        resource = resource if isinstance(resource, Mapping) else {}
        actions = entry.get("actions") if isinstance(entry, Mapping) else None
        results.append(
            {
                "resource": {k: resource[k] for k in ("id", "kind") if isinstance(resource.get(k), str)},
                "actions": {a: EFFECT_DENY for a in _list(actions) if isinstance(a, str)},
                "outputs": [{"src": CLIENT_SOURCE, "val": {"error": reason, "resource": i}}],
            }
        )
    response: dict[str, Any] = {"results": results, "chamberlain": {"error": reason}}
    if isinstance(request.get("requestId"), str) and request["requestId"]:
        response = {"requestId": request["requestId"], **response}
    return response


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def query_plan(response: Mapping[str, Any], actions: Sequence[str], kind: str = "") -> QueryPlan:
    """A :class:`QueryPlan` from a PlanResources response (the condition as Cerbos's operand tree).

    Raises ``ValueError`` for an answer about another resource kind or other actions than asked (a filter
    for viewing applied to a delete), or a conditional plan without its condition."""
    answered_kind = response.get("resourceKind")
    if kind and answered_kind is not None and answered_kind != kind:
        raise ValueError(
            f"the plan is for resource kind {printable(repr(answered_kind))[:200]}, not {kind!r}"
        )
    answered = response.get("actions", [response["action"]] if "action" in response else None)
    if answered is not None and list(answered) != list(actions):
        raise ValueError(f"the plan is for actions {printable(repr(answered))[:200]}, not {list(actions)!r}")
    filt = response.get("filter") or {}
    condition = filt.get("condition")
    if filt.get("kind") == PlanKind.CONDITIONAL.value and condition is None:
        raise ValueError("the plan is conditional and has no condition")
    meta = response.get("meta") or {}
    scopes = meta.get("matchedScopes") or (
        {actions[0]: meta["matchedScope"]} if meta.get("matchedScope") else {}
    )
    return QueryPlan(
        PlanKind(filt.get("kind", PlanKind.ALWAYS_DENIED.value)),
        from_json(condition) if condition is not None else None,
        str(response.get("resourceKind", "")),
        tuple(actions),
        policy_version=str(response.get("policyVersion", "")),
        filter_debug=str(meta.get("filterDebug", "")),
        matched_scopes=dict(scopes),
        validation_errors=_validation_errors(response.get("validationErrors")),
        request_id=str(response.get("requestId", "")),
        log_error=str((response.get("chamberlain") or {}).get("decisionLog", "")),
    )


def denied_plan(kind: str, actions: Sequence[str], reason: str, request_id: str) -> QueryPlan:
    """ALWAYS_DENIED because the PDP gave no plan; ``notes`` names why."""
    return QueryPlan(
        PlanKind.ALWAYS_DENIED,
        None,
        kind,
        tuple(actions),
        request_id=request_id,
        notes=[f"{CLIENT_SOURCE}: {reason}"],
    )
