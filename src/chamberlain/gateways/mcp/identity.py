"""Who is calling: a principal given on the command line, or a chamberlain delegation token.

A token (the ``Authorization: Bearer`` header of a streamable HTTP request, or ``token`` /
``tokenFile`` over stdio) is verified at every call — signature by the token service's keys,
expiry, audience (this gateway), then the revocation list — so a token that expires or is
revoked stops the very next call. Its ``sub`` is the principal (roles and attributes from
``auth.principals``) and its ``act`` chain the actors the check is attenuated by.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from chamberlain.delegation import Delegation, DelegationToken, TokenError, Verifier
from chamberlain.delegation.errors import DelegationConfigError
from chamberlain.delegation.keys import SIGNING_ALGORITHMS, SigningKeys
from chamberlain.delegation.trust import KeyFinder, StaticKeys, VerifyKey, load_jwks_file
from chamberlain.engine import Principal
from chamberlain.engine.request_validation import InvalidRequest
from chamberlain.files import MAX_CONFIG_BYTES, FileRefused, read_text_bounded
from chamberlain.gateways.mcp.config import AuthConfig, GatewayConfig
from chamberlain.gateways.mcp.errors import GatewayConfigError, IdentityError

LOGGER = logging.getLogger("chamberlain.gateways.mcp")


@dataclass(frozen=True, slots=True)
class Caller:
    """The principal of a call, the delegation it acts through (None: no token) and its MCP session."""

    principal: Principal
    delegation: Delegation | None
    session_id: str

    @property
    def actors(self) -> tuple[str, ...]:
        """The actor chain, current actor first (as the decision log keeps it)."""
        return self.delegation.chain.ids if self.delegation is not None else ()

    def describe(self) -> str:
        """``erin via coder-1`` (the person, then each delegate in order)."""
        chain = list(reversed(self.actors))
        return self.principal.id + (f" via {' > '.join(chain)}" if chain else "")


class _Watched:
    """A file re-read whenever its modification time changes (checked at every use: one ``stat``)."""

    def __init__(self, path: Path):
        self.path = path
        self._stamp: tuple[float, int] | None = None

    def changed(self) -> bool:
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime, st.st_size)
        except OSError:
            stamp = (-1.0, -1)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        return True


class JwksFile:
    """The token service's public keys from a JWKS file, re-read when it changes (a rotation)."""

    def __init__(self, path: Path):
        self._file = _Watched(path)
        self._keys = StaticKeys({})

    def find(self, kid: str) -> VerifyKey | None:
        if self._file.changed():
            try:
                self._keys = load_jwks_file(self._file.path, "auth.jwksFile")
            except DelegationConfigError:
                self._keys = StaticKeys({})  # unreadable: no key verifies until it is fixed
        return self._keys.find(kid)


class RevocationList:
    """Revoked credentials, one a line: a token's ``jti`` (or ``jti:<id>``), ``sid:<session>``, ``sub:<subject>``.

    ``#`` starts a comment. The file is re-read when it changes; a missing file revokes nothing.
    """

    def __init__(self, path: Path):
        self._file = _Watched(path)
        self._entries: frozenset[str] = frozenset()

    def _current(self) -> frozenset[str]:
        if self._file.changed():
            path = self._file.path
            if not path.exists():
                self._entries = frozenset()  # no file: nothing revoked
                return self._entries
            try:
                lines = read_text_bounded(path, MAX_CONFIG_BYTES, "revocation file").splitlines()
            except FileRefused as exc:  # unreadable is not "nothing revoked": keep what was revoked
                LOGGER.error(
                    "revocation file unreadable; the revocations read before stay in force",
                    extra={"file": str(path), "error": str(exc)},
                )
                return self._entries
            entries = (line.split("#", 1)[0].strip() for line in lines)
            self._entries = frozenset(e if ":" in e else f"jti:{e}" for e in entries if e)
        return self._entries

    def reason(self, token: DelegationToken) -> str:
        """Why ``token`` is revoked, or ``""``."""
        entries = self._current()
        if f"jti:{token.jti}" in entries:
            return f"token {token.jti} is revoked"
        if token.sid and f"sid:{token.sid}" in entries:
            return f"session {token.sid} is revoked"
        if f"sub:{token.subject}" in entries:
            return f"every token of {token.subject} is revoked"
        return ""


