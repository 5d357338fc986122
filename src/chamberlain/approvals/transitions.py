"""Every approval transition as a decision-log entry naming who caused it.

An entry's principal is who caused it (the approver ``subject (issuer)``, ``chamberlain`` for a use,
``chamberlain:timeout`` for an expiry), its resource ``chamberlain:approval`` with the approval's id, its
action the transition (``approval:request``, ``approval:approve``, ``approval:deny``, ``approval:expire``,
``approval:use``), and its outputs a line saying what happened. The allowed action's own entry names
the approval (``approval.id``), so the log leads from the action to who approved it and when.
"""

from __future__ import annotations

from collections.abc import Callable

from chamberlain.engine import ActionEffect, CheckInput, CheckOutput, Principal, Resource
from chamberlain.engine.result import OutputEntry
from chamberlain.policy.model import EFFECT_ALLOW
from chamberlain.sessions.store import Transition
from chamberlain.sessions.transitions import describe
from chamberlain.sessions.transitions import recorder as session_recorder

POINT = "chamberlain:approvals"
POLICY = "chamberlain.approval#transition"
KIND = "chamberlain:approval"


def entry(t: Transition) -> tuple[CheckInput, CheckOutput]:
    """The decision-log input and output of one transition."""
    attr = {k: v for k, v in t.attr.items() if v is not None} | ({"reason": t.reason} if t.reason else {})
    inp = CheckInput(
        Principal(t.by or "chamberlain", ("chamberlain",)),
        Resource(KIND, t.target, attr),
        (t.action,),
        approval_id=t.target,
    )
    out = CheckOutput(
        "",
        t.target,
        {t.action: ActionEffect(EFFECT_ALLOW, POLICY)},
        approval_id=t.target,
        outputs=[OutputEntry(POLICY, t.action, describe(t))],
    )
    return inp, out


def recorder(record: Callable[..., str]) -> Callable[[Transition], None]:
    """A store's ``on_transition`` writing to a decision log through ``record`` (``PDP.record``)."""
    return session_recorder(record, to_entry=entry, point=POINT, what="approval")
