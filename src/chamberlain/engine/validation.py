"""Validating principal and resource attributes against a resource policy's schemas, with the
error paths and messages Cerbos reports (santhosh-tekuri/jsonschema's wording)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from chamberlain.engine import glob
from chamberlain.engine.result import ValidationError
from chamberlain.policy import SchemaStore
from chamberlain.policy import model as m
from chamberlain.policy.schema import SchemaLoadError

SOURCE_PRINCIPAL = "SOURCE_PRINCIPAL"
SOURCE_RESOURCE = "SOURCE_RESOURCE"


def validate(
    store: SchemaStore,
    schemas: m.Schemas,
    principal_attr: Mapping[str, Any],
    resource_attr: Mapping[str, Any],
    actions: Iterable[str],
    *,
    partial_resource: bool = False,
) -> list[ValidationError]:
    """Every violation of the principal and resource schemas (those not ignored for ``actions``).

    ``partial_resource``: the resource's attributes may be incomplete (a query plan's), so missing
    required properties are not violations there — as Cerbos validates a PlanResources input.
    """
    actions = list(actions)
    errors: list[ValidationError] = []
    for source, noun, ref, attr in (
        (SOURCE_PRINCIPAL, "principal", schemas.principal_schema, principal_attr),
        (SOURCE_RESOURCE, "resource", schemas.resource_schema, resource_attr),
    ):
        if ref is None or not ref.ref or _ignored(ref, actions):
            continue
        try:
            validator = store.validator(ref.ref)
        except SchemaLoadError as exc:
            errors.append(ValidationError("", f'Failed to load {noun} schema "{ref.ref}": {exc}', source))
            continue
        skip_required = partial_resource and source == SOURCE_RESOURCE
        for error in validator.iter_errors(dict(attr)):
            errors.extend(_leaves(error, source, skip_required))
    # jsonschema reports each missing required property on its own; Cerbos (like the message
    # built here, which names them all) reports them once.
    return list(dict.fromkeys(errors))


def _ignored(ref: m.SchemaRef, actions: list[str]) -> bool:
    if ref.ignore_when is None or not ref.ignore_when.actions:
        return False
    remaining = actions
    for pattern in ref.ignore_when.actions:
        remaining = [a for a in remaining if not glob.matches(pattern, a)]
    return not remaining


def _leaves(error: Any, source: str, skip_required: bool) -> list[ValidationError]:
    if error.context and error.validator in ("anyOf", "oneOf", "allOf"):
        return [leaf for sub in error.context for leaf in _leaves(sub, source, skip_required)]
    if skip_required and error.validator == "required":
        return []
    path = "/" + "/".join(str(p) for p in error.absolute_path)
    return [ValidationError(path, _message(error), source)]


def _j(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "integer" if isinstance(value, int) or float(value).is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _message(error: Any) -> str:
    kind, expected, instance = error.validator, error.validator_value, error.instance
    if kind == "type":
        want = expected if isinstance(expected, str) else " or ".join(expected)
        got = _type_name(instance)
        if got == "integer" and "integer" not in (expected if isinstance(expected, list) else [expected]):
            got = "number"
        return f"expected {want}, but got {got}"
    if kind == "enum":
        return "value must be one of " + ", ".join(_j(v) for v in expected)
    if kind == "const":
        return f"value must be {_j(expected)}"
    if kind == "required":
        missing = [p for p in expected if isinstance(instance, dict) and p not in instance]
        return "missing properties: " + ", ".join(f"'{p}'" for p in missing)
    if kind == "additionalProperties":
        extra = [k for k in instance if k not in (error.schema.get("properties") or {})]
        return "additionalProperties " + ", ".join(f"'{k}'" for k in extra) + " not allowed"
    simple = {
        "minimum": f"must be >= {_num(expected)} but found {_num(instance)}",
        "maximum": f"must be <= {_num(expected)} but found {_num(instance)}",
        "exclusiveMinimum": f"must be > {_num(expected)} but found {_num(instance)}",
        "exclusiveMaximum": f"must be < {_num(expected)} but found {_num(instance)}",
        "pattern": f"does not match pattern {_j(expected)}",
        "format": f"{_j(instance)} is not valid {_j(expected)}",
        "multipleOf": f"{_num(instance)} not multipleOf {_num(expected)}",
        "not": "not failed",
        "false": "not allowed",
    }
    if kind in simple:
        return simple[kind]
    if kind in ("minLength", "maxLength"):
        op = ">=" if kind == "minLength" else "<="
        return f"length must be {op} {expected}, but got {len(instance)}"
    if kind in ("minItems", "maxItems"):
        word = "minimum" if kind == "minItems" else "maximum"
        return f"{word} {expected} items required, but found {len(instance)} items"
    if kind in ("minProperties", "maxProperties"):
        word = "minimum" if kind == "minProperties" else "maximum"
        return f"{word} {expected} properties allowed, but found {len(instance)} properties"
    return str(error.message)


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
