"""Analysis over the policies and the decision log: the vault map (who can reach what, under which
condition), unused access and right-sizing proposals, and the impact of a policy change.

See ``docs/concepts/analysis.md``.
"""

from __future__ import annotations

from chamberlain.analysis.budget import Budget
from chamberlain.analysis.subjects import Subject, policy_subjects
from chamberlain.analysis.targets import Target, policy_targets
from chamberlain.analysis.vault import Access, Cell, VaultMap, build_map

__all__ = [
    "Access",
    "Budget",
    "Cell",
    "Subject",
    "Target",
    "VaultMap",
    "build_map",
    "policy_subjects",
    "policy_targets",
]
