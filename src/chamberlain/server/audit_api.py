"""The decision log over HTTP: ``GET /api/audit/entries``, ``/api/audit/head``,
``/api/audit/proof/inclusion`` and ``/api/audit/proof/consistency``.

Handlers get the query string; the work runs in a thread (database reads, signing a head) so the
event loop keeps serving checks. Bad parameters are answered 400 naming the parameter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from chamberlain.audit.reader import MAX_LIMIT, AuditReader, Filter
from chamberlain.errors import Error
from chamberlain.server.http import NOT_FOUND, UNAVAILABLE, ApiError, bad_request
from chamberlain.server.state import ServerState

_FILTERS = ("session_id", "principal", "actor", "resource_kind", "resource_id", "action", "effect", "kind",
            "since", "until")  # fmt: skip


def _params(query: bytes, allowed: tuple[str, ...]) -> dict[str, str]:
    try:
        pairs = parse_qsl(query.decode("ascii"), keep_blank_values=True, strict_parsing=bool(query),
                          errors="strict")  # fmt: skip
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(f"invalid query string: {exc}") from None
    out: dict[str, str] = {}
    for key, value in pairs:
        if key not in allowed:
            raise bad_request(f"unknown query parameter {key!r}; allowed: {', '.join(allowed)}")
        if key in out:
            raise bad_request(f"query parameter {key!r} given twice")
        out[key] = value
    return out


def _int(params: dict[str, str], name: str, default: int | None = None) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return default
    if not text.lstrip("-").isdigit():
        raise bad_request(f"query parameter {name!r} must be an integer, got {text!r}")
    return int(text)


def _run(state: ServerState, work: Callable[[], Any]) -> Awaitable[Any]:
    """Run ``work`` in a thread, once the log API is known to be on."""
    settings = state.config.decision_log
    if state.log is None or settings is None or not settings.api_enabled:
        raise ApiError(404, NOT_FOUND, "the decision log API is disabled (chamberlain.audit)")
    return asyncio.to_thread(work)


def _read(state: ServerState, fn: Callable[[AuditReader], Any]) -> Any:
    assert state.log is not None
    return state.log.read(fn)


def entries(state: ServerState, query: bytes, call_id: str) -> Awaitable[dict[str, Any]]:
    """``GET /api/audit/entries``: entries matching the filters, in log order, ``limit`` at a time."""
    params = _params(query, (*_FILTERS, "after", "limit"))
    limit = _int(params, "limit", 100)
    assert limit is not None
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_request(f"query parameter 'limit' must be between 1 and {MAX_LIMIT}, got {limit}")
    f = Filter(
        **{k: params[k] for k in _FILTERS if k in params}, after=_int(params, "after", -1), limit=limit
    )  # type: ignore[arg-type]

    def work() -> dict[str, Any]:
        found = _read(state, lambda reader: reader.search(f))
        return {"entries": found, "next_after": found[-1]["seq"] if len(found) == limit else None}

    return _run(state, work)


def head(state: ServerState, query: bytes, call_id: str) -> Awaitable[dict[str, Any]]:
    """``GET /api/audit/head``: a signed head over the whole log (signed now, on demand, if the log grew).

    On PostgreSQL only the sequencer signs: another replica answers the latest head.
    """
    _params(query, ())

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


def _proof(state: ServerState, query: bytes, names: tuple[str, str],
           make: Callable[[AuditReader, int, int | None], Any]) -> Awaitable[dict[str, Any]]:  # fmt: skip
    """A proof from a required and an optional integer parameter."""
    params = _params(query, names)
    required, optional = _int(params, names[0]), _int(params, names[1])
    if required is None:
        raise bad_request(f"query parameter {names[0]!r} is required")
    return _run(state, lambda: _read(state, lambda reader: make(reader, required, optional).to_json()))
