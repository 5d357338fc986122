"""Sessions and locks in the decision log's database, with atomic charges against budgets and rate limits.

Every read that decides (a check, a token exchange) goes to the database: no replica caches a
session's state, so a revoke or a lock written by one replica is seen by every other replica's next
decision. A charge runs in one transaction holding the session's row (``BEGIN IMMEDIATE`` on SQLite,
``SELECT ... FOR UPDATE`` on PostgreSQL): concurrent checks from any number of processes never
spend a budget beyond its limit.

Transitions (opened, expired, revoked, locked, unlocked, settled) are handed to ``on_transition``
after they commit, which records them in the decision log.
"""

from __future__ import annotations

import builtins
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from chamberlain.sessions import tables
from chamberlain.sessions.clock import Clock, system_clock
from chamberlain.sessions.errors import InvalidSession, SessionLocked, SessionNotFound, SessionStateConflict
from chamberlain.sessions.model import (
    ACTIVE,
    EXPIRED,
    LOCK_TARGETS,
    OPEN_STATES,
    REVOKED,
    STATES,
    SUSPENDED,
    Budget,
    Lock,
    RateLimit,
    Session,
    StandingBudget,
)
from chamberlain.sessions.settings import MAX_STANDING_PERIOD, SessionSettings, SessionSpec
from chamberlain.store import POSTGRES, SQLITE
from chamberlain.store.db import Database
from chamberlain.store.errors import StoreError
from chamberlain.store.owned import OwnedStore

