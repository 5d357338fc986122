"""A check inside a session: find the session the request names, bind it, charge it, or deny everything.

The engine decides as usual (conditions see the session as ``request.aux_data.session``); then
:meth:`SessionGuard.enforce` turns the decisions into what the session allows:

- the session must exist, be ACTIVE (not past its ttl or idle timeout), be bound to this caller and
  not be locked; otherwise every action is ``EFFECT_DENY`` with the reason in the outputs;
- each ALLOWed action is charged to the budgets and rate limits that apply to it (the session's own, and
  the standing budgets that span sessions per agent or subject), in request order, atomically; an
  action that would exceed one becomes a DENY naming the budget, what is used and
  what it costs; previews charge nothing;
- a store that cannot be read or written denies everything (fail closed).

A denial's policy is ``chamberlain.session#<check>`` (state, binding, lock, budget:<name>,
standing:<name>, rate, cost, store): the check that denied it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chamberlain.cel import EvaluationError
from chamberlain.cel.values import UInt
from chamberlain.engine.activation import EMPTY_VARIABLES, base_activation
from chamberlain.engine.conditions import program
from chamberlain.engine.request import CheckInput
from chamberlain.engine.request_validation import RequestError
from chamberlain.engine.result import ActionEffect, CheckOutput, OutputEntry
from chamberlain.policy.model import EFFECT_ALLOW, EFFECT_DENY
from chamberlain.sessions.model import SESSION_ID, Budget, Session
from chamberlain.sessions.store import Charged, Held, Item, SessionStore
from chamberlain.store.errors import StoreError

DENIED_POLICY = "chamberlain.session"
FIELD = "session"
#: The key of a response's reason, beside the decision log's (``chamberlain.session``).
REASON_KEY = "session"
#: The start of the reason when the session store cannot be read or written (fail closed).
STORE_UNAVAILABLE = "session store unavailable, every action denied"


@dataclass(frozen=True, slots=True)
class SessionRef:
    """A check's reference to a session: its id, whether the check is a preview, and where it came from."""

    id: str
    preview: bool = False
    source: str = "auxData.session"


def read_ref(request: Mapping[str, Any]) -> SessionRef | None:
    """``auxData.session`` of a CheckResources/AuthZEN-shaped request; raises RequestError (HTTP 400) when malformed."""
    aux = request.get("auxData", request.get("aux_data"))
    if not isinstance(aux, Mapping) or FIELD not in aux:
        return None
    return parse_ref(aux[FIELD], f"auxData.{FIELD}")


def parse_ref(value: Any, path: str) -> SessionRef:
    """``{"id": "ses_...", "preview": false}`` -> SessionRef; raises RequestError naming the field."""
    if not isinstance(value, Mapping):
        raise RequestError(path, 'expected an object {"id": "ses_...", "preview": false}')
    unknown = sorted(set(value) - {"id", "preview"})
    if unknown:
        raise RequestError(f"{path}.{unknown[0]}", "unknown field (allowed: id, preview)")
    return SessionRef(
        session_id_of(value.get("id"), f"{path}.id"), _preview(value.get("preview", False), path), path
    )


def session_id_of(value: Any, path: str) -> str:
    """A well-formed session id (``ses_`` and 26 ULID characters); raises RequestError otherwise."""
    if not isinstance(value, str) or not SESSION_ID.match(value):
        shown = repr(value)[:80]
        raise RequestError(path, f"expected a session id such as ses_01J...(26 characters), got {shown}")
    return value


