"""The approvals' admin API: list, read, approve, deny. Declared as :class:`AdminRoute` s.

The admin dispatcher authenticates each call and asks the admin policy (kind ``chamberlain:approval``:
``approval:read``, ``approval:decide``). Who may decide one request is the approval's own business,
decided here: a person authenticated by a bearer JWT from a trusted issuer (operator basic-auth
credentials read, never decide) holding one of the request's ``approvers`` roles, who is neither the
subject of the action nor an actor of its chain — nor, for an action made in a session, the session's
subject or agent — (unless ``approvers`` holds ``$subject``: the subject may then confirm, signed in at the console), and — when the user's policies have a resource policy for kind ``approval`` —
allowed ``approve`` by it. People see only the requests they may decide; operators see all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chamberlain import Principal, Resource
from chamberlain.approvals.errors import ApprovalClosed, ApprovalNotFound, ApproverRefused, InvalidApproval
from chamberlain.approvals.model import APPROVAL_ID, SUBJECT, Approval, Decision
from chamberlain.approvals.store import ApprovalStore
from chamberlain.delegation.identity import Identity, same_party
from chamberlain.engine.names import NO_MATCH
from chamberlain.server.admin import AdminRequest, AdminRoute, Caller
from chamberlain.server.admin.answers import answering, json_object
from chamberlain.server.admin.paging import page_limit, query_params
from chamberlain.server.http import INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED
from chamberlain.sessions.errors import SessionNotFound
from chamberlain.sessions.model import Session

KIND = "chamberlain:approval"
FAILED_PRECONDITION = 9
MAX_REASON = 1024
#: The user's policies may say who approves what: kind ``approval``, action ``approve``.
POLICY_KIND, POLICY_ACTION = "approval", "approve"


_handle = answering(
    [
        (ApprovalNotFound, 404, NOT_FOUND),
        (ApproverRefused, 403, PERMISSION_DENIED),
        (ApprovalClosed, 409, FAILED_PRECONDITION),
        (InvalidApproval, 400, INVALID_ARGUMENT),
    ],
    "approval store",
)


def _store(request: AdminRequest) -> ApprovalStore:
    store = request.state.approvals
    if store is None:
        raise InvalidApproval(
            "approvals are not enabled on this server (chamberlain.approvals.enabled, and "
            "chamberlain.sessions.enabled for their store)"
        )
    return store


def _id(request: AdminRequest) -> str:
    value = request.path_params.get("id", "")
    if not APPROVAL_ID.match(value):
        raise InvalidApproval(f"path: {value[:80]!r} is not an approval id (apr_ and 26 characters)")
    return value


def why_not_approver(
    caller: Caller, approval: Approval, session: Session | None = None, *, approving: bool = False
) -> str:
    """Why ``caller`` may not decide ``approval`` ("" when they may, as far as roles and identity go).

    ``session``: the session the action was made in; its agent is a party as an actor is, and its subject
    as the action's subject is (an agent checking as itself in alice's session acts for alice).
    ``approving``: the subject's consent (``$subject``) is then given only in a console login: a bearer
    token naming the person may be the very token the person handed the agent for its token exchange."""
    if caller.via != "jwt":
        return (
            f"{caller.id!r} signed in with operator credentials: operators can list and read approvals, "
            "never decide them; an approver signs in with a bearer token from a trusted issuer"
        )
    person = Identity(caller.id, caller.issuer or "")
    approvers = approval.spec.approvers
    subject = Identity(approval.subject, approval.subject_issuer)
    is_subject = same_party(person, subject)
    for actor in (*approval.chain, *((session.agent,) if session is not None else ())):
        if same_party(person, Identity(actor)):
            return f"{person} is an actor of this action's chain: nobody approves their own action"
    acts_for = ""
    if not is_subject and session is not None and same_party(person, _session_subject(session, subject)):
        is_subject, acts_for = True, f" (session {session.id} acts for {session.subject!r})"
    if is_subject and SUBJECT in approvers:
        if approving and not caller.interactive:
            return (
                f"the subject's consent to {approval.id} is given in the console, signed in there: a bearer "
                f"token naming {person} may be the one the agent was handed for its token exchange"
            )
        return ""
    if is_subject:
        return (
            f"{person} is the subject of this action{acts_for}: nobody approves their own action (the rule "
            f'may opt into the subject\'s consent with approvers: ["{SUBJECT}"])'
        )
    held = sorted(set(caller.roles) & set(approvers))
    if not held:
        roles = ", ".join(r for r in approvers if r != SUBJECT) or "none"
        return f"{person} holds none of the approver roles of {approval.id} ({roles})"
    return ""


def _session_subject(session: Session, subject: Identity) -> Identity:
    """Whom ``session`` acts for: the action's subject, with its issuer, when it is that person (a session
    records a bare id); else the session's bare subject."""
    if session.subject == subject.subject:
        return subject
    return Identity(session.subject)


def _session_of(request: AdminRequest, approval: Approval, *, strict: bool) -> Session | None:
    """The session ``approval``'s action was made in (None outside one). ``strict`` (to approve): refused when
    it cannot be read, since whom it acts for is then unknown (and an approval outliving its session could not
    be used anyway); a denial needs no such care."""
    if not approval.session_id:
        return None
    sessions = request.state.sessions
    if sessions is None:
        if not strict:
            return None
        raise ApproverRefused(
            f"approval {approval.id} was asked in session {approval.session_id}, and this server has no "
            "session store to tell whom that session acts for"
        )
    try:
        return sessions.get(approval.session_id)
    except SessionNotFound:
        if not strict:
            return None
        raise ApproverRefused(
            f"approval {approval.id} was asked in session {approval.session_id}, which is unknown"
        ) from None