_COLUMNS = (
    "id, subject, agent, chain, state, created_at, expires_at, idle_timeout, last_used_at, opened_by, "
    "budgets, rate_limits, calls, metadata, ended_at, ended_by, end_reason"
)
MAX_PAGE = 1000
#: Seconds between purges of ended sessions (run by the first session opened after it).
PURGE_INTERVAL = 60.0


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of a session or lock, for the decision log: ``action`` on ``target`` by ``by``."""

    action: str  # session:open, session:expire, session:revoke, session:settle, lock:create, lock:remove
    target: str  # a session id or lock id
    by: str  # who caused it: an admin identity, "chamberlain:timeout", a token exchange
    reason: str = ""
    attr: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Item:
    """What one ALLOWed action would spend: ``(budget name, cost)`` pairs and the rate limits it counts in."""

    key: tuple[int, str]  # (resource index, action)
    charges: tuple[tuple[str, float], ...] = ()
    rate_hits: tuple[int, ...] = ()
    standing: tuple[tuple[str, float], ...] = ()  # (standing budget name, cost)


@dataclass(frozen=True, slots=True)
class Charged:
    """The outcome of :meth:`SessionStore.charge`: ``denial`` (for every action; "" when none) and the
    check that made it, or the actions ``refused`` one by one (key -> (check, reason))."""

    session: Session | None
    denial: str = ""
    check: str = ""  # state, binding, lock, store
    refused: dict[tuple[int, str], tuple[str, str]] = field(default_factory=dict)
    standing: dict[str, float] = field(default_factory=dict)  # standing budget name -> used in its window


class Held:
    """A session read in a charge's transaction (:meth:`SessionStore.held`): decide with :attr:`session`,
    then :meth:`charge` it once."""

    __slots__ = ("_db", "_locks", "_now", "_preview", "_store", "session", "session_id")

    def __init__(
        self,
        store: SessionStore,
        db: Database,
        session_id: str,
        s: Session | None,
        now: float,
        preview: bool,
        *,
        locks: bool = True,
    ):
        self._store, self._db, self._now, self._preview = store, db, now, preview
        self._locks = locks  # whether any lock existed when the session was read (else none is looked up)
        self.session_id = session_id
        self.session = s  # None: no such session

    def charge(
        self, bind: Callable[[Session], str], items: Sequence[Item], tools: Sequence[str] = ()
    ) -> Charged:
        """:meth:`SessionStore.charge` on the session as read (committed when the transaction ends)."""
        s = self.session
        if s is None:
            return Charged(None, f"unknown session {self.session_id}", "state")
        outcome = self._store._judge(self._db, s, self._now, bind, tools, self._locks)
        if not outcome.denial:
            outcome = self._store._allocate(self._db, s, self._now, items, write=not self._preview)
        return outcome


_ids = threading.Lock()
_last_id = [0]
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str) -> str:
    """``prefix`` and a ULID that grows with every call in this process (ids sort by opening order; across
    processes, by the millisecond). Within a millisecond, the next id is the last plus a random step of up
    to 64 bits, never the last plus one (ULID's monotonic rule): an id is the only thing naming a session
    or an approval, so from one's own id nobody may guess the one opened just after it."""
    with _ids:
        fresh = int(new_call_id_value())
        if fresh <= _last_id[0]:
            fresh = _last_id[0] + 1 + int.from_bytes(os.urandom(8), "big")
        value = _last_id[0] = fresh
    return prefix + "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def new_call_id_value() -> int:
    """A fresh ULID as a number (48-bit milliseconds, 80 random bits)."""
    return (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")


def _budget_json(b: Budget) -> dict[str, Any]:
    return {
        "name": b.name,
        "kind": b.kind,
        "actions": list(b.actions),
        "limit": b.limit,
        "cost": b.cost,
        "used": b.used,
    }


def _rate_json(r: RateLimit, hits: Sequence[float] = ()) -> dict[str, Any]:
    return {"kind": r.kind, "actions": list(r.actions), "max": r.max, "per": r.per, "hits": list(hits)}


def _session(row: Sequence[Any]) -> Session:
    rate_rows = _loads(row[11])
    budgets = tuple(
        Budget(b["name"], b["kind"], tuple(b["actions"]), float(b["limit"]), b["cost"], float(b["used"]))
        for b in _loads(row[10])
    )
    rates = tuple(
        RateLimit(r["kind"], tuple(r["actions"]), int(r["max"]), float(r["per"])) for r in rate_rows
    )
    return Session(
        row[0],
        row[1],
        row[2],
        tuple(_loads(row[3])),
        row[4],
        float(row[5]),
        float(row[6]),
        float(row[7]),
        float(row[8]),
        row[9],
        budgets,
        rates,
        int(row[12]),
        _loads(row[13]),
        None if row[14] is None else float(row[14]),
        row[15] or "",
        row[16] or "",
        tuple(tuple(r.get("hits", ())) for r in rate_rows),
    )


def _loads(text: str | bytes) -> Any:
    """A JSON column of a session row (every check reads one: orjson, 6x faster than json; the ``json``
    module's reading where orjson refuses what ``json.dumps`` may have written, such as ``NaN``)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


class SessionStore(OwnedStore):
    """Sessions and locks in one database; safe to share between threads (one connection, one lock)."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock = system_clock,
        on_transition: Callable[[Transition], None] | None = None,
        standing: Sequence[StandingBudget] = (),
        retention: float = 0.0,
    ):
        self.setup(db, on_transition)
        self.clock = clock
        #: Budgets that span sessions (``chamberlain.sessions.standingBudgets``), charged with the session's.
        self.standing = tuple(standing)
        #: Seconds an ended session is kept (``chamberlain.sessions.retention``; 0: for ever).
        self.retention = retention
        self._purged_at = 0.0
        if db.kind == SQLITE:
            # WAL with NORMAL: a commit survives the process crashing, not the machine losing power
            # (the last charges may be lost then); an fsync per check would cost milliseconds. The
            # decision log's own connection keeps FULL. PostgreSQL commits every charge durably.
            db.execute("PRAGMA synchronous = NORMAL")
        self._full = False  # whether the connection's commits are synced now (held(durable=True) sets it)
        tables.create(db)

    @classmethod
    def for_settings(cls, url: Any, settings: SessionSettings, **options: Any) -> SessionStore:
        """The store at ``url`` with what ``chamberlain.sessions`` says of it (standing budgets, retention)."""
        return cls.open(url, standing=settings.standing_budgets, retention=settings.retention, **options)

    def _for_update(self, db: Database) -> str:
        return " FOR UPDATE" if db.kind == POSTGRES else ""

    def _row(self, db: Database, session_id: str, lock: bool = False) -> Session | None:
        found = self._select(db, session_id, lock)
        return _session(found) if found is not None else None

    def _select(self, db: Database, session_id: str, lock: bool, extra: str = "") -> Sequence[Any] | None:
        """The session's stored row (``extra``: more columns after its own), locked for update if ``lock``."""
        return db.row(
            f"SELECT {_COLUMNS}{extra} FROM chamberlain_sessions WHERE id = ?"
            + (self._for_update(db) if lock else ""),
            (session_id,),
        )

    def _held(self, db: Database, session_id: str) -> Session:
        """The session's row, locked for this transaction; raises SessionNotFound."""
        found = self._row(db, session_id, lock=True)
        if found is None:
            raise SessionNotFound(f"no session {session_id}")
        return found

    def _lapse(self, db: Database, s: Session, now: float, ended: list[Transition]) -> Session:
        """An open session past its ttl or idle timeout, marked EXPIRED (by ``chamberlain:timeout``) as of
        the instant it lapsed, however late that is noticed."""
        why = s.lapsed(now) if s.state in OPEN_STATES else ""
        if not why:
            return s
        ended.append(Transition("session:expire", s.id, "chamberlain:timeout", why))
        at = s.expires_at if why == "expired (ttl)" else s.last_used_at + s.idle_timeout
        return self._end(db, s, EXPIRED, min(at, now), "chamberlain:timeout", why)

    def _end(self, db: Database, s: Session, state: str, now: float, by: str, reason: str) -> Session:
        db.execute(
            "UPDATE chamberlain_sessions SET state = ?, ended_at = ?, ended_by = ?, end_reason = ? WHERE id = ?",
            (state, now, by, reason, s.id),
        )
        return replace(s, state=state, ended_at=now, ended_by=by, end_reason=reason)

    def _locked(
        self, db: Database, now: float, agent: str, subject: str, root: str, tools: Sequence[str] = ()
    ) -> Lock | None:
        pairs = [("agent", agent), ("subject", subject), ("root", root)] + [("tool", t) for t in tools]
        where = " OR ".join("(target = ? AND value = ?)" for _ in pairs)
        row = db.row(
            f"SELECT id, target, value, reason, created_by, created_at, expires_at FROM chamberlain_locks "
            f"WHERE ({where}) AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at LIMIT 1",
            [v for pair in pairs for v in pair] + [now],
        )
        return Lock(*row) if row is not None else None

    def probe(self) -> str:
        """Read the store once: "" when it answers, else why not (health shows it)."""
        try:
            with self._using() as db:
                db.value("SELECT count(*) FROM chamberlain_sessions WHERE id = ''")
                db.value("SELECT count(*) FROM chamberlain_locks WHERE id = ''")
        except StoreError as exc:
            return str(exc)
        return ""

    # -- sessions ----------------------------------------------------------------------------------

    def open_session(self, spec: SessionSpec, *, by: str) -> Session:
        """Open a session; raises SessionLocked when a lock covers its agent, subject or root."""
        now = self.clock()
        if self.retention and now - self._purged_at >= PURGE_INTERVAL:
            self.purge()
        session_id = new_id("ses_")
        session = Session(
            session_id,
            spec.subject,
            spec.agent,
            spec.chain,
            ACTIVE,
            now,
            now + spec.ttl,
            spec.idle_timeout,
            now,
            by,
            spec.budgets,
            spec.rate_limits,
            0,
            dict(spec.metadata),
        )
        with self._using() as db, db.transaction():
            lock = self._locked(db, now, session.agent, session.subject, session.root)
            if lock is not None:
                raise SessionLocked(_lock_message(lock))
            db.execute(
                f"INSERT INTO chamberlain_sessions ({_COLUMNS}) VALUES ({', '.join('?' * 17)})",
                (
                    session.id,
                    session.subject,
                    session.agent,
                    json.dumps(session.chain),
                    ACTIVE,
                    now,
                    session.expires_at,
                    session.idle_timeout,
                    now,
                    by,
                    json.dumps([_budget_json(b) for b in session.budgets]),
                    json.dumps([_rate_json(r) for r in session.rate_limits]),
                    0,
                    json.dumps(session.metadata, default=str),
                    None,
                    "",
                    "",
                ),
            )
        self._emit(
            [
                Transition(
                    "session:open",
                    session.id,
                    by,
                    "",
                    {"subject": spec.subject, "agent": spec.agent, "expiresAt": session.expires_at},
                )
            ]
        )
        return session

    def stopped(self, session_id: str, tools: Sequence[str] = ()) -> str:
        """Why the session may act no more ("" while it may): not ACTIVE (revoked, suspended, expired), or a
        lock on its agent, subject, root or one of ``tools``. For an enforcement point holding a result of a
        call the session made, to withhold it from an agent stopped while the call ran."""
        s = self.get(session_id)
        if s.state != ACTIVE:
            return s.ended()
        with self._using() as db:
            lock = self._locked(db, self.clock(), s.agent, s.subject, s.root, tools)
        return _lock_message(lock) if lock is not None else ""

    def session_for_token(
        self, key: str, spec: SessionSpec, *, by: str, expires_at: float | None = None
    ) -> str:
        """The session of the token ``key`` names (a digest of its issuer and ``jti``): the one it was given
        first, whatever its state now (revoked, it stays revoked for the token, in every process), else one
        opened now and recorded for it. Raises SessionLocked as :meth:`open_session` does.

        ``expires_at`` (the token's ``exp``): the record outlives its session until then, so that a token
        whose session was purged finds it gone (denied), not a fresh one."""
        found = self._token_session(key)
        if found:
            return found
        opened = self.open_session(spec, by=by)
        with self._using() as db, db.transaction():
            db.execute(
                "INSERT INTO chamberlain_token_sessions (token_key, session_id, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (token_key) DO NOTHING",
                (key, opened.id, expires_at),
            )
        kept = self._token_session(key)
        if kept != opened.id:  # another process gave the token its session meanwhile: this one stays unused
            self.revoke(opened.id, by=by, reason="another process opened this token's session first")
        return kept

    def _token_session(self, key: str) -> str:
        with self._using() as db:
            found = db.value("SELECT session_id FROM chamberlain_token_sessions WHERE token_key = ?", (key,))
        return str(found) if found else ""

    def get(self, session_id: str) -> Session:
        """The session (an ACTIVE one past its time is marked EXPIRED first); raises SessionNotFound."""
        now = self.clock()
        with self._using() as db:
            found = self._row(db, session_id)
            if found is None:
                raise SessionNotFound(f"no session {session_id}")
            if found.state not in OPEN_STATES or not found.lapsed(now):
                return found
        return self._expire(session_id)

    def _expire(self, session_id: str) -> Session:
        now = self.clock()
        ended: list[Transition] = []
        with self._using() as db, db.transaction():
            found = self._lapse(db, self._held(db, session_id), now, ended)
        self._emit(ended)
        return found

    def list(
        self, state: str = "", *, agent: str = "", subject: str = "", after: str = "", limit: int = 100
    ) -> tuple[list[Session], str]:
        """Sessions in id order (opening order) after the cursor ``after``; returns them and the next cursor."""
        if state and state not in STATES:
            raise InvalidSession(f"state: expected one of {', '.join(STATES)}, got {state!r}")
        limit = max(1, min(limit, MAX_PAGE))
        self.sweep()
        where, params = ["id > ?"], [after]
        for column, value in (("state", state), ("agent", agent), ("subject", subject)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        with self._using() as db:
            rows = db.rows(
                f"SELECT {_COLUMNS} FROM chamberlain_sessions WHERE {' AND '.join(where)} "
                f"ORDER BY id LIMIT {limit + 1}",
                params,
            )
        found = [_session(r) for r in rows[:limit]]
        return found, (found[-1].id if len(rows) > limit else "")

    def sweep(self) -> builtins.list[str]:
        """Mark every open session past its ttl (or, ACTIVE, its idle timeout) EXPIRED; returns their ids."""
        now = self.clock()
        with self._using() as db:
            rows = db.rows(
                "SELECT id FROM chamberlain_sessions WHERE (state = ? AND (expires_at <= ? OR "
                "(idle_timeout > 0 AND last_used_at + idle_timeout <= ?))) OR (state = ? AND expires_at <= ?)",
                (ACTIVE, now, now, SUSPENDED, now),
            )
        for (session_id,) in rows:
            self._expire(session_id)
        return [r[0] for r in rows]

    def purge(self) -> int:
        """Delete the sessions that ended more than ``retention`` ago, and standing-budget windows that
        closed as long ago; returns how many sessions went. Their transitions stay in the decision log."""
        now = self.clock()
        self._purged_at = now
        if not self.retention:
            return 0
        horizon = now - self.retention
        periods = {b.name: b.period for b in self.standing}
        with self._using() as db, db.transaction():
            gone = int(
                db.value(
                    "SELECT count(*) FROM chamberlain_sessions WHERE state IN (?, ?) AND ended_at < ?",
                    (EXPIRED, REVOKED, horizon),
                )
            )
            db.execute(
                "DELETE FROM chamberlain_sessions WHERE state IN (?, ?) AND ended_at < ?",
                (EXPIRED, REVOKED, horizon),
            )
            # a token's record goes with its session once the token has expired too (or never said when)
            db.execute(
                "DELETE FROM chamberlain_token_sessions WHERE session_id NOT IN (SELECT id FROM chamberlain_sessions) "
                "AND (expires_at IS NULL OR expires_at < ?)",
                (now,),
            )
            for name, period in periods.items():
                db.execute(
                    "DELETE FROM chamberlain_standing_use WHERE name = ? AND window_start + ? < ?",
                    (name, period, horizon),
                )
            names = sorted(periods)
            others = f"name NOT IN ({', '.join('?' * len(names))}) AND " if names else ""
            db.execute(
                f"DELETE FROM chamberlain_standing_use WHERE {others}window_start + ? < ?",
                (*names, MAX_STANDING_PERIOD, horizon),
            )
        return gone

    def revoke(self, session_id: str, *, by: str, reason: str = "") -> Session:
        """Revoke an ACTIVE or SUSPENDED session (a session already over keeps its state); raises SessionNotFound."""
        now = self.clock()
        ended: list[Transition] = []
        with self._using() as db, db.transaction():
            found = self._lapse(db, self._held(db, session_id), now, ended)
            if found.state in OPEN_STATES:
                found = self._end(db, found, REVOKED, now, by, reason)
                ended.append(Transition("session:revoke", session_id, by, reason))
        self._emit(ended)
        return found

    def revoke_all(
        self, *, by: str, reason: str = "", agent: str = "", subject: str = ""
    ) -> builtins.list[str]:
        """Revoke every open (ACTIVE or SUSPENDED) session of ``agent`` or ``subject``; returns their ids."""
        if bool(agent) == bool(subject):
            raise InvalidSession('give exactly one of "agent" or "subject"')
        column, value = ("agent", agent) if agent else ("subject", subject)
        now = self.clock()
        with self._using() as db, db.transaction():
            ids = [
                r[0]
                for r in db.rows(
                    f"SELECT id FROM chamberlain_sessions WHERE {column} = ? AND state IN (?, ?)",
                    (value, *OPEN_STATES),
                )
            ]
            db.execute(
                f"UPDATE chamberlain_sessions SET state = ?, ended_at = ?, ended_by = ?, end_reason = ? "
                f"WHERE {column} = ? AND state IN (?, ?)",
                (REVOKED, now, by, reason, value, *OPEN_STATES),
            )
        self._emit([Transition("session:revoke", i, by, reason, {column: value}) for i in ids])
        return ids

    def suspend(self, session_id: str, *, by: str, reason: str = "") -> Session:
        """Suspend an ACTIVE session: its checks are denied until :meth:`resume` (its ttl still runs).
        Who suspended it and why are kept as ``ended_by`` and ``end_reason`` while it is suspended."""
        return self._move(session_id, ACTIVE, SUSPENDED, "session:suspend", by, reason)

    def resume(self, session_id: str, *, by: str, reason: str = "") -> Session:
        """Resume a SUSPENDED session (its idle timeout starts again now)."""
        return self._move(session_id, SUSPENDED, ACTIVE, "session:resume", by, reason)

    def _move(self, session_id: str, source: str, target: str, action: str, by: str, reason: str) -> Session:
        now = self.clock()
        ended: list[Transition] = []
        with self._using() as db, db.transaction():
            found = self._lapse(db, self._held(db, session_id), now, ended)
            before = found.state
            if before == source:
                held_by, why = (by, reason) if target == SUSPENDED else ("", "")
                db.execute(
                    "UPDATE chamberlain_sessions SET state = ?, ended_by = ?, end_reason = ?, last_used_at = ? "
                    "WHERE id = ?",
                    (target, held_by, why, now, session_id),
                )
                found = replace(found, state=target, ended_by=held_by, end_reason=why, last_used_at=now)
                ended.append(Transition(action, session_id, by, reason))
        self._emit(ended)  # an expiry found on the way is committed and recorded either way
        if before != source:
            raise SessionStateConflict(f"session {session_id} is {before}, not {source}")
        return found

    def settle(self, session_id: str, budget: str, amount: float, *, by: str) -> Session:
        """Add ``amount`` (the actual cost known after the action ran) to a budget's use; may go past its limit."""
        if isinstance(amount, bool) or not isinstance(amount, int | float) or not 0 <= amount < float("inf"):
            raise InvalidSession(f"amount: expected a non-negative number, got {amount!r}")
        with self._using() as db, db.transaction():
            found = self._held(db, session_id)
            standing = next((b for b in self.standing if b.name == budget), None)
            if budget in {b.name for b in found.budgets}:
                budgets = tuple(
                    replace(b, used=b.used + amount) if b.name == budget else b for b in found.budgets
                )
                db.execute(
                    "UPDATE chamberlain_sessions SET budgets = ? WHERE id = ?",
                    (json.dumps([_budget_json(b) for b in budgets]), session_id),
                )
                found = replace(found, budgets=budgets)
            elif standing is not None:
                key = _standing_key(standing, found, self.clock())
                self._hold_standing(db, key)
                db.execute(
                    "UPDATE chamberlain_standing_use SET used = used + ? WHERE name = ? AND holder = ? AND "
                    "window_start = ?",
                    (amount, *key),
                )
            else:
                raise InvalidSession(f"budget: session {session_id} has no budget {budget!r}")
        self._emit([Transition("session:settle", session_id, by, "", {"budget": budget, "amount": amount})])
        return found

    # -- the check path ----------------------------------------------------------------------------

    def load(self, session_id: str) -> Session | None:
        """The session as stored (no transition), or None."""
        with self._using() as db:
            return self._row(db, session_id)

    def charge(
        self,
        session_id: str,
        bind: Callable[[Session], str],
        items: Sequence[Item],
        *,
        tools: Sequence[str] = (),
        preview: bool = False,
    ) -> Charged:
        """Check the session is live, bound (``bind`` returns why not) and unlocked, then spend what ``items``
        would, in order, atomically: an item that does not fit is refused, the others are spent (nothing
        is written for a ``preview``)."""
        with self.held(session_id, preview=preview) as hold:
            return hold.charge(bind, items, tools)

    @contextmanager
    def held(self, session_id: str, *, preview: bool = False, durable: bool = False) -> Iterator[Held]:
        """One transaction holding the session's row (unless ``preview``): the session as it is now
        (:attr:`Held.session`, expired if past its ttl or idle timeout), to decide with, then
        :meth:`Held.charge` within the same transaction (a check reads and charges its session once).
        Raises StoreError (when it begins or commits); an exception inside writes nothing.

        ``durable``: on SQLite, this commit is synced (``synchronous = FULL``, set before it begins: SQLite
        reads it then), for a transaction that also holds the decision log's entries; a charge without is
        not (``NORMAL``: see ``__init__``)."""
        ended: list[Transition] = []
        with self._using() as db:
            if durable is not self._full and db.kind == SQLITE:
                # switched only when it changes (a pragma each way was 8 µs of a lone MCP call's 250)
                db.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
                self._full = durable
            with db.transaction():
                # whether any lock exists, read with the row: the lock query (a tenth of a charge) runs only then
                found = self._select(
                    db, session_id, not preview, ", EXISTS (SELECT 1 FROM chamberlain_locks)"
                )
                # the time once the row is held: a check that waited for another replica's charge or
                # revoke decides as of now (a ttl that ran out meanwhile denies it; a rate-limit hit is
                # recorded when it happens, not when the check asked)
                now = self.clock()
                s = _session(found) if found is not None else None
                if s is not None:
                    s = self._lapse(db, s, now, ended)
                yield Held(self, db, session_id, s, now, preview, locks=found is None or bool(found[-1]))
        self._emit(ended)

    def _judge(
        self,
        db: Database,
        s: Session,
        now: float,
        bind: Callable[[Session], str],
        tools: Sequence[str],
        locks: bool = True,
    ) -> Charged:
        """Why ``s`` may not spend now: its state, its binding, a lock (looked up unless ``locks`` is False:
        none existed when the session's row was read in this transaction)."""
        if s.state != ACTIVE:
            return Charged(s, s.ended(), "state")
        unbound = bind(s)
        if unbound:
            return Charged(s, unbound, "binding")
        lock = self._locked(db, now, s.agent, s.subject, s.root, tools) if locks else None
        if lock is not None:
            return Charged(s, _lock_message(lock), "lock")
        return Charged(s)

    def _allocate(
        self, db: Database, s: Session, now: float, items: Sequence[Item], *, write: bool
    ) -> Charged:
        used = {b.name: b.used for b in s.budgets}
        limits = {b.name: b.limit for b in s.budgets}
        windows = [
            [t for t in hits if t > now - r.per] for r, hits in zip(s.rate_limits, _hits(s), strict=True)
        ]
        refused: dict[tuple[int, str], tuple[str, str]] = {}
        standing = self._standing_used(db, s, now, items) if self.standing else {}
        standing_before = dict(standing)
        standing_limits = {b.name: b for b in self.standing}
        for item in items:
            cost: dict[str, float] = {}
            for name, amount in item.charges:
                cost[name] = cost.get(name, 0.0) + amount
            over = next((n for n, c in cost.items() if n in used and used[n] + c > limits[n]), None)
            if over is not None:
                refused[item.key] = (
                    f"budget:{over}",
                    f"budget {over!r} of session {s.id} would be exceeded: used "
                    f"{used[over]:g} of {limits[over]:g}, this action costs {cost[over]:g}",
                )
                continue
            spans: dict[str, float] = {}
            for name, amount in item.standing:
                spans[name] = spans.get(name, 0.0) + amount
            over = next(
                (n for n, c in spans.items() if standing[n] + c > standing_limits[n].budget.limit), None
            )
            if over is not None:
                b = standing_limits[over]
                refused[item.key] = (
                    f"standing:{over}",
                    f"budget {over!r} of {b.per} {b.holder(s)!r} (across sessions, "
                    f"per {b.period:g}s) would be exceeded: used {standing[over]:g} of "
                    f"{b.budget.limit:g}, this action costs {spans[over]:g}",
                )
                continue
            full = next((i for i in item.rate_hits if len(windows[i]) + 1 > s.rate_limits[i].max), None)
            if full is not None:
                r = s.rate_limits[full]
                refused[item.key] = (
                    "rate",
                    f"rate limit of session {s.id} reached: at most {r.max} of "
                    f"{', '.join(r.actions)} on {r.kind} per {r.per:g}s",
                )
                continue
            for name, amount in cost.items():
                used[name] = used.get(name, 0.0) + amount
            for name, amount in spans.items():
                standing[name] += amount
            for i in item.rate_hits:
                windows[i].append(now)
        budgets = tuple(replace(b, used=used[b.name]) for b in s.budgets)
        if write and standing:
            for b in self.standing:
                if b.name in standing and standing[b.name] != standing_before[b.name]:
                    db.execute(
                        "UPDATE chamberlain_standing_use SET used = ? WHERE name = ? AND holder = ? "
                        "AND window_start = ?",
                        (standing[b.name], *_standing_key(b, s, now)),
                    )
        rates = [_rate_json(r, w) for r, w in zip(s.rate_limits, windows, strict=True)]
        if write:  # also for a check that spends nothing: it is activity (the idle timeout starts again)
            db.execute(
                "UPDATE chamberlain_sessions SET budgets = ?, rate_limits = ?, calls = calls + 1, "
                "last_used_at = ? WHERE id = ?",
                (json.dumps([_budget_json(b) for b in budgets]), json.dumps(rates), now, s.id),
            )
            s = s.charged(budgets, now, tuple(tuple(w) for w in windows))
        return Charged(s, refused=refused, standing=standing)

    def _standing_used(self, db: Database, s: Session, now: float, items: Sequence[Item]) -> dict[str, float]:
        """What each standing budget these items charge has spent in its window, rows held for the charge
        (in name order, after the session's row: concurrent charges take the locks in one order)."""
        names = {name for item in items for name, _ in item.standing}
        return {
            b.name: self._hold_standing(db, _standing_key(b, s, now))
            for b in sorted(self.standing, key=lambda b: b.name)
            if b.name in names
        }

    def _hold_standing(self, db: Database, key: tuple[str, str, float]) -> float:
        """The row of (name, holder, window), created at 0 when new and held until the transaction ends."""
        db.execute(
            "INSERT INTO chamberlain_standing_use (name, holder, window_start, used) VALUES (?, ?, ?, 0) "
            "ON CONFLICT (name, holder, window_start) DO NOTHING",
            key,
        )
        return float(
            db.value(
                "SELECT used FROM chamberlain_standing_use WHERE name = ? AND holder = ? AND "
                "window_start = ?" + self._for_update(db),
                key,
            )
        )

    def standing_use(self, s: Session) -> dict[str, float]:
        """What each standing budget has spent for this session's agent or subject in the current window."""
        now = self.clock()
        with self._using() as db:
            return {
                b.name: float(
                    db.value(
                        "SELECT coalesce(sum(used), 0) FROM chamberlain_standing_use WHERE "
                        "name = ? AND holder = ? AND window_start = ?",
                        _standing_key(b, s, now),
                    )
                )
                for b in self.standing
            }

    # -- locks -------------------------------------------------------------------------------------

    def add_lock(
        self, target: str, value: str, *, by: str, reason: str = "", ttl: float | None = None
    ) -> Lock:
        """Lock an agent, subject, delegation root or tool (until removed, or for ``ttl`` seconds)."""
        if target not in LOCK_TARGETS:
            raise InvalidSession(f"target: expected one of {', '.join(LOCK_TARGETS)}, got {target!r}")
        now = self.clock()
        lock = Lock(new_id("lck_"), target, value, reason, by, now, None if ttl is None else now + ttl)
        with self._using() as db, db.transaction():
            db.execute(
                "INSERT INTO chamberlain_locks (id, target, value, reason, created_by, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (lock.id, target, value, reason, by, now, lock.expires_at),
            )
        self._emit([Transition("lock:create", lock.id, by, reason, {"target": target, "value": value})])
        return lock

    def remove_lock(self, lock_id: str, *, by: str) -> Lock:
        """Lift a lock; raises SessionNotFound when there is none with that id."""
        with self._using() as db, db.transaction():
            row = db.row(
                "SELECT id, target, value, reason, created_by, created_at, expires_at FROM chamberlain_locks "
                "WHERE id = ?",
                (lock_id,),
            )
            if row is None:
                raise SessionNotFound(f"no lock {lock_id}")
            db.execute("DELETE FROM chamberlain_locks WHERE id = ?", (lock_id,))
        lock = Lock(*row)
        self._emit([Transition("lock:remove", lock_id, by, "", {"target": lock.target, "value": lock.value})])
        return lock

    def locks(self) -> builtins.list[Lock]:
        """The locks in force now."""
        now = self.clock()
        with self._using() as db:
            rows = db.rows(
                "SELECT id, target, value, reason, created_by, created_at, expires_at FROM chamberlain_locks "
                "WHERE expires_at IS NULL OR expires_at > ? ORDER BY created_at, id LIMIT 10000",
                (now,),
            )
        return [Lock(*r) for r in rows]

    def lock_for(
        self, *, agent: str = "", subject: str = "", root: str = "", tools: Sequence[str] = ()
    ) -> Lock | None:
        """The lock in force now on any of these, or None (token exchanges and gateways ask this)."""
        with self._using() as db:
            return self._locked(db, self.clock(), agent, subject, root, tools)


def _standing_key(b: StandingBudget, s: Session, now: float) -> tuple[str, str, float]:
    return b.name, b.holder(s), b.window(now)


def _hits(s: Session) -> list[list[float]]:
    """The instants of the calls each rate limit counted (read back from the row's JSON)."""
    found = [list(h) for h in s.rate_hits]
    return found + [[] for _ in range(len(s.rate_limits) - len(found))]


def _lock_message(lock: Lock) -> str:
    why = f": {lock.reason}" if lock.reason else ""
    return f"{lock.target} {lock.value!r} is locked ({lock.id}, by {lock.created_by}){why}"
