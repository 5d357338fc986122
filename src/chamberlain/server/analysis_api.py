"""The analyses on the admin surface (resource kind ``chamberlain:analysis``, action ``analysis:read``).

- ``GET /api/analysis/access?offset=0&limit=20&kind=role`` — a page of the vault map's subjects
  (roles, derived roles, registry agents, principals of the log), every resource and action of each;
  ``next`` is the offset of the next page (absent on the last).
- ``GET /api/analysis/usage?since=30d&offset=0&limit=20`` — granted against used for a page of the
  log's principals.

Every request is bounded: at most :data:`MAX_PAGE` subjects a page, and a time budget
(``budget`` seconds, at most :data:`MAX_SECONDS`); work the budget does not cover is answered with
``complete: false`` and the reason. The work runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

from chamberlain.analysis import Budget, build_map, policy_subjects, policy_targets
from chamberlain.analysis.logsubjects import log_subjects
from chamberlain.analysis.subjects import registry_subjects
from chamberlain.analysis.usage import observed_uses, usage_report
from chamberlain.server.admin import AdminRequest, AdminResponse, AdminRoute

MAX_PAGE = 50
MAX_SECONDS = 20.0
DEFAULT_SECONDS = 10.0
KIND = "chamberlain:analysis"
ACTION = "analysis:read"
_SUBJECT_KINDS = ("role", "derived_role", "agent", "principal", "chain")


class _BadQuery(Exception):
    pass


def _query(request: AdminRequest) -> dict[str, str]:
    try:
        parsed = parse_qs(request.query.decode("utf-8"), strict_parsing=False, max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _BadQuery(f"the query string cannot be read: {exc}") from None
    return {k: v[-1] for k, v in parsed.items()}


def _int(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise _BadQuery(f"{name} must be an integer from {low} to {high}, got {text[:40]!r}")
    return int(text)


def _seconds(params: dict[str, str]) -> float:
    text = params.get("budget")
    try:
        seconds = float(text) if text is not None else DEFAULT_SECONDS
    except ValueError:
        raise _BadQuery(f"budget must be a number of seconds, got {text[:40]!r}") from None
    if not 0 < seconds <= MAX_SECONDS:
        raise _BadQuery(f"budget must be above 0 and at most {MAX_SECONDS:g} seconds")
    return seconds


def _page(params: dict[str, str]) -> tuple[int, int, float]:
    """``offset``, ``limit`` and the time budget of a request."""
    return _int(params, "offset", 0, 0, 1_000_000), _int(params, "limit", 20, 1, MAX_PAGE), _seconds(params)


def _bad(message: str) -> AdminResponse:
    return AdminResponse(400, {"code": 3, "message": message})


def _subjects(request: AdminRequest, kind: str | None) -> list[Any]:
    state = request.state
    subjects = policy_subjects(state.pdp.policies)
    registry = state.tokens.config.agents if state.tokens is not None else None
    if registry is not None:
        subjects += registry_subjects(registry)
    if state.log is not None:
        subjects += state.log.read(lambda reader: log_subjects(reader, registry)).items
    return [s for s in subjects if kind is None or s.kind == kind]


def _access(request: AdminRequest) -> dict[str, Any] | AdminResponse:
    try:
        params = _query(request)
        offset, limit, seconds = _page(params)
        kind = params.get("kind")
        if kind is not None and kind not in _SUBJECT_KINDS:
            raise _BadQuery(f"kind must be one of {', '.join(_SUBJECT_KINDS)}")
    except _BadQuery as exc:
        return _bad(str(exc))
    pdp = request.state.pdp
    subjects = _subjects(request, kind)
    page = subjects[offset : offset + limit]
    vault = build_map(pdp.engine, page, policy_targets(pdp.policies), budget=Budget(seconds=seconds))
    out = vault.to_json()
    out["total"] = len(subjects)
    if offset + limit < len(subjects):
        out["next"] = offset + limit
    return out


def _usage(request: AdminRequest) -> dict[str, Any] | AdminResponse:
    from chamberlain.audit.reader import QueryError, normalise_time

    state = request.state
    if state.log is None:
        return AdminResponse(404, {"code": 5, "message": "no decision log is configured (chamberlain.audit)"})
    try:
        params = _query(request)
        offset, limit, seconds = _page(params)
        since = params.get("since")
        start = normalise_time(since, "since") if since is not None else None
    except (_BadQuery, QueryError) as exc:
        return _bad(str(exc))
    subjects = [s for s in _subjects(request, None) if s.principal_id is not None]
    page = subjects[offset : offset + limit]
    pdp = state.pdp
    vault = build_map(pdp.engine, page, policy_targets(pdp.policies), budget=Budget(seconds=seconds))
    uses = state.log.read(lambda reader: observed_uses(reader.db, start))
    out: dict[str, Any] = {"since": start, "complete": vault.complete, "stopped": vault.stopped,
                           "subjects": [r.to_json() for r in usage_report(vault, uses)], "total": len(subjects)}  # fmt: skip
    if offset + limit < len(subjects):
        out["next"] = offset + limit
    return out


async def access(request: AdminRequest) -> dict[str, Any] | AdminResponse:
    """``GET /api/analysis/access``: a page of the vault map."""
    return await asyncio.to_thread(_access, request)


async def usage(request: AdminRequest) -> dict[str, Any] | AdminResponse:
    """``GET /api/analysis/usage``: granted against used, a page of principals and agents."""
    return await asyncio.to_thread(_usage, request)


ROUTES: list[AdminRoute] = [
    AdminRoute("GET", "/api/analysis/access", "analysis_access", ACTION, KIND, access),
    AdminRoute("GET", "/api/analysis/usage", "analysis_usage", ACTION, KIND, usage),
]
