"""Validate request JSON the way Cerbos's protojson decoding and ``buf.validate`` rules do.

Structural problems (a non-object body, an unknown field, a value of the wrong JSON type) stop at
once with one message, as protojson does. Rule violations (required fields, empty strings,
duplicate actions, patterns) are all collected and reported together, worded as Cerbos words them:
``validation error: principal.id: value is required``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chamberlain.errors import Error

VERSION = re.compile(r"^[\w]*$")
SCOPE = re.compile(r"^(^$|\.|[0-9a-zA-Z][\w\-]*(\.\w[\w\-]*)*)$")


class InvalidRequest(Error):
    """A request Cerbos would reject with INVALID_ARGUMENT; ``str()`` is the message to answer."""


@dataclass(frozen=True, slots=True)
class Field:
    """One message field: JSON name, proto name, kind and rules."""

    json: str
    proto: str
    kind: Any  # "string" | "bool" | "value" | "struct" | Message | ("list", kind) | ("map", kind)
    required: bool = False
    unique: bool = False
    pattern: re.Pattern[str] | None = None
    max_items: int = 0


@dataclass(frozen=True, slots=True)
class Message:
    name: str
    fields: tuple[Field, ...]
    open: bool = False  # accept any keys (messages chamberlain does not read)


STRING, BOOL, VALUE, STRUCT = "string", "bool", "value", "struct"
#: A string list item that must not be empty, worded as Cerbos's PlanResources rules word it.
NON_EMPTY_ITEM = "non-empty item"
#: A map whose keys may be empty (no key rule).
ANY_KEYS = "any keys"

_JWT = Message(
    "JWT", (Field("token", "token", STRING, required=True), Field("keySetId", "key_set_id", STRING))
)
# ``delegation`` is chamberlain's extension naming a chain's actors (chamberlain.delegation.cerbos_check),
# ``session`` the one naming the session a check belongs to (chamberlain.sessions.guard reads it),
# ``approval`` the approval a retried action names (chamberlain.approvals.guard reads it).
AUX_DATA = Message("AuxData", (Field("jwt", "jwt", _JWT), Field("jwts", "jwts", ("map", _JWT)),
                               Field("delegation", "delegation", VALUE), Field("session", "session", VALUE),
                               Field("approval", "approval", VALUE)))  # fmt: skip
PRINCIPAL = Message("Principal", (
    Field("id", "id", STRING, required=True),
    Field("policyVersion", "policy_version", STRING, pattern=VERSION),
    Field("roles", "roles", ("list", STRING), required=True, unique=True),
    Field("attr", "attr", ("map", VALUE)),
    Field("scope", "scope", STRING, pattern=SCOPE),
))  # fmt: skip
RESOURCE = Message("Resource", (
    Field("kind", "kind", STRING, required=True),
    Field("policyVersion", "policy_version", STRING, pattern=VERSION),
    Field("id", "id", STRING, required=True),
    Field("attr", "attr", ("map", VALUE)),
    Field("scope", "scope", STRING, pattern=SCOPE),
))  # fmt: skip
_ENTRY = Message("ResourceEntry", (
    Field("actions", "actions", ("list", STRING), required=True, unique=True),
    Field("resource", "resource", RESOURCE, required=True),
))  # fmt: skip
CHECK_RESOURCES = Message("CheckResourcesRequest", (
    Field("requestId", "request_id", STRING),
    Field("includeMeta", "include_meta", BOOL),
    Field("principal", "principal", PRINCIPAL, required=True),
    Field("resources", "resources", ("list", _ENTRY), required=True),
    Field("auxData", "aux_data", AUX_DATA),
    Field("requestContext", "request_context", Message("RequestContext", (), open=True)),
))  # fmt: skip


PLAN_RESOURCE = Message("PlanResourcesInput.Resource", (
    Field("kind", "kind", STRING, required=True),
    Field("attr", "attr", ("map", VALUE, ANY_KEYS)),
    Field("policyVersion", "policy_version", STRING, pattern=VERSION),
    Field("scope", "scope", STRING, pattern=SCOPE),
))  # fmt: skip
PLAN_RESOURCES = Message("PlanResourcesRequest", (
    Field("requestId", "request_id", STRING),
    Field("action", "action", STRING),
    Field("actions", "actions", ("list", NON_EMPTY_ITEM), unique=True, max_items=20),
    Field("principal", "principal", PRINCIPAL, required=True),
    Field("resource", "resource", PLAN_RESOURCE, required=True),
    Field("auxData", "aux_data", AUX_DATA),
    Field("includeMeta", "include_meta", BOOL),
    Field("requestContext", "request_context", Message("RequestContext", (), open=True)),
))  # fmt: skip


def validate_plan_resources(value: Any) -> None:
    """:func:`validate` for a PlanResources request, with its rule that one of ``action``/``actions`` is set."""
    if not isinstance(value, Mapping):
        raise InvalidRequest("request body must be a JSON object")
    violations: list[str] = []
    action = value.get("action", "")
    actions = value.get("actions") or []
    if bool(action) == bool(actions) or (not action and isinstance(actions, list) and not actions):
        violations.append("Exactly one of 'action' or 'actions' field must be set")
    check_message(PLAN_RESOURCES, value, "", violations)
    _raise(violations)


def _type_error(path: str, expected: str, value: Any) -> InvalidRequest:
    shown = (
        repr(value) if not isinstance(value, dict | list) else type(value).__name__.replace("dict", "object")
    )
    return InvalidRequest(f"invalid value for {expected} field {path or 'request'}: {shown}")


def _check(kind: Any, value: Any, path: str, violations: list[str]) -> None:
    if kind == STRING:
        if not isinstance(value, str):
            raise _type_error(path, "string", value)
    elif kind == BOOL:
        if not isinstance(value, bool):
            raise _type_error(path, "bool", value)
    elif kind == VALUE:
        return
    elif kind == NON_EMPTY_ITEM:
        if not isinstance(value, str):
            raise _type_error(path, "string", value)
        if value == "":
            violations.append(f"{path}: must be at least 1 characters")
    elif isinstance(kind, Message):
        check_message(kind, value, path, violations)
    elif kind[0] == "list":
        if not isinstance(value, list):
            raise _type_error(path, "list", value)
        for i, item in enumerate(value):
            if item is None:
                raise _type_error(f"{path}[{i}]", "list element", item)
            _check(kind[1], item, f"{path}[{i}]", violations)
            if kind[1] == STRING and item == "":
                violations.append(f"{path}[{i}]: value length must be at least 1 characters")
    else:  # map
        if not isinstance(value, dict):
            raise _type_error(path, "map", value)
        for key, item in value.items():
            if key == "" and len(kind) < 3:
                violations.append(f"{path}: map key length must be at least 1 characters")
            _check(kind[1], item, f'{path}["{key}"]', violations)


def check_message(message: Message, value: Any, path: str, violations: list[str]) -> None:
    """Check ``value`` against ``message``; raise on a structural error, append rule violations."""
    if not isinstance(value, Mapping):
        raise _type_error(path, message.name, value)
    if message.open:
        return
    names = {}
    for f in message.fields:
        names[f.json] = names[f.proto] = f
    seen: set[str] = set()
    for key in value:
        f = names.get(key)
        if f is None:
            raise InvalidRequest(f'unknown field "{key}"' + (f" in {path}" if path else ""))
        if f.proto in seen:
            raise InvalidRequest(f'duplicate field "{key}"' + (f" in {path}" if path else ""))
        seen.add(f.proto)
    prefix = f"{path}." if path else ""
    for f in message.fields:
        v = value.get(f.json, value.get(f.proto))
        where = f"{prefix}{f.proto}"
        if v is None or v == "" or v == [] or (v == {} and not isinstance(f.kind, Message)):
            if f.required:
                violations.append(f"{where}: value is required")
            if v is None:
                continue
        _check(f.kind, v, where, violations)
        if f.unique and isinstance(v, list) and len(set(map(repr, v))) != len(v):
            violations.append(f"{where}: repeated value must contain unique items")
        if f.max_items and isinstance(v, list) and len(v) > f.max_items:
            violations.append(f"{where}: must contain no more than {f.max_items} item(s)")
        if f.pattern is not None and isinstance(v, str) and not f.pattern.match(v):
            violations.append(f"{where}: does not match regex pattern `{f.pattern.pattern}`")
    if message is AUX_DATA and value.get("jwt") and value.get("jwts"):
        violations.append(f"{path}: Only one of the jwt or jwts fields must be set")


def holds_fields(message: Message, path: tuple[str | int, ...]) -> bool:
    """Whether the object at ``path`` in a ``message`` document is a message (its keys are fields), not a map
    or a ``google.protobuf.Value`` (whose keys are map keys): how Cerbos words a duplicate key there."""
    kind: Any = message
    for step in path:
        if isinstance(kind, Message):
            if kind.open:
                return False
            f = next((f for f in kind.fields if step in (f.json, f.proto)), None)
            if f is None:
                return False
            kind = f.kind
        elif isinstance(kind, tuple):
            kind = kind[1]  # a list element or a map value
        else:  # inside a Value: maps all the way down
            return False
    return isinstance(kind, Message) and not kind.open


def validate(message: Message, value: Any) -> None:
    """Raise :class:`InvalidRequest` with Cerbos's wording when ``value`` is not a valid ``message``."""
    if not isinstance(value, Mapping):
        raise InvalidRequest("request body must be a JSON object")
    violations: list[str] = []
    check_message(message, value, "", violations)
    _raise(violations)


def _raise(violations: list[str]) -> None:
    if len(violations) == 1:
        raise InvalidRequest(f"validation error: {violations[0]}")
    if violations:
        raise InvalidRequest("validation errors:\n" + "\n".join(f" - {v}" for v in violations))


def check_limits(request: Mapping[str, Any], max_resources: int, max_actions: int) -> None:
    """Cerbos's ``server.requestLimits``, with its messages."""
    resources = request.get("resources") or []
    if len(resources) > max_resources:
        raise InvalidRequest(
            f"number of resources in batch ({len(resources)}) exceeds configured limit ({max_resources})"
        )
    for entry in resources:
        n = len(entry.get("actions") or [])
        if n > max_actions:
            raise InvalidRequest(f"number of actions ({n}) exceeds configured limit ({max_actions})")
