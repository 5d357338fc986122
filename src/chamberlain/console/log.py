"""The decision log: search, an entry with its policy basis, and the material for its inclusion proof.

``/console/log/{seq}/proof`` answers the entry's leaf exactly as stored, the latest signed head and the
inclusion proof against it; ``static/console.js`` checks them in the browser (SHA-256, RFC 9162
inclusion, Ed25519 over the checkpoint) against the verifier key the user pinned, so a server whose
data was altered cannot vouch for it. With ``?since=M`` (the size of the last head this browser
verified) it adds the consistency proof from size M to the head's size: the browser checks that the
log it sees now extends the one it saw then, so history rewritten and signed again is caught too.
"""

from __future__ import annotations

import asyncio
import base64
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chamberlain.audit.tools.integrity import mark
from chamberlain.audit.tools.timeline import basis_lines, summary
from chamberlain.console.calls import CallFailed
from chamberlain.console.logins import Login
from chamberlain.server import audit_api
from chamberlain.server.admin.paging import encode_cursor
from chamberlain.server.http import ApiError
from chamberlain.store.db import as_bytes

if TYPE_CHECKING:
    from chamberlain.console.web import Console

FILTERS = ("principal", "actor", "kind", "resource_kind", "action", "effect", "session_id", "since", "until")
PAGE = 50


async def search(console: Console, request: Request, login: Login) -> Response:
    q = request.query_params
    chosen = {k: q[k].strip()[:256] for k in FILTERS if q.get(k, "").strip()}
    after = q.get("after", "")
    query = {**chosen, "limit": PAGE}
    error, entries, more = "", [], False
    if after.isdigit():
        query["cursor"] = encode_cursor({"after": int(after)})
    try:
        found = await console.calls.call(login.caller, "audit_entries", query=urlencode(query).encode())
        entries, more = found["entries"], bool(found.get("next_cursor"))
    except CallFailed as exc:
        if exc.status != 400:
            raise
        error = exc.message
    integrity = await asyncio.to_thread(_integrity, console)
    return console.render(
        "log.html",
        login,
        nav="log",
        filters=chosen,
        entries=entries,
        error=error,
        summaries=[summary(e) for e in entries],
        integrity=integrity,
        next=urlencode({**chosen, "after": entries[-1]["seq"]}) if more and entries else "",
    )


def _integrity(console: Console) -> dict[str, Any]:
    """The log's size, its latest signed head and its verifier key (what the page pins)."""
    log = console.state.log
    if log is None:
        return {"enabled": False}
    return cast(
        dict[str, Any],
        log.read(
            lambda r: {
                "enabled": True,
                "size": r.tree_size(),
                "verifier_key": r.verifier_key,
                "head": (h.size if (h := r.head()) is not None else 0),
            }
        ),
    )


def _seq(request: Request) -> int:
    text = request.path_params["seq"]
    if not text.isdigit() or len(text) > 18:
        raise CallFailed(404, f"{text[:40]!r} is not an entry number")
    return int(text)


def _read_entry(console: Console, seq: int) -> tuple[dict[str, Any] | None, str]:
    log = console.state.log
    if log is None:
        raise CallFailed(404, "no decision log is configured (chamberlain.audit)")

    def read(reader: Any) -> tuple[dict[str, Any] | None, str]:
        raw = reader.raw(seq)
        found = reader.entry(seq)
        if found is not None:
            mark(reader.db, [found], legacy=reader.legacy)  # the server's own check; the browser's follows
        return found, (raw[0].decode("utf-8", "replace") if raw else "")

    return cast(tuple[dict[str, Any] | None, str], log.read(read))


async def entry(console: Console, request: Request, login: Login) -> Response:
    seq = _seq(request)
    await console.calls.authorize(login.caller, "audit_entries")
    found, leaf = await asyncio.to_thread(_read_entry, console, seq)
    if found is None:
        raise CallFailed(404, f"the log has no entry {seq}")
    return console.render(
        "entry.html",
        login,
        nav="log",
        seq=seq,
        entry=found,
        leaf=leaf,
        summary=summary(found),
        basis=basis_lines(found),
    )


