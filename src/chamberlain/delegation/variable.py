"""``request.aux_data.delegation``: the chain as policy conditions see it (a chamberlain extension).

```
request.aux_data.delegation = {
  "subject":  {"id": "alice", "iss": "https://idp.example",                 # the person acted for:
               "roles": ["finance_clerk"], "attr": {...}},                 # (iss, id); iss "" if unknown
  "actors":   [{"id": "tool-agent", "iss": "...", "roles": [...], "attr": {...}},   # current first
               {"id": "planner-agent", ...}],
  "depth":    2,                          # number of actors
  "scopes":   ["payments:write"],         # the token's scopes ([] without a token)
  "audience": ["https://payments.example"],
  "issuer":   "https://chamberlain.example",
  "source":   "token",                    # or "request": actors named by the caller, no token
  "sid": "", "jti": "...",
}
```

Conditions: ``"finance_clerk" in request.aux_data.delegation.subject.roles``,
``request.aux_data.delegation.depth <= 2``; ``has(request.aux_data.delegation)`` is false in a
check without delegation. Numbers are CEL doubles, as every attribute is in Cerbos.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chamberlain.delegation.chain import Chain

SOURCE_TOKEN = "token"
SOURCE_REQUEST = "request"


def delegation_variable(
    *,
    subject: Mapping[str, Any],
    chain: Chain,
    scopes: Sequence[str] | None,
    audience: Sequence[str] | None,
    issuer: str,
    source: str,
    sid: str = "",
    jti: str = "",
) -> dict[str, Any]:
    """The value of ``request.aux_data.delegation`` (plain JSON data)."""
    return {
        "subject": dict(subject),
        "actors": chain.cel(),
        "depth": chain.depth,
        "scopes": list(scopes or ()),
        "audience": list(audience or ()),
        "issuer": issuer,
        "source": source,
        "sid": sid,
        "jti": jti,
    }
