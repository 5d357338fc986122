"""Deciding an MCP request and recording the decision before anything is forwarded.

A caller without a token is checked as its principal; a caller with a delegation token is checked
with attenuation (:func:`chamberlain.delegation.check_delegated`): the person, then every actor of
the chain, each must be allowed. Every decided action is an entry in the decision log, with the
MCP session as ``session_id`` and an ``mcp`` field (``method``, ``name``, ``server``,
``arguments_digest``: SHA-256 of the RFC 8785 canonical JSON of the arguments). The answer waits
until the entries are durable (``sync``); if they cannot be recorded every action is denied.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

import anyio
import orjson

from chamberlain.approvals.guard import DENIED_POLICY as APPROVAL_POLICY
from chamberlain.approvals.guard import FIELD as APPROVAL
from chamberlain.approvals.guard import ApprovalGuard, Spent
from chamberlain.approvals.model import APPROVED, PENDING, SUBJECT
from chamberlain.audit.log import DecisionLog
from chamberlain.audit.write import recording
from chamberlain.audit.write.append import LocalAppender
from chamberlain.audit.write.canonical import EncodingError, digest
from chamberlain.audit.write.decisions import decision_call
from chamberlain.audit.write.ids import new_call_id
from chamberlain.cel.values import Timestamp
from chamberlain.delegation import check_delegated
from chamberlain.engine import ActionEffect, AuxData, CheckInput, CheckOutput, Resource
from chamberlain.engine.request import EMPTY_AUX
from chamberlain.gateways.mcp.config import AuthConfig
from chamberlain.gateways.mcp.identity import Caller
from chamberlain.pdp import PDP
from chamberlain.sessions.guard import DENIED_POLICY as SESSION_POLICY
from chamberlain.sessions.guard import STORE_UNAVAILABLE, SessionGuard, SessionRef, deny_every, session_id_of
from chamberlain.sessions.join import Joined, join, join_held
from chamberlain.store.errors import StoreError
from chamberlain.store.owned import Busy, Refused


def arguments_digest(arguments: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the RFC 8785 canonical JSON of a call's arguments."""
    try:
        return digest(dict(arguments))
    except EncodingError:  # a value without canonical JSON (a lone surrogate): digest its repr
        return digest(repr(dict(arguments)))


@dataclass(slots=True)
class Decision:
    """The decided actions of one request: effects, who or what denied each, and the log's verdict."""

    call_id: str
    effects: dict[str, ActionEffect]
    denied_by: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, list[Any]] = field(default_factory=dict)
    log_error: str = ""
    used_approval: str = ""  # the approval this decision spent (its outcome is reported after the call)
    pending: recording.PendingCheck | None = None  # its entries, while not yet known to be durable

    async def settle(self) -> None:
        """Wait until the decision's entries are durable (``sync``); if they could not be recorded,
        every action is denied and :attr:`log_error` says why. Shielded: a client that goes away
        mid-call still leaves its decision recorded."""
        pending, self.pending = self.pending, None
        if pending is None:
            return
        if pending.waiting:  # not when written already (a lone caller's entry: see Decider.alone)
            with anyio.CancelScope(shield=True):
                await pending.wait_async()
        if pending.error is not None:
            self.effects, self.outputs, self.log_error = (
                dict(pending.outputs[0].actions),
                {},
                pending.reason(),
            )

    def allowed(self, action: str) -> bool:
        effect = self.effects.get(action)
        return effect is not None and effect.allowed

    def denial(self, action: str, what: str, caller: Caller) -> str:
        """What the agent is told when ``action`` is denied: the policy and rule, or the check, that denied."""
        lines = [f"chamberlain denied {what} for {caller.describe()}: the call was not made."]
        if self.log_error:
            lines.append(f"Denied because {self.log_error}.")
        else:
            lines.append(f"Denied by {self.denied_by.get(action) or _basis(self.effects[action])}.")
        waiting = waiting_for(self.outputs.get(action, ()))
        if waiting:
            lines.append(waiting)
        for value in self.outputs.get(action, ()):
            lines.append(f"Policy output: {orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()}")
        lines.append(f"Decision {self.call_id} ({action}) is in the decision log.")
        return "\n".join(lines)


#: The output of a check that spent an approval (the approved action is allowed, once).
USED_APPROVAL = f"{APPROVAL_POLICY}#used"
#: What deciding one request gives: its inputs, outputs and who denied each action.
_Decided = tuple[list[CheckInput], list[CheckOutput], dict[str, str]]


