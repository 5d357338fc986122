"""RFC 8693 token exchange: a subject token and an actor token in, a narrower delegation token out.

Parameters (``application/x-www-form-urlencoded``): ``grant_type`` (the token-exchange URN),
``subject_token`` and ``subject_token_type``, ``actor_token`` and ``actor_token_type`` (required:
chamberlain delegates, it does not impersonate), ``audience`` and ``resource`` (RFC 8707; either
may repeat; at least one is required), ``scope``, ``requested_token_type``.

Errors as RFC 8693 §2.2.2 and RFC 6749 §5.2 give them, all HTTP 400: ``invalid_request`` (a
malformed request, or a subject or actor token that is invalid or unacceptable by policy),
``invalid_target`` (an audience or resource the policy does not grant), ``invalid_scope`` (a scope
beyond the subject token's or the policy's), ``unsupported_grant_type``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from chamberlain.delegation.chain import Actor, Chain, parse_chain
from chamberlain.delegation.decision import Grant, decide_exchange
from chamberlain.delegation.errors import ExchangeError, TokenError
from chamberlain.delegation.scopes import format_scope, parse_scope, valid_scope_token
from chamberlain.delegation.tokens import (
    DelegationToken,
    VerifiedJWT,
    audiences,
    require_audience,
    subject_id,
    verify_jwt,
)
from chamberlain.delegation.variable import SOURCE_TOKEN, delegation_variable
from chamberlain.engine import AuxData
from chamberlain.engine.jwt_claims import as_conditions_read

if TYPE_CHECKING:
    from chamberlain.delegation.service import TokenService

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
JWT = "urn:ietf:params:oauth:token-type:jwt"
TOKEN_TYPES = (ACCESS_TOKEN, JWT)
_SINGLE = (
    "grant_type",
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "scope",
    "requested_token_type",
)
LOGGER = logging.getLogger("chamberlain.delegation")


@dataclass(frozen=True, slots=True)
class ExchangeRequest:
    """A parsed token-exchange request."""

    subject_token: str
    subject_token_type: str
    actor_token: str
    actor_token_type: str
    audiences: tuple[str, ...]
    scopes: tuple[str, ...] | None  # None: the request names no scope
    requested_token_type: str

    @classmethod
    def parse(cls, params: Mapping[str, Sequence[str]]) -> ExchangeRequest:
        """Validate the form parameters (empty values count as absent, RFC 6749 §3.1)."""
        values = {k: [v for v in ([vs] if isinstance(vs, str) else vs) if v] for k, vs in params.items()}
        one = _single_values(values)
        if not one["grant_type"]:
            raise ExchangeError("invalid_request", "parameter grant_type is required")
        if one["grant_type"] != GRANT_TYPE:
            raise ExchangeError(
                "unsupported_grant_type",
                f"grant_type {one['grant_type']!r} is not supported: use {GRANT_TYPE}",
            )
        _require_token(one, "subject_token", "")
        _require_token(
            one, "actor_token", ": chamberlain issues delegation tokens (act), never impersonation"
        )
        requested = one["requested_token_type"] or ACCESS_TOKEN
        if requested not in TOKEN_TYPES:
            raise ExchangeError(
                "invalid_request",
                f"requested_token_type {requested!r} is not supported: "
                f"chamberlain issues JWT access tokens ({ACCESS_TOKEN} or {JWT})",
            )
        scopes = parse_scope(one["scope"]) if one["scope"] else None
        bad = [s for s in scopes or () if not valid_scope_token(s)]
        if bad:
            raise ExchangeError("invalid_scope", f"scope {bad[0]!r} is malformed (RFC 6749 §3.3)")
        return cls(
            one["subject_token"],
            one["subject_token_type"],
            one["actor_token"],
            one["actor_token_type"],
            _targets(values),
            scopes,
            requested,
        )


def _single_values(values: Mapping[str, list[str]]) -> dict[str, str]:
    """The parameters that may appear once (RFC 6749 §3.2), ``""`` when absent."""
    for name in _SINGLE:
        if len(values.get(name, ())) > 1:
            raise ExchangeError("invalid_request", f"parameter {name} is given more than once")
    return {name: (values.get(name) or [""])[0] for name in _SINGLE}


def _require_token(one: Mapping[str, str], token: str, why: str) -> None:
    kind = f"{token}_type"
    if not one[token]:
        raise ExchangeError("invalid_request", f"parameter {token} is required{why}")
    if not one[kind]:
        raise ExchangeError("invalid_request", f"parameter {kind} is required with {token}")
    if one[kind] not in TOKEN_TYPES:
        raise ExchangeError(
            "invalid_request", f"{kind} {one[kind]!r} is not supported: use {ACCESS_TOKEN} or {JWT}"
        )


def _targets(values: Mapping[str, list[str]]) -> tuple[str, ...]:
    """``audience`` and ``resource`` values (RFC 8707: absolute URIs without a fragment), at least one."""
    for resource in values.get("resource", ()):
        parsed = urlparse(resource)
        if not parsed.scheme or parsed.fragment:
            raise ExchangeError(
                "invalid_target",
                f"resource {resource!r} is not an absolute URI without a fragment (RFC 8707)",
            )
    audiences = tuple(dict.fromkeys([*values.get("audience", ()), *values.get("resource", ())]))
    if not audiences:
        raise ExchangeError(
            "invalid_request",
            "audience or resource is required: chamberlain never issues a token without an audience",
        )
    return audiences


@dataclass(frozen=True, slots=True)
class Subject:
    """The verified subject token: its claims, the subject as (issuer, id), the chain it carries, its scopes
    (None: unbounded)."""

    verified: VerifiedJWT
    id: str
    chain: Chain
    scopes: tuple[str, ...] | None
    own: bool  # issued by chamberlain (the next hop of a chain)
    issuer: str = ""  # who vouched for the subject: the IdP, or (own tokens) the sub_id it recorded


def _refused(exc: TokenError) -> ExchangeError:
    return ExchangeError("invalid_request", str(exc))


def _verify(service: TokenService, token: str, where: str, now: float) -> VerifiedJWT:
    return verify_jwt(token, service.keys_of, now=now, leeway=service.config.leeway, where=where)


def _foreign_scopes(claims: Mapping[str, Any], where: str) -> tuple[str, ...] | None:
    scope, scp = claims.get("scope"), claims.get("scp")
    if scope is not None:
        if not isinstance(scope, str):
            raise TokenError(where, "claim scope is not a string")
        return parse_scope(scope)
    if scp is None:
        return None  # a person's token without scopes: the exchange policy alone bounds them
    if isinstance(scp, str):  # Microsoft Entra ID's form: space-separated, as scope
        return parse_scope(scp)
    if isinstance(scp, list) and all(isinstance(s, str) for s in scp):
        return tuple(dict.fromkeys(scp))
    # Read as "no scopes" it would leave the policy alone to bound them: the token's own bound, widened.
    raise TokenError(where, "claim scp is not a string or a list of strings")


def subject_of(service: TokenService, token: str, now: float) -> Subject:
    """Verify the subject token: chamberlain's own, or a trusted issuer's naming its audience."""
    where = "subject_token"
    verified = _verify(service, token, where, now)
    if verified.issuer == service.config.issuer:
        own = DelegationToken.from_verified(verified, where)
        return Subject(verified, own.subject, own.chain, own.scopes, True, own.subject_issuer)
    trusted = service.config.trusted(verified.issuer)
    assert trusted is not None  # verify_jwt found its keys
    require_audience(verified.claims, [trusted.audience], where)
    sub = verified.claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise TokenError(where, "claim sub is missing or not a string")
    return Subject(
        verified,
        sub,
        parse_chain(verified.claims, where),
        _foreign_scopes(verified.claims, where),
        False,
        verified.issuer,
    )


def verify_own_credential(
    service: TokenService, token: str, where: str, now: float, not_ours: str
) -> VerifiedJWT:
    """Verify a party's own credential: a trusted issuer's token naming that issuer's audience for chamberlain.
    A token chamberlain issued is refused with ``not_ours``: it is delegated authority (its ``sub`` is the
    person its holder acts for), never its holder's identity."""
    verified = _verify(service, token, where, now)
    if verified.issuer == service.config.issuer:
        raise TokenError(where, not_ours)
    trusted = service.config.trusted(verified.issuer)
    assert trusted is not None  # verify_jwt found its keys
    require_audience(verified.claims, [trusted.audience], where)
    return verified


