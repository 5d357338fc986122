"""Every session and lock transition as a decision-log entry naming who caused it.

An entry's principal is who caused it (an admin identity, ``chamberlain:timeout``, a token exchange),
its resource ``chamberlain:session`` (or ``chamberlain:lock``) with the session's id, its action the
transition (``session:open``, ``session:expire``, ``session:revoke``, ``session:suspend``,
``session:resume``, ``session:settle``,
``lock:create``, ``lock:remove``) and its session id the session's: ``chamberlain audit entries
--session ses_...`` reads a session from open to revoke.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chamberlain.engine import ActionEffect, CheckInput, CheckOutput, Principal, Resource
from chamberlain.engine.result import OutputEntry
from chamberlain.policy.model import EFFECT_ALLOW
from chamberlain.sessions.store import Transition

POINT = "chamberlain:sessions"
POLICY = "chamberlain.session#transition"
LOGGER = logging.getLogger("chamberlain.sessions")


def entry(t: Transition) -> tuple[CheckInput, CheckOutput]:
    """The decision-log input and output of one transition."""
    is_lock = t.action.startswith("lock:")
    attr: dict[str, Any] = {k: v for k, v in t.attr.items() if v is not None}
    if t.reason:
        attr["reason"] = t.reason
    session = "" if is_lock else t.target
    inp = CheckInput(
        Principal(t.by or "chamberlain", ("chamberlain",)),
        Resource("chamberlain:lock" if is_lock else "chamberlain:session", t.target, attr),
        (t.action,),
        session_id=session,
    )
    out = CheckOutput(
        "",
        t.target,
        {t.action: ActionEffect(EFFECT_ALLOW, POLICY)},
        session_id=session,
        outputs=[OutputEntry(POLICY, t.action, describe(t))],
    )
    return inp, out


def describe(t: Transition) -> str:
    """``session:revoke by admin:carol: runaway agent (agent=agent-7)``: the transition as a line."""
    text = f"{t.action} by {t.by or 'chamberlain'}" + (f": {t.reason}" if t.reason else "")
    details = ", ".join(f"{k}={v}" for k, v in sorted(t.attr.items()) if k != "expiresAt" and v is not None)
    return text + (f" ({details})" if details else "")


def recorder(
    record: Callable[..., str],
    *,
    to_entry: Callable[[Transition], tuple[CheckInput, CheckOutput]] = entry,
    point: str = POINT,
    what: str = "session",
) -> Callable[[Transition], None]:
    """A store's ``on_transition`` writing to a decision log through ``record`` (``PDP.record``);
    ``to_entry`` makes a transition an entry of enforcement point ``point`` (approvals pass their own)."""

    def on_transition(t: Transition) -> None:
        inp, out = to_entry(t)
        problem = record([inp], [out], point=point)
        if problem:
            LOGGER.error(
                f"a {what} transition could not be recorded",
                extra={"action": t.action, "target": t.target, "error": problem},
            )

    return on_transition
