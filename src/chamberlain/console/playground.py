"""The playground's evaluation: policies from a text box, one CheckResources request, a PDP of their own.

Nothing is shared with the server's PDP: the policies are loaded from memory into a fresh policy set,
the PDP has no decision log, sessions or approvals, the text is bounded by
``chamberlain.console.playground.maxPolicyBytes`` and ``maxRequestBytes``, and the conditions by
``playground.timeout`` (past it, undecided actions are denied).
"""

from __future__ import annotations

from typing import Any

from chamberlain import PDP, strictjson
from chamberlain.engine import EngineOptions
from chamberlain.errors import Error
from chamberlain.policy import load_documents

EXAMPLE_POLICY = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: invoice
  version: default
  rules:
    - name: clerks-view
      actions: ["view"]
      effect: EFFECT_ALLOW
      roles: ["finance_clerk"]
    - name: managers-pay-small
      actions: ["pay"]
      effect: EFFECT_ALLOW
      roles: ["finance_manager"]
      condition:
        match:
          expr: R.attr.amount <= 10000
"""
EXAMPLE_REQUEST = """\
{"principal": {"id": "bob", "roles": ["finance_manager"]},
 "resources": [{"actions": ["view", "pay"],
                "resource": {"kind": "invoice", "id": "inv-1", "attr": {"amount": 1200}}}]}
"""
MAX_DOCUMENTS = 50


def evaluate(policy: str, request: str, timeout: float, max_depth: int) -> tuple[dict[str, Any] | None, str]:
    """The Cerbos answer (with meta) of ``request`` under ``policy``, or ``(None, what was wrong)``."""
    documents = [d for d in policy.replace("\r\n", "\n").split("\n---\n") if d.strip()]
    if not documents:
        return None, "policy: write at least one policy document"
    if len(documents) > MAX_DOCUMENTS:
        return None, f"policy: at most {MAX_DOCUMENTS} documents"
    try:
        body = strictjson.loads(request.encode(), max_depth=max_depth)
    except strictjson.JSONError as exc:
        return None, f"request: invalid JSON: {exc}"
    if not isinstance(body, dict):
        return None, "request: expected a JSON object (a Cerbos CheckResources request)"
    try:
        policies = load_documents({f"policy-{i + 1}.yaml": text for i, text in enumerate(documents)})
        pdp = PDP(policies, EngineOptions(strict_evaluation=True, evaluation_timeout=timeout))
        answer = pdp.check_resources(
            {"requestId": "playground", **body, "includeMeta": True}, point="playground"
        )
    except Error as exc:
        return None, str(exc)
    return answer, ""
