"""The sessions pages: live sessions (the landing page), one session's timeline, revoking."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from chamberlain.audit.storage.reader import entry_view
from chamberlain.audit.storage.search_index import SESSION
from chamberlain.audit.tools.timeline import summary
from chamberlain.console.calls import CallFailed
from chamberlain.console.logins import Login, notice_of, notice_query
from chamberlain.sessions.model import SESSION_ID

if TYPE_CHECKING:
    from chamberlain.console.web import Console

SHOWN = 100  # live sessions listed at most
LAST_ACTIONS = 3
TIMELINE = 500  # a session's timeline shows at most this many entries
MAX_STREAMS_PER_LOGIN = 4
_streams: dict[str, int] = {}


def _last_actions(console: Console, ids: list[str]) -> dict[str, list[str]]:
    """The latest few log entries of each session, as one-line summaries (newest first)."""
    log = console.state.log
    if log is None or not ids:
        return {}

    def read(reader: Any) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for sid in ids:
            rows = reader.select(
                " AND e.session_id = ?", (sid,), LAST_ACTIONS, by=(SESSION, (sid,)), newest_first=True
            )
            out[sid] = [summary(entry_view(*r[1:])) for r in rows]
        return out

    return cast(dict[str, list[str]], log.read(read))


async def _rows(console: Console, login: Login, *, authorize: bool = True) -> dict[str, Any]:
    if authorize:
        found = await console.calls.call(
            login.caller, "sessions_list", query=f"state=ACTIVE&limit={SHOWN}".encode()
        )
    else:  # a live stream re-reads what its opening call was authorized to read
        store = console.state.sessions
        sessions = (await asyncio.to_thread(store.list, "ACTIVE", limit=SHOWN))[0] if store else []
        from chamberlain.server.sessions_api import session_json

        found = {"sessions": [session_json(s) for s in sessions]}
    sessions = found["sessions"]
    actions = await asyncio.to_thread(_last_actions, console, [s["id"] for s in sessions])
    return {"sessions": sessions, "actions": actions}


async def sessions_page(console: Console, request: Request, login: Login) -> Response:
    rows = await _rows(console, login)
    return console.render(
        "sessions.html",
        login,
        nav="sessions",
        notice=notice_of(login, request.query_params),
        live=console.settings.live_interval,
        **rows,
    )


async def sessions_stream(console: Console, request: Request, login: Login) -> Response:
    """Server-sent events: the rows of the live sessions every ``liveInterval`` while the login lasts."""
    await console.calls.authorize(login.caller, "sessions_list")
    if _streams.get(login.id, 0) >= MAX_STREAMS_PER_LOGIN:
        raise CallFailed(429, f"at most {MAX_STREAMS_PER_LOGIN} live pages per login")
    settings = console.settings

    async def events() -> Any:
        _streams[login.id] = _streams.get(login.id, 0) + 1
        try:
            ends = time.monotonic() + settings.stream_lifetime
            yield "retry: 2000\n\n"
            while time.monotonic() < ends and not console.closing.is_set():
                if await asyncio.to_thread(console.logins.find_id, login.id) is None:
                    yield "event: ended\ndata: logged out\n\n"
                    return
                html = console.fragment("session_rows.html", **await _rows(console, login, authorize=False))
                yield "event: sessions\n" + "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"
                try:
                    await asyncio.wait_for(console.closing.wait(), settings.live_interval)
                except TimeoutError:
                    pass
        finally:
            _streams[login.id] -= 1
            if not _streams[login.id]:
                del _streams[login.id]

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


def _session_id(request: Request) -> str:
    value = str(request.path_params["id"])
    if not SESSION_ID.match(value):
        raise CallFailed(404, f"{value[:80]!r} is not a session id")
    return value


async def session_page(console: Console, request: Request, login: Login) -> Response:
    sid = _session_id(request)
    session = await console.calls.call(login.caller, "sessions_show", {"id": sid})
    entries: list[dict[str, Any]] = []
    timeline_error = ""
    try:
        found = await console.calls.call(
            login.caller, "audit_entries", query=urlencode({"session_id": sid, "limit": TIMELINE}).encode()
        )
        entries = found["entries"]
    except CallFailed as exc:
        timeline_error = exc.message
    return console.render(
        "session.html",
        login,
        nav="sessions",
        session=session,
        entries=entries,
        summaries=[summary(e) for e in entries],
        timeline_error=timeline_error,
    )


async def revoke_confirm(console: Console, request: Request, login: Login) -> Response:
    sid = _session_id(request)
    await console.calls.authorize(login.caller, "sessions_revoke", {"id": sid})
    session = await console.calls.call(login.caller, "sessions_show", {"id": sid})
    return console.render(
        "confirm.html",
        login,
        nav="sessions",
        what=f"session {sid}",
        detail=f"{session['agent']} acting for {session['subject']}",
        action=f"sessions/{sid}/revoke",
        hidden={},
    )


async def revoke(console: Console, request: Request, login: Login) -> Response:
    sid = _session_id(request)
    fields = await console.form(request, login)
    await console.calls.call(
        login.caller, "sessions_revoke", {"id": sid}, body={"reason": fields.get("reason", "")[:1000]}
    )
    return RedirectResponse(f"/console/sessions?{notice_query(login, f'Session {sid} revoked.')}", 303)


async def revoke_agent_confirm(console: Console, request: Request, login: Login) -> Response:
    agent = request.query_params.get("agent", "")[:256]
    if not agent:
        raise CallFailed(400, "name the agent whose sessions to revoke")
    await console.calls.authorize(login.caller, "sessions_revoke_all")
    return console.render(
        "confirm.html",
        login,
        nav="sessions",
        what=f"every active session of agent {agent}",
        detail="",
        action="agents/revoke",
        hidden={"agent": agent},
    )


async def revoke_agent(console: Console, request: Request, login: Login) -> Response:
    fields = await console.form(request, login)
    agent = fields.get("agent", "")
    found = await console.calls.call(
        login.caller, "sessions_revoke_all", body={"agent": agent, "reason": fields.get("reason", "")[:1000]}
    )
    notice = f"{len(found['revoked'])} session(s) of agent {agent} revoked."
    return RedirectResponse(f"/console/sessions?{notice_query(login, notice)}", 303)


PAGES = [
    ("GET", "/sessions", sessions_page),
    ("GET", "/sessions/stream", sessions_stream),
    ("GET", "/sessions/{id}", session_page),
    ("GET", "/sessions/{id}/revoke", revoke_confirm),
    ("POST", "/sessions/{id}/revoke", revoke),
    ("GET", "/agents/revoke", revoke_agent_confirm),
    ("POST", "/agents/revoke", revoke_agent),
]
