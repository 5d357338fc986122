"""Values a policy would read otherwise than the code acting on them: integers beyond ±2^53 (policies read every
number as a double, as Cerbos does) and objects holding two keys that differ only in case. Every enforcement
point that decides on arguments it then passes on (the MCP gateway, the HTTP gateway, AuthZEN's MCP profile,
:class:`~chamberlain.integrations.tools.ToolGuard`) refuses them the same way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The largest integer magnitude a double holds with every integer below it (2**53): policies read every
#: number as a double (as Cerbos does), so 2**53 + 1 reads as 2**53 to them.
EXACT_INTEGER = 2**53


def inexact_integer(value: Any, path: str = "", *, doubles: bool = False) -> tuple[str, int | float] | None:
    """Where ``value`` holds an integer beyond ±:data:`EXACT_INTEGER` (its path and value), or None: a policy
    reads it as the nearest double (``9007199254740993`` as ``9007199254740992``) while the upstream reads the
    integer sent, so a condition allowing one number would let its neighbours through. ``doubles``: a double
    beyond it counts too (every such double is a whole number): the JSON parser reads an integer literal beyond
    2^64 as one, and an upstream reading the request's own text would read the exact integer."""
    if isinstance(value, dict):
        for key, item in value.items():
            found = inexact_integer(item, f"{path}.{key}", doubles=doubles)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = inexact_integer(item, f"{path}[{index}]", doubles=doubles)
            if found is not None:
                return found
    elif (type(value) is int or (doubles and type(value) is float)) and abs(value) > EXACT_INTEGER:
        return path, value
    return None


def case_twins(value: Any, path: str = "") -> tuple[str, str, str] | None:
    """Where an object in ``value`` holds two keys that differ only in case (its path and the two keys), or None:
    a reader matching names without regard to case (ASP.NET's and System.Text.Json's web defaults, Jackson
    with ``ACCEPT_CASE_INSENSITIVE_PROPERTIES``) takes one of them, maybe not the one a policy read."""
    if isinstance(value, dict):
        seen: dict[str, str] = {}
        for key in value:
            other = seen.setdefault(key.casefold(), key)
            if other != key:
                return path, other, key
        for key, item in value.items():
            found = case_twins(item, f"{path}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = case_twins(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def inexact(tool: str, arguments: Mapping[str, Any], what: str = "tool") -> str:
    """Why the call is refused when its arguments hold an integer policies cannot read exactly, or two keys that
    differ only in case (:func:`case_twins`), or ``""``; ``what``: the kind of thing called (tool, prompt)."""
    twins = case_twins(dict(arguments), "arguments")
    if twins is not None:
        return (
            f"the arguments of {what} {tool!r} are refused: {twins[0]} holds keys {twins[1]!r} and {twins[2]!r}, "
            "which differ only in case: a server reading names without regard to case might take the other "
            "value than the one decided on"
        )
    found = inexact_integer(dict(arguments), "arguments")
    if found is None:
        return ""
    where, number = found
    try:
        read = f"{float(number):.17g}"
    except OverflowError:
        read = "infinity"
    return (
        f"the arguments of {what} {tool!r} are refused: {where} is {number}, an integer beyond ±2^53, which "
        f"policies read as the nearest double ({read}): the tool would run with another number than the one "
        "decided on (send it as a string)"
    )
