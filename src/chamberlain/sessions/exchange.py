"""Sessions in the token exchange: an issued token carries its session's ``sid``; locks refuse exchanges.

- A chamberlain subject token with a ``sid`` continues that session: it must be ACTIVE and for the
  same subject, and the new token carries the same ``sid``.
- Otherwise (a person's token from the identity provider) the exchange opens a session for the
  subject and the first agent of the chain, with the configured defaults, opened by ``token-exchange``.
- A lock on the subject, on any agent of the chain or on its root refuses the exchange.
"""

from __future__ import annotations

from collections.abc import Sequence

from chamberlain.delegation.errors import ExchangeError
from chamberlain.sessions.errors import SessionError, SessionNotFound
from chamberlain.sessions.model import ACTIVE, SESSION_ID
from chamberlain.sessions.settings import SessionSettings, SessionSpec
from chamberlain.sessions.store import SessionStore
from chamberlain.store.errors import StoreError

OPENED_BY = "token-exchange"


class ExchangeSessions:
    """The token service's ``sessions``: joins exchanges to sessions, tells introspection a session's
    state and revokes a session for RFC 7009 revocation."""

    def __init__(self, store: SessionStore, settings: SessionSettings):
        self.store = store
        self.settings = settings

    def __call__(self, subject: str, agents: Sequence[str], sid: str) -> str:
        """The sid the new token carries (continued or opened); raises ExchangeError to refuse."""
        try:
            return self._join(subject, agents, sid)
        except SessionNotFound:
            raise ExchangeError(
                "invalid_grant", f"the subject token names an unknown session {sid}"
            ) from None
        except StoreError as exc:
            raise ExchangeError("temporarily_unavailable", f"session store unavailable: {exc}", 503) from None
        except SessionError as exc:
            raise ExchangeError("access_denied", str(exc)) from None

    def _join(self, subject: str, agents: Sequence[str], sid: str) -> str:
        for agent in agents:
            lock = self.store.lock_for(agent=agent, subject=subject, root=agents[-1])
            if lock is not None:
                raise ExchangeError(
                    "access_denied",
                    f"{lock.target} {lock.value!r} is locked ({lock.id})"
                    + (f": {lock.reason}" if lock.reason else ""),
                )
        if sid and SESSION_ID.match(sid):
            found = self.store.get(sid)
            if found.state != ACTIVE:
                raise ExchangeError("invalid_grant", f"the subject token's session {sid} is {found.state}")
            if found.subject != subject:
                raise ExchangeError(
                    "invalid_grant", f"the subject token's session {sid} is not {subject!r}'s"
                )
            return sid
        s = self.settings
        spec = SessionSpec(
            subject, agents[-1], tuple(agents[-1:]), s.ttl, s.idle_timeout, s.budgets, s.rate_limits, {}
        )
        return self.store.open_session(spec, by=OPENED_BY).id

    def state(self, sid: str) -> str:
        """The session's state ("UNKNOWN" for none, "UNAVAILABLE" when the store cannot say: never ACTIVE)."""
        if not SESSION_ID.match(sid):
            return "UNKNOWN"
        try:
            return self.store.get(sid).state
        except SessionNotFound:
            return "UNKNOWN"
        except StoreError:
            return "UNAVAILABLE"

    def revoke(self, sid: str, *, by: str, reason: str) -> str:
        try:
            return self.store.revoke(sid, by=by, reason=reason).state
        except SessionNotFound:
            return "UNKNOWN"
