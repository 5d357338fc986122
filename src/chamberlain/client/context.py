"""Who the application is acting for, carried in a ``contextvars`` context so deep call stacks need not pass it.

>>> with chamberlain.acting_for(token, session_id="s-1"):
...     client.is_allowed(principal, resource, "pay")     # sends the token and the session

A nested ``acting_for`` inherits what it does not set. Context variables follow threads started
with ``contextvars.copy_context()`` and every ``asyncio`` task, so concurrent requests never see
each other's delegation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Acting:
    """The current delegation: a chamberlain ``token`` (its ``act`` claim is the actor chain, its ``sid``
    the session), or a caller-named ``delegation`` (``{"actors": [...], "scopes": [...]}``, see
    ``auxData.delegation``); the ``session_id`` and the ``approval_id`` a retried action names."""

    token: str = ""
    delegation: Mapping[str, Any] | None = None
    session_id: str = ""
    approval_id: str = ""


NOBODY = Acting()
_CURRENT: ContextVar[Acting] = ContextVar("chamberlain.acting", default=NOBODY)


def current() -> Acting:
    """The delegation of the current context (``NOBODY`` outside any :func:`acting_for`)."""
    return _CURRENT.get()


@contextmanager
def acting_for(
    token: str | None = None,
    *,
    delegation: Mapping[str, Any] | None = None,
    session_id: str | None = None,
    approval_id: str | None = None,
) -> Iterator[Acting]:
    """Checks made inside the block carry this delegation, session and approval (unless a call names its own)."""
    if token is not None and delegation is not None:
        raise ValueError("acting_for: pass a token or a delegation, not both")
    outer = _CURRENT.get()
    changes: dict[str, Any] = {}
    if token is not None:
        changes.update(token=token, delegation=None)
    if delegation is not None:
        changes.update(delegation=delegation, token="")
    if session_id is not None:
        changes["session_id"] = session_id
    if approval_id is not None:
        changes["approval_id"] = approval_id
    acting = replace(outer, **changes)
    reset = _CURRENT.set(acting)
    try:
        yield acting
    finally:
        _CURRENT.reset(reset)
