"""The action digest: what an approval is bound to.

SHA-256 of the canonical JSON (RFC 8785) of the action in readable form — the principal with all its
attributes, the actor chain, the resource kind, id and all its attributes (an MCP tool's arguments are
resource attributes), the action — with the content hash of the policy that asked for approval and the
session. Nothing else of the request counts (``requestId``, ``auxData``: tokens are renewed between a
request and its retry; the principal and chain they carry are in the digest).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

from chamberlain.audit.write.canonical import canonical
from chamberlain.engine.request import CheckInput
from chamberlain.engine.ruletable import PolicyRef

_hashes: dict[int, tuple[Any, str]] = {}
_SAFE_INTEGER = 2**53


def readable(inp: CheckInput, action: str) -> dict[str, Any]:
    """The action as approvers read it (and as the digest hashes it). The principal's ``issuer`` is there when a
    token said who vouches for the subject (its ``sub_id``): the approval is then for that (issuer, subject)
    pair only, and only that person gives a ``$subject`` consent."""
    p, r = inp.principal, inp.resource
    principal: dict[str, Any] = {
        "id": p.id,
        "roles": sorted(p.roles),
        "attr": dict(p.attr),
        "scope": p.scope,
        "policyVersion": p.policy_version,
    }
    issuer = subject_issuer(inp)
    if issuer:  # absent otherwise: the digests of checks without a token are unchanged
        principal["issuer"] = issuer
    return {
        "principal": principal,
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


def subject_issuer(inp: CheckInput) -> str:
    """The issuer vouching for the check's subject (``request.aux_data.delegation.subject.iss``), or ``""``."""
    delegation = inp.aux_data.delegation
    subject = delegation.get("subject") if delegation is not None else None
    issuer = subject.get("iss") if isinstance(subject, Mapping) else None
    return issuer if isinstance(issuer, str) else ""


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
    """SHA-256 (hex) of the readable action, the policy's hash and the session id.

    RFC 8785 prints every number as a double, so integers beyond ±2^53 that differ (``2**60``, ``2**60 + 1``)
    have one canonical form; such integers are added exactly (``"integers": {"/resource/attr/amount": "..."}``)
    so that an approval never lifts a neighbouring amount. Digests of actions without them are unchanged."""
    hashed: dict[str, Any] = {"action": action, "policy": policy, "session": session_id}
    exact = dict(_large_integers(action, ""))
    if exact:
        hashed["integers"] = exact
    return hashlib.sha256(canonical(hashed)).hexdigest()


def _large_integers(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(JSON pointer, decimal) of each integer in ``value`` that a double cannot hold exactly."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _large_integers(item, f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _large_integers(item, f"{path}/{index}")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > _SAFE_INTEGER:
        yield path, str(int(value))
