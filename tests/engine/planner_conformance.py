"""Cerbos's query planner cases (``internal/test/testdata/query_planner``): a principal, then per test a
resource kind, action(s), known attributes and the filter the planner must produce.

Cerbos's ``TestQueryPlan`` runs every file of ``suite/common`` twice (strict and lenient scope
search), ``suite/strict_scope_search`` strictly and ``suite/lenient_scope_search`` leniently, all
against ``policies/`` with globals ``{environment: test}``, aux data ``{jwt: {customInt: 42}}`` and
the time fixed at 2024-01-16T10:18:27.395+13:00. It compares filters with every ``operands`` list
as a multiset (``protocmp.SortRepeatedFields``); :func:`canonical` does the same.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

GLOBALS = {"environment": "test"}
AUX_DATA = {"jwt": {"customInt": 42}}
NOW = dt.datetime.fromisoformat("2024-01-16T10:18:27.395+13:00")
#: Suite folder -> (modes it runs in: lenient scope search or not).
MODES = {"common": (False, True), "strict_scope_search": (False,), "lenient_scope_search": (True,)}


@dataclass(frozen=True)
class PlanCase:
    name: str  # "<mode>/<file stem>/<kind>/<action(s)>[#n]"
    lenient: bool
    principal: dict[str, Any]
    resource: dict[str, Any]
    actions: list[str]
    want: dict[str, Any]
    want_error: bool


def load_cases(root: Path) -> list[PlanCase]:
    cases: list[PlanCase] = []
    for folder, modes in MODES.items():
        for path in sorted((root / "suite" / folder).glob("*.yaml")):
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            for lenient in modes:
                mode = "lenient" if lenient else "strict"
                seen: dict[str, int] = {}
                for test in doc.get("tests") or []:
                    actions = test.get("actions") or [test["action"]]
                    base = f"{mode}/{folder}/{path.stem}/{test['resource']['kind']}/{', '.join(actions)}"
                    seen[base] = seen.get(base, 0) + 1
                    name = base if seen[base] == 1 else f"{base}#{seen[base]}"
                    cases.append(
                        PlanCase(
                            name,
                            lenient,
                            doc["principal"],
                            test["resource"],
                            actions,
                            test.get("want") or {},
                            bool(test.get("wantErr")),
                        )
                    )
    return cases


def canonical(filter_json: dict[str, Any]) -> Any:
    """A filter with every operand list sorted (Cerbos's comparison treats them as multisets)."""
    kind = filter_json.get("kind", "KIND_UNSPECIFIED")
    condition = filter_json.get("condition")
    return {"kind": kind, "condition": _canonical_operand(condition) if condition is not None else None}


def _canonical_operand(op: dict[str, Any]) -> Any:
    if "expression" in op:
        expr = op["expression"]
        operands = sorted(
            (_canonical_operand(o) for o in expr.get("operands") or []),
            key=lambda o: json.dumps(o, sort_keys=True),
        )
        return {"expression": {"operator": expr["operator"], "operands": operands}}
    if "value" in op:
        return {"value": _number(op["value"])}
    return {"variable": op["variable"]}


def _number(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [_number(v) for v in value]
    if isinstance(value, dict):
        return {k: _number(v) for k, v in value.items()}
    return value
