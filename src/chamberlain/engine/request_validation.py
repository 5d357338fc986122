"""Validate requests the way Cerbos's protojson decoding and ``buf.validate`` rules do: the one
validator of every entry point (the server's Cerbos and AuthZEN APIs, ``PDP.check_resources``,
``PDP.plan_resources``, ``chamberlain check``, and the ``Principal``/``Resource`` constructors).

Structural problems (a non-object body, an unknown field, a value of the wrong JSON type) stop at
once with one message, as protojson does. Rule violations (required fields, empty strings,
duplicate actions, patterns) are all collected and reported together, worded as Cerbos words them:
``validation error: principal.id: value is required``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chamberlain.errors import Error

VERSION = re.compile(r"^[\w]*$")
SCOPE = re.compile(r"^(^$|\.|[0-9a-zA-Z][\w\-]*(\.\w[\w\-]*)*)$")


class RequestError(Error):
    """A request that cannot be decided; ``field`` is the JSON path of the problem (may be empty)."""

    def __init__(self, field: str, problem: str):
        self.field = field
        super().__init__(f"invalid request: {field}: {problem}")


class InvalidRequest(RequestError):
    """A request Cerbos would reject with INVALID_ARGUMENT; ``str()`` is Cerbos's message."""

    def __init__(self, message: str, field: str = ""):
        self.field = field
        Error.__init__(self, message)


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """Cerbos's ``server.requestLimits`` (its defaults): resources per request, actions per resource."""

    max_resources_per_request: int = 50
    max_actions_per_resource: int = 50


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
AUX_DATA = Message(
    "AuxData",
    (
        Field("jwt", "jwt", _JWT),
        Field("jwts", "jwts", ("map", _JWT)),
        Field("delegation", "delegation", VALUE),
        Field("session", "session", VALUE),
        Field("approval", "approval", VALUE),
    ),
)
PRINCIPAL = Message(
    "Principal",
    (
        Field("id", "id", STRING, required=True),
        Field("policyVersion", "policy_version", STRING, pattern=VERSION),
        Field("roles", "roles", ("list", STRING), required=True, unique=True),
        Field("attr", "attr", ("map", VALUE)),
        Field("scope", "scope", STRING, pattern=SCOPE),
    ),
)
RESOURCE = Message(
    "Resource",
    (
        Field("kind", "kind", STRING, required=True),
        Field("policyVersion", "policy_version", STRING, pattern=VERSION),
        Field("id", "id", STRING, required=True),
        Field("attr", "attr", ("map", VALUE)),
        Field("scope", "scope", STRING, pattern=SCOPE),
    ),
)
_ENTRY = Message(
    "ResourceEntry",
    (
        Field("actions", "actions", ("list", STRING), required=True, unique=True),
        Field("resource", "resource", RESOURCE, required=True),
    ),
)
CHECK_RESOURCES = Message(
    "CheckResourcesRequest",
    (
        Field("requestId", "request_id", STRING),
        Field("includeMeta", "include_meta", BOOL),
        Field("principal", "principal", PRINCIPAL, required=True),
        Field("resources", "resources", ("list", _ENTRY), required=True),
        Field("auxData", "aux_data", AUX_DATA),
        Field("requestContext", "request_context", Message("RequestContext", (), open=True)),
    ),
)


PLAN_RESOURCE = Message(
    "PlanResourcesInput.Resource",
    (
        Field("kind", "kind", STRING, required=True),
        Field("attr", "attr", ("map", VALUE, ANY_KEYS)),
        Field("policyVersion", "policy_version", STRING, pattern=VERSION),
        Field("scope", "scope", STRING, pattern=SCOPE),
    ),
)
PLAN_RESOURCES = Message(
    "PlanResourcesRequest",
    (
        Field("requestId", "request_id", STRING),
        Field("action", "action", STRING),
        Field("actions", "actions", ("list", NON_EMPTY_ITEM), unique=True, max_items=20),
        Field("principal", "principal", PRINCIPAL, required=True),
        Field("resource", "resource", PLAN_RESOURCE, required=True),
        Field("auxData", "aux_data", AUX_DATA),
        Field("includeMeta", "include_meta", BOOL),
        Field("requestContext", "request_context", Message("RequestContext", (), open=True)),
    ),
)