def approved_id(outputs: Sequence[CheckOutput]) -> str:
    """The id of an APPROVED request a denied action's output names ("" when none)."""
    for out in outputs:
        for entry in out.outputs:
            asked = entry.val.get(APPROVAL) if isinstance(entry.val, dict) else None
            if (
                isinstance(asked, dict)
                and asked.get("state") == APPROVED
                and isinstance(asked.get("id"), str)
            ):
                return asked["id"]
    return ""


def pending_approval(values: Sequence[Any]) -> str:
    """The id of the PENDING approval request a denied action's outputs name ("" when none)."""
    for value in values:
        asked = value.get(APPROVAL) if isinstance(value, dict) else None
        if isinstance(asked, dict) and asked.get("state") == PENDING and isinstance(asked.get("id"), str):
            return asked["id"]
    return ""


def waiting_for(values: Sequence[Any]) -> str:
    """A line the model can read for an action held for approval ("" when it is not)."""
    for value in values:
        asked = value.get(APPROVAL) if isinstance(value, dict) else None
        if not isinstance(asked, dict) or "id" not in asked:
            continue
        who = (
            " or ".join(
                "the person the agent acts for" if a == SUBJECT else str(a)
                for a in asked.get("approvers", [])
            )
            or "an approver"
        )
        why = f" ({asked['reason']})" if asked.get("reason") else ""
        if asked.get("state") == PENDING:
            return (
                f"Waiting for approval {asked['id']} by {who}{why}: retry this same call once it is "
                "approved; it will then be allowed once."
            )
        return f"Approval {asked['id']} is {asked.get('state')}{why}."
    return ""


def _basis(effect: ActionEffect) -> str:
    rule = f"rule {effect.rule!r}" if effect.rule else "no rule matched (default deny)"
    return f"{effect.policy}, {rule}"


