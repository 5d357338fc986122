"""The sessions' admin API: open, read, list, revoke, suspend, resume, settle; locks. Declared as
:class:`AdminRoute` s.

The admin dispatcher (:mod:`chamberlain.server.admin`) authenticates and authorizes each call
(resource kind ``chamberlain:session``; actions ``session:read``, ``session:open``,
``session:revoke`` (also suspend and resume), ``session:settle``, ``lock:write``) before a handler
runs. Handlers answer Cerbos-style errors (``{"code", "message"}``): 400 for bad input, 404 for an
unknown id, 409 for a lock or a session not in the state a change needs, 503 when the session store
is unavailable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from chamberlain.server.admin import AdminRequest, AdminResponse, AdminRoute
from chamberlain.server.admin.answers import answering, json_object
from chamberlain.server.http import INVALID_ARGUMENT, NOT_FOUND
from chamberlain.sessions.errors import InvalidSession, SessionLocked, SessionNotFound, SessionStateConflict
from chamberlain.sessions.model import LOCK_ID, SESSION_ID, Session, text
from chamberlain.sessions.settings import SessionSettings, parse_spec
from chamberlain.sessions.store import SessionStore
from chamberlain.sessions.times import rfc3339

KIND = "chamberlain:session"
FAILED_PRECONDITION = 9
MAX_LIST = 1000


def session_json(s: Session) -> dict[str, Any]:
    """A session as the API shows it."""
    return {
        "id": s.id,
        "state": s.state,
        "subject": s.subject,
        "agent": s.agent,
        "chain": list(s.chain),
        "createdAt": rfc3339(s.created_at),
        "expiresAt": rfc3339(s.expires_at),
        "idleTimeout": f"{s.idle_timeout:g}s",
        "lastUsedAt": rfc3339(s.last_used_at),
        "calls": s.calls,
        "budgets": [b.to_json() for b in s.budgets],
        "rateLimits": [r.to_json() for r in s.rate_limits],
        "metadata": dict(s.metadata),
        "openedBy": s.opened_by,
        "endedAt": rfc3339(s.ended_at) if s.ended_at is not None else None,
        "endedBy": s.ended_by or None,
        "endReason": s.end_reason or None,
    }


def who(request: AdminRequest) -> str:
    """The caller as transitions name it: the operator's name, or ``subject (issuer)`` for a token."""
    caller = request.caller
    return caller.id if caller.issuer is None else f"{caller.id} ({caller.issuer})"


def _store(request: AdminRequest) -> SessionStore:
    store = request.state.sessions
    if store is None:
        raise InvalidSession("sessions are not enabled on this server (chamberlain.sessions.enabled: false)")
    return store


def _body(request: AdminRequest) -> Mapping[str, Any]:
    return json_object(request, InvalidSession)


def _id(request: AdminRequest, pattern: Any = SESSION_ID, what: str = "session") -> str:
    value = request.path_params.get("id", "")
    if not pattern.match(value):
        raise InvalidSession(f"path: {value[:80]!r} is not a {what} id")
    return value


_handle = answering(
    [
        (SessionNotFound, 404, NOT_FOUND),
        (SessionLocked, 409, FAILED_PRECONDITION),
        (SessionStateConflict, 409, FAILED_PRECONDITION),
        (InvalidSession, 400, INVALID_ARGUMENT),
    ],
    "session store",
)


def _settings(request: AdminRequest) -> SessionSettings:
    found = request.state.config.sessions
    return found if found is not None else SessionSettings()


@_handle
def open_session(request: AdminRequest) -> AdminResponse:
    """``POST /api/sessions``: ``{"subject", "agent", "ttl", "idleTimeout", "budgets", "rateLimits", "metadata"}`` -> 201."""
    spec = parse_spec(_body(request), _settings(request))
    return AdminResponse(201, session_json(_store(request).open_session(spec, by=who(request))))


@_handle
def show_session(request: AdminRequest) -> dict[str, Any]:
    """``GET /api/sessions/{id}``."""
    return session_json(_store(request).get(_id(request)))


@_handle
def list_sessions(request: AdminRequest) -> dict[str, Any]:
    """``GET /api/sessions?state=ACTIVE&agent=&subject=&after=&limit=``: ``{"sessions", "next"}`` (``next``: the cursor)."""
    query = dict(parse_qsl(request.query.decode("latin-1"), keep_blank_values=True))
    unknown = sorted(set(query) - {"state", "agent", "subject", "after", "limit"})
    if unknown:
        raise InvalidSession(
            f"query: unknown parameter {unknown[0]!r} (allowed: state, agent, subject, after, limit)"
        )
    limit = query.get("limit", "100")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIST:
        raise InvalidSession(f"limit: expected an integer between 1 and {MAX_LIST}, got {limit[:20]!r}")
    after = query.get("after", "")
    if after and not SESSION_ID.match(after):
        raise InvalidSession(f"after: {after[:80]!r} is not a session id (give the previous page's next)")
    found, cursor = _store(request).list(
        query.get("state", ""),
        agent=query.get("agent", ""),
        subject=query.get("subject", ""),
        after=after,
        limit=int(limit),
    )
    return {"sessions": [session_json(s) for s in found], "next": cursor or None}


