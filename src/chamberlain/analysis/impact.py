"""Change impact: replay the log's decisions against a candidate policy set and report what flips.

The log is verified first (every hash, the tree and every signed head: :func:`chamberlain.audit.tools.verify.verify`),
so the replayed requests are the ones its signed head commits to. Each decision entry of the window
is re-decided by the candidate engine with its own request (every attribute, aux data) and its own
``now``; ``before`` is the logged engine effect (before budgets and approvals). Entries that cannot
be replayed are counted with the reason: format 1 entries, erased ones, and delegated decisions logged
before the log kept the chain's roles and scopes.

A delegated decision is re-decided as the delegated check decides it: the person and every actor of
the chain (with the roles and attributes it was checked with, logged in ``auxData.delegation``)
must each be allowed by the candidate policies. A decision the token's audience or scopes denied
(``chamberlain.delegation#audience``/``#scope``) does not depend on the policies and stays as it was.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from chamberlain.analysis.budget import Budget
from chamberlain.analysis.errors import AnalysisError
from chamberlain.audit.tools.replay import NotReplayable, ReplayInput, replay_inputs
from chamberlain.cel.values import Timestamp
from chamberlain.delegation.attenuate import AUDIENCE_RULE, SCOPE_RULE
from chamberlain.engine import EFFECT_ALLOW, EFFECT_DENY, ActionEffect, CheckInput, Principal
from chamberlain.engine.activation import RequestClock

MAX_CHANGES = 10_000  # changes (and groups) listed; all are counted
MAX_EXAMPLES = 5  # entry indexes shown per group
MAX_SHARED = 4096  # distinct requests whose outputs are kept for reuse (bounded memory)
#: Delegated decisions the token decided (audience, scopes), whatever the policies say.
TOKEN_DECIDED = frozenset({AUDIENCE_RULE, SCOPE_RULE})


@dataclass
class Impact:
    replayed: int = 0
    changed: list[dict[str, Any]] = field(default_factory=list)
    changed_count: int = 0
    not_replayable: Counter[str] = field(default_factory=Counter)
    by_rule: Counter[str] = field(default_factory=Counter)
    groups: dict[tuple[str, str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    complete: bool = True
    stopped: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "replayed": self.replayed,
            "changed": self.changed,
            "changedCount": self.changed_count,
            "notReplayable": dict(self.not_replayable),
            "byPolicy": dict(self.by_rule),
            "groups": sorted(self.groups.values(), key=lambda g: -g["count"]),
            "complete": self.complete,
            "stopped": self.stopped,
        }


def verify_log(reader: Any) -> None:
    """Raise unless the log verifies against its signed heads (the replay must read what they commit to)."""
    problem = _verify_problem(reader.db, 0)
    if problem:
        raise AnalysisError(problem)


def _verify_problem(db: Any, size: int) -> str:
    """Why the log in ``db`` does not verify, or does not hold ``size`` entries; "" when it does."""
    from chamberlain.audit.tools.verify import verify

    report = verify(db, max_unsigned_age=None)
    if not report.ok:
        return f"the decision log does not verify: {report.problem} (run chamberlain audit verify)"
    if report.size < size:
        return f"the decision log verified {report.size} entries, fewer than the {size} to replay"
    return ""


def verified_replay(
    reader: Any, engine: Any, *, since: str | None = None, budget: Budget | None = None
) -> Impact:
    """:func:`verify_log`, then :func:`replay`: on two cores, the log is verified by a child process
    (its own connection) while this one replays; nothing is answered unless every entry replayed verified.
    """
    end = reader.tree_size()
    ctx = _fork_context()
    if ctx is None:
        problem = _verify_problem(reader.db, end)
        if problem:
            raise AnalysisError(problem)
        return replay(reader, engine, end=end, since=since, budget=budget)
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_verify_child, args=(reader.db.url, end, send), daemon=True)
    child.start()
    send.close()
    try:
        impact = replay(reader, engine, end=end, since=since, budget=budget)
        try:
            problem = receive.recv()
        except EOFError:
            problem = "the decision log's verification ended without an answer (its process died)"
    except BaseException:
        child.terminate()  # the replay failed or was interrupted: its verification is not needed
        raise
    finally:
        receive.close()
        child.join()
    if problem:
        raise AnalysisError(problem)
    return impact


def _fork_context() -> Any:
    """A fork context when there are two cores to use (a forked child starts at once); else None."""
    import multiprocessing
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if cores < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    return multiprocessing.get_context("fork")


def _verify_child(url: Any, size: int, send: Any) -> None:
    from chamberlain.store.db import open_database

    try:
        db = open_database(url, create=False, readonly=True)
        try:
            send.send(_verify_problem(db, size))
        finally:
            db.close()
    except Exception as exc:  # reported by the parent, which fails closed
        send.send(f"the decision log could not be verified: {exc}")
    finally:
        send.close()


def replay(
    reader: Any,
    engine: Any,
    *,
    start: int = 0,
    end: int | None = None,
    since: str | None = None,
    budget: Budget | None = None,
    share: bool = True,
) -> Impact:
    """Re-decide entries ``[start, end)`` (at or after ``since``) with ``engine``; what would change.

    ``share``: reuse the outputs of a request seen before whose decisions read no ``now()``
    (False: decide every call afresh; the answer is the same, only slower).
    """
    budget = budget or Budget()
    end = reader.tree_size() if end is None else min(end, reader.tree_size())
    if since is not None:
        first = reader.db.value("SELECT MIN(seq) FROM audit_entries WHERE time >= ?", (since,))
        start = max(start, int(first)) if first is not None else end
    impact = Impact()
    calls = _CallDecisions(engine, share)
    budget.start(max(end - start, 0))
    for item in replay_inputs(reader, start, end):
        if isinstance(item, NotReplayable):
            impact.not_replayable[_reason(str(item))] += 1
        elif item.inputs[item.input].actor_chain and not _chain_logged(item):
            impact.not_replayable["delegated decision logged without its chain's roles (an older entry)"] += 1
        else:
            _decide(calls, item, impact)
        if not budget.step():
            impact.complete, impact.stopped = False, budget.stopped
            break
    return impact


def _chain_logged(item: ReplayInput) -> bool:
    chain = item.inputs[item.input].aux_data.delegation
    return isinstance(chain, Mapping) and isinstance(chain.get("actors"), list)


def _parties(item: ReplayInput) -> list[Principal | None]:
    """The principal, then each actor of a delegated decision (None: an actor without roles, denied)."""
    inp = item.inputs[item.input]
    parties: list[Principal | None] = [inp.principal]
    chain = inp.aux_data.delegation if inp.actor_chain else None
    for actor in chain.get("actors", []) if isinstance(chain, Mapping) else []:
        roles = tuple(actor.get("roles") or ())
        parties.append(Principal(str(actor.get("id", "")), roles, actor.get("attr") or {}) if roles else None)
    return parties


class _LoggedClock(RequestClock):
    """A decision's own logged ``now``, noting whether a condition read it (then its outputs are not shared)."""

    __slots__ = ("now", "used")

    def __init__(self, now_ns: int):
        super().__init__()
        self.now, self.used = Timestamp.at(now_ns), False

    def __call__(self) -> Timestamp:
        self.used = True
        return self.now


