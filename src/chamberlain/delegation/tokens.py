"""Verifying JWTs: signature by the issuer's key the ``kid`` names, then time claims, then audience.

Nothing in a token changes what is trusted: the unverified ``iss`` only chooses whose key set to look
in, the token must then verify under one of that issuer's keys, with that key's algorithm, and
``alg: none`` and symmetric algorithms (``HS256`` and the like) are refused before any key is used.

:class:`DelegationToken` is a chamberlain-issued token (RFC 9068: ``typ: at+jwt``, ``iss``, ``sub``,
``aud``, ``client_id``, ``scope``, ``act``, ``exp``, ``iat``, ``jti``, optional ``sid``) and
:func:`verify` the function downstream services call to check one.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry

from chamberlain import strictjson
from chamberlain.bearer import MAX_TOKEN_BYTES as MAX_TOKEN_BYTES  # one bound for every token read
from chamberlain.delegation.chain import Chain, parse_chain
from chamberlain.delegation.errors import DelegationConfigError, TokenError
from chamberlain.delegation.scopes import parse_scope
from chamberlain.delegation.trust import KeyFinder, StaticKeys, VerifyKey, load_jwks_file, parse_jwks

#: Tokens longer than this are refused unread.
_ALGS_BY_KEY = {
    ("OKP", "Ed25519"): ("EdDSA",),
    ("EC", "P-256"): ("ES256",),
    ("EC", "P-384"): ("ES384",),
    ("EC", "P-521"): ("ES512",),
    ("RSA", None): ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
}
ACCEPTED_ALGORITHMS = frozenset(a for algs in _ALGS_BY_KEY.values() for a in algs)
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")


@dataclass(frozen=True, slots=True)
class VerifiedJWT:
    """A JWT whose signature and time claims verified."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    issuer: str
    kid: str


def _extract(token: Any, where: str) -> tuple[jws.CompactSignature, dict[str, Any]]:
    """The parsed compact JWS and its claims, unverified."""
    if not isinstance(token, str) or not token:
        raise TokenError(where, "expected a JWT (a non-empty string)")
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenError(where, f"the token is longer than {MAX_TOKEN_BYTES} bytes")
    if token.count(".") != 2:
        raise TokenError(where, "not a JWT: expected three dot-separated parts (header.payload.signature)")
    try:
        parsed = jws.extract_compact(token.encode("ascii"))
        claims = strictjson.loads(parsed.payload)
    except strictjson.JSONError as exc:
        raise TokenError(where, f"not a JWT: its payload {payload_problem(exc)}") from None
    except (JoseError, ValueError, TypeError, RecursionError, UnicodeError):
        raise TokenError(where, "not a JWT: its header or payload is not base64url-encoded JSON") from None
    if not isinstance(claims, dict):
        raise TokenError(where, "not a JWT: its payload is not a JSON object")
    return parsed, claims


def payload_problem(exc: strictjson.JSONError) -> str:
    """What is wrong with a token's claims, after "its payload": duplicate claims are refused (RFC 7519
    section 4 allows refusing them; reading the last would let two readers see two subjects)."""
    if isinstance(exc, strictjson.DuplicateKeyError):
        return f'has a duplicate field "{exc.key}"'
    if isinstance(exc, strictjson.DepthError):
        return f"is {exc.reason}"
    return "is not base64url-encoded JSON"


