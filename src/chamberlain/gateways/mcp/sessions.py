"""The MCP gateway's sessions: one per agent, in the decision log's database, so a revoke or a lock made
on the server (or by ``chamberlain session``) stops the agent's next call.

- over stdio the gateway process is the agent's session: opened at start (for the configured
  principal, or the token's subject and agent), reopened only if none could be opened (a lock);
- over HTTP a token's chamberlain ``sid`` names the session; a token without one gets a session of
  its own (by its issuer and ``jti``, kept in the store: a restarted gateway or another replica finds
  it, revoked or spent as it is), never one from the MCP protocol's ``Mcp-Session-Id``, which MCP
  2026-07-28 removes;
- a lock on the agent, subject, root or tool refuses the session, and so every call.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from chamberlain.approvals.guard import ApprovalGuard
from chamberlain.approvals.webhooks import Notifier
from chamberlain.delegation import Delegation
from chamberlain.gateways.mcp.errors import IdentityError
from chamberlain.sessions.errors import SessionError
from chamberlain.sessions.guard import SessionGuard
from chamberlain.sessions.model import SESSION_ID
from chamberlain.sessions.settings import SessionSettings, SessionSpec
from chamberlain.sessions.store import SessionStore
from chamberlain.store.errors import StoreError

OPENED_BY = "mcp-gateway"
MAX_REMEMBERED = 10_000  # tokens whose implicit session the gateway remembers (oldest forgotten first)


class GatewaySessions:
    """Opens and finds the sessions of the gateway's callers; ``guard`` joins checks to them."""

    def __init__(self, store: SessionStore, settings: SessionSettings, subject: str = ""):
        self.store = store
        self.settings = settings
        self.subject = subject
        self.guard = SessionGuard(store)
        #: Human approval of the calls a rule holds for it (None: approvals are off).
        self.approvals: ApprovalGuard | None = None
        self.notifier: Notifier | None = None  # approval webhooks
        self._by_token: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the stores (sessions and approvals)."""
        if self.approvals is not None:
            self.approvals.store.close()
        if self.notifier is not None:
            self.notifier.close()
        self.store.close()

    def open(
        self, subject: str, agents: tuple[str, ...], token_key: str = "", token_expires: float | None = None
    ) -> str:
        """A new session for ``agents`` (current first) acting for ``subject`` (``token_key``: the token's own,
        kept in the store for it); raises IdentityError (a lock)."""
        s = self.settings
        spec = SessionSpec(
            subject,
            agents[-1],
            agents if len(agents) > 1 else (),
            s.ttl,
            s.idle_timeout,
            s.budgets,
            s.rate_limits,
            {"openedBy": "chamberlain mcp-proxy"},
        )
        try:
            if token_key:
                return self.store.session_for_token(token_key, spec, by=OPENED_BY, expires_at=token_expires)
            return self.store.open_session(spec, by=OPENED_BY).id
        except (SessionError, StoreError) as exc:
            raise IdentityError(f"no session could be opened for {agents[-1]!r}: {exc}") from None

    def local(self, agent: str) -> str:
        """The stdio agent's session (``sessions.subject``, default the agent itself, as its subject)."""
        return self.open(self.subject or agent, (agent,))

    def for_token(self, token: Delegation) -> str:
        """The session a token's calls belong to: its chamberlain ``sid``, else the token's own, opened at its
        first call and kept in the store (a revoked one stays revoked after a restart, and in other replicas)."""
        if SESSION_ID.match(token.sid):
            return token.sid
        key = token.jti or f"{token.subject}|{'|'.join(token.chain.ids)}"
        with self._lock:
            found = self._by_token.get(key)
        if found:
            return found
        digest = hashlib.sha256(f"{token.issuer}\n{key}".encode()).hexdigest()
        exp = token.claims.get("exp")
        expires = float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None
        opened = self.open(token.subject or token.chain.ids[-1], token.chain.ids, digest, expires)
        with self._lock:
            self._by_token[key] = opened
            while len(self._by_token) > MAX_REMEMBERED:
                self._by_token.popitem(last=False)
        return opened
