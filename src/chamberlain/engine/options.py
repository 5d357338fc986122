"""Engine options (Cerbos's ``engine`` configuration section)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chamberlain.cel.budget import DEFAULT_TIMEOUT
from chamberlain.engine.names import DEFAULT_VERSION
from chamberlain.errors import Error

SCHEMA_ENFORCEMENTS = ("none", "warn", "reject")


class OptionsError(Error):
    """An engine option with a value it cannot take."""


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """How checks are evaluated.

    ``default_policy_version`` / ``default_scope``: used when a request leaves them empty.
    ``lenient_scope_search``: a scope with no policies falls back to its nearest ancestor that has
    some (otherwise no policy applies). ``strict_evaluation``: a condition that fails to evaluate
    denies the actions of its rule (otherwise it is false). ``globals``: ``G``/``globals`` in
    conditions. ``schema_enforcement``: ``none``, ``warn`` (report violations) or ``reject``
    (report them and deny every action). ``evaluation_timeout``: seconds the conditions of one
    call may run; past it, the actions not yet decided are denied (:mod:`chamberlain.cel.budget`).
    """

    default_policy_version: str = DEFAULT_VERSION
    default_scope: str = ""
    lenient_scope_search: bool = False
    strict_evaluation: bool = False
    globals: Mapping[str, Any] = field(default_factory=dict)
    schema_enforcement: str = "none"
    evaluation_timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        timeout = self.evaluation_timeout
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < 3600:
            raise OptionsError(
                f"evaluation_timeout must be a number of seconds above 0 (and below an hour), not {timeout!r}"
            )
        object.__setattr__(self, "evaluation_timeout", float(timeout))
        if self.schema_enforcement not in SCHEMA_ENFORCEMENTS:
            raise OptionsError(
                f"schema_enforcement must be one of {', '.join(SCHEMA_ENFORCEMENTS)}, "
                f"not {self.schema_enforcement!r}"
            )
        if not isinstance(self.default_policy_version, str) or not isinstance(self.default_scope, str):
            raise OptionsError("default_policy_version and default_scope must be strings")