def _preview(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise RequestError(f"{path}.preview", f"expected true or false, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Binding:
    """Who the check is made by. Without a chain: the principal, which must be the session's agent. With a
    chain (a chamberlain token, or ``auxData.delegation``): the person (the principal), who must be the
    session's subject, and the agents, one of which must be the session's agent (a session opened for an
    agent goes on when it delegates further)."""

    agents: tuple[str, ...]
    subject: str | None = None  # None: no chain, so only the agent is bound

    def why_not(self, s: Session) -> str:
        if self.subject is None:
            if s.agent != self.agents[0]:
                return (
                    f"session {s.id} belongs to agent {s.agent!r}, not to {self.agents[0]!r} (principal.id): "
                    "a session is good only for its own agent"
                )
            return ""
        if s.agent not in self.agents:
            return (
                f"session {s.id} belongs to agent {s.agent!r}, who is not in the delegation chain "
                f"{' <- '.join(self.agents)}"
            )
        if s.subject != self.subject:
            return f"session {s.id} acts for subject {s.subject!r}, not for {self.subject!r}"
        return ""


def binding_of(inp: CheckInput) -> Binding:
    """The binding of a check: its chain and subject, else its principal as the agent."""
    if inp.actor_chain:
        return Binding(tuple(inp.actor_chain), inp.principal.id)
    return Binding((inp.principal.id,), None)


class SessionGuard:
    """Joins checks to sessions in ``store``; ``globals`` are the engine's (cost expressions may read them)."""

    def __init__(self, store: SessionStore, globals_map: Any = EMPTY_VARIABLES):
        self.store = store
        self.globals = globals_map

    def load(self, ref: SessionRef) -> Session | StoreError | None:
        """The session as stored before the check (its budgets and rate limits never change once opened),
        the store's error, or None for an unknown id."""
        try:
            return self.store.load(ref.id)
        except StoreError as exc:
            return exc

    def view(self, found: Session | StoreError | None) -> dict[str, Any] | None:
        """``request.aux_data.session`` for the engine (None when there is none: :meth:`enforce` denies)."""
        return found.cel(self.store.clock()) if isinstance(found, Session) else None

    def enforce(
        self,
        ref: SessionRef,
        found: Session | StoreError | None,
        inputs: Sequence[CheckInput],
        outputs: list[CheckOutput],
        when: Any,
        hold: Held | None = None,
    ) -> dict[str, Any]:
        """Apply the session to decided ``outputs`` (changed in place); returns the response's reason record.
        ``hold``: the transaction ``found`` was read in (:meth:`SessionStore.held`), charged within it."""
        binding = binding_of(inputs[0])
        items: list[Item] = []
        refused: dict[tuple[int, str], tuple[str, str]] = {}
        if isinstance(found, Session):
            items, refused = self._items(found, inputs, outputs, when)
        tools = sorted({a.split("::", 1)[1] for o in outputs for a in o.actions if "::" in a})
        if isinstance(found, StoreError):
            charged = Charged(None, f"{STORE_UNAVAILABLE}: {found}", "store")
        else:
            try:
                charged = (
                    hold.charge(binding.why_not, items, tools)
                    if hold is not None
                    else self.store.charge(ref.id, binding.why_not, items, tools=tools, preview=ref.preview)
                )
            except StoreError as exc:
                charged = Charged(None, f"{STORE_UNAVAILABLE}: {exc}", "store")
        if charged.denial:
            return deny_every(ref, outputs, charged.check, charged.denial)
        refused.update(charged.refused)
        for (index, action), (check, reason) in refused.items():
            _deny(outputs[index], action, check, reason)
        record: dict[str, Any] = {"id": ref.id, "source": ref.source}
        if ref.preview:
            record["preview"] = True
        if refused:
            record["refused"] = [
                {"resource": outputs[i].resource_id, "action": a, "check": c, "reason": r}
                for (i, a), (c, r) in refused.items()
            ]
        if charged.session is not None:
            record["budgets"] = {b.name: {"limit": b.limit, "used": b.used} for b in charged.session.budgets}
        if charged.standing:
            limits = {b.name: b.budget.limit for b in self.store.standing}
            record["standingBudgets"] = {
                n: {"limit": limits[n], "used": u} for n, u in charged.standing.items()
            }
        return record

    def _items(
        self, s: Session, inputs: Sequence[CheckInput], outputs: Sequence[CheckOutput], when: Any
    ) -> tuple[list[Item], dict[tuple[int, str], tuple[str, str]]]:
        """What each ALLOWed action would spend; an action whose cost cannot be computed is refused."""
        items: list[Item] = []
        refused: dict[tuple[int, str], tuple[str, str]] = {}
        standing = [b.budget for b in self.store.standing]
        for index, (inp, out) in enumerate(zip(inputs, outputs, strict=True)):
            costs = _Costs(inp, self.globals, when)
            for action, effect in out.actions.items():
                if effect.effect != EFFECT_ALLOW:
                    continue
                own = costs.of(s.budgets, action)
                spans = (
                    own if isinstance(own, str) else costs.of(standing, action)
                )  # the first refusal stands
                if isinstance(spans, str):
                    refused[(index, action)] = ("cost", spans)
                    continue
                assert not isinstance(own, str)
                hits = tuple(i for i, r in enumerate(s.rate_limits) if r.applies(inp.resource.kind, action))
                if own or spans or hits:
                    items.append(Item((index, action), tuple(own), hits, tuple(spans)))
        return items, refused


class _Costs:
    """The costs of one check input's actions, its activation built at the first cost that needs it."""

    def __init__(self, inp: CheckInput, globals_map: Any, when: Any):
        self.inp = inp
        self.globals = globals_map
        self.when = when
        self.activation: dict[str, Any] | None = None

    def of(self, budgets: Sequence[Budget], action: str) -> list[tuple[str, float]] | str:
        """``(budget, cost)`` of the budgets that apply to ``action``, or why one cost cannot be computed."""
        inp, found = self.inp, []
        for b in budgets:
            if not b.applies(inp.resource.kind, action):
                continue
            if self.activation is None:
                self.activation = base_activation(
                    inp.principal.cel(), inp.resource.cel(), inp.aux_cel(), self.globals, self.when
                )
            cost = _cost(b.cost, self.activation)
            if isinstance(cost, str):
                return f"the cost of budget {b.name!r} ({b.cost}) {cost}"
            found.append((b.name, cost))
        return found


def _cost(expression: str, activation: dict[str, Any]) -> float | str:
    """The cost as a non-negative number, or why it is not one."""
    try:
        value = program(expression).evaluate(activation)
    except EvaluationError as exc:
        return f"failed to evaluate: {exc}"
    if isinstance(value, UInt):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
        return f"is not a non-negative number: {value!r}"
    if value == float("inf"):
        return "is infinite"
    return float(value)


def deny_every(ref: SessionRef, outputs: Sequence[CheckOutput], check: str, reason: str) -> dict[str, Any]:
    """Every action DENY, naming the session check that denied it; the response's reason record."""
    for out in outputs:
        for action in out.actions:
            _deny(out, action, check, reason)
    return {"id": ref.id, "denied": reason, "check": check, "source": ref.source}


def _deny(out: CheckOutput, action: str, check: str, reason: str) -> None:
    src = f"{DENIED_POLICY}#{check}"
    out.actions[action] = ActionEffect(EFFECT_DENY, src)
    out.outputs = [o for o in out.outputs if o.action != action] + [OutputEntry(src, action, reason)]
