"""The development identity provider's directory loaded, and the tokens it mints.

Every token says it comes from a development IdP twice: its ``kid`` starts with
:data:`KID_PREFIX` and its claims hold ``"chamberlain_dev_idp": "development identity provider:
NOT FOR PRODUCTION"``.

Access tokens (``typ: at+jwt``) carry ``iss``, ``sub``, ``aud`` (the configured audience, which
chamberlain's ``trustedIssuers[].audience`` names), ``iat``, ``exp``, ``jti``, ``client_id``,
``roles`` and the person's attributes as claims, and optionally ``sid``, ``scope`` and
``may_act``; an agent's token (the actor token of an exchange) has no ``act`` claim, as
chamberlain requires of actor tokens. ID tokens (``typ: JWT``) are for OIDC clients: ``aud`` is
the client, with ``nonce``, ``auth_time`` and ``azp``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwt

from chamberlain.delegation.errors import DelegationError
from chamberlain.delegation.keys import SigningKey, read_key_file
from chamberlain.delegation.tokens import verify_jwt
from chamberlain.delegation.trust import StaticKeys
from chamberlain.devidp.errors import DevIdpError
from chamberlain.devidp.identities import FILE_NAME as IDENTITIES_FILE
from chamberlain.devidp.identities import Identities, Person, check_attributes, load_identities
from chamberlain.devidp.settings import FILE_NAME as SETTINGS_FILE
from chamberlain.devidp.settings import MAX_TOKEN_LIFETIME, IdpSettings, load_settings

DEFAULT_DIR = Path(".chamberlain") / "dev-idp"
KEY_FILE = "signing-key.json"
JWKS_FILE = "jwks.json"
KID_PREFIX = "dev-idp-not-for-production-"
MARKER_CLAIM = "chamberlain_dev_idp"
MARKER = "development identity provider: NOT FOR PRODUCTION"
#: client_id of the tokens `chamberlain dev idp token` mints for people.
CLI_CLIENT = "chamberlain-dev-idp-cli"
MAX_AUDIENCE_CHARS = 2000
MAX_CLAIM_TEXT = 1000


@dataclass(frozen=True, slots=True)
class Minted:
    """A signed token and the claims it carries."""

    token: str
    claims: Mapping[str, Any]


def current_key(keys: Iterable[SigningKey]) -> SigningKey:
    return next(k for k in keys if k.publish_until is None)


def _text(value: str, what: str, limit: int = MAX_CLAIM_TEXT) -> str:
    if not value or len(value) > limit or not value.isprintable():
        raise DevIdpError(f"{what}: expected printable text of 1 to {limit} characters, got {value!r}")
    return value


class DevIdp:
    """A dev IdP directory: its settings, people and agents, and signing key. ``DevIdp.load(dir)``."""

    def __init__(
        self, directory: Path, settings: IdpSettings, identities: Identities, keys: list[SigningKey]
    ):
        self.directory = directory
        self.settings = settings
        self.identities = identities
        self.keys = keys
        self.key = current_key(keys)
        self._finder = StaticKeys({k.kid: k.key for k in keys})

    @classmethod
    def load(cls, directory: str | Path = DEFAULT_DIR) -> DevIdp:
        """Read the directory ``chamberlain dev idp init`` wrote; raises :class:`DevIdpError`."""
        folder = Path(directory)
        missing = [n for n in (SETTINGS_FILE, IDENTITIES_FILE, KEY_FILE) if not (folder / n).is_file()]
        if missing:
            raise DevIdpError(
                f"{folder} is not a dev IdP directory (missing {', '.join(missing)}): "
                f"run `chamberlain dev idp init {folder}` first"
            )
        settings = load_settings(folder / SETTINGS_FILE)
        identities = load_identities(folder / IDENTITIES_FILE)
        try:
            keys = read_key_file(folder / KEY_FILE, str(folder / KEY_FILE))
        except DelegationError as exc:
            raise DevIdpError(str(exc)) from None
        return cls(folder, settings, identities, keys)

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set (what ``jwks.json`` holds and ``/jwks.json`` serves)."""
        return {"keys": [k.public_jwk() for k in self.keys]}

    def person(self, person_id: str) -> Person:
        found = self.identities.people.get(person_id)
        if found is None:
            raise DevIdpError(f"{person_id!r} is not a person of {self.directory / IDENTITIES_FILE}")
        return found

    def sign(self, claims: Mapping[str, Any], typ: str = "at+jwt") -> str:
        header = {"typ": typ, "alg": self.key.alg, "kid": self.key.kid}
        return jwt.encode(header, dict(claims), self.key.key, algorithms=[self.key.alg])

    def _lifetime(self, ttl: float | None) -> int:
        seconds = self.settings.token_lifetime if ttl is None else ttl
        if not 1 <= seconds <= MAX_TOKEN_LIFETIME:
            raise DevIdpError(f"the token lifetime must be from 1s to 24h, got {seconds:g}s")
        return int(seconds)

    def _who(
        self, subject: str, agent: bool, roles: Iterable[str] | None
    ) -> tuple[tuple[str, ...], dict[str, Any]]:
        """Roles and attributes of ``subject`` (given roles replace the file's)."""
        where = self.directory / IDENTITIES_FILE
        given = None if roles is None else tuple(roles)
        if agent:
            if subject in self.identities.people:
                raise DevIdpError(f"{subject!r} is a person in {where}, not an agent: drop --agent")
            entry = self.identities.agent(subject)
            if given is not None:
                return given, {}
            if entry is None:
                raise DevIdpError(
                    f"{subject!r} is not an agent of {where}: list it under agents: or pass --roles"
                )
            return entry.roles, {}
        if subject in self.identities.agent_ids:
            raise DevIdpError(f"{subject!r} is an agent in {where}: pass --agent for an actor token")
        person = self.identities.people.get(subject)
        attr = dict(person.attr) if person is not None else {}
        if given is not None:
            return given, attr
        if person is None:
            raise DevIdpError(
                f"{subject!r} is not a person of {where}: list them under people: or pass --roles"
            )
        return person.roles, attr

    def access_token(
        self,
        subject: str,
        *,
        agent: bool = False,
        roles: Iterable[str] | None = None,
        attributes: Mapping[str, Any] | None = None,
        audience: str | None = None,
        ttl: float | None = None,
        sid: str = "",
        scope: str = "",
        may_act: Iterable[str] = (),
        client_id: str | None = None,
        now: float | None = None,
    ) -> Minted:
        """A person's access token, or an agent's own (actor) token with ``agent=True``.

        Roles and attributes come from ``identities.yaml`` unless given (``roles`` replaces the
        file's, ``attributes`` add to or override them); a subject the file does not know needs
        ``roles``. ``may_act`` names the agents that may act for the person (RFC 8693 §4.4).
        """
        _text(subject, "subject", 255)
        own_roles, attr = self._who(subject, agent, roles)
        attr.update(check_attributes(dict(attributes or {}), "--attr"))
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": _text(audience or self.settings.audience, "audience", MAX_AUDIENCE_CHARS),
            "iat": issued,
            "nbf": issued,
            "exp": issued + self._lifetime(ttl),
            "jti": secrets.token_urlsafe(16),
            "client_id": client_id or (subject if agent else CLI_CLIENT),
            "roles": list(own_roles),
            **attr,
            MARKER_CLAIM: MARKER,
        }
        if sid:
            claims["sid"] = _text(sid, "sid", 255)
        if scope:
            claims["scope"] = " ".join(_text(s, "scope") for s in scope.split())
        actors = [{"sub": _text(a, "may_act", 255), "iss": self.issuer} for a in may_act]
        if actors and agent:
            raise DevIdpError("may_act belongs in a person's token (who may act for them), not in an agent's")
        if actors:
            claims["may_act"] = actors[0] if len(actors) == 1 else actors
        return Minted(self.sign(claims), claims)

    def id_token(
        self, person: Person, *, client_id: str, nonce: str = "", auth_time: int, now: float | None = None
    ) -> Minted:
        """An OpenID Connect ID token for ``client_id`` (its ``aud``)."""
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": person.id,
            "aud": client_id,
            "azp": client_id,
            "iat": issued,
            "exp": issued + self._lifetime(None),
            "auth_time": auth_time,
            "roles": list(person.roles),
            **person.attr,
            MARKER_CLAIM: MARKER,
        }
        if nonce:
            claims["nonce"] = nonce
        return Minted(self.sign(claims, typ="JWT"), claims)

    def verify(self, token: str, *, now: float | None = None) -> Mapping[str, Any]:
        """The claims of an access token this IdP signed (signature, ``iss``, ``exp``, ``typ``)."""
        try:
            verified = verify_jwt(
                token,
                lambda iss: self._finder if iss == self.issuer else None,
                now=time.time() if now is None else now,
                leeway=0,
                where="access token",
            )
        except DelegationError as exc:
            raise DevIdpError(str(exc)) from None
        if verified.header.get("typ") != "at+jwt":
            raise DevIdpError("access token: not an access token of this IdP (typ is not at+jwt)")
        return verified.claims
