"""Cerbos's JSON wire format: requests in (checked field by field), responses out.

Parsing rejects a request with a missing or mistyped field by raising :class:`RequestError`
naming the field (``principal.roles[1]: expected a string``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from chamberlain.engine.request import AuxData, CheckInput, Principal, Resource
from chamberlain.engine.result import CheckOutput, OutputEntry, ValidationError
from chamberlain.errors import Error

#: Turns a JWT (``{"token": ..., "keySetId": ...}``) into verified claims; raises RequestError.
JWTVerifier = Callable[[Mapping[str, Any]], Mapping[str, Any]]


class RequestError(Error):
    """A check request with a missing or mistyped field; ``field`` is its JSON path."""

    def __init__(self, field: str, problem: str):
        self.field = field
        super().__init__(f"invalid request: {field}: {problem}")


def _get(obj: Mapping[str, Any], path: str, *names: str, kind: type | tuple[type, ...], required: bool = False,
         default: Any = None) -> Any:  # fmt: skip
    for name in names:
        if name in obj and obj[name] is not None:
            value = obj[name]
            if not isinstance(value, kind) or (
                kind is not bool and isinstance(value, bool) and bool not in _tuple(kind)
            ):
                want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
                raise RequestError(
                    f"{path}{names[0]}", f"expected {_word(want)}, got {_word(type(value).__name__)}"
                )
            return value
    if required:
        raise RequestError(f"{path}{names[0]}", "missing required field")
    return default


def _tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _word(name: str) -> str:
    return {"str": "a string", "dict": "an object", "list": "a list", "bool": "a boolean"}.get(name, name)


def _strings(values: Any, path: str, *, non_empty: bool) -> tuple[str, ...]:
    if not isinstance(values, list):
        raise RequestError(path, "expected a list of strings")
    if non_empty and not values:
        raise RequestError(path, "must hold at least one value")
    for i, v in enumerate(values):
        if not isinstance(v, str) or not v:
            raise RequestError(f"{path}[{i}]", "expected a non-empty string")
    return tuple(values)


def parse_principal(data: Any, path: str = "principal") -> Principal:
    """A principal from its Cerbos JSON (``id``, ``roles``, ``attr``, ``policyVersion``, ``scope``)."""
    if not isinstance(data, Mapping):
        raise RequestError(path, "expected an object")
    p = f"{path}."
    pid = _get(data, p, "id", kind=str, required=True)
    if not pid:
        raise RequestError(f"{p}id", "must not be empty")
    roles = _strings(_get(data, p, "roles", kind=list, required=True), f"{p}roles", non_empty=True)
    return Principal(
        pid,
        roles,
        _get(data, p, "attr", kind=dict, default={}),
        _get(data, p, "policyVersion", "policy_version", kind=str, default=""),
        _get(data, p, "scope", kind=str, default=""),
    )


def parse_resource(data: Any, path: str = "resource") -> Resource:
    """A resource from its Cerbos JSON (``kind``, ``id``, ``attr``, ``policyVersion``, ``scope``)."""
    if not isinstance(data, Mapping):
        raise RequestError(path, "expected an object")
    p = f"{path}."
    kind = _get(data, p, "kind", kind=str, required=True)
    if not kind:
        raise RequestError(f"{p}kind", "must not be empty")
    return Resource(
        kind,
        _get(data, p, "id", kind=str, required=True),
        _get(data, p, "attr", kind=dict, default={}),
        _get(data, p, "policyVersion", "policy_version", kind=str, default=""),
        _get(data, p, "scope", kind=str, default=""),
    )


def parse_aux_data(data: Any, path: str = "auxData", verify_jwt: JWTVerifier | None = None) -> AuxData:
    """Aux data: ``jwt`` holds claims, or ``{"token": ...}`` that ``verify_jwt`` turns into claims."""
    if data is None:
        return AuxData()
    if not isinstance(data, Mapping):
        raise RequestError(path, "expected an object")
    p = f"{path}."
    jwt = _get(data, p, "jwt", kind=dict, default={})
    if "token" in jwt:
        if verify_jwt is None:
            raise RequestError(
                f"{p}jwt.token", "no JWT verifier is configured: pass decoded claims or a verifier"
            )
        jwt = dict(verify_jwt(jwt))
    jwts = _get(data, p, "jwts", kind=dict, default={})
    claims: dict[str, Any] = {}
    for name, value in jwts.items():
        if not isinstance(value, Mapping):
            raise RequestError(f"{p}jwts.{name}", "expected an object")
        if "token" in value:
            if verify_jwt is None:
                raise RequestError(f"{p}jwts.{name}.token", "no JWT verifier is configured")
            claims[name] = dict(verify_jwt(value))
        else:
            claims[name] = dict(value.get("claims", value))
    return AuxData(jwt, claims)


def parse_check_input(data: Any, path: str = "") -> CheckInput:
    """An engine check input (``principal``, ``resource``, ``actions``, ``auxData``, ``requestId``)."""
    if not isinstance(data, Mapping):
        raise RequestError(path or "$", "expected an object")
    return CheckInput(
        parse_principal(data.get("principal"), f"{path}principal"),
        parse_resource(data.get("resource"), f"{path}resource"),
        _strings(_get(data, path, "actions", kind=list, required=True), f"{path}actions", non_empty=True),
        parse_aux_data(data.get("auxData", data.get("aux_data")), f"{path}auxData"),
        _get(data, path, "requestId", "request_id", kind=str, default=""),
    )


def parse_check_resources(data: Any, verify_jwt: JWTVerifier | None = None) -> tuple[list[CheckInput], bool]:
    """A CheckResources request: the inputs (one per resource) and ``includeMeta``."""
    if not isinstance(data, Mapping):
        raise RequestError("$", "expected a JSON object")
    request_id = _get(data, "", "requestId", "request_id", kind=str, default="")
    principal = parse_principal(data.get("principal"), "principal")
    aux = parse_aux_data(data.get("auxData", data.get("aux_data")), "auxData", verify_jwt)
    entries = _get(data, "", "resources", kind=list, required=True)
    if not entries:
        raise RequestError("resources", "must hold at least one resource")
    include_meta = _get(data, "", "includeMeta", "include_meta", kind=bool, default=False)
    inputs = []
    for i, entry in enumerate(entries):
        path = f"resources[{i}]."
        if not isinstance(entry, Mapping):
            raise RequestError(f"resources[{i}]", "expected an object")
        actions = _strings(
            _get(entry, path, "actions", kind=list, required=True), f"{path}actions", non_empty=True
        )
        resource = parse_resource(entry.get("resource"), f"{path}resource")
        inputs.append(CheckInput(principal, resource, actions, aux, request_id))
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


def check_resources_response(request_id: str, inputs: list[CheckInput], outputs: list[CheckOutput],
                             include_meta: bool) -> dict[str, Any]:  # fmt: skip
    """The CheckResources response JSON, as Cerbos's HTTP API prints it (empty fields omitted)."""
    results = []
    for inp, out in zip(inputs, outputs, strict=True):
        res = inp.resource
        resource = {k: v for k, v in (("id", res.id), ("kind", res.kind), ("policyVersion", res.policy_version),
                                       ("scope", res.scope)) if v}  # fmt: skip
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
