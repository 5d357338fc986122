"""Fixtures: a payment policy whose DENY rule asks for approval, stores on SQLite and PostgreSQL, a clock."""

from __future__ import annotations

import pytest

from chamberlain import PDP
from chamberlain.approvals import ApprovalStore
from tests.sessions.conftest import clock, store_url  # noqa: F401  (the same fixtures: both stores, a manual clock)

POLICY = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: payment
  version: default
  rules:
    - actions: ["pay", "view"]
      effect: EFFECT_ALLOW
      roles: ["agent"]
    - name: big-payments-need-approval
      actions: ["pay"]
      effect: EFFECT_DENY
      roles: ["agent"]
      condition:
        match:
          expr: R.attr.amount > 1000
      output:
        when:
          ruleActivated: |-
            {"approval": {"approvers": ["finance_manager"], "ttl": "15m",
                          "reason": "payment over " + string(R.attr.amount)}}
    - name: never-to-blocked
      actions: ["pay"]
      effect: EFFECT_DENY
      roles: ["agent"]
      condition:
        match:
          expr: R.attr.payee == "blocked"
"""


@pytest.fixture
def policies(tmp_path):
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "payment.yaml").write_text(POLICY)
    return folder


@pytest.fixture
def store(store_url, clock):  # noqa: F811  (the imported fixtures)
    opened = ApprovalStore.open(store_url, clock=clock, execution_window=600)
    yield opened
    opened.close()


@pytest.fixture
def pdp(policies, store):
    found = PDP.from_directory(policies)
    found.use_approvals(store)
    return found
