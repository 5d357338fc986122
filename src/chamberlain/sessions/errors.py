"""What can go wrong with sessions, each error naming the field or the session."""

from __future__ import annotations

from chamberlain.errors import Error


class SessionError(Error):
    """A session request that cannot be served; the message says what and where."""


class InvalidSession(SessionError):
    """A malformed session specification or reference (bad budget, duration out of range, bad id)."""


class SessionNotFound(SessionError):
    """No session (or lock) with that id."""


class SessionLocked(SessionError):
    """A lock forbids opening a session (or exchanging a token) for this agent, subject, root or tool."""


class SessionStateConflict(SessionError):
    """The session is not in the state the change needs (resuming an ACTIVE one, suspending a REVOKED one)."""
