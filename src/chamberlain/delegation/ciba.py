"""OpenID CIBA (Client-Initiated Backchannel Authentication Core 1.0), poll mode, for the approvals that ask
for the consent of the person an agent acts for (``approvers: ["$subject"]``).

1. The agent's check is denied and names an approval request (``auxData`` or the rule's output).
2. The agent's client asks the person: ``POST /oauth2/bc-authorize`` (form), authenticated as the agent
   (``Authorization: Bearer <its token from a trusted issuer>``), with ``scope=openid``,
   ``login_hint=<the person>``, an optional ``binding_message``, and ``authorization_details`` (RFC 9396)
   holding one ``{"type": "chamberlain_action", "approval_id": "apr_..."}``: the exact action, as the
   approval request bound it. The answer is ``{auth_req_id, expires_in, interval}``.
3. The person says yes or no where approvers do (``POST /api/approvals/{id}/approve``, the console).
4. The client polls the token endpoint: ``grant_type=urn:openid:params:grant-type:ciba&auth_req_id=...``
   (same authentication): ``authorization_pending`` until the person decides, then ``access_denied``
   or ``expired_token``, or a token whose ``authorization_details`` carry the approval (with the
   action) — the person's approval is the grant. The agent retries its action naming that approval
   (``auxData.approval.id``); it is allowed once.

``auth_req_id`` is signed by chamberlain's token key (any replica can read it) and bound to the client as
the (issuer, subject) pair that authenticated: another trusted issuer's agent of the same ``sub`` cannot poll
it, and the grant's ``act`` names the client's issuer.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, cast

from chamberlain import strictjson
from chamberlain.approvals.errors import ApprovalError, ApprovalNotFound
from chamberlain.approvals.model import APPROVAL_ID, APPROVED, DENIED, EXPIRED, PENDING, SUBJECT, Approval
from chamberlain.delegation.errors import ExchangeError, TokenError
from chamberlain.delegation.identity import Identity
from chamberlain.delegation.tokens import verify_jwt

BC_AUTHORIZE_PATH = "/oauth2/bc-authorize"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"
DETAILS_TYPE = "chamberlain_action"
#: Seconds a client should wait between polls.
INTERVAL = 5
MAX_BINDING_MESSAGE = 256
MAX_DETAILS_DEPTH = 8  # authorization_details: a list of objects, an action inside
_AUTH_REQ_AUDIENCE = "/ciba"
#: The claim of an ``auth_req_id`` naming the issuer of the client it was issued to (its ``sub``).
CLIENT_ISSUER = "client_iss"


class ApprovalSource(Protocol):
    def get(self, approval_id: str) -> Approval: ...


def _one(params: Mapping[str, Sequence[str]], name: str, *, required: bool = True) -> str:
    values = params.get(name) or []
    if len(values) > 1:
        raise ExchangeError("invalid_request", f"{name} is given more than once")
    if not values or not values[0]:
        if required:
            raise ExchangeError("invalid_request", f"{name} is required")
        return ""
    return values[0]


def _store(service: Any) -> ApprovalSource:
    store = getattr(service, "approvals", None)
    if store is None:
        raise ExchangeError(
            "unsupported_grant_type",
            "backchannel authentication needs approvals "
            "(chamberlain.sessions and chamberlain.approvals enabled)",
        )
    return cast(ApprovalSource, store)


def _approval_id(raw: str) -> str:
    try:
        details = strictjson.loads(raw, max_depth=MAX_DETAILS_DEPTH)
    except strictjson.JSONError as exc:
        raise ExchangeError("invalid_authorization_details", f"authorization_details: {exc}") from None
    if not isinstance(details, list) or len(details) != 1 or not isinstance(details[0], dict):
        raise ExchangeError(
            "invalid_authorization_details",
            f'expected one entry [{{"type": "{DETAILS_TYPE}", "approval_id": "apr_..."}}]',
        )
    entry = details[0]
    if entry.get("type") != DETAILS_TYPE or not isinstance(entry.get("approval_id"), str):
        raise ExchangeError(
            "invalid_authorization_details", f'the entry needs "type": "{DETAILS_TYPE}" and an "approval_id"'
        )
    if not APPROVAL_ID.match(entry["approval_id"]):
        raise ExchangeError("invalid_authorization_details", "approval_id is not an approval id (apr_...)")
    return str(entry["approval_id"])


def _get(store: ApprovalSource, approval_id: str) -> Approval:
    try:
        return store.get(approval_id)
    except ApprovalNotFound:
        raise ExchangeError("invalid_authorization_details", f"no approval {approval_id}") from None
    except ApprovalError as exc:
        raise ExchangeError("invalid_request", str(exc)) from None


def details(approval: Approval) -> list[dict[str, Any]]:
    """The RFC 9396 entry of an approval: its id and the exact action it is for."""
    return [{"type": DETAILS_TYPE, "approval_id": approval.id, "action": dict(approval.action)}]


def backchannel_authorize(
    service: Any, params: Mapping[str, Sequence[str]], client: Identity
) -> dict[str, Any]:
    """CIBA §7: start asking ``login_hint`` to approve the action of the approval named; ``client`` is the
    authenticated agent. Raises :class:`ExchangeError` with CIBA's error codes."""
    store = _store(service)
    if "openid" not in _one(params, "scope").split():
        raise ExchangeError("invalid_scope", "scope must include openid")
    person = _one(params, "login_hint")
    message = _one(params, "binding_message", required=False)
    if len(message) > MAX_BINDING_MESSAGE or not message.isprintable():
        raise ExchangeError("invalid_binding_message", f"at most {MAX_BINDING_MESSAGE} printable characters")
    approval = _get(store, _approval_id(_one(params, "authorization_details")))
    if SUBJECT not in approval.spec.approvers:
        raise ExchangeError(
            "invalid_request",
            f"approval {approval.id} does not ask for its subject's consent "
            f'(the rule\'s approvers do not list "{SUBJECT}")',
        )
    if person != approval.subject:
        raise ExchangeError(
            "unknown_user_id",
            f"approval {approval.id} is for the action of {approval.subject!r}, not of {person!r}",
        )
    if client.subject not in approval.chain and client.subject != approval.subject:
        raise ExchangeError(
            "unauthorized_client",
            f"{client.subject!r} is not an agent of approval {approval.id}'s action",
            401,
        )
    if approval.state not in (PENDING, APPROVED):
        raise ExchangeError("access_denied", f"approval {approval.id} is {approval.state}")
    now = service.clock()
    auth_req_id = service.keys.sign(
        {
            "iss": service.config.issuer,
            "aud": service.config.issuer + _AUTH_REQ_AUDIENCE,
            "sub": client.subject,
            CLIENT_ISSUER: client.issuer,
            "approval": approval.id,
            "binding_message": message,
            "iat": int(now),
            "exp": int(approval.expires_at),
            "jti": secrets.token_hex(8),
        }
    )
    return {
        "auth_req_id": auth_req_id,
        "expires_in": max(1, int(approval.expires_at - now)),
        "interval": INTERVAL,
    }


