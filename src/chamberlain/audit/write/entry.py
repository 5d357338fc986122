"""Decision-log entries (format 2): a public leaf that commits to erasable content stored apart.

The Merkle leaf of an entry is its **body**: the canonical JSON (RFC 8785; built by orjson with
sorted keys from plain strings, integers and lists, where the two agree) of

``v`` (2), ``seq`` (the leaf index), ``kind``, ``time`` (RFC 3339, UTC, nanoseconds), ``call_id``,
``point`` (the enforcement point), and for a decision ``action``, ``effect``, ``resource_kind`` and
``basis`` (``policy``, ``version``, ``scope``, ``rule``, ``derived_roles``) — what remains forever —
plus two salted digests (hex): ``content`` = ``sha256(salt || content bytes)`` of the entry's own
detail, and ``request`` = ``sha256(salt || request bytes)`` of its call's request, stored once per
call (``""`` for entries without one). See :mod:`chamberlain.audit.write.content`.

The content (erasable) holds who and what: ``principal``, ``actor_chain``, ``session_id``,
``request_id``, ``resource_id``, ``input`` (which resource of the request), the conditions and
whether they held, errors, outputs, the attribute names read, the approval, and what an
enforcement point adds (the MCP gateway's ``mcp``). Format 1 entries (the whole entry was the leaf)
are read and verified as they are; see :mod:`chamberlain.audit.storage.tables` for the migration.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson

from chamberlain.audit.write.canonical import EncodingError
from chamberlain.audit.write.content import bounded, dumps, request_digest, salted, salts
from chamberlain.store.url import POSTGRES

VERSION = 2
LEGACY_VERSION = 1
DECISION, TOKEN_EXCHANGE, SESSION, APPROVAL, ERASURE = (
    "decision",
    "token_exchange",
    "session",
    "approval",
    "erasure",
)
KEY_ROTATION = "key_rotation"
KINDS = (DECISION, TOKEN_EXCHANGE, SESSION, APPROVAL, ERASURE, KEY_ROTATION)

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
#: The columns that come from an entry's erasable content (blank once it is erased).
ERASABLE_COLUMNS = ("session_id", "principal", "actors", "resource_id")

_SORT = orjson.OPT_SORT_KEYS
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)


@dataclass(slots=True)
class Entry:
    """An entry ready for a ``seq``: its public fields, its content (bytes, salt, digest), search columns."""

    kind: str
    time: str
    public: dict[str, Any]
    content: bytes
    salt: bytes
    digest: bytes
    cols: tuple[Any, ...]
    request: bytes = b""  # its call's request record's key (time, then salted digest), when it has one

    def __len__(self) -> int:  # a submission of one entry (see chamberlain.audit.record)
        return 1


def to_ns(when: dt.datetime | int) -> int:
    """Nanoseconds since the Unix epoch (an ``int`` is taken as nanoseconds already)."""
    if isinstance(when, int):
        return when
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return (when - _EPOCH) // _US * 1000


_last_second: tuple[int, str] = (
    -1,
    "",
)  # the last second formatted: most entries share it with the one before


def timestamp_ns(ns: int) -> str:
    """RFC 3339 in UTC with nanoseconds: ``2026-01-02T03:04:05.123456789Z`` (sorts as text)."""
    global _last_second
    seconds, frac = divmod(ns, 1_000_000_000)
    last = _last_second  # one read: another thread may replace it meanwhile (each pair is consistent)
    if last[0] == seconds:
        base = last[1]
    else:
        base = (_EPOCH + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second = (seconds, base)
    return f"{base}.{frac:09d}Z"


def timestamp(when: dt.datetime | int) -> str:
    """RFC 3339 in UTC with nanoseconds (see :func:`timestamp_ns`)."""
    return timestamp_ns(to_ns(when))


def actors_column(chain: Any) -> str:
    """The actor chain as the ``actors`` column stores it: each actor on its own line."""
    return "".join(f"\n{a}" for a in chain) + "\n" if chain else ""


def has_actor(db_kind: str, column: str, actor: str) -> tuple[str, str]:
    """SQL true where the ``actors`` column ``column`` lists ``actor`` (exactly: SQLite's ``LIKE`` ignores
    ASCII case, so ``BOB`` would match ``bob``), and its parameter."""
    function = "strpos" if db_kind == POSTGRES else "instr"
    return f"{function}({column}, ?) > 0", f"\n{actor}\n"


def make_entry(
    kind: str,
    time: str,
    public: dict[str, Any],
    content: dict[str, Any],
    salt: bytes,
    request: bytes = b"",
    max_bytes: int | None = None,
    cols: tuple[Any, ...] | None = None,
) -> Entry:
    """An entry of ``kind`` from its public fields and its content (encoded and salted here); ``cols``:
    its search columns when the caller has them (else read from ``public`` and ``content``)."""
    data = dumps(content)
    if max_bytes is not None:
        bounded(data, max_bytes, f"a {kind} entry's content", "maxEntryBytes")
    if cols is not None:
        return Entry(kind, time, public, data, salt, salted(salt, data), cols, request)
    resource = content.get("resource_id", "")
    cols = (
        time,
        kind,
        content.get("session_id") or "",
        content.get("principal") or "",
        actors_column(content.get("actor_chain") or ()),
        public.get("resource_kind", ""),
        resource if isinstance(resource, str) else "",
        public.get("action", ""),
        public.get("effect", ""),
    )
    return Entry(kind, time, public, data, salt, salted(salt, data), cols, request)


def new_entry(
    kind: str,
    *,
    time: dt.datetime | str | int,
    call_id: str = "",
    request_id: str = "",
    point: str = "",
    session_id: str = "",
    principal: dict[str, Any] | None = None,
    actor_chain: tuple[str, ...] | list[str] = (),
    public: dict[str, Any] | None = None,
    **fields: Any,
) -> Entry:
    """An entry of ``kind`` with the common fields; ``public``: fields kept in the leaf itself.

    ``action``, ``effect`` and ``basis`` among ``fields`` are public as a decision's are; a
    ``resource`` dict gives ``resource_kind`` (public) and ``resource_id`` (content); everything
    else is erasable content.
    """
    text = time if isinstance(time, str) else timestamp(time)
    pub: dict[str, Any] = {"call_id": call_id, "point": point, **(public or {})}
    for name in ("action", "effect", "basis"):
        if name in fields:
            pub[name] = fields.pop(name)
    content: dict[str, Any] = {
        "principal": (principal or {}).get("id", "") if isinstance(principal, dict) else "",
        "actor_chain": list(actor_chain),
        "session_id": session_id,
        "request_id": request_id,
    }
    resource = fields.pop("resource", None)
    if isinstance(resource, dict):
        pub["resource_kind"] = resource.get("kind", "")
        content["resource_id"] = resource.get("id", "")
        content["resource"] = resource
    if isinstance(principal, dict):
        content["principal_detail"] = principal
    content.update(fields)
    return make_entry(kind, text, pub, content, salts(1)[0])


def leaf_body(entry: Entry, seq: int) -> bytes:
    """The leaf data of ``entry`` as the log's entry number ``seq``: its public fields and digests."""
    return _public_json(entry, {"seq": seq})


