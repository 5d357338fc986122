"""Decision-log entries: what every kind has in common, their canonical bytes and search columns.

An entry is a JSON object; the log stores its canonical JSON (RFC 8785) and that exact text is the
Merkle tree leaf. Fields every kind has:

``v`` (format version, 1), ``kind`` (``decision``; later ``token_exchange``, ``session``,
``approval``), ``seq`` (its index in the log, the leaf index), ``time`` (RFC 3339, UTC,
microseconds), ``call_id``, ``request_id``, ``point`` (the enforcement point: ``embedded``,
``http:cerbos``, ``http:authzen``, ...), ``session_id``, ``principal`` and ``actor_chain``.
A decision adds ``action``, ``resource``, ``effect``, ``basis``, ``outputs``, ``approval`` and
``request_digest`` (see :mod:`chamberlain.audit.decisions`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson

from chamberlain.audit.canonical import encode, normalise

VERSION = 1
DECISION, TOKEN_EXCHANGE, SESSION, APPROVAL = "decision", "token_exchange", "session", "approval"
KINDS = (DECISION, TOKEN_EXCHANGE, SESSION, APPROVAL)

#: The search columns stored beside each entry, in this order (verify checks them against the entry).
COLUMNS = (
    "time",
    "kind",
    "session_id",
    "principal",
    "actors",
    "resource_kind",
    "resource_id",
    "action",
    "effect",
)


@dataclass(slots=True)
class Entry:
    """An entry before the log gives it a ``seq``: plain JSON ``data``, whether orjson encodes it
    canonically, and its search columns when the builder already knows them (else computed)."""

    data: dict[str, Any]
    fast: bool = True
    cols: tuple[Any, ...] | None = None


def timestamp(when: dt.datetime) -> str:
    """RFC 3339 in UTC with microseconds: ``2026-01-02T03:04:05.123456Z`` (sorts as text)."""
    return when.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def new_entry(kind: str, *, time: dt.datetime | str, call_id: str = "", request_id: str = "",
              point: str = "", session_id: str = "", principal: dict[str, Any] | None = None,
              actor_chain: tuple[str, ...] | list[str] = (), **fields: Any) -> Entry:  # fmt: skip
    """An entry of ``kind`` with the common fields and the kind's own ``fields`` (any JSON-like values)."""
    data: dict[str, Any] = {
        "v": VERSION, "kind": kind, "time": time if isinstance(time, str) else timestamp(time),
        "call_id": call_id, "request_id": request_id, "point": point, "session_id": session_id,
        "principal": principal, "actor_chain": list(actor_chain), **fields,
    }  # fmt: skip
    plain, fast = normalise(data)
    return Entry(plain, fast)


def entry_bytes(entry: Entry, seq: int) -> bytes:
    """The canonical JSON of ``entry`` as the log's entry number ``seq`` (its Merkle leaf)."""
    data = entry.data
    data["seq"] = seq
    if entry.fast:
        try:
            return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
        except (TypeError, orjson.JSONEncodeError):
            pass  # encode() says what is wrong
    return encode(data, entry.fast)


def actors_column(chain: Any) -> str:
    """The actor chain as the ``actors`` column stores it: each actor on its own line."""
    return "".join(f"\n{a}" for a in chain) + "\n" if chain else ""


def columns(data: dict[str, Any]) -> tuple[Any, ...]:
    """The search columns of an entry (see :data:`COLUMNS`)."""
    principal = data.get("principal") or {}
    resource = data.get("resource") or {}
    chain = data.get("actor_chain") or ()
    return (
        data.get("time", ""),
        data.get("kind", ""),
        data.get("session_id") or "",
        principal.get("id", "") if isinstance(principal, dict) else "",
        actors_column(chain),
        resource.get("kind", "") if isinstance(resource, dict) else "",
        resource.get("id", "") if isinstance(resource, dict) else "",
        data.get("action") or "",
        data.get("effect") or "",
    )