def poll(service: Any, params: Mapping[str, Sequence[str]], client: Identity) -> dict[str, Any]:
    """CIBA §10 and §11, poll mode: the token once the person approved; ``authorization_pending`` before."""
    store = _store(service)
    raw = _one(params, "auth_req_id")
    try:
        verified = verify_jwt(
            raw, service.keys_of, now=service.clock(), leeway=service.config.leeway, where="auth_req_id"
        )
    except TokenError as exc:
        if "expired" in str(exc):
            raise ExchangeError("expired_token", "the backchannel request has expired") from None
        raise ExchangeError("invalid_grant", f"auth_req_id: {exc}") from None
    claims = verified.claims
    if (
        verified.issuer != service.config.issuer
        or claims.get("aud") != service.config.issuer + _AUTH_REQ_AUDIENCE
    ):
        raise ExchangeError(
            "invalid_grant", "auth_req_id was not issued by this server's backchannel endpoint"
        )
    if claims.get("sub") != client.subject or claims.get(CLIENT_ISSUER) != client.issuer:
        raise ExchangeError("invalid_grant", "auth_req_id was issued to another client")
    approval = _get(store, str(claims.get("approval")))
    if approval.state == PENDING:
        raise ExchangeError("authorization_pending", f"approval {approval.id} waits for {approval.subject!r}")
    if approval.state == DENIED:
        raise ExchangeError("access_denied", f"{approval.subject!r} denied approval {approval.id}")
    if approval.state == EXPIRED:
        raise ExchangeError("expired_token", f"approval {approval.id} expired")
    if approval.state != APPROVED:
        raise ExchangeError("invalid_grant", f"approval {approval.id} is {approval.state}")
    now = service.clock()
    until = approval.use_by if approval.use_by is not None else now + 60
    grant = details(approval)
    token = service.keys.sign(
        {
            "iss": service.config.issuer,
            "aud": service.config.issuer,
            "sub": approval.subject,
            "act": {"sub": client.subject, "iss": client.issuer},
            "approval": approval.id,
            "authorization_details": grant,
            "iat": int(now),
            "exp": int(until),
            "jti": secrets.token_hex(8),
        }
    )
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": max(1, int(until - now)),
        "authorization_details": grant,
    }
