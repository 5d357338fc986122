"""Shared by the analysis tests: candidate policy folders made from the example policies."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "examples" / "policies"
INVOICE = {"status": "APPROVED", "amount": 100, "currency": "EUR", "submittedBy": "bob"}
_PARTS = ("derived_roles", "export_constants", "export_variables", "principal_policies", "resource_policies")


def candidate(tmp_path: Path, *extra: Path) -> Path:
    """The example policies (without their tests) and ``extra`` files or folders, in ``tmp_path/candidate``."""
    folder = tmp_path / "candidate"
    for part in _PARTS:
        shutil.copytree(POLICIES / part, folder / part)
    for path in extra:
        if path.is_dir():
            shutil.copytree(path, folder / path.name, dirs_exist_ok=True)
        else:
            shutil.copy(path, folder / path.name)
    return folder


def without_clerk_view(folder: Path) -> Path:
    """``folder``'s invoice policy with finance clerks no longer allowed to view."""
    invoice = folder / "resource_policies" / "invoice.yaml"
    text = invoice.read_text()
    changed = text.replace(
        'roles: ["finance_clerk", "finance_manager", "auditor"]', 'roles: ["finance_manager", "auditor"]'
    )
    assert changed != text
    invoice.write_text(changed)
    return folder


def delegation_service(pdp: Any, state_dir: Path) -> Any:
    """A delegation token service over ``pdp`` (for :func:`log_delegated_check`)."""
    from chamberlain.delegation import TokenService, parse_config

    return TokenService(parse_config(None, state_dir=state_dir, base_url="http://127.0.0.1:1"), pdp)


def log_delegated_check(service: Any, pdp: Any) -> None:
    """Decide and log carol's delegated check (agent pay-bot, an invoice assistant): view and create i1."""
    from chamberlain.delegation.cerbos_check import decide_check_resources

    request = {
        "principal": {"id": "carol", "roles": ["finance_clerk"]},
        "resources": [
            {"actions": ["view", "create"], "resource": {"kind": "invoice", "id": "i1", "attr": INVOICE}}
        ],
        "auxData": {"delegation": {"actors": [{"id": "pay-bot", "roles": ["invoice_assistant"]}]}},
    }
    decided = decide_check_resources(service, request)
    assert decided is not None
    assert pdp.record(decided.inputs, decided.outputs, point="test") == ""
