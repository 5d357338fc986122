"""What can go wrong with approvals, each error naming the field, the approval or the refused approver."""

from __future__ import annotations

from chamberlain.errors import Error


class ApprovalError(Error):
    """An approval request that cannot be served; the message says what and where."""


class InvalidApproval(ApprovalError):
    """A malformed approval id, body or policy output (HTTP 400)."""


class ApprovalNotFound(ApprovalError):
    """No approval with that id (HTTP 404)."""


class ApprovalClosed(ApprovalError):
    """A decision on a request that is no longer PENDING, or a second decision by one approver (HTTP 409)."""


class ApproverRefused(ApprovalError):
    """The caller may not decide this request: operator credentials, a missing role, self-approval (HTTP 403)."""


class TooManyRequests(ApprovalError):
    """An agent opened as many new requests as ``chamberlain.approvals.requestLimit`` allows (no new one)."""