def actor_of(service: TokenService, token: str, now: float) -> tuple[Actor, VerifiedJWT]:
    """Verify the actor token (a trusted issuer's, naming its audience) and resolve the actor's roles."""
    where = "actor_token"
    verified = verify_own_credential(
        service,
        token,
        where,
        now,
        "a chamberlain delegation token cannot be an actor token: "
        "the actor presents its own credential from a trusted issuer",
    )
    claims = verified.claims
    if "act" in claims:
        raise TokenError(where, "the actor token carries an act claim: an actor acts as itself")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise TokenError(where, "claim sub is missing or not a string")
    agent = service.config.agents.lookup(sub, verified.issuer)
    if agent is not None:
        return Actor(sub, verified.issuer, agent.roles, agent.attr), verified
    roles = claims.get("roles", [])
    roles = tuple(r for r in roles if isinstance(r, str) and r) if isinstance(roles, list) else ()
    return Actor(sub, verified.issuer, roles), verified


def _check_may_act(subject: Subject, actor: Actor) -> None:
    """A person's token may name who may act for them (RFC 8693 ``may_act``): ``sub`` and, optionally, ``iss``.

    An entry without ``iss`` names a party of the subject token's own issuer (an identifier is its issuer's):
    another trusted issuer's agent that took the same ``sub`` is not the one the person named."""
    may_act = subject.verified.claims.get("may_act")
    if may_act is None or subject.own:  # chamberlain's own may_act names the recipient: _check_recipient
        return
    entries = may_act if isinstance(may_act, list) else [may_act]
    for entry in entries:
        if (
            isinstance(entry, Mapping)
            and entry.get("sub") == actor.id
            and entry.get("iss", subject.verified.issuer) == actor.issuer
        ):
            return
    raise ExchangeError(
        "invalid_request",
        f"actor {actor.id!r} (iss {actor.issuer}) is not named by the "
        f"subject token's may_act claim ({json.dumps(may_act)})",
    )