def _policy_refusal(request: AdminRequest, approval: Approval) -> str:
    """Why the user's ``approval`` policy (if there is one) does not let the caller approve this request."""
    caller = request.caller
    principal = Principal(caller.id, caller.roles, {**caller.attr, "issuer": caller.issuer or ""})
    resource = Resource(POLICY_KIND, approval.id, {**approval.to_json(), "id": approval.id})
    result = request.state.pdp.check(principal, resource, [POLICY_ACTION], point="approvals")
    if result.log_error:
        return f"the approval policy's decision could not be recorded: {result.log_error}"
    effect = result[0].actions[POLICY_ACTION]
    if effect.allowed or effect.policy == NO_MATCH:
        return ""
    rule = f" rule {effect.rule!r}" if effect.rule else ""
    return f"the approval policy {effect.policy}{rule} does not let {caller.id!r} approve {approval.id}"


def _visible(request: AdminRequest, approval: Approval) -> bool:
    """Operators see every request; a person sees those they may decide (the subject of an agent's session
    its consent requests), and those they decided."""
    caller = request.caller
    if caller.via != "jwt":
        return True
    if any(d.subject == caller.id and d.issuer == (caller.issuer or "") for d in approval.decisions):
        return True
    return not why_not_approver(caller, approval, _session_of(request, approval, strict=False))


def _body(request: AdminRequest) -> Mapping[str, Any]:
    found = json_object(request, InvalidApproval)
    unknown = sorted(set(found) - {"reason"})
    if unknown:
        raise InvalidApproval(f"request body: unknown field {unknown[0][:64]!r} (allowed: reason)")
    reason = found.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise InvalidApproval(f"reason: expected a string of at most {MAX_REASON} characters")
    return found


@_handle
def list_approvals(request: AdminRequest) -> dict[str, Any]:
    """``GET /api/approvals?state=PENDING&after=&limit=``: ``{"approvals", "next"}`` (``next``: the cursor)."""
    params = query_params(request.query, ("state", "after", "limit"))
    limit = page_limit(params, request.state.config.admin)
    after = params.get("after", "")
    if after and not APPROVAL_ID.match(after):
        raise InvalidApproval(f"after: {after[:80]!r} is not an approval id (give the previous page's next)")
    found, cursor = _store(request).list(params.get("state", ""), after=after, limit=limit)
    shown = [a.to_json() for a in found if _visible(request, a)]
    return {"approvals": shown, "next": cursor or None}


@_handle
def show_approval(request: AdminRequest) -> dict[str, Any]:
    """``GET /api/approvals/{id}``."""
    found = _store(request).get(_id(request))
    if not _visible(request, found):
        raise ApprovalNotFound(f"no approval {found.id} that {request.caller.id!r} may see")
    return found.to_json()


def _decide(request: AdminRequest, verdict: str) -> dict[str, Any]:
    reason = str(_body(request).get("reason", ""))
    caller = request.caller
    approval_id = _id(request)

    store = _store(request)
    found = store.get(approval_id)
    session = _session_of(request, found, strict=verdict == "APPROVE")
    approving = verdict == "APPROVE"
    if approving:  # the user's approval policy, asked before the request's row is held
        why = why_not_approver(caller, found, session, approving=True) or _policy_refusal(request, found)
        if why:
            raise ApproverRefused(why)

    def refuse(approval: Approval) -> str:
        why = why_not_approver(caller, approval, session, approving=approving)
        if why:
            raise ApproverRefused(why)
        return ""

    issuer = caller.issuer or ""
    decision = Decision(
        f"{caller.id} ({issuer})" if issuer else caller.id, verdict, 0.0, reason, caller.id, issuer
    )
    return store.decide(approval_id, decision, refuse).to_json()


@_handle
def approve(request: AdminRequest) -> dict[str, Any]:
    """``POST /api/approvals/{id}/approve`` with ``{"reason": "..."}``: the bearer token's person says yes."""
    return _decide(request, "APPROVE")


@_handle
def deny(request: AdminRequest) -> dict[str, Any]:
    """``POST /api/approvals/{id}/deny`` with ``{"reason": "..."}``: one no ends the request."""
    return _decide(request, "DENY")


@_handle
def record_outcome(request: AdminRequest) -> dict[str, Any]:
    """``POST /api/approvals/{id}/outcome`` with ``{"outcome": "SUCCEEDED"|"FAILED", "detail": "..."}``: what
    became of the approved action, reported once by the enforcement point that ran it."""
    body = json_object(request, InvalidApproval)
    unknown = sorted(set(body) - {"outcome", "detail"})
    if unknown:
        raise InvalidApproval(f"request body: unknown field {unknown[0][:64]!r} (allowed: outcome, detail)")
    caller = request.caller
    by = f"{caller.id} ({caller.issuer})" if caller.issuer else caller.id
    found = _store(request).record_outcome(
        _id(request), str(body.get("outcome")), body.get("detail", ""), by=by
    )
    return found.to_json()


ROUTES: list[AdminRoute] = [
    AdminRoute("GET", "/api/approvals", "approvals_list", "approval:read", KIND, list_approvals),
    AdminRoute("GET", "/api/approvals/{id}", "approvals_show", "approval:read", KIND, show_approval),
    AdminRoute("POST", "/api/approvals/{id}/approve", "approvals_approve", "approval:decide", KIND, approve),
    AdminRoute("POST", "/api/approvals/{id}/deny", "approvals_deny", "approval:decide", KIND, deny),
    AdminRoute(
        "POST", "/api/approvals/{id}/outcome", "approvals_outcome", "approval:outcome", KIND, record_outcome
    ),
]

__all__ = ["ROUTES", "why_not_approver"]