def peek(token: Any, where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS, unverified (to choose the issuer's keys)."""
    parsed, claims = _extract(token, where)
    return dict(parsed.headers()), claims


@functools.cache
def _registry(alg: str) -> JWSRegistry:
    """A registry allowing ``alg`` only (one per algorithm, built once)."""
    return JWSRegistry(algorithms=[alg])


def _check_key(key: VerifyKey, alg: str, kid: str, where: str) -> None:
    crv = None if key.key_type == "RSA" else key.get("crv")
    allowed = _ALGS_BY_KEY.get((key.key_type, crv if isinstance(crv, str) else None), ())
    key_alg = key.get("alg")
    if alg not in allowed or (key_alg and key_alg != alg):
        raise TokenError(where, f"alg {alg} does not match key {kid!r} ({key_alg or key.key_type})")


def _check_times(claims: Mapping[str, Any], now: float, leeway: float, where: str) -> None:
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise TokenError(where, "claim exp is missing or not a number: tokens without an expiry are refused")
    if exp <= now - leeway:
        raise TokenError(where, f"expired: claim exp ({int(exp)}) is in the past")
    for name, problem in (("nbf", "not yet valid: claim nbf"), ("iat", "claim iat")):
        value = claims.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TokenError(where, f"claim {name} is not a number")
        if value > now + leeway:
            raise TokenError(where, f"{problem} ({int(value)}) is in the future")


def verify_jwt(
    token: Any, keys_of: Callable[[str], KeyFinder | None], *, now: float, leeway: float, where: str
) -> VerifiedJWT:
    """Verify ``token``'s signature with the key set ``keys_of(iss)`` returns, then exp, nbf and iat."""
    parsed, claims = _extract(token, where)
    header = dict(parsed.headers())
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ACCEPTED_ALGORITHMS:  # a list or an object is no algorithm
        raise TokenError(
            where,
            f"alg {alg!r} is not accepted: only asymmetric signatures ({', '.join(sorted(ACCEPTED_ALGORITHMS))})",
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenError(where, "the header has no kid: chamberlain needs it to choose the key")
    if "crit" in header:  # RFC 7515 4.1.11: extensions the verifier does not understand make the JWS invalid
        raise TokenError(
            where, f"the header's crit ({header['crit']!r:.80}) names extensions chamberlain does not support"
        )
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise TokenError(where, "claim iss is missing")
    finder = keys_of(issuer)
    if finder is None:
        raise TokenError(where, f"issuer {issuer!r} (claim iss) is not trusted")
    key = finder.find(kid)
    if key is None:
        raise TokenError(where, f"unknown kid {kid!r}: no key of issuer {issuer!r} has it")
    _check_key(key, alg, kid, where)
    try:
        valid = jws.validate_compact(parsed, key, registry=_registry(alg))
    except (JoseError, ValueError, TypeError):
        valid = False
    if not valid:
        raise TokenError(where, f"the signature does not verify with key {kid!r} of issuer {issuer!r}")
    _check_times(claims, now, leeway, where)
    return VerifiedJWT(header, claims, issuer, kid)


def audiences(claims: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """The ``aud`` claim as a tuple (a string or a list of strings); missing is an error."""
    aud = claims.get("aud")
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not values or not all(isinstance(a, str) and a for a in values):
        raise TokenError(where, "claim aud is missing or not a string or list of strings")
    return tuple(values)


def require_audience(claims: Mapping[str, Any], accepted: Collection[str], where: str) -> tuple[str, ...]:
    """``aud`` must name one of ``accepted``."""
    aud = audiences(claims, where)
    if not set(aud) & set(accepted):
        raise TokenError(where, f"claim aud {list(aud)} does not name {' or '.join(sorted(accepted))}")
    return aud


@dataclass(frozen=True, slots=True)
class DelegationToken:
    """A verified chamberlain access token: who it is for, who acts, what it may do, until when."""

    subject: str
    issuer: str
    audience: tuple[str, ...]
    scopes: tuple[str, ...]
    chain: Chain
    client_id: str
    expires_at: int
    issued_at: int
    jti: str
    sid: str
    kid: str
    claims: Mapping[str, Any]
    subject_issuer: str = ""  # who vouched for the subject (its sub_id claim); "" in tokens that name none

    @classmethod
    def from_verified(cls, verified: VerifiedJWT, where: str) -> DelegationToken:
        """Check the RFC 9068 shape of a verified chamberlain token."""
        header, claims = verified.header, verified.claims
        if header.get("typ") not in ACCESS_TOKEN_TYPES:
            raise TokenError(where, f"header typ is {header.get('typ')!r}, expected at+jwt (RFC 9068)")
        texts = {}
        for name in ("sub", "client_id", "jti"):
            value = claims.get(name)
            if not isinstance(value, str) or not value:
                raise TokenError(where, f"claim {name} is missing or not a string")
            texts[name] = value
        scope, sid, iat = claims.get("scope", ""), claims.get("sid", ""), claims.get("iat")
        if not isinstance(scope, str) or not isinstance(sid, str):
            raise TokenError(where, "claims scope and sid must be strings")
        if isinstance(iat, bool) or not isinstance(iat, int | float):
            raise TokenError(where, "claim iat is missing or not a number")
        return cls(
            texts["sub"],
            verified.issuer,
            audiences(claims, where),
            parse_scope(scope),
            parse_chain(claims, where),
            texts["client_id"],
            int(claims["exp"]),
            int(iat),
            texts["jti"],
            sid,
            verified.kid,
            claims,
            subject_issuer(claims, where),
        )


def subject_id(issuer: str, subject: str) -> dict[str, str]:
    """The ``sub_id`` claim (RFC 9493, format ``iss_sub``): the subject as an (issuer, subject) pair."""
    return {"format": "iss_sub", "iss": issuer, "sub": subject}


def subject_issuer(claims: Mapping[str, Any], where: str) -> str:
    """The issuer of the subject a chamberlain token acts for (its ``sub_id``); ``""`` without one."""
    value = claims.get("sub_id")
    if value is None:
        return ""
    if (
        not isinstance(value, Mapping)
        or value.get("format") != "iss_sub"
        or not isinstance(value.get("iss"), str)
        or value.get("sub") != claims.get("sub")
    ):
        raise TokenError(where, "claim sub_id must be {format: iss_sub, iss, sub} naming the token's sub")
    return str(value["iss"])


class Verifier:
    """Verifies chamberlain tokens of one issuer: ``Verifier(issuer, keys).verify(token, audience=...)``.

    ``keys`` is a JWK Set (a mapping, or the path of a JSON file) or anything with ``find(kid)``.
    """

    def __init__(
        self,
        issuer: str,
        keys: KeyFinder | Mapping[str, Any] | str | os.PathLike[str],
        *,
        leeway: float = 0.0,
        clock: Callable[[], float] = time.time,
    ):
        if not issuer:
            raise DelegationConfigError("the issuer to verify against is required")
        self.issuer = issuer
        self.leeway = leeway
        self.clock = clock
        if isinstance(keys, Mapping):
            keys = parse_jwks(keys, "jwks")
        elif isinstance(keys, str | os.PathLike):
            keys = load_jwks_file(Path(keys), "jwks")
        self.keys: KeyFinder = keys

    def _keys_of(self, iss: str) -> KeyFinder | None:
        return self.keys if iss == self.issuer else None

    def verify(
        self,
        token: Any,
        *,
        audience: str | Collection[str] | None,
        where: str = "token",
        now: float | None = None,
    ) -> DelegationToken:
        """The verified token; ``audience`` (this service) must be in its ``aud`` unless None."""
        when = self.clock() if now is None else now
        verified = verify_jwt(token, self._keys_of, now=when, leeway=self.leeway, where=where)
        if audience is not None:
            require_audience(verified.claims, [audience] if isinstance(audience, str) else audience, where)
        return DelegationToken.from_verified(verified, where)


def verify(
    token: str,
    *,
    audience: str | Collection[str],
    issuer: str,
    jwks: Mapping[str, Any] | str | os.PathLike[str] | StaticKeys,
    leeway: float = 0.0,
    now: float | None = None,
) -> DelegationToken:
    """Verify a chamberlain delegation token for the service ``audience``; raises :class:`TokenError`.

    ``jwks`` is chamberlain's JWK Set (as ``/.well-known/jwks.json`` serves it: a mapping, or a local
    file): this function never fetches it. For many tokens, build one :class:`Verifier` instead.
    """
    return Verifier(issuer, jwks, leeway=leeway).verify(token, audience=audience, now=now)
