"""The fast path: a check that wants only the effect runs a walk generated as code.

``PDP.is_allowed`` (:meth:`~chamberlain.engine.check.Engine.decide`) keeps no trace, outputs or
evaluation errors. When, in addition, no condition reads the effective derived roles
(``runtime.effectiveDerivedRoles``) and strict evaluation is off, each role group of a plan gets
its walk generated as straight-line code (:mod:`~chamberlain.engine.walkgen`); a check with one
kind and one role runs that walk alone. :func:`generated_walks_apply` is the one place that says
when; the check (``check.py``) asks it, and tests compare both walks on every conformance case.
"""

from __future__ import annotations

from collections import Counter

from chamberlain.engine import walkgen
from chamberlain.engine.names import NO_MATCH_FOR_SCOPE_PERMISSIONS
from chamberlain.engine.options import EngineOptions
from chamberlain.engine.result import ActionEffect
from chamberlain.engine.rows import Plan, RowIndex
from chamberlain.engine.ruletable import RuleTable
from chamberlain.engine.walkgen import NO_MATCH_EFFECT, WalkResult
from chamberlain.policy.model import EFFECT_DENY


def generated_walks_apply(table: RuleTable, options: EngineOptions) -> bool:
    """Whether a fast check may run generated walks: they neither track the effective derived roles
    (no condition reads them) nor stop at a condition's error (strict evaluation)."""
    return not table.reads_runtime and not options.strict_evaluation


def generate_walks(plan: Plan, index: RowIndex) -> None:
    """Give each group of the plan its generated walk (shared between equal groups, memoised in
    ``index.walks``), and the plan its ``single`` walk when it has one group only."""
    counts = Counter(
        row.eval_key for _, groups in plan.kinds for g in groups for _, rows, _ in g.steps for row in rows
    )
    shared = frozenset(key for key, n in counts.items() if n > 1)  # conditions go through the cache
    for _, groups in plan.kinds:
        for group in groups:
            rows_key = tuple((scope, tuple(map(id, rows)), perm) for scope, rows, perm in group.steps)
            own_shared = shared & {row.eval_key for _, rows, _ in group.steps for row in rows}
            key = (group.policy_key, rows_key, own_shared)
            walk = index.walks.get(key)
            if walk is None:
                walk = walkgen.generate(group.policy_key, group.steps, shared, NO_MATCH_FOR_SCOPE_PERMISSIONS)
                index.remember(index.walks, key, walk)
            group.walk = walk
    if len(plan.kinds) == 1 and len(plan.kinds[0][1]) == 1:
        plan.single = plan.kinds[0][1][0].walk


def final_effect(walked: WalkResult) -> ActionEffect:
    """A plan's only group walk as the action's effect (no match is a DENY)."""
    effect, policy, scope, row = walked
    return ActionEffect(EFFECT_DENY if effect == NO_MATCH_EFFECT else effect, policy, scope, row)
