"""Cerbos's engine test cases (``internal/test/testdata/engine*``): inputs, and the outputs the
engine must produce, compared field by field as Cerbos's own ``engine_test.go`` compares them.

chamberlain's own cases (``tests/engine/cases/``) are in the same format with two keys more: the
case's ``policies`` (Cerbos's cases share one store folder), and ``wantOutputsUnder``, the outputs
under an option set where they differ from ``wantOutputs`` (``{strictEvaluation: [...]}``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chamberlain.engine import CheckOutput
from chamberlain.engine.wire import json_number

_CAMEL = {
    "request_id": "requestId",
    "resource_id": "resourceId",
    "effective_derived_roles": "effectiveDerivedRoles",
    "validation_errors": "validationErrors",
    "evaluation_errors": "evaluationErrors",
}

#: The globals Cerbos's engine tests configure.
GLOBALS = {"environment": "test"}


@dataclass(frozen=True)
class EngineCase:
    name: str  # "<folder>/<file stem>"
    description: str
    inputs: list[dict[str, Any]]
    want: list[dict[str, Any]]
    want_error: bool
    policies: list[dict[str, Any]] = field(default_factory=list)
    want_under: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def want_for(self, option_set: str) -> list[dict[str, Any]]:
        """The outputs expected under ``option_set`` (``wantOutputsUnder``, else ``wantOutputs``)."""
        return self.want_under.get(option_set, self.want)

    def policy_files(self) -> dict[str, str]:
        """The case's policies as files for :func:`chamberlain.policy.load_documents`."""
        return {
            f"policy_{i}.yaml": yaml.safe_dump(doc, sort_keys=False) for i, doc in enumerate(self.policies)
        }


def load_cases(directory: Path, prefix: str) -> list[EngineCase]:
    return [load_case(path, prefix) for path in sorted(directory.glob("*.yaml"))]


def load_case(path: Path, prefix: str) -> EngineCase:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return EngineCase(
        name=f"{prefix}/{path.stem}",
        description=doc.get("description", ""),
        inputs=doc.get("inputs") or [],
        want=doc.get("wantOutputs") or [],
        want_error=bool(doc.get("wantError", False)),
        policies=doc.get("policies") or [],
        want_under=doc.get("wantOutputsUnder") or {},
    )


def engine_json(out: CheckOutput) -> dict[str, Any]:
    """A ``CheckOutput`` in Cerbos's engine JSON shape (empty fields left out)."""
    doc: dict[str, Any] = {"requestId": out.request_id, "resourceId": out.resource_id, "actions": {}}
    for action, effect in out.actions.items():
        entry = {"effect": effect.effect, "policy": effect.policy}
        if effect.scope:
            entry["scope"] = effect.scope
        doc["actions"][action] = entry
    if out.effective_derived_roles:
        doc["effectiveDerivedRoles"] = sorted(out.effective_derived_roles)
    if out.validation_errors:
        doc["validationErrors"] = sorted(
            ({"path": e.path, "message": e.message, "source": e.source} for e in out.validation_errors),
            key=lambda e: (e["source"], e["path"]),
        )
    if out.outputs:
        entries = []
        for o in out.outputs:
            entry = {"src": o.src, "action": o.action}
            if o.error:
                entry["error"] = o.error
            else:
                entry["val"] = json_number(o.val)
            entries.append(entry)
        doc["outputs"] = sorted(entries, key=lambda e: e["src"])
    if out.evaluation_errors:
        doc["evaluationErrors"] = [
            {"celError": {"expression": e.expression, "message": e.message}} for e in out.evaluation_errors
        ]
    return doc


def normalise_want(want: dict[str, Any]) -> dict[str, Any]:
    """The expected output with Cerbos's comparison options applied (sorted repeated fields)."""
    doc = {_CAMEL.get(k, k): v for k, v in want.items()}
    doc.setdefault("requestId", "")
    doc.setdefault("resourceId", "")
    doc["actions"] = {
        a: {k: v for k, v in e.items() if k in ("effect", "policy", "scope") and v != ""}
        for a, e in (want.get("actions") or {}).items()
    }
    if doc.get("effectiveDerivedRoles"):
        doc["effectiveDerivedRoles"] = sorted(doc["effectiveDerivedRoles"])
    else:
        doc.pop("effectiveDerivedRoles", None)
    if doc.get("validationErrors"):
        doc["validationErrors"] = sorted(
            (
                {"path": e.get("path", ""), "message": e.get("message", ""), "source": e.get("source", "")}
                for e in doc["validationErrors"]
            ),
            key=lambda e: (e["source"], e["path"]),
        )
    else:
        doc.pop("validationErrors", None)
    if doc.get("outputs"):
        doc["outputs"] = sorted(
            ({k: json_number(v) for k, v in o.items()} for o in doc["outputs"]), key=lambda e: e["src"]
        )
    else:
        doc.pop("outputs", None)
    if not doc.get("evaluationErrors"):
        doc.pop("evaluationErrors", None)
    return doc
