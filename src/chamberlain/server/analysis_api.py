"""The analyses on the admin surface (resource kind ``chamberlain:analysis``, action ``analysis:read``).

- ``GET /api/analysis/access?limit=20&kind=role&cursor=...`` — a page of the vault map's subjects
  (roles, derived roles, registry agents, principals of the log), every resource and action of each;
  ``next_cursor`` continues (``null`` on the last page), as every admin listing does.
- ``GET /api/analysis/usage?since=2026-01-01T00:00:00Z&limit=20`` — granted against used for a page
  of the log's principals and the registry's agents.

Every request is bounded: at most :data:`MAX_PAGE` subjects a page, and a time budget
(``budget`` seconds, at most :data:`MAX_SECONDS`); work the budget does not cover is answered with
``complete: false`` and the reason. The handlers are plain functions: the dispatcher runs them on
a worker thread, off the event loop.
"""

from __future__ import annotations

from typing import Any

from chamberlain.analysis import Budget, build_map, policy_subjects, policy_targets
from chamberlain.analysis.logsubjects import log_subjects
from chamberlain.analysis.subjects import registry_subjects
from chamberlain.analysis.usage import observed_uses, usage_report
from chamberlain.server.admin import AdminRequest, AdminRoute
from chamberlain.server.admin.paging import decode_cursor, encode_cursor, int_param, query_params
from chamberlain.server.http import NOT_FOUND, ApiError, bad_request

MAX_PAGE = 50
MAX_SECONDS = 20.0
DEFAULT_SECONDS = 10.0
KIND = "chamberlain:analysis"
ACTION = "analysis:read"
_SUBJECT_KINDS = ("role", "derived_role", "agent", "principal", "chain")


def _seconds(params: dict[str, str]) -> float:
    text = params.get("budget")
    try:
        seconds = float(text) if text else DEFAULT_SECONDS
    except ValueError:
        raise bad_request(
            f"query parameter 'budget' must be a number of seconds, got {text[:40]!r}"
        ) from None
    if not 0 < seconds <= MAX_SECONDS:
        raise bad_request(f"query parameter 'budget' must be above 0 and at most {MAX_SECONDS:g} seconds")
    return seconds


def _page(params: dict[str, str]) -> tuple[int, int, float]:
    """The first subject of the page (from ``cursor``), how many (``limit``) and the time budget."""
    limit = int_param(params, "limit", min(20, MAX_PAGE), minimum=1, maximum=MAX_PAGE)
    assert limit is not None
    return decode_cursor(params.get("cursor"), "offset", 0), limit, _seconds(params)


def _paged(out: dict[str, Any], total: int, offset: int, limit: int) -> dict[str, Any]:
    out["total"] = total
    out["next_cursor"] = encode_cursor({"offset": offset + limit}) if offset + limit < total else None
    return out


def _subjects(request: AdminRequest, kind: str | None) -> list[Any]:
    state = request.state
    subjects = policy_subjects(state.pdp.policies)
    registry = state.tokens.config.agents if state.tokens is not None else None
    if registry is not None:
        subjects += registry_subjects(registry)
    if state.log is not None:
        subjects += state.log.read(lambda reader: log_subjects(reader, registry)).items
    return [s for s in subjects if kind is None or s.kind == kind]


def access(request: AdminRequest) -> dict[str, Any]:
    """``GET /api/analysis/access``: a page of the vault map (run on a worker thread by the dispatcher)."""
    params = query_params(request.query, ("limit", "cursor", "kind", "budget"))
    offset, limit, seconds = _page(params)
    kind = params.get("kind") or None
    if kind is not None and kind not in _SUBJECT_KINDS:
        raise bad_request(f"query parameter 'kind' must be one of {', '.join(_SUBJECT_KINDS)}")
    pdp = request.state.pdp
    subjects = _subjects(request, kind)
    page = subjects[offset : offset + limit]
    vault = build_map(pdp.engine, page, policy_targets(pdp.policies), budget=Budget(seconds=seconds))
    return _paged(vault.to_json(), len(subjects), offset, limit)


def usage(request: AdminRequest) -> dict[str, Any]:
    """``GET /api/analysis/usage``: granted against used, a page of principals and agents."""
    from chamberlain.audit.storage.reader import QueryError, normalise_time

    state = request.state
    if state.log is None:
        raise ApiError(404, NOT_FOUND, "no decision log is configured (chamberlain.audit)")
    params = query_params(request.query, ("limit", "cursor", "since", "budget"))
    offset, limit, seconds = _page(params)
    try:
        start = normalise_time(params["since"], "since") if params.get("since") else None
    except QueryError as exc:
        raise bad_request(f"query parameter 'since': {exc}") from None
    subjects = [s for s in _subjects(request, None) if s.principal_id is not None]
    page = subjects[offset : offset + limit]
    pdp = state.pdp
    vault = build_map(pdp.engine, page, policy_targets(pdp.policies), budget=Budget(seconds=seconds))
    uses = state.log.read(lambda reader: observed_uses(reader.db, start))
    out = {
        "since": start,
        "complete": vault.complete,
        "stopped": vault.stopped,
        "subjects": [r.to_json() for r in usage_report(vault, uses)],
    }
    return _paged(out, len(subjects), offset, limit)


ROUTES: list[AdminRoute] = [
    AdminRoute("GET", "/api/analysis/access", "analysis_access", ACTION, KIND, access),
    AdminRoute("GET", "/api/analysis/usage", "analysis_usage", ACTION, KIND, usage),
]
