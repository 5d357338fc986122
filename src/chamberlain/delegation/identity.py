"""Who someone is: an (issuer, subject) pair when the identity comes from a token, a bare id otherwise.

A Cerbos principal id carries no issuer. Where a bare id meets a token identity (a check's principal
against its token's ``sub``, a session's subject, an approver against the subject of the action), the
bare id matches the ``sub`` of any trusted issuer: the safe direction for "is this the same person?"
refusals (an approver who might be the subject is refused). Two token identities match only when both
the issuer and the subject do.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Identity:
    """``subject`` as ``issuer`` vouches for it; ``issuer`` is ``""`` for a bare (Cerbos principal) id."""

    subject: str
    issuer: str = ""

    def __str__(self) -> str:
        return f"{self.subject} ({self.issuer})" if self.issuer else self.subject


def same_party(a: Identity, b: Identity) -> bool:
    """Whether ``a`` and ``b`` may be the same party: equal subjects, and equal issuers unless one is bare."""
    return a.subject == b.subject and (not a.issuer or not b.issuer or a.issuer == b.issuer)
