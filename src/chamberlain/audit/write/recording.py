"""Recording a PDP's decisions: entries submitted after deciding, and failing closed when they cannot be.

The engine decides without I/O; then :func:`submit` hands the entries to the log. In ``sync``
durability the answer waits for them (a thread blocks in :meth:`PendingCheck.wait`, an event
loop awaits :meth:`PendingCheck.wait_async`); if they could not be recorded every action of the
check becomes ``EFFECT_DENY`` and the answer names the reason (:data:`REASON_KEY`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from chamberlain.audit.errors import LogUnavailable
from chamberlain.audit.log import DecisionLog
from chamberlain.audit.write.canonical import EncodingError
from chamberlain.audit.write.decisions import decision_call
from chamberlain.audit.write.writer import ASYNC, Ticket
from chamberlain.engine.request import CheckInput
from chamberlain.engine.result import ActionEffect, CheckOutput
from chamberlain.errors import Error
from chamberlain.policy.model import EFFECT_DENY

#: The key a CheckResources response carries the reason under when the log could not record it.
REASON_KEY = "chamberlain"
DENIED_POLICY = "chamberlain.decision_log_unavailable"


class PendingCheck:
    """Decisions made, their entries on the way to the log; :attr:`error` once known."""

    __slots__ = ("error", "include_meta", "inputs", "log", "log_index", "notes", "outputs", "ticket")

    def __init__(
        self,
        inputs: Sequence[CheckInput],
        outputs: list[CheckOutput],
        log: DecisionLog | None,
        ticket: Ticket | None,
        error: Error | None = None,
    ) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.log = log
        self.ticket = ticket
        self.error = error
        self.include_meta = False
        #: The log index of the check's first entry, once durable where the writer numbers entries (SQLite);
        #: None in ``async`` durability and on PostgreSQL replicas (the sequencer numbers them later).
        self.log_index: int | None = None
        self.notes: dict[str, Any] = {}  # what other layers add to the response's chamberlain field (session)
        if error is not None:
            deny_all(outputs)

    @property
    def waiting(self) -> bool:
        return self.ticket is not None

    def wait(self) -> PendingCheck:
        """Block until the entries are durable or failed (``sync``), denying everything on failure."""
        if self.ticket is not None and self.log is not None:
            self._settle(self.log.wait(self.ticket))
        return self

    async def wait_async(self) -> PendingCheck:
        """:meth:`wait` without blocking the event loop."""
        if self.ticket is not None and self.log is not None:
            self._settle(await self.log.wait_async(self.ticket))
        return self

    def _settle(self, error: Error | None) -> None:
        assert self.ticket is not None
        self.log_index = self.ticket.index if error is None else None
        self.ticket = None
        if error is not None:
            self.error = error
            deny_all(self.outputs)

    def reason(self) -> str:
        return f"decision log unavailable, every action denied: {self.error}" if self.error else ""

    def annotate(self, response: dict[str, Any]) -> dict[str, Any]:
        """Add the failure reason (when there is one) and the notes to a CheckResources response."""
        if self.error is not None or self.notes:
            found = response.setdefault(REASON_KEY, {})
            found.update(self.notes)
            if self.error is not None:
                found["decisionLog"] = self.reason()
        return response


def submit(
    log: DecisionLog | None,
    inputs: Sequence[CheckInput],
    outputs: list[CheckOutput],
    *,
    when: dt.datetime | int,
    call_id: str,
    point: str,
    request: Mapping[str, Any] | None = None,
    loop: asyncio.AbstractEventLoop | None = None,
    extra: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    here: bool = False,
) -> PendingCheck:
    """Submit the record of a decided check; never raises for the log's sake.

    The record is built on the writer thread (see :class:`chamberlain.audit.write.decisions.Call`), or in
    the writer process from the call's plain data, taken now (:meth:`~chamberlain.audit.write.decisions.Call.describe`);
    in ``async`` durability an embedded call (``request`` None: the caller owns those attribute objects
    and may change them once the call returns) is encoded now.
    ``extra``: fields an enforcement point adds to every entry's content (the MCP gateway's ``mcp``);
    ``context``: what it adds to the request record (the delegated chain with its roles);
    ``here``: a lone caller that would wait at once: the entries are written on this thread when the
    writer is idle (:meth:`DecisionLog.write_here`), the returned check already settled.
    """
    if log is None:
        return PendingCheck(inputs, outputs, None, None)
    try:
        call: Any = decision_call(
            inputs, outputs, when=when, call_id=call_id, point=point, extra=extra, context=context
        )
        if log.durability == ASYNC and request is None:  # the caller may change its objects once we return
            call = call.prepare(log.limits)
        elif log.describes_on_submit:  # only plain data crosses to the writer process
            call = call.describe()
        written = log.write_here(call) if here else None
        if written is not None:
            pending = PendingCheck(inputs, outputs, log, written)
            pending._settle(written.error)
            return pending
        ticket = log.submit(call, loop)
    except (LogUnavailable, EncodingError) as exc:
        return PendingCheck(inputs, outputs, log, None, exc)
    except Error as exc:
        return PendingCheck(inputs, outputs, log, None, LogUnavailable(str(exc)))
    return PendingCheck(inputs, outputs, log, ticket)


def deny_all(outputs: list[CheckOutput]) -> None:
    """Every action of every output becomes a DENY; outputs are dropped (they described the other effect)."""
    for out in outputs:
        for action in out.actions:
            out.actions[action] = ActionEffect(EFFECT_DENY, DENIED_POLICY)
        out.outputs = []
