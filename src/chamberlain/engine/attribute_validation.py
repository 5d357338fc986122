"""Validating principal and resource attributes against a resource policy's schemas, with the
error paths and messages Cerbos reports (santhosh-tekuri/jsonschema's wording)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

# jsonschema's own finders of what other keywords evaluated (private helpers, but the only ones that follow
# every keyword as the validator does; tests/engine/test_schema_messages_cerbos.py fails if they change).
from jsonschema._utils import find_evaluated_item_indexes_by_schema, find_evaluated_property_keys_by_schema

from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.golang import format_float_g
from chamberlain.cel.golang import quote as go_quote
from chamberlain.cel.lib.core import compile_regex
from chamberlain.engine import glob
from chamberlain.engine.result import ValidationError
from chamberlain.policy import SchemaStore
from chamberlain.policy import model as m
from chamberlain.policy.attribute_schemas import SchemaLoadError

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
        for error in _first_type_errors(validator.iter_errors(dict(attr))):
            errors.extend(_leaves(validator, error, source, skip_required))
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


def _first_type_errors(errors: Iterable[Any]) -> list[Any]:
    """Cerbos's validator stops at a subschema's ``type`` when it fails: the subschema's other keywords
    (``enum``, ``format``, ``multipleOf``, ...) report nothing then."""
    errors = list(errors)
    typed = {_subschema(e) for e in errors if e.validator == "type"}
    return [e for e in errors if e.validator == "type" or _subschema(e) not in typed]


def _subschema(error: Any) -> tuple[Any, ...]:
    return tuple(error.absolute_path), tuple(error.absolute_schema_path)[:-1]


def _leaves(validator: Any, error: Any, source: str, skip_required: bool) -> list[ValidationError]:
    """The errors Cerbos reports for ``error``: the leaves of its tree of causes, with Cerbos's words."""
    if error.context and error.validator in ("anyOf", "oneOf", "allOf"):
        return [
            leaf
            for sub in _first_type_errors(error.context)
            for leaf in _leaves(validator, sub, source, skip_required)
        ]
    if skip_required and error.validator == "required":
        return []
    path = _pointer(error.absolute_path)
    if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
        path = _pointer([*error.absolute_path, error.instance])  # the property whose name fails
    if error.validator in ("contains", "minContains", "maxContains"):
        return _contains(validator, error, path, source)
    if error.validator in ("unevaluatedProperties", "unevaluatedItems"):
        return _unevaluated(validator, error, source)
    if error.validator == "oneOf" and not error.context:
        return [ValidationError(path, _one_of_many(validator, error), source)]
    if error.validator == "items" and error.validator_value is False:
        start = len(error.schema.get("prefixItems") or ())
        return [
            ValidationError(_pointer([*error.absolute_path, i]), "not allowed", source)
            for i in range(start, len(error.instance))
        ]
    return [ValidationError(path, message, source) for message in _messages(error)]


def _one_of_many(validator: Any, error: Any) -> str:
    """``oneOf`` met by more than one subschema: the validator names the first two."""
    valid = (
        i
        for i, sub in enumerate(error.validator_value)
        if validator.evolve(schema=sub).is_valid(error.instance)
    )
    first, second = next(valid, 0), next(valid, 1)
    return f"valid against schemas at indexes {first} and {second}"


def _pointer(tokens: Iterable[Any]) -> str:
    """An instance location as Cerbos writes it: each property name escaped for a JSON pointer (``~0``,
    ``~1``) and then for a URL path segment (Go's ``url.PathEscape``: ``a b`` is ``a%20b``), empty
    names left out (``{"x": {"": 1}}`` fails at ``/x``)."""
    segments = (quote(str(t).replace("~", "~0").replace("/", "~1"), safe="$&+:=@") for t in tokens)
    return "/" + "/".join(s for s in segments if s)


def _unevaluated(validator: Any, error: Any, source: str) -> list[ValidationError]:
    """``unevaluatedProperties``/``unevaluatedItems``: for each property or item that no other keyword
    evaluated, ``not allowed`` (under ``false``) or why it breaks the keyword's schema, at its own path,
    as Cerbos reports them (not one error naming them all)."""
    schema, instance, base = error.schema, error.instance, list(error.absolute_path)
    if error.validator == "unevaluatedProperties":
        seen = find_evaluated_property_keys_by_schema(validator, instance, schema)
        keys: list[Any] = [k for k in instance if k not in seen]
    else:
        seen = find_evaluated_item_indexes_by_schema(validator, instance, schema)
        keys = [i for i in range(len(instance)) if i not in seen]
    if error.validator_value is False:
        return [ValidationError(_pointer([*base, k]), "not allowed", source) for k in keys]
    sub = validator.evolve(schema=error.validator_value)
    return [
        ValidationError(_pointer([*base, k]) + leaf.path.rstrip("/"), leaf.message, source)
        for k in keys
        for e in _first_type_errors(sub.iter_errors(instance[k]))
        for leaf in _leaves(validator, e, source, False)
    ]


