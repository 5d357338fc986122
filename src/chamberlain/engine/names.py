"""Cerbos's names for policies and rules, as decisions report them (``internal/namer``)."""

from __future__ import annotations

import re

DEFAULT_VERSION = "default"
NO_MATCH = "NO_MATCH"
NO_MATCH_FOR_SCOPE_PERMISSIONS = "NO_MATCH_FOR_SCOPE_PERMISSIONS"

# Names that follow the pre-0.30 pattern get their special characters replaced by "_".
_OLD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_@.\-/]*(:[A-Za-z][A-Za-z0-9_@.\-/]*)*$")
_INVALID = re.compile(r"[^A-Za-z0-9_.]+")


def sanitize(name: str) -> str:
    """A resource, principal, role or version name as it appears in policy keys."""
    return _INVALID.sub("_", name) if _OLD_NAME.match(name) else name


def policy_key(kind: str, name: str, version: str, scope: str) -> str:
    """``resource.leave_request.vdefault/acme``: the key of a resource, principal or role policy."""
    key = f"{kind}.{sanitize(name)}.v{sanitize(version or DEFAULT_VERSION)}"
    return f"{key}/{scope}" if scope else key


def scope_value(scope: str) -> str:
    """A request scope as Cerbos uses it: ``"."`` is an alias of the root scope."""
    return scope[1:] if scope.startswith(".") else scope