def _outputs(out: CheckOutput, actions: Sequence[str]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for entry in out.outputs:
        if entry.action in actions and not entry.error and not entry.src.startswith(SESSION_POLICY):
            found.setdefault(entry.action, []).append(entry.val)
    return found


class _Unrecorded(Exception):
    """A lone call's entry could not be encoded inside its charge's transaction (rolled back, nothing written)."""


class _WithCharge:
    """A lone call's entry, appended in the transaction that charges its session (one commit for both)."""

    __slots__ = ("appended", "appender", "call_id", "entries", "extra", "index", "log", "point", "when")

    def __init__(
        self,
        log: DecisionLog,
        appender: LocalAppender,
        when: dt.datetime,
        call_id: str,
        point: str,
        extra: dict[str, Any],
    ):
        self.log, self.appender = log, appender
        self.when, self.call_id, self.point, self.extra = when, call_id, point, extra
        self.appended = False
        self.entries = 0
        self.index: int | None = None  # the first entry's log index, once committed

    def append(self, inputs: list[CheckInput], outputs: list[CheckOutput]) -> None:
        """Append the decision's entries in the charge's transaction (raises :class:`_Unrecorded`)."""
        call = decision_call(
            inputs, outputs, when=self.when, call_id=self.call_id, point=self.point, extra=self.extra
        )
        [appended] = self.appender.append_within([call])
        self.appended = True
        if type(appended) is not int:
            raise _Unrecorded(str(appended))
        self.entries = len(call)
        self.index = appended

    def settled(self, committed: bool) -> None:
        """The charge's transaction committed (the entries are durable) or not (they are not written)."""
        self.appender.settled(committed)
        if committed and self.index is not None:
            self.log.written_with_charge(self.entries)
        else:
            self.index = None


class Decider:
    """Decides with the PDP's current engine and records every decision in its decision log."""

    def __init__(
        self,
        pdp: PDP,
        auth: AuthConfig | None,
        audiences: Sequence[str],
        sessions: SessionGuard | None = None,
        approvals: ApprovalGuard | None = None,
    ):
        if pdp.log is None:
            raise ValueError("the MCP gateway needs a decision log: every decision is recorded")
        self.pdp = pdp
        self.auth = auth
        self.audiences = tuple(audiences)
        self.sessions = sessions
        self.approvals = approvals
        #: Whether the caller deciding now is the connection's only call in flight (set by the stdio fast path):
        #: then a settled decision's entry is written on the event loop when the log's writer is idle, with
        #: no thread hand-off; with others in flight the writer's group commit serves them together.
        self.alone: Callable[[], bool] | None = None
        #: Where such a lone call's entry is appended in its session charge's own transaction (one commit
        #: for both: :meth:`chamberlain.audit.log.DecisionLog.appender_for`); None: the log's writer's way.
        self.charges: LocalAppender | None = (
            pdp.log.appender_for(sessions.store.db)
            if sessions is not None and sessions.store.waitless
            else None
        )

    def _decide(
        self,
        caller: Caller,
        resource: Resource,
        actions: tuple[str, ...],
        when: dt.datetime,
        preview: bool = False,
        held: bool = True,
        record: _WithCharge | None = None,
    ) -> _Decided:
        """Decide; with sessions, in the caller's session (its budgets charged unless ``preview``). ``held``:
        the session is read and charged in one transaction of its store, the decision made in between
        (raises :class:`Refused` when the approvals' store is needed: it is not used inside that
        transaction); else it is read, then charged in a transaction of its own. ``record``: the decision's
        entry is appended in that transaction too (raises :class:`_Unrecorded`, nothing written, when it
        cannot be encoded)."""
        if self.sessions is None:
            return self._decide_plain(caller, resource, actions, when, None)
        ref = SessionRef(session_id_of(caller.session_id, "session"), preview, "mcp gateway")
        if not held:
            decided = self._in_session(caller, resource, actions, when, join(self.sessions, ref))
        else:
            attempt: _Decided | None = None
            refusing = self.approvals.store.refusing() if self.approvals is not None else nullcontext()
            committed = False
            try:
                with join_held(self.sessions, ref, durable=record is not None) as joined, refusing:
                    attempt = self._in_session(caller, resource, actions, when, joined)
                    if record is not None and joined.hold is not None:
                        record.append(attempt[0], attempt[1])
                committed = True
            except StoreError as exc:  # the charge could not commit: nothing was spent, nothing is allowed
                if attempt is None:
                    raise
                if record is not None and record.appended:
                    record.log.failed_with_charge(exc)
                deny_every(ref, attempt[1], "store", f"{STORE_UNAVAILABLE}: {exc}")
            finally:
                if record is not None and record.appended:
                    record.settled(committed)
            assert attempt is not None
            decided = attempt
        for out in decided[1]:
            for entry in out.outputs:
                if entry.src.startswith(SESSION_POLICY) and entry.action in out.actions:
                    decided[2][entry.action] = f"{entry.val} ({entry.src})"
        return decided

    def _in_session(
        self, caller: Caller, resource: Resource, actions: tuple[str, ...], when: dt.datetime, joined: Joined
    ) -> _Decided:
        inputs, outputs, denied_by = self._decide_plain(caller, resource, actions, when, joined)
        spent: list[Spent] = []
        if self.approvals is not None and not joined.ref.preview:
            inputs, outputs, denied_by = self._approve(
                caller, resource, actions, when, joined, (inputs, outputs, denied_by), spent
            )
        joined.enforce(inputs, outputs, Timestamp.from_datetime(when))
        if spent and self.approvals is not None:
            self.approvals.keep_unspent(spent, outputs)
        return inputs, outputs, denied_by

    def _approve(
        self,
        caller: Caller,
        resource: Resource,
        actions: tuple[str, ...],
        when: dt.datetime,
        joined: Joined,
        decided: _Decided,
        spent: list[Spent],
    ) -> _Decided:
        """Open an approval request for each action a rule holds for a person's yes (the denial says so);
        when that exact call has been approved, decide it again with the rule lifted, once: the agent
        retries the same call and the gateway finds the approval by the call's digest. ``spent`` gets the
        approvals spent (given back if the session then denies)."""
        assert self.approvals is not None
        inputs, outputs, _ = decided
        now = Timestamp.from_datetime(when)

        def recheck(inp: CheckInput, action: str, lifted: frozenset[str]) -> CheckOutput:
            return self._decide_plain(caller, inp.resource, (action,), when, joined, lifted)[1][0]

        spent += self.approvals.apply(self.pdp.engine, inputs, outputs, now, recheck)
        approved = approved_id(outputs)
        if not approved:
            return decided
        inputs, outputs, denied_by = self._decide_plain(caller, resource, actions, when, joined)
        inputs = [replace(i, approval_id=approved) for i in inputs]
        spent[:] = self.approvals.apply(self.pdp.engine, inputs, outputs, now, recheck)
        return inputs, outputs, {a: d for a, d in denied_by.items() if not outputs[0].actions[a].allowed}

    def _decide_plain(
        self,
        caller: Caller,
        resource: Resource,
        actions: tuple[str, ...],
        when: dt.datetime,
        joined: Joined | None,
        lifted: frozenset[str] = frozenset(),
    ) -> _Decided:
        d = caller.delegation
        if d is None:
            inputs = [
                CheckInput(caller.principal, resource, actions, EMPTY_AUX, "", caller.session_id, (), "")
            ]
            if joined is not None:
                inputs = joined.inputs(inputs)
            return inputs, self.pdp.engine.check(inputs, when, lifted), {}
        assert self.auth is not None
        result = check_delegated(
            self.pdp.engine,
            caller.principal,
            [(resource, actions)],
            d,
            audiences=self.audiences,
            scope_mapping=self.auth.scope_mapping,
            registry=self.auth.agents,
            now=when,
            session_id=caller.session_id,
            aux_data=joined.inputs([CheckInput(caller.principal, resource, actions)])[0].aux_data
            if joined
            else None,
            lifted=lifted,
        )
        out = result.outputs[0]
        # logged with the chain's roles and scopes (the aux data the parties were checked with): replayable
        aux = result.aux_data or (AuxData(jwt=d.claims) if d.claims else EMPTY_AUX)
        inputs = [
            CheckInput(
                caller.principal,
                resource,
                actions,
                aux,
                "",
                out.output.session_id,
                out.output.actor_chain,
                "",
            )
        ]
        return inputs, [out.output], {a: dec.denied_by for a, dec in out.decisions.items() if dec.denied_by}

    async def _decide_in_session(
        self,
        caller: Caller,
        resource: Resource,
        actions: tuple[str, ...],
        when: dt.datetime,
        preview: bool,
        record: _WithCharge | None = None,
    ) -> _Decided:
        """:meth:`_decide`, which reads and charges the session in one transaction: on the event loop when
        the store answers at once (a local SQLite file whose connection and write lock are free: one short
        transaction, cheaper than a hop to a worker thread and back), else on a worker thread, where it may
        wait for the lock. A charge attempted on the loop and found busy has written nothing: it is made
        again on the thread. A call that needs the approvals' store (an approval asked for or named) is
        decided on the thread, the session read and then charged: that store is refused inside the
        session's transaction, before it is read or written. ``record``: a lone call's entry, appended in
        the charge's transaction on the loop (:class:`_WithCharge`); decided on the thread, or when the
        entry cannot be encoded, the call's entry goes the log's way (its ``index`` stays None)."""
        assert self.sessions is not None
        store = self.sessions.store
        held = True
        if store.waitless:
            try:
                with store.without_waiting():
                    try:
                        return self._decide(caller, resource, actions, when, preview, record=record)
                    except _Unrecorded:  # nothing written: decided again, the entry then goes the log's way
                        return self._decide(caller, resource, actions, when, preview)
            except Refused:
                held = False
            except Busy:
                pass
        return await anyio.to_thread.run_sync(self._on_thread, caller, resource, actions, when, preview, held)

    def _on_thread(
        self,
        caller: Caller,
        resource: Resource,
        actions: tuple[str, ...],
        when: dt.datetime,
        preview: bool,
        held: bool,
    ) -> _Decided:
        if held:
            try:
                return self._decide(caller, resource, actions, when, preview)
            except Refused:  # the approvals' store is needed
                pass
        return self._decide(caller, resource, actions, when, preview, held=False)

    async def decide(
        self,
        caller: Caller,
        resource: Resource,
        actions: Sequence[str],
        *,
        point: str,
        mcp: dict[str, Any],
        preview: bool = False,
        settle: bool = True,
    ) -> Decision:
        """Decide ``actions`` on ``resource`` for ``caller`` and wait until the decision is in the log
        (:meth:`Decision.settle`); with ``settle=False`` the caller waits for it later, having done
        what does not depend on the log meanwhile (the log's writer records the entry all the while).
        """
        when = dt.datetime.now(dt.UTC)
        call_id = new_call_id()
        log = self.pdp.log
        assert log is not None
        alone = settle and self.alone is not None and self.alone()
        record = None
        if self.charges is not None and alone and not preview and not log.writer.down:
            record = _WithCharge(log, self.charges, when, call_id, point, {"mcp": mcp})
        if self.sessions is None:
            inputs, outputs, denied_by = self._decide(caller, resource, tuple(actions), when)
        else:
            inputs, outputs, denied_by = await self._decide_in_session(
                caller, resource, tuple(actions), when, preview, record
            )
        if record is not None and record.index is not None:  # durable with the session's charge
            pending = recording.PendingCheck(inputs, outputs, log, None)
            pending.log_index = record.index
        else:
            pending = recording.submit(
                log,
                inputs,
                outputs,
                when=when,
                call_id=call_id,
                point=point,
                loop=asyncio.get_running_loop(),
                extra={"mcp": mcp},
                here=alone,
            )
        out = pending.outputs[0]
        used = inputs[0].approval_id if any(e.src == USED_APPROVAL for e in out.outputs) else ""
        decision = Decision(
            call_id, dict(out.actions), denied_by, _outputs(out, actions), pending.reason(), used, pending
        )
        if settle:
            await decision.settle()
        return decision
