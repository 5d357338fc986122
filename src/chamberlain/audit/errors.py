"""The decision log's errors."""

from __future__ import annotations

from chamberlain.errors import Error


class AuditError(Error):
    """Base of the decision log's errors."""


class LogUnavailable(AuditError):
    """An entry could not be recorded (the store failed, the queue is full, the log is closed).

    In ``sync`` durability the decision it belonged to is then a DENY naming this reason.
    """


class LogTampered(AuditError):
    """The log no longer extends a head it signed or published: a writer refuses to sign over it."""
