"""Cerbos's attribute-schema cases (``conformance/cerbos/schema/test_cases``).

Each case names a principal and a resource schema (with ``ignoreWhen`` actions), a check input,
and the validation errors Cerbos reports (path, message, source) — or none. Schemas resolve
against the case folder's ``fs/_schemas``, as Cerbos's schema manager tests load them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from chamberlain.engine.attribute_validation import validate
from chamberlain.policy import SchemaStore
from chamberlain.policy import model as m
from tests.cel.conformance import case_params, data_dir, load_known_failures, record, require_data

_ROOT = data_dir() / "cerbos" / "schema"
require_data(_ROOT / "test_cases", "Cerbos schema")
_KNOWN = load_known_failures(Path(__file__).with_name("known_failures.txt"))
_STORE = SchemaStore.from_directory(_ROOT / "fs" / "_schemas")


@dataclass(frozen=True)
class SchemaCase:
    name: str
    doc: dict[str, Any]


def _cases() -> list[SchemaCase]:
    return [
        SchemaCase(f"schema/{path.stem}", yaml.safe_load(path.read_text(encoding="utf-8")))
        for path in sorted((_ROOT / "test_cases").glob("*.yaml"))
    ]


def _ref(spec: dict[str, Any] | None) -> m.SchemaRef | None:
    if not spec:
        return None
    ignore = spec.get("ignoreWhen")
    return m.SchemaRef(spec.get("ref", ""), m.IgnoreWhen(tuple(ignore["actions"])) if ignore else None)


@pytest.mark.parametrize("case", case_params(_cases(), _KNOWN))
def test_schema_case(case: SchemaCase, request: pytest.FixtureRequest) -> None:
    record(request, "schema", case.name)
    refs = case.doc.get("schemaRefs") or {}
    schemas = m.Schemas(_ref(refs.get("principalSchema")), _ref(refs.get("resourceSchema")))
    # A plan input is validated for its one action, its resource attributes being partial (the
    # planner itself is another issue: only the schema validation is under test here).
    check = case.doc.get("checkInput") or case.doc["planResourcesInput"]
    actions = check["actions"] if "actions" in check else [check["action"]]
    errors = validate(
        _STORE,
        schemas,
        check["principal"].get("attr") or {},
        check["resource"].get("attr") or {},
        actions,
        partial_resource="planResourcesInput" in case.doc,
    )
    have = sorted((e.path, e.message, e.source) for e in errors)
    want = sorted(
        (w.get("path", ""), w["message"], w["source"]) for w in case.doc.get("wantValidationErrors") or []
    )
    assert have == want, case.doc.get("description", "")


def test_every_case_loaded():
    assert len(_cases()) >= 18