#: Cerbos's engine-level ``cerbos.engine.v1.CheckInput`` (its engine tests' inputs): ``auxData`` holds
#: claims already decoded (``jwt``: claims; ``jwts``: name -> claims, or ``{"claims": ...}``), or tokens.
ENGINE_AUX_DATA = Message(
    "AuxData",
    (Field("jwt", "jwt", ("map", VALUE, ANY_KEYS)), Field("jwts", "jwts", ("map", ("map", VALUE, ANY_KEYS)))),
)
CHECK_INPUT = Message(
    "CheckInput",
    (
        Field("requestId", "request_id", STRING),
        Field("resource", "resource", RESOURCE, required=True),
        Field("principal", "principal", PRINCIPAL, required=True),
        Field("actions", "actions", ("list", STRING), required=True),
        Field("auxData", "aux_data", ENGINE_AUX_DATA),
    ),
)


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
    raise_violations(violations)


def _type_error(path: str, expected: str, value: Any) -> InvalidRequest:
    """protojson's ``invalid value for string field roles: null``, with the field's whole path."""
    if isinstance(value, dict | list):
        shown = "object" if isinstance(value, dict) else "list"
    else:
        try:
            shown = json.dumps(value)
        except (TypeError, ValueError):
            shown = type(value).__name__
    return InvalidRequest(f"invalid value for {expected} field {path or 'request'}: {shown}", path)


def _kind_name(kind: Any) -> str:
    if isinstance(kind, Message):
        return kind.name
    return "string" if kind in (STRING, NON_EMPTY_ITEM) else str(kind)


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
                raise _type_error(f"{path}[{i}]", _kind_name(kind[1]), item)
            _check(kind[1], item, f"{path}[{i}]", violations)
            if kind[1] == STRING and item == "":
                violations.append(f"{path}[{i}]: must be at least 1 characters")
    else:  # map
        if not isinstance(value, dict):
            raise _type_error(path, "map", value)
        for key, item in value.items():
            if key == "" and len(kind) < 3:
                violations.append(f'{path}[""]: must be at least 1 characters')
            _check(kind[1], item, f'{path}["{key}"]', violations)


def check_message(message: Message, value: Any, path: str, violations: list[str]) -> None:
    """Check ``value`` against ``message``; raise on a structural error, append rule violations."""
    if not isinstance(value, Mapping):
        raise _type_error(path, message.name, value)
    if message.open:
        return
    prefix = f"{path}." if path else ""
    names = {}
    for f in message.fields:
        names[f.json] = names[f.proto] = f
    seen: set[str] = set()
    for key in value:
        f = names.get(key)
        if f is None:
            raise InvalidRequest(f'unknown field "{key}"' + (f" in {path}" if path else ""), f"{prefix}{key}")
        if f.proto in seen:
            raise InvalidRequest(
                f'duplicate field "{key}"' + (f" in {path}" if path else ""), f"{prefix}{key}"
            )
        seen.add(f.proto)
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
    if _valid_message(message, value):
        return
    if not isinstance(value, Mapping):
        raise InvalidRequest("request body must be a JSON object")
    violations: list[str] = []
    check_message(message, value, "", violations)
    raise_violations(violations)


def raise_violations(violations: list[str]) -> None:
    """Raise :class:`InvalidRequest` for the rule violations found, if any, as Cerbos words them."""
    if not violations:
        return
    field = violations[0].split(": ", 1)[0] if ": " in violations[0] else ""
    if len(violations) == 1:
        raise InvalidRequest(f"validation error: {violations[0]}", field)
    raise InvalidRequest("validation errors:\n" + "\n".join(f" - {v}" for v in violations), field)


