"""Human approval bound to one exact action (docs/concepts/approvals.md).

A DENY rule whose ``output.when.ruleActivated`` is a map with the key ``approval`` asks for approval: a
check it denies opens an approval request bound to the action's digest; people holding one of the
``approvers`` roles decide it over the admin API; the retried action naming the approval is allowed
once, with that rule lifted. Requests live in the decision log's database so replicas share them.
"""

from chamberlain.approvals.errors import (
    ApprovalClosed,
    ApprovalError,
    ApprovalNotFound,
    ApproverRefused,
    InvalidApproval,
)
from chamberlain.approvals.guard import ApprovalGuard, read_approval_id
from chamberlain.approvals.model import (
    APPROVED,
    DENIED,
    EXPIRED,
    PENDING,
    STATES,
    USED,
    Approval,
    Decision,
    Spec,
)
from chamberlain.approvals.store import ApprovalStore

__all__ = [
    "APPROVED",
    "DENIED",
    "EXPIRED",
    "PENDING",
    "STATES",
    "USED",
    "Approval",
    "ApprovalClosed",
    "ApprovalError",
    "ApprovalGuard",
    "ApprovalNotFound",
    "ApprovalStore",
    "ApproverRefused",
    "Decision",
    "InvalidApproval",
    "Spec",
    "read_approval_id",
]
