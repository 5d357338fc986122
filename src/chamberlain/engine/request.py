"""What a check is asked about: principal, resource, actions and auxiliary data.

``Principal`` and ``Resource`` are treated as immutable once built: their CEL form (attribute
numbers as doubles, both spellings of ``policyVersion``) is computed on first use and reused, so
checking the same objects again costs nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from chamberlain.cel.cerbos_env import from_json
from chamberlain.engine.request_validation import check_principal, check_resource

_NO_ATTRIBUTES: Mapping[str, Any] = MappingProxyType({})


def _attributes(attr: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes as CEL values (numbers as doubles); a plain dict of CEL values is used as is."""
    if type(attr) is dict:
        return from_json(attr)
    return from_json(dict(attr)) if attr else {}


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
        """Raises :class:`~chamberlain.engine.request_validation.InvalidRequest` with the Cerbos server's
        message for what it refuses in a request's ``principal`` (no id, no roles, a string for the
        roles, duplicate roles, an empty attribute key, a bad ``policy_version`` or ``scope``)."""
        kind = type(roles)
        if kind is not set and kind is not tuple and kind is not list and isinstance(roles, Iterator):
            roles = tuple(roles)
            kind = tuple
        check_principal(id, roles, attr, policy_version, scope)
        # _set, inline (a new Principal per check is the embedded API's common case).
        self.id = id
        # Cerbos keeps the request's order; a set's order is made stable by sorting it.
        self.roles: tuple[str, ...] = (
            roles if kind is tuple else tuple(sorted(roles) if kind is set or kind is frozenset else roles)
        )
        self.attr: Mapping[str, Any] = attr if attr is not None else _NO_ATTRIBUTES
        self.policy_version = policy_version
        self.scope = scope
        self._cel: dict[str, Any] | None = None

    @classmethod
    def prevalidated(
        cls,
        id: str,
        roles: Iterable[str],
        attr: Mapping[str, Any] | None = None,
        policy_version: str = "",
        scope: str = "",
    ) -> Principal:
        """A principal from fields already validated (a parsed request, a stored record): not checked again."""
        self = cls.__new__(cls)
        self._set(id, roles, attr, policy_version, scope)
        return self

    def _set(
        self, id: str, roles: Iterable[str], attr: Mapping[str, Any] | None, policy_version: str, scope: str
    ) -> None:
        self.id = id
        # Cerbos keeps the request's order; a set's order is made stable by sorting it.
        kind = type(roles)
        self.roles = (
            roles if kind is tuple else tuple(sorted(roles) if kind is set or kind is frozenset else roles)
        )
        self.attr = attr if attr is not None else _NO_ATTRIBUTES
        self.policy_version = policy_version
        self.scope = scope
        self._cel = None

    def cel(self) -> dict[str, Any]:
        """``request.principal`` as conditions see it."""
        if self._cel is None:
            v, scope, attr = self.policy_version, self.scope, self.attr
            self._cel = {
                "id": self.id,
                "roles": list(self.roles),
                "attr": from_json(attr) if type(attr) is dict else (_attributes(attr) if attr else {}),
                "policy_version": v,
                "policyVersion": v,
                "scope": scope[1:] if scope[:1] == "." else scope,
            }
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
        """Raises :class:`~chamberlain.engine.request_validation.InvalidRequest` with the Cerbos server's
        message for what it refuses in a request's ``resource`` (no kind or id, an empty attribute key,
        a bad ``policy_version`` or ``scope``)."""
        check_resource(kind, id, attr, policy_version, scope)
        # _set, inline (a new Resource per check is the embedded API's common case).
        self.kind = kind
        self.id = id
        self.attr: Mapping[str, Any] = attr if attr is not None else _NO_ATTRIBUTES
        self.policy_version = policy_version
        self.scope = scope
        self._cel: dict[str, Any] | None = None

    @classmethod
    def prevalidated(
        cls,
        kind: str,
        id: str = "",
        attr: Mapping[str, Any] | None = None,
        policy_version: str = "",
        scope: str = "",
    ) -> Resource:
        """A resource from fields already validated (or a query plan's, which has no id): not checked again."""
        self = cls.__new__(cls)
        self._set(kind, id, attr, policy_version, scope)
        return self

    def _set(
        self, kind: str, id: str, attr: Mapping[str, Any] | None, policy_version: str, scope: str
    ) -> None:
        self.kind = kind
        self.id = id
        self.attr = attr if attr is not None else _NO_ATTRIBUTES
        self.policy_version = policy_version
        self.scope = scope
        self._cel = None

    def cel(self) -> dict[str, Any]:
        """``request.resource`` as conditions see it."""
        if self._cel is None:
            v, scope, attr = self.policy_version, self.scope, self.attr
            self._cel = {
                "kind": self.kind,
                "id": self.id,
                "attr": from_json(attr) if type(attr) is dict else (_attributes(attr) if attr else {}),
                "policy_version": v,
                "policyVersion": v,
                "scope": scope[1:] if scope[:1] == "." else scope,
            }
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

    ``delegation`` (a chamberlain extension, not in Cerbos) is the actor chain of a delegated check,
    which conditions read as ``request.aux_data.delegation``; only :mod:`chamberlain.delegation`
    sets it, after verifying the chain. It is absent from checks without delegation.

    ``session`` (also an extension) is the session a check belongs to, which conditions read as
    ``request.aux_data.session`` (:meth:`chamberlain.sessions.Session.cel`); only
    :mod:`chamberlain.sessions` sets it. It is absent from checks that name no session.
    """

    jwt: Mapping[str, Any] = field(default_factory=dict)
    jwts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    delegation: Mapping[str, Any] | None = None
    session: Mapping[str, Any] | None = None
    _cel: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    def cel(self) -> dict[str, Any]:
        """``request.aux_data`` as conditions see it (computed once: treat the data as immutable)."""
        if not self.jwt and not self.jwts and self.delegation is None and self.session is None:
            return EMPTY_AUX_CEL
        aux = self._cel
        if aux is None:
            aux = {
                "jwt": _attributes(self.jwt),
                "jwts": {name: {"claims": _attributes(claims)} for name, claims in self.jwts.items()},
            }
            if self.delegation is not None:
                aux["delegation"] = _attributes(self.delegation)
            if self.session is not None:
                aux["session"] = _attributes(self.session)
            object.__setattr__(
                self, "_cel", aux
            )  # a cache on a frozen object, as Principal keeps its CEL form
        return aux


EMPTY_AUX_CEL: dict[str, Any] = {"jwt": {}, "jwts": {}}
EMPTY_AUX = AuxData()


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
        return self.aux_data.cel()

    def in_session(self, session_id: str, view: Mapping[str, Any] | None) -> CheckInput:
        """This input in session ``session_id``, whose ``view`` (when given) conditions read as
        ``request.aux_data.session``. Built field by field (every check in a session makes one:
        ``dataclasses.replace`` twice was 5x dearer): a field added to either class belongs here too."""
        aux = self.aux_data
        if view is not None:
            aux = AuxData(aux.jwt, aux.jwts, aux.delegation, view)
        return CheckInput(
            self.principal,
            self.resource,
            self.actions,
            aux,
            self.request_id,
            session_id,
            self.actor_chain,
            self.approval_id,
        )
