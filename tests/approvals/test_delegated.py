"""A delegated check (alice acting through agent-7) through the real server: one approval for the chain's
action, which lifts the rule for every party; another chain is another action; no party approves."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.approvals.test_http import decide, person
from tests.delegation.support import IdentityProvider
from tests.server.support import ADMIN_AUTH, ThreadServer, admin_on
from tests.server.test_admin import trusting

POLICY = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: payment
  version: default
  rules:
    - actions: ["pay"]
      effect: EFFECT_ALLOW
      roles: ["user", "agent"]
    - name: big-payments-need-approval
      actions: ["pay"]
      effect: EFFECT_DENY
      roles: ["user", "agent"]
      condition:
        match:
          expr: R.attr.amount > 1000
      output:
        when:
          ruleActivated: '{"approval": {"approvers": ["finance_manager"]}}'
"""


@contextlib.contextmanager
def serving(tmp_path: Path, policy: str) -> Iterator[tuple[ThreadServer, IdentityProvider]]:
    """A server on ``policy`` (payment.yaml) with the admin surface, trusting a people's IdP."""
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "payment.yaml").write_text(policy)
    idp = IdentityProvider("https://people.example")
    overrides = {"server": admin_on(), "chamberlain": {"delegation": trusting(tmp_path, idp)}}
    with ThreadServer(folder, overrides) as running:
        yield running, idp


@pytest.fixture
def server(tmp_path):
    with serving(tmp_path, POLICY) as running:
        yield running


def pay(server: ThreadServer, actor: str, approval_id: str = "") -> dict[str, Any]:
    aux: dict[str, Any] = {"delegation": {"actors": [{"id": actor, "roles": ["agent"]}]}}
    if approval_id:
        aux["approval"] = {"id": approval_id}
    body = {
        "principal": {"id": "alice", "roles": ["user"]},
        "auxData": aux,
        "resources": [
            {"actions": ["pay"], "resource": {"kind": "payment", "id": "p1", "attr": {"amount": 5000}}}
        ],
    }
    answer = httpx.post(f"{server.url}/api/check/resources", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["results"][0]


def requested(result: dict[str, Any]) -> str:
    ids = {o["val"]["approval"].get("id") for o in result["outputs"] if "approval" in (o.get("val") or {})}
    (found,) = ids - {None}
    return found


def test_one_approval_for_the_chain_lifting_the_rule_for_every_party(server):
    server, idp = server
    first = pay(server, "agent-7")
    assert first["actions"]["pay"] == "EFFECT_DENY"
    approval_id = requested(first)
    shown = httpx.get(f"{server.url}/api/approvals/{approval_id}", auth=ADMIN_AUTH, timeout=30).json()
    assert shown["action"]["principal"]["id"] == "alice" and shown["action"]["actorChain"] == ["agent-7"]
    agent = decide(server, approval_id, "approve", person(idp, "agent-7", "finance_manager"))
    assert agent.status_code == 403 and "actor of this action's chain" in agent.json()["message"]
    subject = decide(server, approval_id, "approve", person(idp, "alice", "finance_manager"))
    assert subject.status_code == 403 and "subject of this action" in subject.json()["message"]
    assert decide(server, approval_id, "approve", person(idp, "bob", "finance_manager")).status_code == 200
    other_agent = pay(server, "agent-8", approval_id)
    assert other_agent["actions"]["pay"] == "EFFECT_DENY"
    assert any(
        o["src"] == "chamberlain.approval#binding" and "actorChain" in o["val"]
        for o in other_agent["outputs"]
    )
    assert pay(server, "agent-7", approval_id)["actions"]["pay"] == "EFFECT_ALLOW"
    assert pay(server, "agent-7", approval_id)["actions"]["pay"] == "EFFECT_DENY"  # single use
