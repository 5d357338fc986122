"""The decision log over HTTP.

- ``GET /api/audit/entries`` is an admin route (``audit:read`` on ``chamberlain:audit``): entries hold every
  decision and the attributes it read; one that no longer matches its leaf carries ``"tampered"``. Paged: ``limit`` (default 100, at most
  ``chamberlain.admin.maxPageSize``), ``cursor`` (the previous page's ``next_cursor``), and a page stops
  before ``chamberlain.admin.maxResponseBytes``.
- ``GET /api/audit/head``, ``/api/audit/proof/inclusion`` and ``/api/audit/proof/consistency`` are public
  while ``chamberlain.audit.apiEnabled`` is on: a signed head and a proof are hashes and a signature,
  which reveal no decision, and witnesses and clients who verify the log must fetch them without an
  admin credential. A head is signed on demand only when the log grew since the last one, so its cost
  is bounded by the checks that grew it.

The work runs in a thread (database reads, signing a head) so the event loop keeps serving checks. Bad
parameters (unknown, repeated, not an integer, out of range) are answered 400 naming the parameter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from chamberlain.audit.storage.reader import AuditReader, Filter
from chamberlain.audit.tools.integrity import mark
from chamberlain.errors import Error
from chamberlain.server.admin import AdminRequest, AdminRoute
from chamberlain.server.admin.paging import (
    bounded_page,
    decode_cursor,
    encode_cursor,
    int_param,
    page_limit,
    query_params,
)
from chamberlain.server.http import NOT_FOUND, UNAVAILABLE, ApiError, bad_request
from chamberlain.server.state import ServerState

_FILTERS = (
    "session_id",
    "principal",
    "actor",
    "resource_kind",
    "resource_id",
    "action",
    "effect",
    "kind",
    "since",
    "until",
)


def _enabled(state: ServerState) -> None:
    settings = state.config.decision_log
    if state.log is None or settings is None or not settings.api_enabled:
        raise ApiError(404, NOT_FOUND, "the decision log API is disabled (chamberlain.audit)")


def _run(state: ServerState, work: Callable[[], Any]) -> Awaitable[Any]:
    """Run ``work`` in a thread, once the log API is known to be on."""
    _enabled(state)
    return asyncio.to_thread(work)


def _read(state: ServerState, fn: Callable[[AuditReader], Any]) -> Any:
    assert state.log is not None
    return state.log.read(fn)


def entries(request: AdminRequest) -> dict[str, Any]:
    """``GET /api/audit/entries``: entries matching the filters, in log order, one page at a time."""
    state = request.state
    params = query_params(request.query, (*_FILTERS, "cursor", "limit"))
    settings = state.config.admin
    limit = page_limit(params, settings)
    after = decode_cursor(params.get("cursor"), "after", -1)
    _enabled(state)
    f = Filter(**{k: params[k] for k in _FILTERS if k in params}, after=after, limit=limit + 1)  # type: ignore[arg-type]
    found = _read(state, lambda reader: _marked(reader, reader.search(f)))
    page, more = bounded_page(found, limit, settings.max_response_bytes, lambda e: len(orjson.dumps(e)))
    return {"entries": page, "next_cursor": encode_cursor({"after": page[-1]["seq"]}) if more else None}


def _marked(reader: AuditReader, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``found`` with ``"tampered": reason`` on each entry that no longer matches its leaf, as ``audit
    search`` marks it: the console's log and session pages show the mark (an entry moved into a session
    by its search column, or stripped of its content, would otherwise read as genuine)."""
    mark(reader.db, found, legacy=reader.legacy)
    return found


#: The admin routes of the decision log (see :mod:`chamberlain.server.admin`).
ROUTES = [
    AdminRoute("GET", "/api/audit/entries", "audit_entries", "audit:read", "chamberlain:audit", entries)
]


def head(state: ServerState, query: bytes, call_id: str) -> Awaitable[dict[str, Any]]:
    """``GET /api/audit/head``: a signed head over the whole log (signed now, on demand, if the log grew).

    On PostgreSQL only the sequencer signs: another replica answers the latest head.
    """
    query_params(query, ())

    def work() -> dict[str, Any]:
        log = state.log
        assert log is not None
        latest = log.head()
        if latest is None or latest.size < _read(state, lambda reader: reader.tree_size()):
            try:
                latest = log.sign_head() or latest
            except Error:
                pass  # the latest stored head still answers
        if latest is None:
            raise ApiError(503, UNAVAILABLE, "the decision log has no signed head yet")
        return latest.to_json(log.signed_by(latest))

    return _run(state, work)


def inclusion(state: ServerState, query: bytes, call_id: str) -> Awaitable[dict[str, Any]]:
    """``GET /api/audit/proof/inclusion?index=I[&tree_size=N]`` (RFC 9162 inclusion proof)."""
    return _proof(state, query, ("index", "tree_size"), lambda reader, i, n: reader.inclusion(i, n))


def consistency(state: ServerState, query: bytes, call_id: str) -> Awaitable[dict[str, Any]]:
    """``GET /api/audit/proof/consistency?first=M[&second=N]`` (RFC 9162 consistency proof)."""
    return _proof(state, query, ("first", "second"), lambda reader, m, n: reader.consistency(m, n))


def _proof(
    state: ServerState,
    query: bytes,
    names: tuple[str, str],
    make: Callable[[AuditReader, int, int | None], Any],
) -> Awaitable[dict[str, Any]]:
    """A proof from a required and an optional integer parameter."""
    params = query_params(query, names)
    required, optional = int_param(params, names[0]), int_param(params, names[1])
    if required is None:
        raise bad_request(f"query parameter {names[0]!r} is required")
    return _run(state, lambda: _read(state, lambda reader: make(reader, required, optional).to_json()))