class _CallDecisions:
    """The candidate engine's decisions for one logged call, per party: decided once for all its entries.

    Logged calls often repeat the same request at another time: the outputs of a request whose
    decisions read no ``now()`` are kept (by the request's content, ``now`` and request id aside) and
    reused; a request whose decisions read ``now()`` is decided again at each call's own ``now``.
    """

    __slots__ = ("engine", "inputs", "key", "outputs", "share", "shared")

    def __init__(self, engine: Any, share: bool = True):
        self.engine, self.share = engine, share
        self.inputs: list[CheckInput] | None = None
        self.key: bytes | None = None
        self.outputs: dict[int, list[Any]] = {}
        self.shared: dict[tuple[int, bytes], list[Any]] = {}

    def decision(self, item: ReplayInput, index: int, party: Principal) -> ActionEffect | None:
        if item.inputs is not self.inputs:  # entries of a call share its inputs (read once)
            self.inputs, self.outputs = item.inputs, {}
            try:
                self.key = request_key(item.inputs) if self.share else None
            except TypeError:  # not JSON (not from a log): decided, not shared
                self.key = None
        outputs = self.outputs.get(index)
        if outputs is None:
            outputs = self.outputs[index] = self._decide(item, index, party)
        effect: ActionEffect | None = outputs[item.input].actions.get(item.action)
        return effect

    def _decide(self, item: ReplayInput, index: int, party: Principal) -> list[Any]:
        key = None if self.key is None else (index, self.key)
        shared = self.shared.get(key) if key is not None else None
        if shared is not None:
            return shared
        batch = [i if index == 0 else replace(i, principal=party) for i in item.inputs]
        clock = _LoggedClock(item.now_ns)
        outputs: list[Any] = self.engine.check(batch, clock)
        if not clock.used and key is not None:
            if len(self.shared) >= MAX_SHARED:
                self.shared.clear()
            self.shared[key] = outputs
        return outputs


