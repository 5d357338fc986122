"""Erasing entries' content while every leaf, head and proof stays valid.

An erasure selects entries — by subject (the principal, or any actor of the chain), by age, or by
sequence number — widens the selection to whole calls (the entries that share a request record),
and in one transaction:

1. appends an ``erasure`` entry to the log: who erased (``by``), when (its ``time``), how
   (``selector``: ``principal``, ``before`` or ``entries``; never the erased subject's id) and which
   entries (``erased``: ranges of sequence numbers) — public fields, so the erasure is itself proven;
2. clears each entry's ``salt`` and ``content`` and its search columns that came from the content
   (principal, actors, session, resource id), and records ``erased_by``;
3. deletes the request records of those calls.

What stays is each entry's leaf: kind, time, call id, enforcement point, action, effect, resource
kind, the policy basis, and two salted digests whose salts are gone. On SQLite the connection
overwrites freed space (``secure_delete``), and the WAL is checkpointed and truncated afterwards,
so no erased value remains in the database files. Format 1 entries cannot be erased (their leaf is
their content) and are counted apart.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chamberlain.audit.errors import AuditError
from chamberlain.audit.storage import search_index
from chamberlain.audit.storage.reader import normalise_time
from chamberlain.audit.storage.tree import TreeStore, stored_size
from chamberlain.audit.write.append import append_groups
from chamberlain.audit.write.canonical import EncodingError
from chamberlain.audit.write.content import Limits
from chamberlain.audit.write.entry import ERASURE, has_actor, new_entry, timestamp
from chamberlain.store import POSTGRES
from chamberlain.store.db import Database, as_bytes

_CHUNK = 500


@dataclass(slots=True)
class ErasureResult:
    """What an erasure did: the entries erased, its own entry's ``seq``, format 1 entries it could not erase."""

    erased: list[int] = field(default_factory=list)
    entry: int | None = None
    legacy: int = 0
    wiped: str = ""  # what was done to remove old copies (SQLite checkpoint, PostgreSQL vacuum)

    def to_json(self) -> dict[str, Any]:
        return {
            "erased": len(self.erased),
            "erasure_entry": self.entry,
            "not_erasable_format_1": self.legacy,
            "ranges": ranges(self.erased),
            "wiped": self.wiped,
        }


def ranges(seqs: Sequence[int]) -> list[list[int]]:
    """Sorted sequence numbers as ``[first, last]`` runs."""
    out: list[list[int]] = []
    for s in sorted(seqs):
        if out and out[-1][1] == s - 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out


def erase(
    db: Database,
    *,
    principal: str | None = None,
    before: str | None = None,
    seqs: Sequence[int] | None = None,
    by: str = "",
    reason: str = "",
    now: Any = None,
) -> ErasureResult:
    """Erase the content of the selected entries (see the module docstring); exactly one selector.

    Runs in one write transaction on ``db`` (any connection that may write the log: it takes the
    tree's lock as an appender does). Raises :class:`AuditError` when the selection names nothing.
    """
    given = [name for name, v in (("principal", principal), ("before", before), ("entries", seqs)) if v]
    if len(given) != 1:
        raise AuditError("name what to erase: exactly one of a principal, a time (before) or entries")
    selector = given[0]
    result = ErasureResult()
    with db.transaction():
        size = stored_size(db, lock=True)
        where, params = _where(db, principal, before, seqs)
        chosen = [
            int(r[0])
            for r in db.rows(f"SELECT seq FROM audit_entries WHERE content IS NOT NULL AND {where}", params)
        ]
        result.legacy = int(
            db.value(
                f"SELECT count(*) FROM audit_entries WHERE salt IS NULL AND erased_by IS NULL AND {where}",
                params,
                0,
            )
        )
        if not chosen:
            return result
        digests = _requests_of(db, chosen)
        widened = set(chosen)
        # The other entries of those calls, in one pass (``request`` has no index: a pass per chunk of
        # digests made erasing a frequent subject quadratic in a large log).
        widened.update(
            int(r[0])
            for r in db.rows(
                f"SELECT seq FROM audit_entries WHERE content IS NOT NULL AND request IN (SELECT request FROM "
                f"audit_entries WHERE content IS NOT NULL AND length(request) > 0 AND {where})",
                params,
            )
        )
        result.erased = sorted(widened)
        entry = new_entry(
            ERASURE,
            time=now if now is not None else _now(),
            point="erase",
            public={
                "erased": ranges(result.erased),
                "count": len(result.erased),
                "selector": selector,
                "by": by or operator(),
            },
            reason=reason,
        )
        edge = TreeStore(db).edge(size)
        result.entry = size
        [error] = append_groups(db, [entry], edge, Limits())
        if isinstance(error, EncodingError):
            raise AuditError(f"the erasure entry cannot be encoded: {error}")
        for part in _chunks(result.erased):
            search_index.forget(db, part)
            marks = ", ".join("?" * len(part))
            db.execute(
                f"UPDATE audit_entries SET salt = NULL, content = NULL, session_id = '', principal = '', "
                f"actors = '', resource_id = '', erased_by = ? WHERE seq IN ({marks})",
                (result.entry, *part),
            )
        for part in _chunks(digests):
            db.execute(f"DELETE FROM audit_requests WHERE digest IN ({', '.join('?' * len(part))})", part)
    result.wiped = wipe(db)
    return result


def wipe(db: Database) -> str:
    """Remove old copies of erased rows from the database files as far as the store allows; says what it did."""
    if db.kind == POSTGRES:
        with db.errors():
            db.conn.execute("VACUUM audit_entries")
            db.conn.execute("VACUUM audit_requests")
        return (
            "VACUUM audit_entries, audit_requests: dead row versions are marked free (not overwritten); "
            "see the documentation for VACUUM FULL and WAL retention"
        )
    row = db.row("PRAGMA wal_checkpoint(TRUNCATE)")
    if row is not None and row[0]:
        return "secure_delete; the WAL checkpoint was blocked by a reader: run `chamberlain audit erase` again later"
    return "secure_delete (freed space zeroed); WAL checkpointed and truncated"


def _where(
    db: Database, principal: str | None, before: str | None, seqs: Sequence[int] | None
) -> tuple[str, tuple[Any, ...]]:
    if principal is not None:
        acted, needle = has_actor(db.kind, "actors", principal)
        return f"(principal = ? OR {acted})", (principal, needle)
    if before is not None:
        return "time < ? AND kind <> 'erasure'", (normalise_time(before, "before"),)
    assert seqs is not None
    if any(s < 0 for s in seqs) or len(seqs) > 100_000:
        raise AuditError("entries to erase: at most 100,000 sequence numbers, each >= 0")
    return f"seq IN ({', '.join(str(int(s)) for s in seqs)})", ()


def _requests_of(db: Database, seqs: list[int]) -> list[bytes]:
    found: set[bytes] = set()
    for part in _chunks(seqs):
        marks = ", ".join("?" * len(part))
        for (digest,) in db.rows(f"SELECT DISTINCT request FROM audit_entries WHERE seq IN ({marks})", part):
            value = as_bytes(digest)
            if value:
                found.add(value)
    return sorted(found)


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def _now() -> str:
    import datetime as dt

    return timestamp(dt.datetime.now(dt.UTC))


def operator() -> str:
    try:
        return f"os:{getpass.getuser()}"
    except Exception:  # no user name in this environment
        return "os:unknown"