def _check_recipient(subject: Subject, actor: Actor, actor_claims: Mapping[str, Any]) -> None:
    """A chamberlain subject token must have been issued to this actor: its aud names the actor, and its
    ``may_act`` names the actor as an (issuer, id) pair, so another issuer's agent of the same name is refused."""
    if not subject.own:
        return
    names = {actor.id} | (
        {actor_claims["client_id"]} if isinstance(actor_claims.get("client_id"), str) else set()
    )
    try:
        require_audience(subject.verified.claims, names, "subject_token")
    except TokenError as exc:
        raise ExchangeError("invalid_request", f"{exc}: it was issued to another party") from None
    recipients = _recipients(subject.verified.claims.get("may_act"))
    if not any(sub in names and iss == actor.issuer for sub, iss in recipients):  # both token identities
        named = ", ".join(f"{sub!r} of {iss or 'no issuer'}" for sub, iss in recipients) or "no recipient"
        raise ExchangeError(
            "invalid_request",
            f"subject_token: it was issued to {named}, not to {actor.id!r} "
            f"of {actor.issuer}: it was issued to another party",
        )


def _recipients(may_act: Any) -> list[tuple[str, str]]:
    """The (id, issuer) pairs a chamberlain token's ``may_act`` names."""
    entries = may_act if isinstance(may_act, list) else [may_act]
    return [
        (e["sub"], e.get("iss", ""))
        for e in entries
        if isinstance(e, Mapping) and isinstance(e.get("sub"), str)
    ]


def recipient_issuer(service: TokenService, audience: str, requester: Actor) -> str:
    """The issuer of the party a token is issued to: the agents registry's for that id, else the requester's
    (an agent handing work on names a peer of its own issuer)."""
    agent = service.config.agents.lookup(audience, None)
    return agent.issuer if agent is not None and agent.issuer else requester.issuer


def _scopes(request: ExchangeRequest, subject: Subject, grant: Grant) -> tuple[str, ...]:
    """Requested ∩ the subject token's ∩ granted; asking beyond either is ``invalid_scope``."""

    def refusal(scope: str) -> str:
        """Why ``scope`` may not be delegated, or ``""`` when it may."""
        if subject.scopes is not None and scope not in subject.scopes:
            return "not in the subject token"
        return "" if scope in grant.scopes else f"not granted by {grant.rule}"

    if request.scopes is not None:
        beyond = [f"{s!r} ({refusal(s)})" for s in request.scopes if refusal(s)]
        if beyond:
            raise ExchangeError(
                "invalid_scope", f"requested scope beyond what may be delegated: {', '.join(beyond)}"
            )
        return request.scopes
    pool = subject.scopes if subject.scopes is not None else tuple(sorted(grant.scopes))
    scopes = tuple(s for s in pool if not refusal(s))
    if not scopes:
        raise ExchangeError(
            "invalid_scope",
            f"no scope left to delegate: the subject token has {list(subject.scopes or [])}, "
            f"{grant.rule} grants {sorted(grant.scopes)}",
        )
    return scopes