def _keys(auth: AuthConfig) -> KeyFinder:
    if auth.jwks_file is not None:
        return JwksFile(auth.jwks_file)
    assert auth.signing_key_file is not None
    problem = ""
    for algorithm in SIGNING_ALGORITHMS:  # the file's current key decides; SigningKeys checks it
        try:
            return SigningKeys(auth.signing_key_file, algorithm)
        except DelegationConfigError as exc:
            problem = str(exc)
    raise GatewayConfigError(f"auth.signingKeyFile: {problem}")


class Identities:
    """Turns the configuration's principal or token, or a request's bearer token, into a :class:`Caller`."""

    def __init__(self, config: GatewayConfig):
        self.config = config
        self.auth = config.auth
        self.verifier: Verifier | None = None
        self.revocations: RevocationList | None = None
        if self.auth is not None:
            self.verifier = Verifier(self.auth.issuer, _keys(self.auth), leeway=self.auth.leeway)
            if self.auth.revocation_file is not None:
                self.revocations = RevocationList(self.auth.revocation_file)

    def verify(self, token: str, where: str) -> DelegationToken:
        """A verified, unrevoked token for this gateway; raises :class:`IdentityError` saying why not."""
        if self.verifier is None:
            raise IdentityError(f"{where}: this gateway has no auth section, so it cannot verify tokens")
        try:
            verified = self.verifier.verify(token, audience=self.config.audiences, where=where)
        except TokenError as exc:
            raise IdentityError(str(exc)) from None
        reason = self.revocations.reason(verified) if self.revocations is not None else ""
        if reason:
            raise IdentityError(f"{where}: {reason}")
        return verified

    def caller(self, token: DelegationToken, session_id: str) -> Caller:
        """The caller a verified token stands for (the person from ``auth.principals``)."""
        assert self.auth is not None
        person = self.auth.principals.get(token.subject)
        if person is None:
            raise IdentityError(
                f"the token's subject {token.subject!r} is not in auth.principals: the gateway does not know "
                "their roles, so it cannot decide for them"
            )
        if person.issuer and person.issuer != token.subject_issuer:
            raise IdentityError(
                f"the token's subject {token.subject!r} is vouched for by {token.subject_issuer or 'no issuer'!r}, "
                f"not by auth.principals[{token.subject!r}].issuer ({person.issuer!r}): another party's "
                f"{token.subject!r}"
            )
        try:
            principal = Principal(token.subject, person.roles, dict(person.attr))
        except InvalidRequest as exc:  # no roles, say: refused as a check request would be
            raise IdentityError(f"auth.principals[{token.subject!r}]: {exc}") from None
        return Caller(principal, Delegation.from_token(token), session_id or token.sid or token.jti)

    def local(self, session_id: str) -> Caller:
        """The caller of a stdio gateway: the configured token (re-read and verified now), else the principal."""
        c = self.config
        token = c.token
        if c.token_file is not None:
            try:
                token = read_text_bounded(c.token_file, MAX_CONFIG_BYTES, "token file").strip()
            except FileRefused as exc:
                raise IdentityError(f"tokenFile {c.token_file}: cannot read it: {exc}") from None
        if token:
            return self.caller(
                self.verify(token, "token" if c.token else f"tokenFile {c.token_file}"), session_id
            )
        if c.principal is None:
            raise IdentityError("no principal and no token: the gateway does not know who is calling")
        return Caller(c.principal, None, session_id)
