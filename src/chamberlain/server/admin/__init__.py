"""The admin surface's contract: everything that is not a check is an :class:`AdminRoute`.

A feature (the decision log API, sessions, approvals, analysis, the console) declares its endpoints
as ``ROUTES: list[AdminRoute]`` in its own module and adds that module to :data:`ROUTE_MODULES`. The
admin dispatcher (this package) matches the path, authenticates the caller (Cerbos's
``server.adminAPI.adminCredentials`` basic auth, or a bearer JWT from
``chamberlain.delegation.trustedIssuers``), asks the shipped admin policy set whether the caller may
take ``route.action`` on ``route.resource_kind``, records that check in the decision log, and only
then calls the handler. Handlers never authenticate or authorize on their own, except where the
decision is the feature's business (who may approve an action is the approval rules' question).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from chamberlain.server.state import ServerState


@dataclass(frozen=True)
class Caller:
    """Who called the admin surface. ``issuer`` is None for the operator's basic-auth credentials;
    identities from tokens are (issuer, subject) pairs. ``interactive``: signed in at the console through
    the identity provider's login page (not a bearer token, which an agent acting for the person may hold)."""

    id: str
    roles: tuple[str, ...]
    attr: Mapping[str, Any] = field(default_factory=dict)
    via: Literal["basic", "jwt"] = "basic"
    issuer: str | None = None
    interactive: bool = False


@dataclass(frozen=True)
class AdminRequest:
    """One authenticated, authorized admin call, as its handler sees it."""

    state: ServerState
    caller: Caller
    method: str
    path_params: Mapping[str, str]
    query: bytes  # the raw query string
    body: bytes  # the raw body (bounded by server.requestLimits / chamberlain.limits), b"" for GET
    headers: Mapping[str, str]  # lower-case names
    call_id: str


@dataclass(frozen=True)
class AdminResponse:
    """A handler's answer when it is not a plain ``200`` with a JSON object."""

    status: int
    body: dict[str, Any]


#: A handler answers a JSON object (status 200), an AdminResponse, or an awaitable of either.
AdminHandler = Callable[
    [AdminRequest], "dict[str, Any] | AdminResponse | Awaitable[dict[str, Any] | AdminResponse]"
]


@dataclass(frozen=True)
class AdminRoute:
    """One admin endpoint. ``path`` may hold ``{name}`` segments (``/api/sessions/{id}/revoke``), given to
    the handler as ``path_params``; the check's resource id is ``path_params["id"]`` when present (else the
    endpoint name). An ``async def`` handler runs on the event loop; a plain function (database reads,
    files) runs on a worker thread. Listings page with :mod:`chamberlain.server.admin.paging`."""

    method: str
    path: str
    endpoint: str  # its name in metrics and logs
    action: str  # e.g. "audit:read", "session:revoke"
    resource_kind: str  # e.g. "chamberlain:audit", "chamberlain:session"
    handler: AdminHandler


#: Modules (dotted names) that define ``ROUTES: list[AdminRoute]``; imported when the app starts.
ROUTE_MODULES: list[str] = [
    "chamberlain.server.audit_api",
    "chamberlain.server.sessions_api",
    "chamberlain.server.approvals_api",
    "chamberlain.server.analysis_api",
]
