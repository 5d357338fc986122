"""Fixtures: a session store URL per backend (SQLite file, PostgreSQL schema), a manual clock, policies."""

from __future__ import annotations

import pytest

from chamberlain.sessions import ManualClock, SessionStore, parse_settings, parse_spec
from tests.audit.support import fresh_schema_url

POLICY = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: invoice
  version: default
  rules:
    - actions: ["pay", "view"]
      effect: EFFECT_ALLOW
      roles: ["agent", "finance"]
    - actions: ["approve_big"]
      effect: EFFECT_ALLOW
      roles: ["agent"]
      condition:
        match:
          expr: request.aux_data.session.budgets.payments.remaining >= R.attr.amount
"""
TOOLS = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: mcp_tool
  version: default
  rules:
    - actions: ["tools/call::*"]
      effect: EFFECT_ALLOW
      roles: ["agent"]
"""


@pytest.fixture
def policies(tmp_path):
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "invoice.yaml").write_text(POLICY)
    (folder / "tools.yaml").write_text(TOOLS)
    return folder


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """The same test on both stores."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'decisions.db'}"
    else:
        yield from fresh_schema_url()


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def store(store_url, clock):
    opened = SessionStore.open(store_url, clock=clock)
    yield opened
    opened.close()


def log_options(tmp_path):
    """A decision log's options with its key and head files in the test's folder."""
    from chamberlain.audit.log import LogOptions

    return LogOptions(key_file=tmp_path / "log.key", head_file=tmp_path / "log.head")


def spec(**fields):
    """A session specification: agent-7 acting for alice, with the fields given."""
    body = {"subject": "alice", "agent": "agent-7", **fields}
    return parse_spec(body, parse_settings(None))


PAYMENTS = {"name": "payments", "kind": "invoice", "actions": ["pay"], "limit": 1000, "cost": "R.attr.amount"}
