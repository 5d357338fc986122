"""The CEL activation Cerbos gives a policy condition.

Cerbos declares these variables (``internal/conditions/cel.go``):

=====================  ===================================================================
``request``            ``{principal, resource, aux_data}`` (also ``auxData``)
``P`` / ``R``          ``request.principal`` / ``request.resource``
``runtime``            ``{effective_derived_roles}`` (also ``effectiveDerivedRoles``), sorted
``variables`` / ``V``  the policy's evaluated variables
``constants`` / ``C``  the policy's constants
``globals`` / ``G``    the engine's configured globals
=====================  ===================================================================

The request objects are protobuf messages there: a field reads as its default (``""``, ``[]``,
``{}``) when unset, and Cerbos accepts both the proto name and the JSON name of every field
(``policy_version`` and ``policyVersion``, ``aux_data`` and ``auxData``), so the maps built here
hold both spellings. Principal: ``id``, ``roles``, ``attr``, ``policy_version``, ``scope``.
Resource: ``kind``, ``id``, ``attr``, ``policy_version``, ``scope``. Aux data: ``jwt`` (the
claims) and ``jwts`` (``{name: {"claims": {...}}}``).

``attr`` and ``jwt`` values are ``google.protobuf.Value`` in Cerbos, so every JSON number is a
CEL ``double``: convert them once per request with :func:`from_json` (``activation`` does not
copy or convert, it is called per condition evaluation and must stay cheap).

The activation also carries ``now`` (not a CEL variable: Cerbos's ``now()`` and ``timeSince()``
read it), one instant (a :class:`~chamberlain.cel.values.Timestamp`, or a datetime) for the whole request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from chamberlain.cel.values import Timestamp

#: The CEL variables a Cerbos condition may reference.
DECLARED_VARIABLES: tuple[str, ...] = (
    "request",
    "P",
    "R",
    "runtime",
    "variables",
    "V",
    "constants",
    "C",
    "globals",
    "G",
)
#: The activation key holding the request's fixed time (read by ``now()``/``timeSince()``).
NOW_KEY = "now"

_EMPTY: Mapping[str, Any] = {}


def activation(
    request: Mapping[str, Any],
    *,
    variables: Mapping[str, Any] | None = None,
    constants: Mapping[str, Any] | None = None,
    globals: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
    effective_derived_roles: Iterable[str] = (),
) -> dict[str, Any]:
    """The activation for one condition evaluation of a Cerbos check request.

    ``request`` is Cerbos's engine request in JSON shape: ``{"principal": {...}, "resource": {...},
    "auxData": {"jwt": {...}}}``; field names may be camelCase or snake_case. Attribute values are
    used as given (see :func:`from_json`). ``now`` (timezone-aware) defaults to the current time,
    read to the nanosecond.
    """
    principal = request.get("principal") or _EMPTY
    resource = request.get("resource") or _EMPTY
    aux = _aux_data(_field(request, "auxData", "aux_data", default=_EMPTY))
    p = _message(principal, {"id": "", "roles": [], "attr": {}, "scope": ""})
    r = _message(resource, {"kind": "", "id": "", "attr": {}, "scope": ""})
    roles = sorted(effective_derived_roles)
    variables = variables if variables is not None else {}
    constants = constants if constants is not None else {}
    globals = globals if globals is not None else {}
    return {
        "request": {"principal": p, "resource": r, "aux_data": aux, "auxData": aux},
        "P": p,
        "R": r,
        "runtime": {"effective_derived_roles": roles, "effectiveDerivedRoles": roles},
        "variables": variables,
        "V": variables,
        "constants": constants,
        "C": constants,
        "globals": globals,
        "G": globals,
        NOW_KEY: _utc(now),
    }


def from_json(value: Any) -> Any:
    """A JSON value as Cerbos's CEL sees a ``google.protobuf.Value``: every number is a double.

    Containers are copied only where something changes (an int becomes a float, a tuple a list),
    so attributes that are already CEL values cost one pass and no allocation: the caller must
    not mutate them afterwards. Dispatch is on the exact type first (this runs once per check).
    """
    t = type(value)
    if t is str or t is float or t is bool or value is None:
        return value
    # Each child is converted once (converting it again to build the copy made the cost 2**depth).
    if t is dict:
        changed: dict[str, Any] | None = None
        for k, v in value.items():
            tv = type(v)
            if tv is str or tv is float or tv is bool or v is None:
                continue
            c = (
                float(v) if tv is int else from_json(v)
            )  # an int attribute without a call (a fresh Resource's)
            if c is not v:
                if changed is None:
                    changed = {}
                changed[k] = c
        return value if changed is None else {**value, **changed}
    if t is int:
        return float(value)
    if t is list:
        out: list[Any] | None = None
        for i, v in enumerate(value):
            tv = type(v)
            if tv is str or tv is float or tv is bool or v is None:
                continue
            c = from_json(v)
            if c is not v:
                if out is None:
                    out = list(value)
                out[i] = c
        return value if out is None else out
    if isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, Mapping):
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [from_json(v) for v in value]
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _utc(now: dt.datetime | None) -> Timestamp:
    if now is None:
        return Timestamp.now()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return Timestamp.from_datetime(now)


def _field(fields: Mapping[str, Any], *names: str, default: Any) -> Any:
    """The first of ``names`` set in ``fields`` (JSON name, then proto name), else the default."""
    for name in names:
        value = fields.get(name)
        if value is not None:
            return value
    return default


def _message(fields: Mapping[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """A principal or resource with every field set, under both names for ``policy_version``."""
    message = {name: _field(fields, name, default=default) for name, default in defaults.items()}
    # Cerbos trims a leading "." from scopes when it builds the request.
    message["scope"] = message["scope"].removeprefix(".")
    version = _field(fields, "policyVersion", "policy_version", default="")
    message["policy_version"] = message["policyVersion"] = version
    return message


def _aux_data(aux: Mapping[str, Any]) -> dict[str, Any]:
    jwts = aux.get("jwts") or _EMPTY
    return {
        "jwt": aux.get("jwt") or {},
        "jwts": {name: {"claims": (jwt or _EMPTY).get("claims") or {}} for name, jwt in jwts.items()},
    }
