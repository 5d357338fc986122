"""Where a policy's constants and variables come from, in Cerbos's order (``internal/compile/
constants.go`` and ``variables.go``): the exported sets it imports, then its local definitions
(and, for variables, the deprecated top-level ``variables``).

Validation (:mod:`chamberlain.policy.validate`) reports a missing import and every redefinition
with these sources; the rule table (:mod:`chamberlain.engine.ruletable`) merges them with
:func:`merged`. Both read the same list, so they cannot disagree on what a policy sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chamberlain.policy import model as m


@dataclass(frozen=True, slots=True)
class Source:
    """One source of definitions: ``where`` says it for messages, ``path`` is the field naming it.

    ``imported``: the exported set's name for an import (``definitions`` is ``None`` when no
    policy exports it), ``""`` for the policy's own definitions.
    """

    where: str
    path: str
    definitions: Mapping[str, Any] | None
    imported: str = ""


def constant_sources(
    policy: m.Policy, constants: m.Constants | None, exports: Mapping[str, m.Policy]
) -> list[Source]:
    """The sources of a policy's constants (``exports``: export constants policies by name)."""
    if constants is None:
        return []
    body = policy.body_field
    sources = [
        _imported(name, f"{body}.constants.import[{i}]", exports.get(name), "export_constants")
        for i, name in enumerate(constants.imports)
    ]
    sources.append(Source("policy local constants", f"{body}.constants.local", constants.local))
    return sources


def variable_sources(
    policy: m.Policy, variables: m.Variables | None, exports: Mapping[str, m.Policy]
) -> list[Source]:
    """The sources of a policy's variables (``exports``: export variables policies by name)."""
    body = policy.body_field
    sources: list[Source] = []
    if variables is not None:
        sources.extend(
            _imported(name, f"{body}.variables.import[{i}]", exports.get(name), "export_variables")
            for i, name in enumerate(variables.imports)
        )
        sources.append(Source("policy local variables", f"{body}.variables.local", variables.local))
    if policy.variables:
        sources.append(Source("deprecated top-level policy variables", "variables", policy.variables))
    return sources


def merged(sources: list[Source]) -> dict[str, Any]:
    """The definitions a policy sees (a validated policy redefines nothing; otherwise the last wins)."""
    found: dict[str, Any] = {}
    for source in sources:
        if source.definitions is not None:
            found.update(source.definitions)
    return found


def _imported(name: str, path: str, export: m.Policy | None, kind: str) -> Source:
    body = getattr(export, kind, None) if export is not None else None
    return Source(f"import '{name}'", path, body.definitions if body is not None else None, name)
