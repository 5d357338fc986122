"""Change impact: replay the log's decisions against a candidate policy set and report what flips.

The log is verified first (every hash, the tree and every signed head: :func:`chamberlain.audit.verify.verify`),
so the replayed requests are the ones its signed head commits to. Each decision entry of the window
is re-decided by the candidate engine with its own request (every attribute, aux data) and its own
``now``; ``before`` is the logged engine effect (before budgets and approvals). Entries that cannot
be replayed are counted with the reason: format 1 entries, erased ones, and delegated decisions (the
agents' roles came from their tokens, which the log does not keep).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from chamberlain.analysis.budget import Budget
from chamberlain.analysis.errors import AnalysisError
from chamberlain.audit.replay import NotReplayable, ReplayInput, replay_inputs
from chamberlain.cel.values import Timestamp
from chamberlain.engine import CheckInput

MAX_CHANGES = 10_000  # changes listed (all are counted)


@dataclass
class Impact:
    replayed: int = 0
    changed: list[dict[str, Any]] = field(default_factory=list)
    changed_count: int = 0
    not_replayable: Counter[str] = field(default_factory=Counter)
    by_rule: Counter[str] = field(default_factory=Counter)
    complete: bool = True
    stopped: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"replayed": self.replayed, "changed": self.changed, "changedCount": self.changed_count,
                "notReplayable": dict(self.not_replayable), "byPolicy": dict(self.by_rule),
                "complete": self.complete, "stopped": self.stopped}  # fmt: skip


def verify_log(reader: Any) -> None:
    """Raise unless the log verifies against its signed heads (the replay must read what they commit to)."""
    from chamberlain.audit.verify import verify

    report = verify(reader.db, max_unsigned_age=None)
    if not report.ok:
        raise AnalysisError(
            f"the decision log does not verify: {report.problem} (run chamberlain audit verify)"
        )


def replay(reader: Any, engine: Any, *, start: int = 0, end: int | None = None, since: str | None = None,
           budget: Budget | None = None) -> Impact:  # fmt: skip
    """Re-decide entries ``[start, end)`` (at or after ``since``) with ``engine``; what would change."""
    budget = budget or Budget()
    end = reader.tree_size() if end is None else min(end, reader.tree_size())
    if since is not None:
        first = reader.db.value("SELECT MIN(seq) FROM audit_entries WHERE time >= ?", (since,))
        start = max(start, int(first)) if first is not None else end
    impact = Impact()
    budget.start(max(end - start, 0))
    for item in replay_inputs(reader, start, end):
        if isinstance(item, NotReplayable):
            impact.not_replayable[_reason(str(item))] += 1
        elif item.inputs[item.input].actor_chain:
            impact.not_replayable["delegated decision (the agents' roles are not logged)"] += 1
        else:
            _decide(engine, item, impact)
        if not budget.step():
            impact.complete, impact.stopped = False, budget.stopped
            break
    return impact


def _decide(engine: Any, item: ReplayInput, impact: Impact) -> None:
    inp = item.inputs[item.input]
    one = CheckInput(inp.principal, inp.resource, (item.action,), inp.aux_data, inp.request_id)
    out = engine.check([one], Timestamp.at(item.now_ns))[0]
    decision = out.actions.get(item.action)
    after = decision.effect if decision is not None else "EFFECT_DENY"
    impact.replayed += 1
    if after == item.effect:
        return
    impact.changed_count += 1
    policy = decision.policy if decision is not None and decision.policy else "(no policy)"
    if decision is not None and decision.row is not None:
        policy = f"{policy}#{decision.row.name}"
    impact.by_rule[f"{policy} {item.effect}→{after}"] += 1
    if len(impact.changed) < MAX_CHANGES:
        impact.changed.append({"index": item.seq, "principal": inp.principal.id, "kind": inp.resource.kind,
                               "resourceId": inp.resource.id, "action": item.action, "before": item.effect,
                               "after": after, "policy": policy})  # fmt: skip


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