def request_key(inputs: list[CheckInput]) -> bytes:
    """Everything of a call's inputs the engine may read (all but ``now`` and the request id), as bytes."""
    return orjson.dumps(
        [
            [
                i.principal.id,
                i.principal.roles,
                i.principal.attr,
                i.principal.policy_version,
                i.principal.scope,
                i.resource.kind,
                i.resource.id,
                i.resource.attr,
                i.resource.policy_version,
                i.resource.scope,
                i.actions,
                i.aux_data.jwt,
                i.aux_data.jwts,
                i.aux_data.delegation,
                i.session_id,
                i.actor_chain,
                i.approval_id,
            ]
            for i in inputs
        ],
        option=orjson.OPT_PASSTHROUGH_DATACLASS,
    )


def _decide(calls: _CallDecisions, item: ReplayInput, impact: Impact) -> None:
    inp = item.inputs[item.input]
    impact.replayed += 1
    if (item.basis or {}).get("policy") in TOKEN_DECIDED:
        return  # the token's audience or scopes denied: no policy takes part
    decision = None
    for index, party in enumerate(_parties(item)):
        if party is None:
            decision = ActionEffect(EFFECT_DENY, "(an actor without roles)")
            break
        decision = calls.decision(item, index, party)
        if decision is None or decision.effect != EFFECT_ALLOW:
            break
    after = decision.effect if decision is not None else EFFECT_DENY
    if after == item.effect:
        return
    impact.changed_count += 1
    policy = decision.policy if decision is not None and decision.policy else "(no policy)"
    if decision is not None and decision.row is not None:
        policy = f"{policy}#{decision.row.name}"
    impact.by_rule[f"{policy} {item.effect}→{after}"] += 1
    key = (policy, inp.principal.id, item.action, item.effect, after)
    group = impact.groups.get(key)
    if group is None and len(impact.groups) < MAX_CHANGES:
        group = impact.groups[key] = {
            "policy": policy,
            "principal": inp.principal.id,
            "action": item.action,
            "before": item.effect,
            "after": after,
            "count": 0,
            "examples": [],
        }
    if group is not None:
        group["count"] += 1
        if len(group["examples"]) < MAX_EXAMPLES:
            group["examples"].append(item.seq)
    if len(impact.changed) < MAX_CHANGES:
        impact.changed.append(
            {
                "index": item.seq,
                "principal": inp.principal.id,
                "kind": inp.resource.kind,
                "resourceId": inp.resource.id,
                "action": item.action,
                "before": item.effect,
                "after": after,
                "policy": policy,
            }
        )


def _reason(message: str) -> str:
    """A NotReplayable message without its entry number (so they group)."""
    _, _, rest = message.partition(": ")
    if message.startswith("entry ") and " is in format 1" in message:
        return "format 1 entry (only the attributes its policies read were logged)"
    if " was erased" in message:
        return "erased"
    if " is a " in message and "entry, not a decision" in message:
        return "not a decision"
    return rest or message