_MATERIAL = (
    "SELECT e.salt, e.content, r.salt, r.body FROM audit_entries e "
    "LEFT JOIN audit_requests r ON r.digest = e.request WHERE e.seq = ?"
)


def _salted(console: Console, seq: int) -> dict[str, Any]:
    """The entry's erasable content and its call's request record, each with its salt (base64; None once
    erased): the browser checks ``sha256(salt || bytes)`` against the digests in the leaf."""
    assert console.state.log is not None

    def read(reader: Any) -> dict[str, Any]:
        if reader.legacy:
            return {}
        row = reader.db.row(_MATERIAL, (seq,))
        if row is None:
            return {}
        b64 = [None if v is None else base64.b64encode(as_bytes(v)).decode() for v in row]
        return {
            "content": {"salt": b64[0], "data": b64[1]} if b64[1] is not None else None,
            "request": {"salt": b64[2], "data": b64[3]} if b64[3] is not None else None,
        }

    return cast(dict[str, Any], console.state.log.read(read))


async def proof(console: Console, request: Request, login: Login) -> Response:
    """The leaf as stored, its salted content and request record, the latest signed head, the inclusion
    proof against it, and with ``since`` the consistency proof from that size (JSON for console.js)."""
    seq = _seq(request)
    since = _since(request)
    await console.calls.authorize(login.caller, "audit_entries")
    state = console.state
    _, leaf = await asyncio.to_thread(_read_entry, console, seq)
    if not leaf:
        raise CallFailed(404, f"the log has no entry {seq}")
    salted = await asyncio.to_thread(_salted, console, seq)
    try:
        head = await audit_api.head(state, b"", "console")
    except ApiError as exc:
        return JSONResponse({"error": exc.message}, exc.status)
    assert state.log is not None
    size = head["tree_size"]
    try:
        inclusion = await asyncio.to_thread(state.log.read, lambda r: r.inclusion(seq, size).to_json())
    except Exception as exc:  # the entry is newer than the head, or the stored tree is damaged
        return JSONResponse(
            {"error": f"no inclusion proof: {exc}"}, 409, headers={"cache-control": "no-store"}
        )
    proofs: dict[str, Any] = {"inclusion": inclusion}
    if salted.get("content", False) is None:  # erased, or removed: the erasure entry that lists it, proven
        proofs["erasure"] = await asyncio.to_thread(_erasure, console, seq, size)
    if since is not None and 0 < since <= size:  # a larger one: the browser sees the log shrank
        try:
            proofs["consistency"] = await asyncio.to_thread(
                state.log.read, lambda r: r.consistency(since, size).to_json()
            )
        except Exception as exc:  # the stored tree is damaged: the browser says it cannot verify
            proofs["consistency_error"] = f"no consistency proof from size {since}: {exc}"
    return JSONResponse(
        {"seq": seq, "leaf": leaf, "head": head, **proofs, **salted},
        headers={"cache-control": "no-store"},
    )


def _erasure(console: Console, seq: int, size: int) -> dict[str, Any] | None:
    """The erasure entry that says it erased entry ``seq`` (its leaf as stored and its inclusion proof in
    the tree of ``size``), for the browser to check; None when the entry names none inside that tree."""
    assert console.state.log is not None

    def read(reader: Any) -> dict[str, Any] | None:
        by = reader.db.value("SELECT erased_by FROM audit_entries WHERE seq = ?", (seq,))
        if not isinstance(by, int) or not seq < by < size:
            return None
        raw = reader.raw(by)
        if raw is None:
            return None
        return {
            "seq": by,
            "leaf": raw[0].decode("utf-8", "replace"),
            "inclusion": reader.inclusion(by, size).to_json(),
        }

    return cast(dict[str, Any] | None, console.state.log.read(read))


def _since(request: Request) -> int | None:
    """``?since=M``: the size of the last head the browser verified (absent: none)."""
    text = request.query_params.get("since")
    if text is None:
        return None
    if not text.isdigit() or len(text) > 18:
        raise CallFailed(400, f"since: {text[:40]!r} is not a tree size")
    return int(text)


PAGES = [("GET", "/log", search), ("GET", "/log/{seq}", entry), ("GET", "/log/{seq}/proof", proof)]