@_handle
def revoke_session(request: AdminRequest) -> dict[str, Any]:
    """``POST /api/sessions/{id}/revoke`` with ``{"reason": "..."}``."""
    return session_json(_store(request).revoke(_id(request), by=who(request), reason=_reasoned(request)))


def _reasoned(request: AdminRequest) -> str:
    return text(_only(_body(request), ("reason",)).get("reason"), "reason", required=False)


@_handle
def suspend_session(request: AdminRequest) -> dict[str, Any]:
    """``POST /api/sessions/{id}/suspend`` with ``{"reason": "..."}``: checks denied until resumed."""
    return session_json(_store(request).suspend(_id(request), by=who(request), reason=_reasoned(request)))


@_handle
def resume_session(request: AdminRequest) -> dict[str, Any]:
    """``POST /api/sessions/{id}/resume`` with ``{"reason": "..."}``."""
    return session_json(_store(request).resume(_id(request), by=who(request), reason=_reasoned(request)))


@_handle
def revoke_sessions(request: AdminRequest) -> dict[str, Any]:
    """``POST /api/sessions/revoke`` with ``{"agent": "..."}`` or ``{"subject": "..."}`` (and ``reason``)."""
    body = _only(_body(request), ("agent", "subject", "reason"))
    agent = text(body.get("agent"), "agent", required=False)
    subject = text(body.get("subject"), "subject", required=False)
    reason = text(body.get("reason"), "reason", required=False)
    ids = _store(request).revoke_all(by=who(request), reason=reason, agent=agent, subject=subject)
    return {"revoked": ids}


@_handle
def settle_session(request: AdminRequest) -> dict[str, Any]:
    """``POST /api/sessions/{id}/settle`` with ``{"budget": "...", "amount": N}``: the actual cost of an action that ran."""
    body = _only(_body(request), ("budget", "amount"))
    found = _store(request).settle(
        _id(request), text(body.get("budget"), "budget"), body.get("amount"), by=who(request)
    )
    return session_json(found)


@_handle
def create_lock(request: AdminRequest) -> AdminResponse:
    """``POST /api/locks`` with ``{"target": "agent|subject|root|tool", "value", "reason", "ttl"}`` -> 201."""
    from chamberlain.sessions.model import duration
    from chamberlain.sessions.settings import ABSOLUTE_MAX_SECONDS

    body = _only(_body(request), ("target", "value", "reason", "ttl"))
    ttl = duration(body["ttl"], "ttl", ABSOLUTE_MAX_SECONDS) if "ttl" in body else None
    lock = _store(request).add_lock(
        text(body.get("target"), "target"),
        text(body.get("value"), "value"),
        by=who(request),
        reason=text(body.get("reason"), "reason", required=False),
        ttl=ttl,
    )
    return AdminResponse(201, lock.to_json())


@_handle
def remove_lock(request: AdminRequest) -> dict[str, Any]:
    """``DELETE /api/locks/{id}``."""
    return _store(request).remove_lock(_id(request, LOCK_ID, "lock"), by=who(request)).to_json()


@_handle
def list_locks(request: AdminRequest) -> dict[str, Any]:
    """``GET /api/locks``: the locks in force."""
    return {"locks": [lock.to_json() for lock in _store(request).locks()]}


def _only(body: Mapping[str, Any], allowed: tuple[str, ...]) -> Mapping[str, Any]:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InvalidSession(f"request body: unknown field {unknown[0]!r} (allowed: {', '.join(allowed)})")
    return body


# Literal paths before templated ones: /api/sessions/revoke is not a session id.
ROUTES: list[AdminRoute] = [
    AdminRoute("POST", "/api/sessions", "sessions_open", "session:open", KIND, open_session),
    AdminRoute("GET", "/api/sessions", "sessions_list", "session:read", KIND, list_sessions),
    AdminRoute(
        "POST", "/api/sessions/revoke", "sessions_revoke_all", "session:revoke", KIND, revoke_sessions
    ),
    AdminRoute("GET", "/api/sessions/{id}", "sessions_show", "session:read", KIND, show_session),
    AdminRoute(
        "POST", "/api/sessions/{id}/revoke", "sessions_revoke", "session:revoke", KIND, revoke_session
    ),
    AdminRoute(
        "POST", "/api/sessions/{id}/suspend", "sessions_suspend", "session:revoke", KIND, suspend_session
    ),
    AdminRoute(
        "POST", "/api/sessions/{id}/resume", "sessions_resume", "session:revoke", KIND, resume_session
    ),
    AdminRoute(
        "POST", "/api/sessions/{id}/settle", "sessions_settle", "session:settle", KIND, settle_session
    ),
    AdminRoute("GET", "/api/locks", "locks_list", "session:read", KIND, list_locks),
    AdminRoute("POST", "/api/locks", "locks_create", "lock:write", KIND, create_lock),
    AdminRoute("DELETE", "/api/locks/{id}", "locks_remove", "lock:write", KIND, remove_lock),
]