def check_limits(request: Mapping[str, Any], limits: RequestLimits) -> None:
    """Cerbos's ``server.requestLimits``, with its messages."""
    max_resources, max_actions = limits.max_resources_per_request, limits.max_actions_per_resource
    resources = request.get("resources") or []
    if len(resources) > max_resources:
        raise InvalidRequest(
            f"number of resources in batch ({len(resources)}) exceeds configured limit ({max_resources})"
        )
    for entry in resources:
        n = len(entry.get("actions") or [])
        if n > max_actions:
            raise InvalidRequest(f"number of actions ({n}) exceeds configured limit ({max_actions})")


def validate_check_resources(request: Any, limits: RequestLimits | None = None) -> None:
    """A CheckResources request as the Cerbos server checks it: fields, rules, then ``limits``."""
    validate(CHECK_RESOURCES, request)
    if limits is not None:
        check_limits(request, limits)


def _as_list(value: Any, path: str) -> list[Any]:
    """An iterable of items (a set, tuple or list) as a list; a string, bytes or mapping is refused
    (``roles="admin"`` is one role misspelled, not five letters)."""
    if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__"):
        raise _type_error(path, "list", value)
    return list(value)


def _as_map(value: Any, path: str) -> Any:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _type_error(path, "map", value)
    return dict(value)


def _check_object(message: Message, path: str, doc: dict[str, Any]) -> None:
    violations: list[str] = []
    check_message(message, {k: v for k, v in doc.items() if v is not None}, path, violations)
    raise_violations(violations)


# What an embedded Principal or Resource usually is, accepted without building the document the table-driven
# check reads: measured (cProfile, bench/engine_bench.py's fresh objects), that check was half of an
# ``is_allowed`` with new objects. Each accepts only values the table-driven check accepts; anything else
# goes through it, for its exact message.
def _plain_roles(roles: Any) -> bool:
    """Non-empty strings, at least one, no two equal (as ``roles``' rules say)."""
    kind = type(roles)
    if kind is not tuple and kind is not list and kind is not set and kind is not frozenset:
        return False
    for role in roles:
        if type(role) is not str or not role:
            return False
    return bool(roles) and (kind is set or kind is frozenset or len(set(roles)) == len(roles))


def _plain_attr(attr: Any) -> bool:
    """No attributes, or a dict without an empty key."""
    return attr is None or (type(attr) is dict and "" not in attr)


def _plain(value: Any, pattern: re.Pattern[str]) -> bool:
    """Absent, empty, or a string ``pattern`` matches."""
    return value is None or value == "" or (type(value) is str and pattern.match(value) is not None)


def check_principal(
    id: Any, roles: Any, attr: Any, policy_version: Any, scope: Any, path: str = "principal"
) -> None:
    """The fields of a ``Principal`` as the server checks ``principal`` in a request."""
    if (
        type(id) is str
        and id
        and _plain_roles(roles)
        and (attr is None or (type(attr) is dict and "" not in attr))  # _plain_attr, inline (hot path)
        and (policy_version == "" or _plain(policy_version, VERSION))  # the defaults without a call
        and (scope == "" or _plain(scope, SCOPE))
    ):
        return
    _check_object(
        PRINCIPAL,
        path,
        {
            "id": id,
            "roles": _as_list(roles, f"{path}.roles"),
            "attr": _as_map(attr, f"{path}.attr"),
            "policyVersion": policy_version,
            "scope": scope,
        },
    )


def check_resource(
    kind: Any, id: Any, attr: Any, policy_version: Any, scope: Any, path: str = "resource"
) -> None:
    """The fields of a ``Resource`` as the server checks ``resources[].resource`` in a request."""
    if (
        type(kind) is str
        and kind
        and type(id) is str
        and id
        and (attr is None or (type(attr) is dict and "" not in attr))  # _plain_attr, inline (hot path)
        and (policy_version == "" or _plain(policy_version, VERSION))  # the defaults without a call
        and (scope == "" or _plain(scope, SCOPE))
    ):
        return
    _check_object(
        RESOURCE,
        path,
        {
            "kind": kind,
            "id": id,
            "attr": _as_map(attr, f"{path}.attr"),
            "policyVersion": policy_version,
            "scope": scope,
        },
    )


