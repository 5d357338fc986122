"""Approval requests in the decision log's database (SQLite or PostgreSQL), shared by every replica.

- :meth:`ApprovalStore.request`: one live request per digest (a repeated identical check gets the same
  one); creating it holds a per-digest lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on
  PostgreSQL) so two replicas never open two, then a per-requester lock to count the requester's new
  requests against ``request_limit`` (an agent cannot flood the approvers' inbox).
- :meth:`ApprovalStore.decide`: an approver's yes or no, under the row's lock.
- :meth:`ApprovalStore.use`: the single use, a conditional ``UPDATE ... WHERE state = 'APPROVED' AND
  digest = ? AND use_by > ?``: of any number of concurrent retries on any replicas, one wins.

Transitions (requested, approved/denied by whom, expired, used) go to ``on_transition`` after they
commit, which records them in the decision log.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from chamberlain.approvals.errors import ApprovalClosed, ApprovalNotFound, InvalidApproval, TooManyRequests
from chamberlain.approvals.model import (
    APPROVED,
    DENIED,
    EXPIRED,
    OUTCOMES,
    PENDING,
    STATES,
    USED,
    Approval,
    Decision,
    Spec,
)
from chamberlain.approvals.settings import DEFAULT_REQUEST_LIMIT, RequestLimit
from chamberlain.sessions.clock import Clock, system_clock
from chamberlain.sessions.store import Transition, new_id
from chamberlain.store import POSTGRES
from chamberlain.store.db import Database, has_column
from chamberlain.store.owned import OwnedStore

_COLUMNS = (
    "id, digest, state, rule, policy_hash, action, approvers, quorum, ttl, reason, session_id, "
    "created_at, expires_at, decisions, use_by, used_at"
)
_TABLES = [
    """CREATE TABLE IF NOT EXISTS chamberlain_approvals (id TEXT PRIMARY KEY, digest TEXT NOT NULL,
    state TEXT NOT NULL, rule TEXT NOT NULL, policy_hash TEXT NOT NULL, action TEXT NOT NULL,
    approvers TEXT NOT NULL, quorum INTEGER NOT NULL, ttl DOUBLE PRECISION NOT NULL, reason TEXT NOT NULL,
    session_id TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL,
    decisions TEXT NOT NULL, use_by DOUBLE PRECISION, used_at DOUBLE PRECISION)""",
    "CREATE INDEX IF NOT EXISTS chamberlain_approvals_digest ON chamberlain_approvals (digest, state)",
    "CREATE INDEX IF NOT EXISTS chamberlain_approvals_state ON chamberlain_approvals (state, id)",
]
#: Columns added after the first release, with the statements that add them to an older table: who opened
#: the request (the agent, for the per-agent request limit), and what became of the approved action.
_ADDED = {
    "requester": [
        "ALTER TABLE chamberlain_approvals ADD COLUMN requester TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX IF NOT EXISTS chamberlain_approvals_requester ON chamberlain_approvals (requester, created_at)",
    ],
    "outcome": [
        "ALTER TABLE chamberlain_approvals ADD COLUMN outcome TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE chamberlain_approvals ADD COLUMN outcome_detail TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE chamberlain_approvals ADD COLUMN outcome_at DOUBLE PRECISION",
    ],
}
_SELECTED = _COLUMNS + ", outcome, outcome_detail, outcome_at"
MAX_PAGE = 1000
MAX_DETAIL = 1024
LIVE = (PENDING, APPROVED)
POINT_TIMEOUT = "chamberlain:timeout"


def _approval(row: Sequence[Any]) -> Approval:
    decisions = tuple(Decision(**d) for d in json.loads(row[13]))
    spec = Spec(tuple(json.loads(row[6])), int(row[7]), float(row[8]), row[9])
    return Approval(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        json.loads(row[5]),
        spec,
        row[10],
        float(row[11]),
        float(row[12]),
        decisions,
        None if row[14] is None else float(row[14]),
        None if row[15] is None else float(row[15]),
        row[16] or "",
        row[17] or "",
        None if row[18] is None else float(row[18]),
    )


def _decisions_json(decisions: Sequence[Decision]) -> str:
    return json.dumps(
        [
            {
                "approver": d.approver,
                "decision": d.decision,
                "at": d.at,
                "reason": d.reason,
                "subject": d.subject,
                "issuer": d.issuer,
            }
            for d in decisions
        ]
    )


class ApprovalStore(OwnedStore):
    """Approval requests in one database; safe to share between threads (one connection, one lock)."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock = system_clock,
        execution_window: float = 900.0,
        request_limit: RequestLimit = DEFAULT_REQUEST_LIMIT,
        on_transition: Callable[[Transition], None] | None = None,
    ):
        self.setup(db, on_transition)
        self.clock = clock
        self.execution_window = execution_window
        self.request_limit = request_limit
        with db.creating(7412102):
            for statement in _TABLES:
                db.execute(statement)
            for column, statements in _ADDED.items():
                if not has_column(db, "chamberlain_approvals", column):
                    for statement in statements:
                        db.execute(statement)

    def _row(self, db: Database, approval_id: str, lock: bool = False) -> Approval | None:
        suffix = " FOR UPDATE" if lock and db.kind == POSTGRES else ""
        found = db.row(f"SELECT {_SELECTED} FROM chamberlain_approvals WHERE id = ?{suffix}", (approval_id,))
        return _approval(found) if found is not None else None

    def _lapse(self, db: Database, a: Approval, now: float, ended: list[Transition]) -> Approval:
        """A PENDING request past its ttl, or an APPROVED one past its execution window, marked EXPIRED."""
        if not a.lapsed(now):
            return a
        why = (
            "nobody decided in time" if a.state == PENDING else "the approved action was not retried in time"
        )
        db.execute("UPDATE chamberlain_approvals SET state = ? WHERE id = ?", (EXPIRED, a.id))
        ended.append(Transition("approval:expire", a.id, POINT_TIMEOUT, why, {"digest": a.digest}))
        return replace(a, state=EXPIRED)

    # -- requests ----------------------------------------------------------------------------------

    def request(
        self,
        digest: str,
        rule: str,
        policy_hash: str,
        action: dict[str, Any],
        spec: Spec,
        session_id: str,
        *,
        by: str,
    ) -> Approval:
        """The live request for ``digest``, or a new PENDING one opened by ``by`` (the agent); raises
        TooManyRequests when ``by`` has opened ``request_limit.max`` requests in its window."""
        now = self.clock()
        ended: list[Transition] = []
        with self._using() as db, db.transaction():
            if db.kind == POSTGRES:
                db.execute("SELECT pg_advisory_xact_lock(7412103, hashtext(?))", (digest,))
            rows = db.rows(
                f"SELECT {_SELECTED} FROM chamberlain_approvals WHERE digest = ? AND state IN (?, ?) "
                "ORDER BY id",
                (digest, *LIVE),
            )
            for row in rows:
                found = self._lapse(db, _approval(row), now, ended)
                if found.state in LIVE:
                    break
            else:
                self._within_limit(db, by, now)
                found = Approval(
                    new_id("apr_"),
                    digest,
                    PENDING,
                    rule,
                    policy_hash,
                    action,
                    spec,
                    session_id,
                    now,
                    now + spec.ttl,
                )
                db.execute(
                    f"INSERT INTO chamberlain_approvals ({_COLUMNS}, requester) VALUES ({', '.join('?' * 17)})",
                    (
                        found.id,
                        digest,
                        PENDING,
                        rule,
                        policy_hash,
                        json.dumps(action, default=str),
                        json.dumps(list(spec.approvers)),
                        spec.quorum,
                        spec.ttl,
                        spec.reason,
                        session_id,
                        now,
                        found.expires_at,
                        "[]",
                        None,
                        None,
                        by,
                    ),
                )
                ended.append(
                    Transition(
                        "approval:request",
                        found.id,
                        by,
                        spec.reason,
                        {
                            "digest": digest,
                            "rule": rule,
                            "approvers": ",".join(spec.approvers),
                            "quorum": spec.quorum,
                        },
                    )
                )
        self._emit(ended)
        return found

    def _within_limit(self, db: Database, requester: str, now: float) -> None:
        limit = self.request_limit
        if db.kind == POSTGRES:
            db.execute("SELECT pg_advisory_xact_lock(7412104, hashtext(?))", (requester,))
        opened = int(
            db.value(
                "SELECT count(*) FROM chamberlain_approvals WHERE requester = ? AND created_at > ?",
                (requester, now - limit.per),
            )
        )
        if opened >= limit.max:
            raise TooManyRequests(
                f"{requester!r} has opened {opened} approval requests in the last {limit.per:g}s, "
                f"the most chamberlain.approvals.requestLimit allows: no new request until "
                "older ones leave that window"
            )

    def get(self, approval_id: str) -> Approval:
        """The request (marked EXPIRED first when its time is over); raises ApprovalNotFound."""
        ended: list[Transition] = []
        with self._using() as db, db.transaction():
            found = self._row(db, approval_id, lock=True)
            if found is None:
                raise ApprovalNotFound(f"no approval {approval_id}")
            found = self._lapse(db, found, self.clock(), ended)
        self._emit(ended)
        return found

    def list(self, state: str = "", *, after: str = "", limit: int = 100) -> tuple[list[Approval], str]:
        """Requests in id (creation) order after the cursor ``after``; returns them and the next cursor."""
        if state and state not in STATES:
            raise InvalidApproval(f"state: expected one of {', '.join(STATES)}, got {state[:40]!r}")
        limit = max(1, min(limit, MAX_PAGE))
        self.sweep()
        where, params = "id > ?", [after]
        if state:
            where, params = where + " AND state = ?", [after, state]
        with self._using() as db:
            rows = db.rows(
                f"SELECT {_SELECTED} FROM chamberlain_approvals WHERE {where} ORDER BY id LIMIT {limit + 1}",
                params,
            )
        found = [_approval(r) for r in rows[:limit]]
        return found, (found[-1].id if len(rows) > limit else "")

    def sweep(self) -> builtins.list[str]:
        """Mark every request whose time is over EXPIRED; returns their ids."""
        now = self.clock()
        with self._using() as db:
            rows = db.rows(
                "SELECT id FROM chamberlain_approvals WHERE (state = ? AND expires_at <= ?) OR "
                "(state = ? AND use_by <= ?)",
                (PENDING, now, APPROVED, now),
            )
        for (approval_id,) in rows:
            self.get(approval_id)
        return [r[0] for r in rows]

    # -- decisions ---------------------------------------------------------------------------------

    def decide(self, approval_id: str, decision: Decision, refuse: Callable[[Approval], str]) -> Approval:
        """Add ``decision`` (APPROVE or DENY) to a PENDING request; ``refuse`` says why this approver may not
        ("" when they may: raises ApproverRefused itself). One DENY ends it; ``quorum`` distinct APPROVEs
        approve it. Raises ApprovalNotFound, ApprovalClosed."""
        now = self.clock()
        ended: list[Transition] = []
        with self._using() as db, db.transaction():
            found = self._row(db, approval_id, lock=True)
            if found is None:
                raise ApprovalNotFound(f"no approval {approval_id}")
            found = self._lapse(db, found, now, ended)
            if found.state != PENDING:
                closed = ApprovalClosed(
                    f"approval {approval_id} is {found.state}: it can no longer be decided"
                )
            elif any(d.subject == decision.subject and d.issuer == decision.issuer for d in found.decisions):
                closed = ApprovalClosed(f"{decision.approver} has already decided approval {approval_id}")
            else:
                closed = None
                refuse(found)
                decisions = (*found.decisions, replace(decision, at=now))
                approvals = sum(1 for d in decisions if d.decision == "APPROVE")
                state, use_by = PENDING, None
                if decision.decision == "DENY":
                    state = DENIED
                elif approvals >= found.spec.quorum:
                    state, use_by = APPROVED, now + self.execution_window
                db.execute(
                    "UPDATE chamberlain_approvals SET state = ?, decisions = ?, use_by = ? WHERE id = ?",
                    (state, _decisions_json(decisions), use_by, approval_id),
                )
                found = replace(found, state=state, decisions=decisions, use_by=use_by)
                verb = "approval:approve" if decision.decision == "APPROVE" else "approval:deny"
                ended.append(
                    Transition(
                        verb,
                        approval_id,
                        decision.approver,
                        decision.reason,
                        {"state": state, "digest": found.digest},
                    )
                )
        self._emit(ended)
        if closed is not None:
            raise closed
        return found

    def record_outcome(self, approval_id: str, outcome: str, detail: str = "", *, by: str) -> Approval:
        """What became of a USED approval's action (``SUCCEEDED`` or ``FAILED``, reported once by the
        enforcement point that ran it); raises ApprovalNotFound, ApprovalClosed or InvalidApproval."""
        if outcome not in OUTCOMES:
            raise InvalidApproval(f"outcome: expected one of {', '.join(OUTCOMES)}, got {outcome!r}"[:200])
        if not isinstance(detail, str) or len(detail) > MAX_DETAIL:
            raise InvalidApproval(f"detail: expected a string of at most {MAX_DETAIL} characters")
        now = self.clock()
        with self._using() as db, db.transaction():
            found = self._row(db, approval_id, lock=True)
            if found is None:
                raise ApprovalNotFound(f"no approval {approval_id}")
            if found.state != USED or found.outcome:
                why = (
                    f"already has an outcome ({found.outcome})"
                    if found.outcome
                    else f"is {found.state}, not USED"
                )
                raise ApprovalClosed(f"approval {approval_id} {why}")
            db.execute(
                "UPDATE chamberlain_approvals SET outcome = ?, outcome_detail = ?, outcome_at = ? WHERE id = ?",
                (outcome, detail, now, approval_id),
            )
        self._emit([Transition("approval:outcome", approval_id, by, detail, {"outcome": outcome})])
        return replace(found, outcome=outcome, outcome_detail=detail, outcome_at=now)

    def use(self, approval_id: str, digest: str) -> bool:
        """Spend an APPROVED request for ``digest`` (once, atomically across replicas); whether this call did."""
        now = self.clock()
        with self._using() as db, db.transaction():
            row = db.row(
                "UPDATE chamberlain_approvals SET state = ?, used_at = ? WHERE id = ? AND state = ? AND "
                "digest = ? AND use_by > ? RETURNING id",
                (USED, now, approval_id, APPROVED, digest, now),
            )
        if row is None:
            return False
        self._emit([Transition("approval:use", approval_id, "chamberlain", "", {"digest": digest})])
        return True

    def restore(self, approval_id: str, why: str) -> bool:
        """Give back a request :meth:`use` spent on an action denied after it was lifted (a session's budget,
        rate limit or lock): APPROVED again while ``use_by`` lasts, so the action's retry may use it; whether
        this call did (never once an outcome is recorded)."""
        with self._using() as db, db.transaction():
            row = db.row(
                "UPDATE chamberlain_approvals SET state = ?, used_at = NULL WHERE id = ? AND state = ? AND "
                "outcome = '' RETURNING id",
                (APPROVED, approval_id, USED),
            )
        if row is None:
            return False
        self._emit([Transition("approval:restore", approval_id, "chamberlain", why, {})])
        return True