def _contains(validator: Any, error: Any, path: str, source: str) -> list[ValidationError]:
    """``contains`` with ``minContains`` (1 unless given) and ``maxContains``: too few matches report
    why the items that do not match fail (or the count when every item matched), as Cerbos does."""
    schema, items = error.schema, error.instance
    low, high = schema.get("minContains", 1), schema.get("maxContains")
    failures = [list(validator.evolve(schema=schema["contains"]).iter_errors(item)) for item in items]
    matched = sum(1 for f in failures if not f)
    if matched < low:
        causes = [
            ValidationError(f"{path.rstrip('/')}/{i}{leaf.path}".rstrip("/"), leaf.message, source)
            for i, found in enumerate(failures)
            for e in _first_type_errors(found)
            for leaf in _leaves(validator, e, source, False)
        ]
        return causes or [ValidationError(path, f"valid must be >= {low}, but got {matched}", source)]
    if high is not None and matched > high:
        return [ValidationError(path, f"valid must be <= {high}, but got {matched}", source)]
    return []


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


def _messages(error: Any) -> list[str]:
    """Cerbos's message(s) for one keyword's error (santhosh-tekuri/jsonschema's wording)."""
    kind, expected, instance = error.validator, error.validator_value, error.instance
    if kind in ("dependentRequired", "dependencies"):  # draft 7's dependencies: its lists only here
        return [
            f"property {_quote(p)} is required, if {_quote(name)} property exists"
            for name, needed in expected.items()
            if name in instance and isinstance(needed, list)
            for p in needed
            if p not in instance
        ]
    if kind == "additionalItems" and expected is False:
        allowed = len(error.schema.get("items") or ())
        return [f"only {allowed} items are allowed, but found {len(instance)} items"]
    if kind == "uniqueItems":
        seen: dict[str, int] = {}
        for i, item in enumerate(instance):
            key = json.dumps(_normal(item), sort_keys=True)
            if key in seen:
                return [f"items at index {seen[key]} and {i} are equal"]
            seen[key] = i
    return [_message(error)]


def _message(error: Any) -> str:
    kind, expected, instance = error.validator, error.validator_value, error.instance
    if kind == "type":
        want = expected if isinstance(expected, str) else " or ".join(expected)
        got = _type_name(instance)
        if got == "integer" and "integer" not in (expected if isinstance(expected, list) else [expected]):
            got = "number"
        return f"expected {want}, but got {got}"
    if kind == "enum":
        if any(isinstance(v, dict | list) for v in expected):
            return "enum failed"
        return "value must be one of " + ", ".join(_go_value(v) for v in expected)
    if kind == "const":
        return "const failed" if isinstance(expected, dict | list) else f"value must be {_go_value(expected)}"
    if kind == "required":
        missing = [p for p in expected if isinstance(instance, dict) and p not in instance]
        return "missing properties: " + ", ".join(_quote(p) for p in missing)
    if kind == "additionalProperties":
        return "additionalProperties " + ", ".join(_quote(k) for k in _additional(error)) + " not allowed"
    # draft 4 writes an exclusive bound as "exclusiveMinimum": true beside "minimum"
    below = "<" if error.schema.get("exclusiveMaximum") is True else "<="
    above = ">" if error.schema.get("exclusiveMinimum") is True else ">="
    simple = {
        "minimum": f"must be {above} {_float(expected)} but found {_float(instance)}",
        "maximum": f"must be {below} {_float(expected)} but found {_float(instance)}",
        "exclusiveMinimum": f"must be > {_float(expected)} but found {_float(instance)}",
        "exclusiveMaximum": f"must be < {_float(expected)} but found {_float(instance)}",
        "pattern": f"does not match pattern {_quote(expected)}",
        "format": f"{_quote(str(instance))} is not valid {_quote(expected)}",
        "multipleOf": f"{_float(instance)} not multipleOf {_float(expected)}",
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


def _additional(error: Any) -> list[str]:
    """The properties ``additionalProperties`` refuses: named in neither ``properties`` nor, by a
    pattern that compiles, ``patternProperties`` (``x-team`` under ``^x-`` is not additional)."""
    patterns = []
    for pattern in error.schema.get("patternProperties") or {}:
        try:
            patterns.append(compile_regex(pattern))
        except EvaluationError:
            continue  # reported as the pattern's own error
    declared = error.schema.get("properties") or {}
    return [k for k in error.instance if k not in declared and not any(r.search(k) for r in patterns)]


def _quote(text: str) -> str:
    """The validator's single-quoted form: Go's ``%q`` with ``\\"`` turned into ``"`` and ``'`` escaped.

    The validator replaces ``\\"`` in the whole quoted text, closing quote included, before it drops
    the quotes: a text ending in a backslash (``C:\\``, whose ``%q`` is ``"C:\\\\"``) keeps one
    backslash of its escaped pair (``'C:\\'``), as Cerbos writes it."""
    inner = go_quote(str(text)).replace('\\"', '"')[1:-1].replace("'", "\\'")
    return f"'{inner}'"


def _go_value(value: Any) -> str:
    """An ``enum``/``const`` value as the validator prints it: strings and numbers (JSON numbers are
    strings in Go) double-quoted, ``null`` as ``<nil>``, booleans as they are."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return go_quote(value if isinstance(value, str) else _num(value))


def _normal(value: Any) -> Any:
    """A JSON value with integral floats as integers (1.0 and 1 are equal items)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    return value


def _float(value: Any) -> str:
    """A bound or an attribute in a ``minimum``/``maximum``/``multipleOf`` message: the validator prints
    both as Go float64s (``%v``): ``must be <= 1e+06 but found 2.5e+06``, ``1.23456789e+08``,
    ``9.007199254740992e+15`` (the attribute is a double; the schema's number becomes one)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)  # the messages are written for every keyword; only a number's is used
    return format_float_g(float(value))


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