def check_actions(
    actions: Any, resources: int, limits: RequestLimits, path: str = "actions"
) -> tuple[str, ...]:
    """The actions of an embedded check (the same for each of ``resources`` resources), checked as the
    server checks each ``resources[].actions``, and the request limits; returns them as a tuple."""
    items = _as_list(actions, path)
    violations: list[str] = []
    check_message(_ENTRY_ACTIONS, {"actions": items}, "", violations)
    raise_violations([v.replace("actions", path, 1) for v in violations])
    if resources > limits.max_resources_per_request:
        raise InvalidRequest(
            f"number of resources in batch ({resources}) exceeds configured limit ({limits.max_resources_per_request})"
        )
    if len(items) > limits.max_actions_per_resource:
        raise InvalidRequest(
            f"number of actions ({len(items)}) exceeds configured limit ({limits.max_actions_per_resource})"
        )
    return tuple(items)


_ENTRY_ACTIONS = Message("Actions", (_ENTRY.fields[0],))


# -- the fast path: is it valid at all? ---------------------------------------------------------------
#
# Every request is validated before it is decided; walking it with check_message builds a path string
# for every field and goes through _check for every value. Measured in one run (bench/server_bench.py's
# requests): 34 us for 1 resource x 3 actions, 75 us for 5 x 5; this fast path 12 and 36 us.
# _valid_message answers only "valid or not", allocating nothing;
# when it says no (or meets anything unusual: a Mapping that is not a dict, a str subclass...),
# check_message runs and words the error exactly as before. So it must never say yes where
# check_message would raise or report a violation (tests/engine/test_request_fast_validation.py).

#: By id (hashing a Message hashes every nested field); each plan keeps its message alive, so an id is
#: never reused for another message while its plan is here.
_PLANS: dict[int, tuple[Message, dict[str, tuple[int, Field]], int]] = {}


def _plan(message: Message) -> tuple[Message, dict[str, tuple[int, Field]], int]:
    """``message``, each of its keys (JSON and proto names) with its field's position, how many are required."""
    found = _PLANS.get(id(message))
    if found is None or found[0] is not message:
        names: dict[str, tuple[int, Field]] = {}
        for i, f in enumerate(message.fields):
            names[f.json] = names[f.proto] = (i, f)
        found = _PLANS[id(message)] = (message, names, sum(f.required for f in message.fields))
    return found


def _valid_message(message: Message, value: Any) -> bool:
    if type(value) is not dict:
        return False
    if message.open:
        return True
    _, names, required = _plan(message)
    present = 0  # a bit per field: one given by both its JSON and its proto name is a duplicate
    for key, v in value.items():
        found = names.get(key)
        if found is None:
            return False
        bit = 1 << found[0]
        if present & bit:
            return False
        present |= bit
        f = found[1]
        if v is None:
            if f.required:
                return False
            continue
        kind = f.kind
        if f.required:
            if v == "" or v == [] or (v == {} and type(kind) is not Message):
                return False
            required -= 1
        if not _valid(kind, v):
            return False
        if type(v) is list:
            if f.unique and len(set(v)) != len(v):  # the items are strings here: _valid checked them
                return False
            if f.max_items and len(v) > f.max_items:
                return False
        elif f.pattern is not None and not f.pattern.match(v):
            return False
    return required == 0 and not (message is AUX_DATA and value.get("jwt") and value.get("jwts"))


def _valid(kind: Any, value: Any) -> bool:
    # by type first: comparing a Message (a dataclass) with a string is a call of its __eq__
    if type(kind) is Message:
        return _valid_message(kind, value)
    if type(kind) is str:
        if kind is STRING:
            return type(value) is str
        if kind is VALUE:
            return True
        if kind is BOOL:
            return type(value) is bool
        return kind is NON_EMPTY_ITEM and type(value) is str and value != ""
    item = kind[1]
    if kind[0] == "list":
        if type(value) is not list:
            return False
        if item is STRING:
            return all(type(v) is str and v != "" for v in value)
        return all(v is not None and _valid(item, v) for v in value)
    if type(value) is not dict or (len(kind) < 3 and "" in value):
        return False
    if item is VALUE:
        return all(type(k) is str for k in value)
    return all(type(k) is str and _valid(item, v) for k, v in value.items())
