"""The actor chain: who acts for the subject, current actor first, as nested ``act`` claims carry it.

RFC 8693 §4.1: ``{"sub": "alice", "act": {"sub": "tool-agent", "act": {"sub": "planner-agent"}}}``
means the tool agent acts now, for the planner agent, which acted for alice. chamberlain's ``act``
entries may also carry the actor's ``iss`` and its ``roles`` and ``attr`` (what the policies see
for that actor).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from chamberlain.delegation.errors import TokenError

#: Deeper nesting than this is refused while parsing, whatever ``maxChainDepth`` says.
PARSE_LIMIT = 64
_NO_ATTR: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Actor:
    """One party acting in the chain: its id (``sub``), issuer, and roles and attributes for policies."""

    id: str
    issuer: str = ""
    roles: tuple[str, ...] = ()
    attr: Mapping[str, Any] = field(default_factory=lambda: _NO_ATTR)

    def claim(self) -> dict[str, Any]:
        """This actor's ``act`` entry (without the nested one)."""
        entry: dict[str, Any] = {"sub": self.id}
        if self.issuer:
            entry["iss"] = self.issuer
        if self.roles:
            entry["roles"] = list(self.roles)
        if self.attr:
            entry["attr"] = dict(self.attr)
        return entry

    def cel(self) -> dict[str, Any]:
        """The actor as ``request.aux_data.delegation.actors[i]`` shows it."""
        return {"id": self.id, "iss": self.issuer, "roles": list(self.roles), "attr": dict(self.attr)}


@dataclass(frozen=True, slots=True)
class Chain:
    """The actors of a delegation, current first; empty for a token nobody acts on yet."""

    actors: tuple[Actor, ...] = ()

    @property
    def depth(self) -> int:
        return len(self.actors)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(a.id for a in self.actors)

    def push(self, actor: Actor) -> Chain:
        """The chain with ``actor`` as the new current actor."""
        return Chain((actor, *self.actors))

    def act_claim(self) -> dict[str, Any] | None:
        """The nested ``act`` claim (current actor outermost), or None for an empty chain."""
        claim: dict[str, Any] | None = None
        for actor in reversed(self.actors):
            entry = actor.claim()
            if claim is not None:
                entry["act"] = claim
            claim = entry
        return claim

    def cel(self) -> list[dict[str, Any]]:
        return [a.cel() for a in self.actors]


def parse_chain(claims: Mapping[str, Any], where: str) -> Chain:
    """The chain of a token's ``act`` claim; a malformed entry is a :class:`TokenError` naming it."""
    actors: list[Actor] = []
    node: Any = claims.get("act")
    path = "act"
    while node is not None:
        if len(actors) >= PARSE_LIMIT:
            raise TokenError(where, f"the act claim nests more than {PARSE_LIMIT} actors")
        actors.append(_actor(node, f"{where}: claim {path}"))
        node = node.get("act")
        path += ".act"
    return Chain(tuple(actors))


def _actor(node: Any, where: str) -> Actor:
    if not isinstance(node, Mapping):
        raise TokenError(where, "expected an object with the actor's sub")
    sub = node.get("sub")
    if not isinstance(sub, str) or not sub:
        raise TokenError(where, "the actor's sub is missing or not a string")
    issuer = node.get("iss", "")
    roles = node.get("roles", [])
    attr = node.get("attr", {})
    if not isinstance(issuer, str):
        raise TokenError(f"{where}.iss", "expected a string")
    if not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles):
        raise TokenError(f"{where}.roles", "expected a list of non-empty strings")
    if not isinstance(attr, Mapping):
        raise TokenError(f"{where}.attr", "expected an object")
    return Actor(sub, issuer, tuple(roles), MappingProxyType(dict(attr)) if attr else _NO_ATTR)
