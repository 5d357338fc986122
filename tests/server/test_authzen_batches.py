"""AuthZEN batches (``/access/v1/evaluations``): each evaluation is decided with its own subject and its own
resource, even where another evaluation of the batch names the same ids with other roles or attributes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.server.support import ThreadServer

POLICY = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: payment
  version: default
  rules:
    - name: clerks-pay-small-amounts
      actions: ["pay"]
      effect: EFFECT_ALLOW
      roles: ["clerk"]
      condition:
        match:
          expr: R.attr.amount <= 100
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder: Path = tmp_path_factory.mktemp("authzen") / "policies"
    folder.mkdir()
    (folder / "payment.yaml").write_text(POLICY)
    with ThreadServer(folder) as running:
        yield running


def clerk(roles: list[str]) -> dict:
    return {"type": "user", "id": "bob", "properties": {"cerbos.roles": roles}}


def payment(amount: int, resource_id: str = "p1") -> dict:
    return {"type": "payment", "id": resource_id, "properties": {"amount": amount}}


def decisions(server: ThreadServer, evaluations: list[dict], **defaults) -> list[bool]:
    body = {"action": {"name": "pay"}, **defaults, "evaluations": evaluations}
    answer = httpx.post(f"{server.url}/access/v1/evaluations", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return [e["decision"] for e in answer.json()["evaluations"]]


def test_the_same_resource_id_with_other_attributes_is_decided_with_its_own(server):
    """Batched with a small payment of the same id, a payment of 5,000 was decided as the small one (Cerbos
    0.55 answers so too: chamberlain does not follow it there)."""
    found = decisions(
        server, [{"resource": payment(10)}, {"resource": payment(5000)}], subject=clerk(["clerk"])
    )
    assert found == [True, False]


def test_the_same_subject_id_with_other_roles_is_decided_with_its_own(server):
    """An intern batched after a clerk of the same id was decided with the clerk's roles."""
    evaluations = [
        {"subject": clerk(["clerk"]), "resource": payment(10, "p1")},
        {"subject": clerk(["intern"]), "resource": payment(10, "p2")},
        {"subject": {**clerk(["clerk"]), "properties": {"cerbos.roles": ["clerk"]}}, "resource": payment(10)},
    ]
    assert decisions(server, evaluations) == [True, False, True]
