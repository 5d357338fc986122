"""Cerbos's JSON wire format: requests in (validated by :mod:`chamberlain.engine.request_validation`,
with the Cerbos server's messages), responses out."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from chamberlain.engine.request import AuxData, CheckInput, Principal, Resource
from chamberlain.engine.request_validation import (
    CHECK_INPUT,
    PRINCIPAL,
    RESOURCE,
    InvalidRequest,
    Message,
    RequestError,
    RequestLimits,
    check_message,
    raise_violations,
    validate_check_resources,
)
from chamberlain.engine.result import CheckOutput, OutputEntry, ValidationError

__all__ = ["InvalidRequest", "JWTVerifier", "RequestError", "parse_check_resources"]

#: Turns a JWT (``{"token": ..., "keySetId": ...}``) into verified claims; raises RequestError.
JWTVerifier = Callable[[Mapping[str, Any]], Mapping[str, Any]]


def principal_from_json(data: Mapping[str, Any]) -> Principal:
    """A principal from its validated Cerbos JSON."""
    return Principal.prevalidated(
        data["id"],
        data["roles"],
        data.get("attr") or {},
        data.get("policyVersion", data.get("policy_version")) or "",
        data.get("scope") or "",
    )


def resource_from_json(data: Mapping[str, Any]) -> Resource:
    """A resource from its validated Cerbos JSON."""
    return Resource.prevalidated(
        data["kind"],
        data.get("id") or "",
        data.get("attr") or {},
        data.get("policyVersion", data.get("policy_version")) or "",
        data.get("scope") or "",
    )


def _validated(message: Message, data: Any, path: str) -> Mapping[str, Any]:
    violations: list[str] = []
    check_message(message, data, path, violations)
    raise_violations(violations)
    return data


def parse_principal(data: Any, path: str = "principal") -> Principal:
    """A principal from its Cerbos JSON (``id``, ``roles``, ``attr``, ``policyVersion``, ``scope``)."""
    return principal_from_json(_validated(PRINCIPAL, data, path))


def parse_resource(data: Any, path: str = "resource") -> Resource:
    """A resource from its Cerbos JSON (``kind``, ``id``, ``attr``, ``policyVersion``, ``scope``)."""
    return resource_from_json(_validated(RESOURCE, data, path))


def parse_aux_data(data: Any, path: str = "auxData", verify_jwt: JWTVerifier | None = None) -> AuxData:
    """Aux data of a validated request (:data:`AUX_DATA`: tokens, which ``verify_jwt`` turns into claims)
    or of an engine input (:data:`ENGINE_AUX_DATA`: claims already decoded)."""
    if data is None:
        return AuxData()
    p = f"{path}."
    jwt = data.get("jwt") or {}
    if "token" in jwt:
        if verify_jwt is None:
            raise RequestError(
                f"{p}jwt.token", "no JWT verifier is configured: pass decoded claims or a verifier"
            )
        jwt = dict(verify_jwt(jwt))
    claims: dict[str, Any] = {}
    for name, value in (data.get("jwts") or {}).items():
        if "token" in value:
            if verify_jwt is None:
                raise RequestError(f"{p}jwts.{name}.token", "no JWT verifier is configured")
            claims[name] = dict(verify_jwt(value))
        else:
            claims[name] = dict(value.get("claims", value))
    return AuxData(dict(jwt), claims)


def parse_check_input(data: Any, path: str = "") -> CheckInput:
    """An engine check input (Cerbos's ``cerbos.engine.v1.CheckInput``: ``principal``, ``resource``,
    ``actions``, ``auxData`` with decoded claims, ``requestId``), validated against :data:`CHECK_INPUT`."""
    _validated(CHECK_INPUT, data, path)
    return CheckInput(
        principal_from_json(data["principal"]),
        resource_from_json(data["resource"]),
        tuple(data["actions"]),
        parse_aux_data(data.get("auxData", data.get("aux_data")), f"{path}auxData"),
        data.get("requestId", data.get("request_id")) or "",
    )


def parse_check_resources(
    data: Any,
    verify_jwt: JWTVerifier | None = None,
    limits: RequestLimits | None = None,
    *,
    validated: bool = False,
) -> tuple[list[CheckInput], bool]:
    """A CheckResources request: the inputs (one per resource) and ``includeMeta``.

    Validated as the Cerbos server validates it (:func:`validate_check_resources`, with ``limits``)
    unless the caller did just that already (``validated``).
    """
    if not validated:
        validate_check_resources(data, limits)
    request_id = data.get("requestId", data.get("request_id")) or ""
    principal = principal_from_json(data["principal"])
    aux = parse_aux_data(data.get("auxData", data.get("aux_data")), "auxData", verify_jwt)
    include_meta = bool(data.get("includeMeta", data.get("include_meta")))
    inputs = [
        CheckInput(principal, resource_from_json(entry["resource"]), tuple(entry["actions"]), aux, request_id)
        for entry in data["resources"]
    ]
    return inputs, include_meta


# -- responses --------------------------------------------------------------------------------------


def json_number(value: Any) -> Any:
    """A JSON value as protojson prints a ``google.protobuf.Value`` (integral doubles as integers)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 1e21:
        # protojson prints the shortest digits that round-trip: 2.0**64 is 18446744073709552000.
        return int(value) if abs(value) <= 2**53 else int(Decimal(repr(value)))
    if isinstance(value, list):
        return [json_number(v) for v in value]
    if isinstance(value, dict):
        return {k: json_number(v) for k, v in value.items()}
    return value


def output_json(entry: OutputEntry) -> dict[str, Any]:
    out: dict[str, Any] = {"src": entry.src}
    if entry.error:
        out["error"] = entry.error
    else:
        out["val"] = json_number(entry.val)
    if entry.action:
        out["action"] = entry.action
    return out


def validation_error_json(error: ValidationError) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if error.path:
        out["path"] = error.path
    if error.message:
        out["message"] = error.message
    out["source"] = error.source
    return out


def check_resources_response(
    request_id: str, inputs: list[CheckInput], outputs: list[CheckOutput], include_meta: bool
) -> dict[str, Any]:
    """The CheckResources response JSON, as Cerbos's HTTP API prints it (empty fields omitted)."""
    results = []
    for inp, out in zip(inputs, outputs, strict=True):
        res = inp.resource
        resource = {
            k: v
            for k, v in (
                ("id", res.id),
                ("kind", res.kind),
                ("policyVersion", res.policy_version),
                ("scope", res.scope),
            )
            if v
        }
        entry: dict[str, Any] = {
            "resource": resource,
            "actions": {action: effect.effect for action, effect in out.actions.items()},
        }
        if out.validation_errors:
            entry["validationErrors"] = [validation_error_json(e) for e in out.validation_errors]
        if include_meta:
            meta: dict[str, Any] = {"actions": {}}
            for action, effect in out.actions.items():
                m: dict[str, Any] = {}
                if effect.policy:
                    m["matchedPolicy"] = effect.policy
                if effect.scope:
                    m["matchedScope"] = effect.scope
                meta["actions"][action] = m
            if out.effective_derived_roles:
                meta["effectiveDerivedRoles"] = list(out.effective_derived_roles)
            entry["meta"] = meta
        if out.outputs:
            entry["outputs"] = [output_json(o) for o in out.outputs]
        results.append(entry)
    response: dict[str, Any] = {}
    if request_id:
        response["requestId"] = request_id
    response["results"] = results
    return response
