"""Checks in application code: ``@requires`` for plain functions, and the pieces the web helpers share.

>>> @requires("invoice", "pay", pdp=pdp, id=lambda invoice_id: invoice_id,
...           attr=lambda invoice: {"amount": invoice.amount})
... def pay(principal: Principal, invoice_id: str, invoice: Invoice) -> None: ...

Each of ``id``, ``attr`` and ``principal`` is a function whose parameters name the decorated
function's arguments: it is called with those (``principal`` defaults to the argument named
``principal``). A denial raises :class:`Forbidden` (``status`` 403) naming the policy and rule.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from chamberlain.engine import Principal, Resource
from chamberlain.errors import Error
from chamberlain.integrations import decide
from chamberlain.pdp import CheckResult


class Forbidden(Error):
    """A check that denied: ``action`` on ``resource``, ``denied_by`` (policy and rule, or why), ``outputs``."""

    status = 403

    def __init__(self, action: str, resource: Resource, result: CheckResult):
        self.action = action
        self.resource = resource
        self.result = result
        self.denied_by = decide.denied_by(result, action)
        self.outputs = decide.outputs_of(result, action)
        super().__init__(f"{action} on {resource.kind} {resource.id!r} denied by {self.denied_by}")

    def body(self) -> dict[str, Any]:
        """The JSON a web framework answers with."""
        out: dict[str, Any] = {
            "error": "forbidden",
            "action": self.action,
            "kind": self.resource.kind,
            "id": self.resource.id,
            "deniedBy": self.denied_by,
        }
        if self.outputs:
            out["outputs"] = self.outputs
        return out


def call_with(fn: Callable[..., Any], values: Mapping[str, Any], what: str) -> Any:
    """``fn`` called with the values its parameters name (a missing one is a clear error)."""
    names = list(inspect.signature(fn).parameters)
    missing = [n for n in names if n not in values]
    if missing:
        raise TypeError(f"{what}: no argument named {', '.join(missing)} (available: {', '.join(values)})")
    return fn(*(values[n] for n in names))


def resource_of(
    kind: str, values: Mapping[str, Any], id: Callable[..., Any] | None, attr: Callable[..., Any] | None
) -> Resource:
    """The resource a call is about: ``id`` and ``attr`` computed from the call's ``values``."""
    rid = "" if id is None else str(call_with(id, values, "id"))
    attributes = None if attr is None else dict(call_with(attr, values, "attr"))
    return Resource(kind, rid, attr=attributes)


def requires(
    kind: str,
    action: str,
    *,
    pdp: Any,
    id: Callable[..., Any] | None = None,
    attr: Callable[..., Any] | None = None,
    principal: Callable[..., Principal] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Check ``action`` on the call's ``kind`` resource before the decorated function runs (sync or async)."""
    find_principal = principal or (lambda principal: principal)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(fn)

        def subject(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Principal, Resource]:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            values = dict(bound.arguments)
            return call_with(find_principal, values, "principal"), resource_of(kind, values, id, attr)

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def checked_async(*args: Any, **kwargs: Any) -> Any:
                who, what = subject(args, kwargs)
                result = await decide.check_async(pdp, who, what, [action], point="sdk:requires")
                if not result.is_allowed(action):
                    raise Forbidden(action, what, result)
                return await fn(*args, **kwargs)

            return checked_async

        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            who, what = subject(args, kwargs)
            result = decide.check(pdp, who, what, [action], point="sdk:requires")
            if not result.is_allowed(action):
                raise Forbidden(action, what, result)
            return fn(*args, **kwargs)

        return checked

    return decorate
