"""FastAPI: a dependency that checks the route's resource before the handler runs (``chamberlain[fastapi]``).

>>> authz = Authorizer(pdp, principal=current_user)      # current_user: a FastAPI dependency -> Principal
>>> @app.post("/invoices/{invoice_id}/pay")
... def pay(invoice_id: str, check=Depends(authz.requires("invoice", "pay", id=lambda invoice_id: invoice_id))): ...

``id`` and ``attr`` are called with the path and query parameters they name. A denial is
FastAPI's 403 with ``{"error": "forbidden", "deniedBy": <policy and rule>, ...}`` as its ``detail``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chamberlain.extras import needs

with needs("fastapi", "chamberlain.integrations.fastapi"):
    from fastapi import Depends, HTTPException, Request

from chamberlain.engine import Principal
from chamberlain.errors import Error
from chamberlain.integrations import decide
from chamberlain.integrations.web import Forbidden, resource_of
from chamberlain.pdp import CheckResult

__all__ = ["Authorizer"]


class Authorizer:
    """A PDP (embedded, Client or AsyncClient) and the dependency that says who is asking."""

    def __init__(self, pdp: Any, *, principal: Callable[..., Principal]) -> None:
        self.pdp = pdp
        self.principal = principal

    def requires(
        self,
        kind: str,
        action: str,
        *,
        id: Callable[..., Any] | None = None,
        attr: Callable[..., Any] | None = None,
    ) -> Callable[..., Any]:
        """A dependency deciding ``action`` on the request's ``kind`` resource; it returns the check's result."""
        pdp = self.pdp

        async def check(request: Request, principal: Principal = Depends(self.principal)) -> CheckResult:  # noqa: B008
            values = {**request.query_params, **request.path_params}
            try:
                resource = resource_of(kind, values, id, attr)
            except TypeError as exc:
                raise HTTPException(400, detail={"error": "bad_request", "message": str(exc)}) from None
            try:
                result = await decide.check_async(pdp, principal, resource, [action], point="sdk:fastapi")
            except Error as exc:  # no decision (say, a request the PDP refused): fail closed
                result = decide.undecided(resource, [action], str(exc))
            if not result.is_allowed(action):
                raise HTTPException(403, detail=Forbidden(action, resource, result).body())
            return result

        return check
