"""JWT claims as conditions read them (``request.aux_data.jwt``), as Cerbos 0.55 hands a token's registered
claims over: a lone ``aud`` in a list, ``exp``/``iat``/``nbf`` as RFC 3339 UTC strings to the second
(``"2026-12-07T14:00:55Z"``), so ``"api" in request.aux_data.jwt.aud`` and
``timestamp(request.aux_data.jwt.exp) > now()`` hold for every token a check carries: one in the request's
``auxData.jwt`` and the token of a delegation (chamberlain's own, or the subject token of an exchange).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from chamberlain.cel.lib.time import format_timestamp
from chamberlain.cel.values import Timestamp

TIME_CLAIMS = ("exp", "iat", "nbf")


def as_conditions_read(claims: Mapping[str, Any]) -> dict[str, Any]:
    """``claims`` as conditions see them (a new dict; other claims as they are)."""
    out = dict(claims)
    if isinstance(out.get("aud"), str):
        out["aud"] = [out["aud"]]
    for name in TIME_CLAIMS:
        value = out.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = format_timestamp(Timestamp.at(math.floor(value) * 1_000_000_000))
    return out