def public_bytes(entry: Entry) -> bytes:
    """The public fields without ``seq`` (what a PostgreSQL replica stores until the sequencer numbers it)."""
    return _public_json(entry, {})


def _public_json(entry: Entry, numbering: dict[str, int]) -> bytes:
    data = {
        **entry.public,
        **numbering,
        "v": VERSION,
        "kind": entry.kind,
        "time": entry.time,
        "content": entry.digest.hex(),
        "request": request_digest(entry.request).hex(),
    }
    try:
        return orjson.dumps(data, option=_SORT)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise EncodingError(f"cannot encode a decision log entry: {exc}") from None


def numbered(public: bytes, seq: int) -> bytes:
    """The leaf data of a public body stored without ``seq`` (see :func:`public_bytes`)."""
    data = orjson.loads(public)
    data["seq"] = seq
    return orjson.dumps(data, option=_SORT)


def columns_of(body: dict[str, Any], content: dict[str, Any] | None) -> tuple[Any, ...]:
    """The search columns an entry's body and content (``None``: erased) say it has."""
    if body.get("v", LEGACY_VERSION) == LEGACY_VERSION:
        return legacy_columns(body)
    c = content or {}
    resource = c.get("resource_id", "")
    return (
        body.get("time", ""),
        body.get("kind", ""),
        c.get("session_id") or "",
        c.get("principal") or "",
        actors_column(c.get("actor_chain") or ()),
        body.get("resource_kind", ""),
        resource if isinstance(resource, str) else "",
        body.get("action", ""),
        body.get("effect", ""),
    )


def legacy_columns(data: dict[str, Any]) -> tuple[Any, ...]:
    """The search columns of a format 1 entry (the whole entry was its leaf)."""
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
