"""What a check is asked about: principal, resource, actions and auxiliary data.

``Principal`` and ``Resource`` are treated as immutable once built: their CEL form (attribute
numbers as doubles, both spellings of ``policyVersion``) is computed on first use and reused, so
checking the same objects again costs nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chamberlain.cel.cerbos_env import from_json


def _scope(scope: str) -> str:
    return scope[1:] if scope.startswith(".") else scope


class Principal:
    """Who acts: ``Principal("alice", roles={"finance"}, attr={...}, policy_version="", scope="")``."""

    __slots__ = ("_cel", "attr", "id", "policy_version", "roles", "scope")

    def __init__(
        self,
        id: str,
        roles: Iterable[str] = (),
        attr: Mapping[str, Any] | None = None,
        policy_version: str = "",
        scope: str = "",
    ):
        self.id = id
        # Cerbos keeps the request's order; a set's order is made stable by sorting it.
        self.roles: tuple[str, ...] = tuple(sorted(roles) if isinstance(roles, set | frozenset) else roles)
        self.attr: Mapping[str, Any] = attr if attr is not None else {}
        self.policy_version = policy_version
        self.scope = scope
        self._cel: dict[str, Any] | None = None

    def cel(self) -> dict[str, Any]:
        """``request.principal`` as conditions see it."""
        if self._cel is None:
            v = self.policy_version
            self._cel = {"id": self.id, "roles": list(self.roles), "attr": from_json(dict(self.attr)),
                         "policy_version": v, "policyVersion": v, "scope": _scope(self.scope)}  # fmt: skip
        return self._cel

    def to_json(self) -> dict[str, Any]:
        """The Cerbos JSON form (``policyVersion``, empty fields left out)."""
        out: dict[str, Any] = {"id": self.id, "roles": list(self.roles)}
        if self.attr:
            out["attr"] = dict(self.attr)
        if self.policy_version:
            out["policyVersion"] = self.policy_version
        if self.scope:
            out["scope"] = self.scope
        return out

    def __repr__(self) -> str:
        return f"Principal({self.id!r}, roles={list(self.roles)!r})"


class Resource:
    """What is acted on: ``Resource("invoice", "inv-1", attr={...}, policy_version="", scope="")``."""

    __slots__ = ("_cel", "attr", "id", "kind", "policy_version", "scope")

    def __init__(
        self,
        kind: str,
        id: str = "",
        attr: Mapping[str, Any] | None = None,
        policy_version: str = "",
        scope: str = "",
    ):
        self.kind = kind
        self.id = id
        self.attr: Mapping[str, Any] = attr if attr is not None else {}
        self.policy_version = policy_version
        self.scope = scope
        self._cel: dict[str, Any] | None = None

    def cel(self) -> dict[str, Any]:
        """``request.resource`` as conditions see it."""
        if self._cel is None:
            v = self.policy_version
            self._cel = {"kind": self.kind, "id": self.id, "attr": from_json(dict(self.attr)),
                         "policy_version": v, "policyVersion": v, "scope": _scope(self.scope)}  # fmt: skip
        return self._cel

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "id": self.id}
        if self.policy_version:
            out["policyVersion"] = self.policy_version
        if self.scope:
            out["scope"] = self.scope
        return out

    def __repr__(self) -> str:
        return f"Resource({self.kind!r}, {self.id!r})"


@dataclass(frozen=True, slots=True)
class AuxData:
    """Auxiliary data: decoded JWT claims (``jwt``) and named JWTs (``jwts``: name -> claims).

    Verifying tokens is the server's job (see :func:`chamberlain.pdp.PDP.check_resources`'s
    ``verify_jwt`` hook): the engine only sees claims.
    """

    jwt: Mapping[str, Any] = field(default_factory=dict)
    jwts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def cel(self) -> dict[str, Any]:
        return {
            "jwt": from_json(dict(self.jwt)),
            "jwts": {name: {"claims": from_json(dict(claims))} for name, claims in self.jwts.items()},
        }


EMPTY_AUX = AuxData()
_EMPTY_AUX_CEL: dict[str, Any] = {"jwt": {}, "jwts": {}}


@dataclass(frozen=True, slots=True)
class CheckInput:
    """One resource to decide ``actions`` on for ``principal``.

    ``session_id``, ``actor_chain`` and ``approval_id`` carry the agent context later layers
    (sessions, delegation, approvals) bind a check to; the engine does not read them.
    """

    principal: Principal
    resource: Resource
    actions: tuple[str, ...]
    aux_data: AuxData = EMPTY_AUX
    request_id: str = ""
    session_id: str = ""
    actor_chain: tuple[str, ...] = ()
    approval_id: str = ""

    def aux_cel(self) -> dict[str, Any]:
        return _EMPTY_AUX_CEL if self.aux_data is EMPTY_AUX else self.aux_data.cel()
