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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson

from chamberlain.audit import recording
from chamberlain.audit.canonical import EncodingError, digest
from chamberlain.audit.ids import new_call_id
from chamberlain.cel.values import Timestamp
from chamberlain.delegation import check_delegated
from chamberlain.engine import ActionEffect, AuxData, CheckInput, CheckOutput, Resource
from chamberlain.engine.request import EMPTY_AUX
from chamberlain.gateways.mcp.config import AuthConfig
from chamberlain.gateways.mcp.identity import Caller
from chamberlain.pdp import PDP
from chamberlain.sessions.guard import DENIED_POLICY as SESSION_POLICY
from chamberlain.sessions.guard import SessionGuard, SessionRef, session_id_of
from chamberlain.sessions.join import Joined, join


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
        for value in self.outputs.get(action, ()):
            lines.append(f"Policy output: {orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()}")
        lines.append(f"Decision {self.call_id} ({action}) is in the decision log.")
        return "\n".join(lines)


def _basis(effect: ActionEffect) -> str:
    rule = f"rule {effect.rule!r}" if effect.rule else "no rule matched (default deny)"
    return f"{effect.policy}, {rule}"


def _outputs(out: CheckOutput, actions: Sequence[str]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for entry in out.outputs:
        if entry.action in actions and not entry.error and not entry.src.startswith(SESSION_POLICY):
            found.setdefault(entry.action, []).append(entry.val)
    return found


class Decider:
    """Decides with the PDP's current engine and records every decision in its decision log."""

    def __init__(self, pdp: PDP, auth: AuthConfig | None, audiences: Sequence[str],
                 sessions: SessionGuard | None = None):  # fmt: skip
        if pdp.log is None:
            raise ValueError("the MCP gateway needs a decision log: every decision is recorded")
        self.pdp = pdp
        self.auth = auth
        self.audiences = tuple(audiences)
        self.sessions = sessions

    def _decide(
        self,
        caller: Caller,
        resource: Resource,
        actions: tuple[str, ...],
        when: dt.datetime,
        preview: bool = False,
    ) -> tuple[list[CheckInput], list[CheckOutput], dict[str, str]]:
        """Decide; with sessions, in the caller's session (its budgets charged unless ``preview``)."""
        if self.sessions is None:
            return self._decide_plain(caller, resource, actions, when, None)
        joined = join(
            self.sessions, SessionRef(session_id_of(caller.session_id, "session"), preview, "mcp gateway")
        )
        inputs, outputs, denied_by = self._decide_plain(caller, resource, actions, when, joined)
        joined.enforce(inputs, outputs, Timestamp.from_datetime(when))
        for out in outputs:
            for entry in out.outputs:
                if entry.src.startswith(SESSION_POLICY) and entry.action in out.actions:
                    denied_by[entry.action] = f"{entry.val} ({entry.src})"
        return inputs, outputs, denied_by

    def _decide_plain(
        self,
        caller: Caller,
        resource: Resource,
        actions: tuple[str, ...],
        when: dt.datetime,
        joined: Joined | None,
    ) -> tuple[list[CheckInput], list[CheckOutput], dict[str, str]]:
        d = caller.delegation
        if d is None:
            inputs = [
                CheckInput(caller.principal, resource, actions, EMPTY_AUX, "", caller.session_id, (), "")
            ]
            if joined is not None:
                inputs = joined.inputs(inputs)
            return inputs, self.pdp.engine.check(inputs, when), {}
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

    async def decide(
        self,
        caller: Caller,
        resource: Resource,
        actions: Sequence[str],
        *,
        point: str,
        mcp: dict[str, Any],
        preview: bool = False,
    ) -> Decision:
        """Decide ``actions`` on ``resource`` for ``caller`` and wait until the decision is in the log.

        The wait is shielded: a client that goes away mid-call still leaves its decision recorded.
        """
        when = dt.datetime.now(dt.UTC)
        call_id = new_call_id()
        if self.sessions is None:
            inputs, outputs, denied_by = self._decide(caller, resource, tuple(actions), when)
        else:  # the session store is read and written: off the event loop
            inputs, outputs, denied_by = await anyio.to_thread.run_sync(
                self._decide, caller, resource, tuple(actions), when, preview
            )
        log = self.pdp.log
        assert log is not None
        pending = recording.submit(log, inputs, outputs, when=when, call_id=call_id, point=point,
                                   loop=asyncio.get_running_loop(), extra={"mcp": mcp})  # fmt: skip
        with anyio.CancelScope(shield=True):
            await pending.wait_async()
        out = pending.outputs[0]
        return Decision(call_id, dict(out.actions), denied_by, _outputs(out, actions), pending.reason())
