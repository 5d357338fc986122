"""The action digest: what an approval is bound to.

SHA-256 of the canonical JSON (RFC 8785) of the action in readable form — the principal with all its
attributes, the actor chain, the resource kind, id and all its attributes (an MCP tool's arguments are
resource attributes), the action — with the content hash of the policy that asked for approval and the
session. Nothing else of the request counts (``requestId``, ``auxData``: tokens are renewed between a
request and its retry; the principal and chain they carry are in the digest).
"""

from __future__ import annotations

import hashlib
from typing import Any

from chamberlain.audit.write.canonical import canonical
from chamberlain.engine.request import CheckInput
from chamberlain.engine.ruletable import PolicyRef

_hashes: dict[int, tuple[Any, str]] = {}


def readable(inp: CheckInput, action: str) -> dict[str, Any]:
    """The action as approvers read it (and as the digest hashes it)."""
    p, r = inp.principal, inp.resource
    return {
        "principal": {
            "id": p.id,
            "roles": sorted(p.roles),
            "attr": dict(p.attr),
            "scope": p.scope,
            "policyVersion": p.policy_version,
        },
        "actorChain": list(inp.actor_chain),
        "resource": {
            "kind": r.kind,
            "id": r.id,
            "attr": dict(r.attr),
            "scope": r.scope,
            "policyVersion": r.policy_version,
        },
        "action": action,
    }


def policy_hash(ref: PolicyRef) -> str:
    """SHA-256 of the policy's content as loaded (its model, every field): another version is another hash."""
    key = id(ref.source)
    found = _hashes.get(key)
    if found is None or found[0] is not ref.source:
        if len(_hashes) > 4096:  # policy sets reloaded many times: keep only the recent ones
            _hashes.clear()
        found = (ref.source, hashlib.sha256(f"{ref.key}\n{ref.source!r}".encode()).hexdigest())
        _hashes[key] = found
    return found[1]


def action_digest(action: dict[str, Any], policy: str, session_id: str) -> str:
    """SHA-256 (hex) of the readable action, the policy's hash and the session id."""
    return hashlib.sha256(canonical({"action": action, "policy": policy, "session": session_id})).hexdigest()
