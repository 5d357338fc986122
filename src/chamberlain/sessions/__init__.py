"""Agent sessions: the control boundary of an agent's live work (expiry, budgets, rate limits, a kill switch).

A session is opened (``POST /api/sessions``, ``chamberlain session open``, the MCP gateway, the token
exchange) for one agent acting for one subject; checks name it (``auxData.session.id``, a
chamberlain token's ``sid``, ``PDP.check(session_id=...)``) and are denied once it is over, revoked,
locked or out of budget. Sessions live in the decision log's database so replicas share them.
"""

from chamberlain.sessions.clock import ManualClock, system_clock
from chamberlain.sessions.errors import InvalidSession, SessionError, SessionLocked, SessionNotFound
from chamberlain.sessions.guard import SessionGuard, SessionRef, parse_ref, read_ref
from chamberlain.sessions.model import ACTIVE, EXPIRED, REVOKED, Budget, Lock, RateLimit, Session
from chamberlain.sessions.settings import SessionSettings, SessionSpec, parse_settings, parse_spec
from chamberlain.sessions.store import SessionStore, Transition

__all__ = [
    "ACTIVE",
    "EXPIRED",
    "REVOKED",
    "Budget",
    "InvalidSession",
    "Lock",
    "ManualClock",
    "RateLimit",
    "Session",
    "SessionError",
    "SessionGuard",
    "SessionLocked",
    "SessionNotFound",
    "SessionRef",
    "SessionSettings",
    "SessionSpec",
    "SessionStore",
    "Transition",
    "parse_ref",
    "parse_settings",
    "parse_spec",
    "read_ref",
    "system_clock",
]
