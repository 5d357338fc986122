"""Scopes: the ``scope`` claim (space-separated, RFC 6749 §3.3) and which scope an action needs.

The scope an action on a resource needs is ``scopeMapping[kind][action]``, else
``scopeMapping[kind]["*"]``, else ``"<kind>:<action>"``. A token's scopes are matched exactly: a
scope in a token never stands for others (no wildcards), so a token cannot be read more widely
than it was written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

_ANY_ACTION = "*"


def parse_scope(value: str) -> tuple[str, ...]:
    """``"a b a"`` -> ``("a", "b")``: the scopes of a ``scope`` string, in order, without repeats."""
    return tuple(dict.fromkeys(value.split()))


def format_scope(scopes: Iterable[str]) -> str:
    return " ".join(scopes)


def valid_scope_token(value: str) -> bool:
    """A scope-token per RFC 6749 §3.3: printable ASCII except space, ``"`` and ``\\``."""
    return bool(value) and all(0x21 <= ord(c) <= 0x7E and c not in '"\\' for c in value)


class ScopeMapping:
    """Resource kind and action -> the scope a delegation token must hold to do it."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: Mapping[str, Mapping[str, str]] | None = None):
        self._mapping = MappingProxyType({kind: dict(actions) for kind, actions in (mapping or {}).items()})

    def required(self, kind: str, action: str) -> str:
        """The scope needed for ``action`` on a resource of ``kind``."""
        actions = self._mapping.get(kind)
        if actions:
            scope = actions.get(action) or actions.get(_ANY_ACTION)
            if scope:
                return scope
        return f"{kind}:{action}"

    def as_dict(self) -> dict[str, dict[str, str]]:
        return {kind: dict(actions) for kind, actions in self._mapping.items()}
