"""The approvals inbox: pending requests in readable form; people approve or deny with a reason.

Only a person (logged in with OIDC) decides: the approvals API refuses operator credentials, and the
page says so instead of offering the buttons.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from chamberlain.approvals.model import APPROVAL_ID
from chamberlain.console.calls import CallFailed
from chamberlain.console.logins import Login, notice_of, notice_query

if TYPE_CHECKING:
    from chamberlain.console.web import Console

SHOWN = 100


def readable(approval: dict[str, Any]) -> dict[str, Any]:
    """What a person needs to decide: who, for whom, what, with which arguments, why, until when."""
    action = approval.get("action") or {}
    principal = action.get("principal") or {}
    resource = action.get("resource") or {}
    chain = list(action.get("actorChain") or [])
    approvals = sum(1 for d in approval.get("decisions", []) if d.get("decision") == "APPROVE")
    return {
        **approval,
        "who": chain[0] if chain else principal.get("id", ""),
        "for_whom": principal.get("id", "") if chain else "",
        "chain": chain,
        "what": f"{action.get('action', '')} {resource.get('kind', '')}/{resource.get('id', '')}",
        "arguments": resource.get("attr") or {},
        "approved": approvals,
    }


async def inbox(console: Console, request: Request, login: Login) -> Response:
    found = await console.calls.call(
        login.caller, "approvals_list", query=f"state=PENDING&limit={SHOWN}".encode()
    )
    decided = await console.calls.call(login.caller, "approvals_list", query=f"limit={SHOWN}".encode())
    recent = [a for a in decided["approvals"] if a["state"] != "PENDING"][-10:]
    return console.render(
        "approvals.html",
        login,
        nav="approvals",
        pending=[readable(a) for a in found["approvals"]],
        recent=[readable(a) for a in recent],
        notice=notice_of(login, request.query_params),
    )


async def decide(console: Console, request: Request, login: Login) -> Response:
    approval_id = request.path_params["id"]
    if not APPROVAL_ID.match(approval_id):
        raise CallFailed(404, f"{approval_id[:80]!r} is not an approval id")
    fields = await console.form(request, login)
    verdict = fields.get("verdict", "")
    if verdict not in ("approve", "deny"):
        raise CallFailed(400, "verdict: choose approve or deny")
    reason = fields.get("reason", "").strip()
    if not reason:
        raise CallFailed(400, "reason: say why (it is recorded in the decision log with your name)")
    endpoint = "approvals_approve" if verdict == "approve" else "approvals_deny"
    found = await console.calls.call(
        login.caller, endpoint, {"id": approval_id}, body={"reason": reason[:1024]}
    )
    notice = f"{approval_id}: you said {verdict}; the request is {found['state']}."
    return RedirectResponse(f"/console/approvals?{notice_query(login, notice)}", 303)


PAGES = [("GET", "/approvals", inbox), ("POST", "/approvals/{id}/decide", decide)]
