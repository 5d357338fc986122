"""Approval requests: the record, its states and what a policy's ``approval`` output asks for.

A request is bound to one exact action by its ``digest`` (see :mod:`chamberlain.approvals.digest`); it is
PENDING until a quorum of distinct approvers says yes (APPROVED) or one says no (DENIED), EXPIRED when
nobody decided within its ttl or the approved action was not retried within the execution window, and
USED once the approved action has been allowed (single use).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chamberlain.approvals.errors import InvalidApproval
from chamberlain.durations import parse_duration
from chamberlain.sessions.times import rfc3339

PENDING, APPROVED, DENIED, EXPIRED, USED = "PENDING", "APPROVED", "DENIED", "EXPIRED", "USED"
#: What an enforcement point reports of an approved action it ran.
OUTCOMES = ("SUCCEEDED", "FAILED")
STATES = (PENDING, APPROVED, DENIED, EXPIRED, USED)
#: ``apr_`` and a ULID: sorts by creation time.
APPROVAL_ID = re.compile(r"^apr_[0-9A-HJKMNP-TV-Z]{26}$")
#: In ``approvers``: the person the agent acts for may confirm the action (user consent).
SUBJECT = "$subject"
MAX_APPROVERS = 32
MAX_QUORUM = 16
MAX_TEXT = 256
MAX_TTL = 7 * 86400.0


@dataclass(frozen=True, slots=True)
class Spec:
    """What a rule's ``approval`` output asks for: who may approve, how many, and for how long."""

    approvers: tuple[str, ...]
    quorum: int
    ttl: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """One approver's decision: ``approver`` is ``subject (issuer)``."""

    approver: str
    decision: str  # APPROVE or DENY
    at: float
    reason: str
    subject: str = ""
    issuer: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "approver": self.approver,
            "decision": self.decision,
            "at": rfc3339(self.at),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Approval:
    """An approval request as stored."""

    id: str
    digest: str
    state: str
    rule: str  # the deciding rule's ``src``: ``<policy key>#<rule name>``
    policy_hash: str
    action: Mapping[str, Any]  # the action in readable form: principal, actorChain, resource, action
    spec: Spec
    session_id: str
    created_at: float
    expires_at: float  # to decide
    decisions: tuple[Decision, ...] = ()
    use_by: float | None = None  # to use, once APPROVED
    used_at: float | None = None
    outcome: str = ""  # once USED: what became of the approved action (SUCCEEDED or FAILED), as reported
    outcome_detail: str = ""
    outcome_at: float | None = None

    @property
    def subject(self) -> str:
        return str(self.action.get("principal", {}).get("id", ""))

    @property
    def subject_issuer(self) -> str:
        """The issuer vouching for the subject, when a token said (``""``: a bare principal id)."""
        return str(self.action.get("principal", {}).get("issuer", ""))

    @property
    def chain(self) -> tuple[str, ...]:
        return tuple(self.action.get("actorChain", ()))

    def lapsed(self, now: float) -> bool:
        """Whether a PENDING request's time to decide, or an APPROVED one's time to use, is over."""
        if self.state == PENDING:
            return now >= self.expires_at
        return self.state == APPROVED and self.use_by is not None and now >= self.use_by

    def to_json(self) -> dict[str, Any]:
        """The approval as the API shows it."""
        return {
            "id": self.id,
            "state": self.state,
            "action": dict(self.action),
            "digest": self.digest,
            "rule": self.rule,
            "policyHash": self.policy_hash,
            "sessionId": self.session_id or None,
            "approvers": list(self.spec.approvers),
            "quorum": self.spec.quorum,
            "reason": self.spec.reason,
            "createdAt": rfc3339(self.created_at),
            "expiresAt": rfc3339(self.expires_at),
            "useBy": rfc3339(self.use_by) if self.use_by is not None else None,
            "usedAt": rfc3339(self.used_at) if self.used_at is not None else None,
            "decisions": [d.to_json() for d in self.decisions],
            "outcome": {"result": self.outcome, "detail": self.outcome_detail, "at": rfc3339(self.outcome_at)}
            if self.outcome and self.outcome_at is not None
            else None,
        }


def parse_spec(value: Any, default_ttl: float, path: str = "approval") -> Spec:
    """A rule output's ``approval`` map -> Spec; raises InvalidApproval naming the field."""
    if not isinstance(value, Mapping):
        raise InvalidApproval(f"{path}: expected a map with approvers, quorum, ttl, reason")
    unknown = sorted(set(value) - {"approvers", "quorum", "ttl", "reason", "id", "state"})
    if unknown:
        raise InvalidApproval(f"{path}.{unknown[0]}: unknown field (allowed: approvers, quorum, ttl, reason)")
    approvers = value.get("approvers")
    if not isinstance(approvers, list) or not approvers or len(approvers) > MAX_APPROVERS:
        raise InvalidApproval(f"{path}.approvers: expected a list of 1 to {MAX_APPROVERS} role names")
    for i, role in enumerate(approvers):
        if not isinstance(role, str) or not role or len(role) > MAX_TEXT:
            raise InvalidApproval(f"{path}.approvers[{i}]: expected a role name, got {role!r}"[:300])
    quorum = value.get("quorum", 1)
    if isinstance(quorum, float) and quorum.is_integer():
        quorum = int(quorum)
    if isinstance(quorum, bool) or not isinstance(quorum, int) or not 1 <= quorum <= MAX_QUORUM:
        raise InvalidApproval(f"{path}.quorum: expected an integer from 1 to {MAX_QUORUM}, got {quorum!r}")
    ttl = default_ttl
    if "ttl" in value:
        try:
            ttl = parse_duration(value["ttl"], positive=True)
        except ValueError as exc:
            raise InvalidApproval(f"{path}.ttl: {exc}") from None
        if ttl > MAX_TTL:
            raise InvalidApproval(f"{path}.ttl: at most {MAX_TTL:g}s, got {value['ttl']!r}")
    reason = value.get("reason", "")
    if not isinstance(reason, str):
        raise InvalidApproval(f"{path}.reason: expected a string")
    return Spec(tuple(approvers), quorum, ttl, reason[:1024])