def _decide(
    service: TokenService, request: ExchangeRequest, subject: Subject, actor: Actor, now: float
) -> Grant:
    claims = dict(subject.verified.claims)
    attr = {
        "claims": claims,
        "audience": list(request.audiences),
        "scopes": list(request.scopes or ()),
        "chain": subject.chain.cel(),
        "depth": subject.chain.depth,
        "issuer": subject.verified.issuer,
        "subject_issuer": subject.issuer,
    }
    roles = claims.get("roles")
    person = {
        "id": subject.id,
        "iss": subject.issuer,
        "roles": roles if isinstance(roles, list) else [],
        "attr": {},
    }
    variable = delegation_variable(
        subject=person,
        chain=subject.chain,
        scopes=subject.scopes,
        audience=audiences(claims, "subject_token"),
        issuer=subject.verified.issuer,
        source=SOURCE_TOKEN,
        sid=str(claims.get("sid") or ""),
        jti=str(claims.get("jti") or ""),
    )
    when = dt.datetime.fromtimestamp(now, dt.UTC)
    return decide_exchange(
        service.engine,
        actor,
        subject.id,
        attr,
        AuxData(jwt=as_conditions_read(claims), delegation=variable),
        when,
        service.record,
    )


def exchange(service: TokenService, params: Mapping[str, Sequence[str]], now: float) -> dict[str, Any]:
    """Run one exchange; returns the RFC 8693 §2.2.1 response or raises :class:`ExchangeError`."""
    request = ExchangeRequest.parse(params)
    try:
        subject = subject_of(service, request.subject_token, now)
        actor, actor_jwt = actor_of(service, request.actor_token, now)
    except TokenError as exc:
        raise _refused(exc) from None
    _check_recipient(subject, actor, actor_jwt.claims)
    _check_may_act(subject, actor)
    chain = subject.chain.push(actor)
    limit = service.config.max_chain_depth
    if chain.depth > limit:
        raise ExchangeError(
            "invalid_request",
            f"the delegation chain would be {chain.depth} actors deep "
            f"({' -> '.join(reversed(chain.ids))}); maxChainDepth is {limit}",
        )
    grant = _decide(service, request, subject, actor, now)
    refused = [a for a in request.audiences if a not in grant.audiences]
    if refused:
        raise ExchangeError(
            "invalid_target",
            f"audience {', '.join(map(repr, refused))} is not granted to actor "
            f"{actor.id!r} by {grant.rule} (it grants {sorted(grant.audiences)})",
        )
    scopes = _scopes(request, subject, grant)
    claims = _claims(service, request, subject, chain, actor_jwt, scopes, now)
    token = service.keys.sign(claims)
    LOGGER.info(
        "token issued",
        extra={
            "jti": claims["jti"],
            "sub": subject.id,
            "sub_iss": subject.issuer,
            "actors": [f"{a.id} ({a.issuer})" for a in chain.actors],
            "aud": list(request.audiences),
            "scope": claims["scope"],
            "exp": claims["exp"],
        },
    )
    return {
        "access_token": token,
        "issued_token_type": request.requested_token_type,
        "token_type": "Bearer",
        "expires_in": max(0, claims["exp"] - claims["iat"]),
        "scope": claims["scope"],
    }


def _claims(
    service: TokenService,
    request: ExchangeRequest,
    subject: Subject,
    chain: Chain,
    actor: VerifiedJWT,
    scopes: tuple[str, ...],
    now: float,
) -> dict[str, Any]:
    """The RFC 9068 claims of the new token; it expires no later than either token it came from.

    ``sub_id`` (RFC 9493) records the subject's issuer; ``may_act`` names each audience as the (id, issuer)
    pair that may present the token in the next exchange (one object, or a list for several audiences)."""
    issued_at = int(now)
    limit = issued_at + int(service.config.max_token_lifetime)
    claims: dict[str, Any] = {
        "iss": service.config.issuer,
        "sub": subject.id,
        "aud": request.audiences[0] if len(request.audiences) == 1 else list(request.audiences),
        "client_id": chain.actors[0].id,
        "scope": format_scope(scopes),
        "act": chain.act_claim(),
        "iat": issued_at,
        "exp": min(limit, int(subject.verified.claims["exp"]), int(actor.claims["exp"])),
        "jti": secrets.token_urlsafe(16),
    }
    if subject.issuer:
        claims["sub_id"] = subject_id(subject.issuer, subject.id)
    recipients = [{"sub": a, "iss": recipient_issuer(service, a, chain.actors[0])} for a in request.audiences]
    claims["may_act"] = recipients[0] if len(recipients) == 1 else recipients
    sid = subject.verified.claims.get("sid")
    sid = sid if isinstance(sid, str) else ""
    if service.sessions is not None:
        # chamberlain's own session: continued from a chamberlain subject token, else opened now. An
        # identity provider's sid names its login session: kept as information (idp_sid), never joined.
        if sid and not subject.own:
            claims["idp_sid"] = sid
        claims["sid"] = service.sessions(subject.id, chain.ids, sid if subject.own else "")
    elif sid:
        claims["sid"] = sid
    return claims
