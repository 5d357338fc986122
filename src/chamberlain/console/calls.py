"""The console's actions are admin calls: the same route, the same policy check, the same handler.

A page names an admin endpoint (``sessions_list``, ``sessions_revoke``, ``approvals_approve``...); the
call is authorized by the admin policies for the logged-in caller (and recorded in the decision log,
enforcement point ``admin``), then the endpoint's own handler runs, so the console can do nothing the
admin API would refuse the same person.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from typing import Any, cast

import orjson

from chamberlain.errors import Error
from chamberlain.server.admin import AdminRequest, AdminResponse, AdminRoute, Caller
from chamberlain.server.admin.dispatch import AdminSurface
from chamberlain.server.http import ApiError, new_call_id
from chamberlain.store import StoreError


class CallFailed(Exception):
    """An admin call answered an error: its HTTP status and message (shown on the page)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class AdminCalls:
    """Runs admin endpoints by name for a console caller."""

    def __init__(self, surface: AdminSurface, extra: list[AdminRoute]):
        self.surface = surface
        self.routes: dict[str, AdminRoute] = {}
        for table in (surface.routes.static, surface.routes.patterns):
            for methods in table.values():
                self.routes.update({r.endpoint: r for r in methods.values()})
        self.routes.update({r.endpoint: r for r in extra})

    async def authorize(self, caller: Caller, endpoint: str, params: Mapping[str, str] | None = None) -> str:
        """Raise CallFailed(403) unless the admin policies allow ``endpoint`` for ``caller``; the call id."""
        policies = self.surface.policies
        if policies is None:
            raise CallFailed(404, "the admin API is disabled")
        call_id = new_call_id()
        try:
            await policies.authorize(caller, self.routes[endpoint], params or {}, call_id)
        except ApiError as exc:
            raise CallFailed(exc.status, exc.message) from None
        return call_id

    async def call(
        self,
        caller: Caller,
        endpoint: str,
        params: Mapping[str, str] | None = None,
        query: bytes = b"",
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Authorize, then run the endpoint's handler; its JSON answer, or CallFailed with its message."""
        params = params or {}
        call_id = await self.authorize(caller, endpoint, params)
        route = self.routes[endpoint]
        raw = orjson.dumps(body) if body is not None else b""
        request = AdminRequest(self.surface.state, caller, route.method, params, query, raw, {}, call_id)
        try:
            if inspect.iscoroutinefunction(route.handler):
                result = await route.handler(request)
            else:
                result = await asyncio.to_thread(route.handler, request)
                if inspect.isawaitable(result):
                    result = await result
        except ApiError as exc:
            raise CallFailed(exc.status, exc.message) from None
        except StoreError as exc:
            raise CallFailed(503, f"the database is unavailable: {exc}") from None
        except Error as exc:  # bad input the handler refused (a malformed time, say)
            raise CallFailed(400, str(exc)) from None
        if isinstance(result, AdminResponse):
            if result.status >= 400:
                raise CallFailed(result.status, str(result.body.get("message", "refused")))
            return cast(dict[str, Any], result.body)
        return cast(dict[str, Any], result)
