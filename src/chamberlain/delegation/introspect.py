"""RFC 7662 token introspection and RFC 7009 token revocation for chamberlain's own tokens.

Both take ``application/x-www-form-urlencoded`` ``token=...`` and need an authenticated caller: a
bearer JWT in ``Authorization`` that a trusted issuer issued for its audience (the same tokens the
exchange accepts as actor tokens). A token chamberlain issued is delegated authority, not an
identity (its ``sub`` is the person its holder acts for), so it authenticates nobody. The caller is
the (issuer, subject) pair of its token.

- Introspection answers ``{"active": false}`` for anything that is not a live chamberlain token:
  a bad signature, expired, another issuer's, or one whose session is not ACTIVE (revoked,
  expired). A live one: ``{"active": true, "sub", "client_id", "scope", "aud", "iss", "exp",
  "iat", "jti", "sid", "token_type"}``.
- Revocation revokes the token's session (a chamberlain token is good only as long as its session),
  so every token of that session stops at once, on every replica. Only the token's subject or its
  current actor (``client_id``) may revoke it, each as the issuer the token names for them. An invalid token is answered 200 (RFC 7009 §2.2);
  a token without a session cannot be revoked (``unsupported_token_type``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from chamberlain.bearer import BearerError, bearer_token
from chamberlain.delegation.errors import ExchangeError, TokenError
from chamberlain.delegation.exchange import verify_own_credential
from chamberlain.delegation.identity import Identity, same_party

if TYPE_CHECKING:
    from chamberlain.delegation.service import TokenService

INTROSPECT_PATH = "/oauth2/introspect"
REVOKE_PATH = "/oauth2/revoke"


class SessionStates(Protocol):
    """What introspection and revocation need of sessions (chamberlain.sessions.exchange.ExchangeSessions)."""

    def state(self, sid: str) -> str: ...

    def revoke(self, sid: str, *, by: str, reason: str) -> str: ...


def authenticate(service: TokenService, authorization: str) -> Identity:
    """The caller of ``Authorization: Bearer <jwt>`` (its ``sub`` as its issuer vouches for it); raises
    ExchangeError 401 otherwise."""
    try:
        token = bearer_token(authorization)
    except BearerError as exc:
        problem = (
            "authenticate with Authorization: Bearer <a token of a trusted issuer>"
            if exc.missing
            else str(exc)
        )
        raise ExchangeError("invalid_client", problem, 401) from None
    where = "Authorization"
    try:
        verified = verify_own_credential(
            service,
            token,
            where,
            service.clock(),
            "a token chamberlain issued cannot authenticate a caller: its sub is the person its holder "
            "acts for; authenticate with your own token from a trusted issuer",
        )
    except TokenError as exc:
        raise ExchangeError("invalid_client", str(exc), 401) from None
    sub = verified.claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise ExchangeError("invalid_client", "the caller's token has no sub", 401)
    return Identity(sub, verified.issuer)


def _token(params: Mapping[str, Sequence[str]]) -> str:
    values = params.get("token") or []
    if len(values) != 1 or not values[0]:
        raise ExchangeError("invalid_request", "give the token to inspect once: token=...")
    return values[0]


def introspect(service: TokenService, params: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """RFC 7662 §2.2: the token's claims when it is live, else ``{"active": false}``."""
    token = _token(params)
    try:
        found = service.verifier.verify(token, audience=None, where="token")
    except TokenError:
        return {"active": False}
    sessions = service.sessions
    if found.sid and sessions is not None and sessions.state(found.sid) != "ACTIVE":
        return {"active": False}
    claims = found.claims
    out = {"active": True, "token_type": "Bearer"}
    for name in ("iss", "sub", "aud", "client_id", "scope", "exp", "iat", "jti", "sid", "act"):
        if name in claims:
            out[name] = claims[name]
    return out


def revoke(service: TokenService, params: Mapping[str, Sequence[str]], caller: Identity) -> dict[str, Any]:
    """RFC 7009 §2.1: revoke the token's session; ``{}`` (HTTP 200) also for a token that is not valid."""
    token = _token(params)
    try:
        found = service.verifier.verify(token, audience=None, where="token")
    except TokenError:
        return {}
    if not found.sid or service.sessions is None:
        raise ExchangeError(
            "unsupported_token_type",
            "this token belongs to no session, so it cannot be revoked before it expires",
        )
    actors = found.chain.actors
    subject = Identity(found.subject, found.subject_issuer)
    agent = Identity(actors[0].id, actors[0].issuer) if actors else None
    if not same_party(caller, subject) and (agent is None or not same_party(caller, agent)):
        raise ExchangeError(
            "unauthorized_client",
            f"{caller} may not revoke a token of {subject} held by {agent or 'nobody'}",
            403,
        )
    service.sessions.revoke(
        found.sid, by=f"token-revocation:{caller.subject}", reason=f"token {found.jti} revoked"
    )
    return {}
