"""Group commit: a writer thread batches pending entries into one transaction per batch.

``sync`` durability: a caller waits (in a thread, or awaiting in an event loop) until the
transaction holding its entries has committed; if it fails, the caller gets the error and its
decision becomes a DENY. A caller that gives up waiting (``write_timeout``) withdraws its entries
if the writer has not taken them yet, and otherwise waits for that transaction's outcome, so an
entry is in the log exactly when its caller was told so.

``async`` durability: callers return once their entries are queued. The queue holds at most
``queue_size`` entries; when it is full, ``overflow`` says what happens: ``block`` waits up to
``overflow_timeout`` for room and then fails (the decision is denied), ``deny`` fails at once.
Both are counted. A failed write is retried (with back-off) until it succeeds or the log closes.

Outages: when a transaction fails because the store is unavailable (the connection dropped, the
disk is full, the file is read-only), the writer is **down**: it logs an error once, and until a
probe succeeds (``recover``: reconnect and check the store, retried with back-off from 0.1 s to
5 s, each failure logged as a warning) ``sync`` submissions fail at once with the outage's
reason instead of waiting for a store that is not there; ``async`` ones stay queued. The first
successful probe or write brings it back up (logged), with no restart.
"""

from __future__ import annotations

import _thread
import asyncio
import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chamberlain.audit.errors import LogUnavailable
from chamberlain.audit.write.entry import Entry
from chamberlain.errors import Error
from chamberlain.store.errors import DatabaseLocked

log = logging.getLogger("chamberlain.audit")

SYNC, ASYNC = "sync", "async"
BLOCK, DENY = "block", "deny"
_QUEUED, _CLAIMED, _DONE, _CANCELLED = 0, 1, 2, 3

Sink = Callable[[list[list[Entry]]], list[Any]]
#: Checks the store after an outage (reconnecting first when needed); raises while it is still away.
Recover = Callable[[], None]
MAX_BACKOFF = 5.0


class Ticker(Protocol):
    """Periodic work the writer thread does between batches (the log signs tree heads so)."""

    def due_in(self) -> float:
        """Seconds until :meth:`run` is due (cheap; called with the writer's lock held)."""
        ...

    def run(self) -> None: ...


@dataclass(frozen=True, slots=True)
class WriterOptions:
    """How entries reach the store; see the module docstring and the README's configuration table."""

    durability: str = SYNC
    queue_size: int = 100_000
    overflow: str = BLOCK
    overflow_timeout: float = 1.0
    write_timeout: float = 10.0
    batch_size: int = 4096
    commit_delay: float = 0.002  # seconds a batch may wait for more callers under load (see Writer._gather)

    def __post_init__(self) -> None:
        if self.durability not in (SYNC, ASYNC):
            raise ValueError(f"durability must be sync or async, got {self.durability!r}")
        if self.overflow not in (BLOCK, DENY):
            raise ValueError(f"overflow must be block or deny, got {self.overflow!r}")
        if self.queue_size < 1 or self.batch_size < 1:
            raise ValueError("queue_size and batch_size must be positive")
        if not 0 <= self.commit_delay <= 1:
            raise ValueError(f"commit_delay must be between 0 and 1 second, got {self.commit_delay}")


@dataclass(slots=True)
class WriterStats:
    """Counters the server exports as metrics."""

    entries_written: int = 0
    entries_failed: int = 0  # sync: entries whose transaction failed (their decisions were denied)
    batches: int = 0
    write_errors: int = 0
    overflow_blocked: int = 0
    overflow_denied: int = 0
    retries: int = 0
    last_error: str = ""
    outages: int = 0  # times the store became unavailable
    refused: int = 0  # sync submissions refused at once during an outage
    with_charge: int = (
        0  # entries committed with a session's charge (DecisionLog.appender_for), in entries_written
    )
    batch_seconds: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=256))


class Ticket:
    """One submission's entries on their way into the log; resolved once, with ``None`` or an error."""

    __slots__ = ("_future", "_lock", "_loop", "entries", "error", "index", "owner", "state")

    def __init__(
        self, entries: list[Entry], loop: asyncio.AbstractEventLoop | None = None, *, waited: bool = True
    ):
        self.entries = entries
        self.state = _QUEUED
        self.error: Error | None = None
        self.index: int | None = None  # the log index of the first entry, once written where it is numbered
        #: who else may withdraw it when its wait runs out (an event loop's relay: see Writer._withdraw)
        self.owner: Any = None
        self._loop = loop
        if not waited:  # async durability: nobody waits for it
            self._lock = self._future = None
        elif loop is None:
            self._lock = _thread.allocate_lock()
            self._lock.acquire()
            self._future = None
        else:
            self._lock = None
            self._future = loop.create_future()

    @property
    def done(self) -> bool:
        return self.state == _DONE or self.state == _CANCELLED

    def claim(self) -> None:
        """Taken by whoever writes it now (a loop's relay): a timed-out wait no longer withdraws it."""
        self.state = _CLAIMED

    def cancel(self, error: Error) -> bool:
        """Withdrawn before anyone took it (its wait ran out): answered with ``error``; False once taken."""
        if self.state != _QUEUED:
            return False
        self.state = _CANCELLED
        self.error = error
        future = self._future
        if future is not None and not future.done():
            future.set_result(error)
        return True

    def record(self, result: Any) -> None:
        """Written (``result`` is its first entry's index, see append.Appended) or failed (the error);
        whoever waits is told apart (:meth:`answer` on its loop, or Writer._resolve)."""
        if type(result) is int:
            self.index = result
        else:
            self.error = result
        self.state = _DONE

    def answer(self, result: Any) -> None:
        """On its event loop: :meth:`record` ``result`` and wake who awaits it."""
        self.record(result)
        future = self._future
        if future is not None and not future.done():
            future.set_result(self.error)


class Writer:
    """The writer thread in front of a ``sink`` (which writes groups of entries in one transaction).

    ``ticker`` (optional) runs on the writer thread between batches when it is due.
    """

    def __init__(
        self,
        sink: Sink,
        options: WriterOptions,
        *,
        ticker: Ticker | None = None,
        recover: Recover | None = None,
        name: str = "chamberlain-decision-log",
        here: Sink | None = None,
    ) -> None:
        self.sink = sink
        self.here_sink = here  # what write_here writes with, when not the sink (a writer process's log)
        self.recover = recover
        self.down_since: float | None = None  # time.time() when the store became unavailable
        self.down_reason = ""
        self.options = options
        self.stats = WriterStats()
        self._ticker = ticker
        self._cond = threading.Condition()
        self._queue: collections.deque[Ticket] = collections.deque()
        self._queued_entries = 0
        self._calls: list[tuple[Callable[[], Any], list[Any], threading.Event]] = []
        # (loop, 50 ms bucket) -> the waits ending then, by ticket id; a wait leaves its bucket as soon
        # as it is answered, so answered tickets (and their entries) are not kept alive until expiry,
        # which would grow the heap the garbage collector's full passes walk (tens of ms each).
        self._expiring: dict[tuple[int, int], dict[int, Ticket]] = {}
        self._closing = False
        self._closed = False
        self._in_flight = 0
        self._last_tickets = 0  # callers the last batch answered (see _gather)
        self._want = 0  # while gathering: the queue length that wakes the writer
        self._idle = False  # the writer thread waits for work (nothing claimed, nothing running)
        self._here = False  # a caller writes a lone submission itself (see write_here): the thread waits
        self._held_up = False  # the writer thread waits for that caller to finish
        self._flushers = 0  # callers waiting in flush
        # write_here left the store answering a lock held elsewhere at once (its ``waitless``): undone before
        # the writer thread next uses the connection, not after each lone write (two statements per call)
        self._undo_waitless: Callable[[], None] | None = None
        self._retry_at = 0.0
        self._backoff = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- callers ----------------------------------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        return self._queued_entries

    def submit(self, entries: list[Entry], loop: asyncio.AbstractEventLoop | None = None) -> Ticket:
        """Queue ``entries`` (one transaction's worth of grouping); raises :class:`LogUnavailable`."""
        opts = self.options
        ticket = Ticket(entries, loop, waited=opts.durability == SYNC)
        n = len(entries)
        with self._cond:
            if self._closing:
                raise LogUnavailable("the decision log is closed")
            if opts.durability == ASYNC and self._queued_entries + n > opts.queue_size:
                self._make_room(n)
            self._queue.append(ticket)
            self._queued_entries += n
            if len(self._queue) >= self._want:  # a gathering writer is woken once, when its batch is there
                self._cond.notify()
        return ticket

    def write_here(
        self, entries: list[Entry], waitless: Callable[[], Callable[[], None]] | None = None
    ) -> Ticket | None:
        """Write ``entries`` on the calling thread, now, when the writer thread is idle with nothing queued
        (``sync`` only): a lone caller on an event loop then skips both thread hand-offs (the wake-up
        of the writer and the loop's wake-up by it; measured ~0.1 ms of the MCP gateway's per-call cost).
        The returned ticket is answered (its ``error`` says how); None: the writer is busy or down, so
        :meth:`submit` them and let its group commit serve them with the others.

        ``waitless``: called once the writer's connection is this caller's, makes the store answer at once
        instead of waiting for a lock another process holds, and returns what undoes that; a locked store
        is then None too (nothing was written) rather than a wait of up to the busy timeout on the
        caller's thread (an event loop's)."""
        if self.options.durability != SYNC:
            return None
        ticket = Ticket(entries, waited=False)
        n = len(entries)
        with self._cond:
            ticker = self._ticker
            if (
                not self._idle
                or self._here  # another caller writes (the writer thread has not woken since)
                or self._queue
                or self._calls
                or self._closing
                or self.down_since is not None
                or time.monotonic() < self._retry_at  # backing off after a locked database
                or (ticker is not None and ticker.due_in() <= 0)
            ):
                return None
            ticket.state = _CLAIMED
            self._here = True
            self._in_flight = n
            self._last_tickets = 1
        gave_way = False
        try:
            gave_way = not self._write_here(ticket, waitless)
        finally:
            with self._cond:
                self._here = False
                self._in_flight = 0
                # only who waits for it (and the writer thread after a failure: it schedules the probe or
                # the back-off): waking it for nothing costs the caller a context switch and the GIL
                if self._held_up or self._flushers or (not gave_way and ticket.error is not None):
                    self._cond.notify_all()
        return None if gave_way else ticket

    def _write_here(self, ticket: Ticket, waitless: Callable[[], Callable[[], None]] | None) -> bool:
        """Write ``ticket`` on this thread (claimed by :meth:`write_here`); False: it gave way, nothing written."""
        if waitless is not None and self._undo_waitless is None:
            try:
                self._undo_waitless = waitless()
            except Error:  # the writer thread's way: it reconnects, probes, backs off
                return False
        try:
            self._write(
                [ticket],
                wake=False,
                give_way=self._undo_waitless is not None,
                sink=self.here_sink or self.sink,
            )
        except _GaveWay:
            return False
        return True

    def _restore_waits(self) -> None:
        """On the writer thread, before it uses the connection: waits for locks held elsewhere again."""
        undo, self._undo_waitless = self._undo_waitless, None
        if undo is not None:
            with contextlib.suppress(Error):  # the connection broke: the writer thread reconnects it
                undo()

    def _make_room(self, n: int) -> None:
        opts = self.options
        if opts.overflow == DENY:
            self.stats.overflow_denied += 1
            raise LogUnavailable(f"the decision log queue is full ({opts.queue_size} entries waiting)")
        self.stats.overflow_blocked += 1
        deadline = time.monotonic() + opts.overflow_timeout
        while self._queued_entries + n > opts.queue_size and self._queued_entries:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closing:
                self.stats.overflow_denied += 1
                raise LogUnavailable(
                    f"the decision log queue stayed full ({opts.queue_size} entries) for {opts.overflow_timeout}s"
                )
            self._cond.wait(remaining)

    def wait(self, ticket: Ticket, timeout: float | None = None) -> Error | None:
        """Block until ``ticket`` is in the log (``None``) or failed (the error); at most ``timeout`` s queued."""
        lock = ticket._lock
        assert lock is not None, "an event-loop ticket is awaited with wait_async"
        if lock.acquire(timeout=self.options.write_timeout if timeout is None else timeout):
            return ticket.error
        if self._withdraw(ticket):
            return ticket.error
        lock.acquire()  # the writer has it in a transaction: its outcome decides
        return ticket.error

    async def wait_async(self, ticket: Ticket, timeout: float | None = None) -> Error | None:
        """Await ``ticket`` without blocking the event loop (see :meth:`wait`)."""
        future = ticket._future
        loop = ticket._loop
        assert future is not None and loop is not None, "a thread ticket is waited for with wait"
        if not future.done():
            limit = self.options.write_timeout if timeout is None else timeout
            # Waits expire in 50 ms buckets, one timer per bucket: a timer per wait would cost more
            # than the rest of the wait does.
            bucket = int((loop.time() + limit) * 20) + 1
            key = (id(loop), bucket)
            waiting = self._expiring.get(key)
            if waiting is None:
                waiting = self._expiring[key] = {}
                loop.call_at(bucket / 20, self._expire, key)
            waiting[id(ticket)] = ticket
            try:
                return await future
            finally:
                waiting.pop(id(ticket), None)
        return await future

    def _expire(self, key: tuple[int, int]) -> None:
        """On the event loop, when waits ran out: withdraw entries the writer has not taken yet."""
        for ticket in list(self._expiring.pop(key, {}).values()):
            future = ticket._future
            if future is not None and not future.done() and self._withdraw(ticket):
                future.set_result(ticket.error)

    def _withdraw(self, ticket: Ticket) -> bool:
        if ticket.owner is not None:  # not in this writer's queue
            return bool(ticket.owner.withdraw(ticket))
        with self._cond:
            if ticket.state != _QUEUED:
                return False
            self._queue.remove(ticket)
            self._queued_entries -= len(ticket.entries)
            ticket.state = _CANCELLED
            ticket.error = unconfirmed(self.options.write_timeout)
            self.stats.entries_failed += len(ticket.entries)
            self._cond.notify_all()
            return True

    def call(self, fn: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Run ``fn`` on the writer thread (between batches) and return its result or raise its error."""
        if threading.current_thread() is self._thread:
            return fn()
        done = threading.Event()
        result: list[Any] = []
        with self._cond:
            if self._closed:
                raise LogUnavailable("the decision log is closed")
            self._calls.append((fn, result, done))
            self._cond.notify()
        if not done.wait(timeout):
            raise LogUnavailable(f"the decision log writer did not answer within {timeout}s")
        value, error = result
        if error is not None:
            raise error
        return value

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued entry is written (or has failed); ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._flushers += 1
            try:
                while self._queue or self._in_flight:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
            finally:
                self._flushers -= 1
        return True

    def close(self, timeout: float = 30.0) -> int:
        """Stop taking entries, write what is queued, stop the thread; returns entries left unwritten."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self.flush(timeout)
        with self._cond:
            left = self._queued_entries
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=max(1.0, timeout))
        return left

    # -- the writer thread -------------------------------------------------------------------------

    @property
    def down(self) -> bool:
        """True while the store is unavailable (see the module docstring)."""
        return self.down_since is not None

    def _run(self) -> None:
        while True:
            with self._cond:
                batch = self._next_batch()
                calls, self._calls = self._calls, []
                closed = batch is None and not calls and self._closed
                refuse = self.down_since is not None and time.monotonic() < self._retry_at
            self._restore_waits()
            if closed:
                return
            if refuse and batch:
                self._refuse(batch) if self.options.durability == SYNC else self._requeue(batch)
                batch = None
            elif self.down_since is not None and time.monotonic() >= self._retry_at:
                self._probe()
                if batch and self.down_since is not None:
                    self._refuse(batch) if self.options.durability == SYNC else self._requeue(batch)
                    batch = None
            if batch:
                self._write(batch)
            for fn, result, done in calls:
                try:
                    result[:] = [fn(), None]
                except Exception as exc:
                    result[:] = [None, exc]
                done.set()
            ticker = self._ticker
            if ticker is not None and not self._closed and ticker.due_in() <= 0:
                try:
                    ticker.run()
                except Exception as exc:  # counted; the next tick tries again
                    self.stats.last_error = f"periodic task failed: {exc}"

    def _next_batch(self) -> list[Ticket] | None:
        """Wait for work, then claim up to ``batch_size`` entries' tickets (under the lock)."""
        while True:
            if self._here:  # a caller is writing (write_here): its sink is in use
                self._held_up = True
                try:
                    self._cond.wait()
                finally:
                    self._held_up = False
                continue
            now = time.monotonic()
            if self._queue and (now >= self._retry_at or self._refusing()):
                break
            if self._calls or self._closed:
                return None
            wait = self._ticker.due_in() if self._ticker is not None else 1.0
            if self._queue or self.down_since is not None:
                wait = min(wait, self._retry_at - now)
                if wait <= 0 and not self._queue:
                    return None  # time to probe the store
            if wait <= 0:
                return None  # the ticker is due: the loop runs it
            self._idle = True
            try:
                self._cond.wait(wait)
            finally:
                self._idle = False
        self._gather()
        batch: list[Ticket] = []
        size = 0
        limit = self.options.batch_size
        queue = self._queue
        while queue and (size == 0 or size + len(queue[0].entries) <= limit):
            ticket = queue.popleft()
            ticket.state = _CLAIMED
            batch.append(ticket)
            size += len(ticket.entries)
        self._queued_entries -= size
        self._last_tickets = len(batch)
        self._in_flight = size
        self._cond.notify_all()  # room for blocked submitters
        return batch

    def _gather(self) -> None:
        """Group commit under load: when the last batch answered several callers, wait (at most
        ``commit_delay``) until as many submissions are queued, so that one commit serves them all.

        Measured with the server at 16 connections: the writer otherwise wakes at the first submission
        and commits small batches while the deciding thread waits for the interpreter lock it holds; a
        caller alone (the last batch had one) is never delayed.
        """
        want = self._last_tickets
        delay = self.options.commit_delay
        if want < 2 or delay <= 0 or self._refusing() or self._closing:
            return
        deadline = time.monotonic() + delay
        self._want = want
        try:
            while len(self._queue) < want and not self._closing and not self._calls:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
        finally:
            self._want = 0

    def _write(
        self, batch: list[Ticket], wake: bool = True, give_way: bool = False, sink: Sink | None = None
    ) -> None:
        started = time.monotonic()
        try:
            errors = (sink or self.sink)([t.entries for t in batch])
        except Error as exc:
            if give_way and isinstance(exc, DatabaseLocked):  # write_here: nothing written, nothing failed
                raise _GaveWay from None
            self._failed(batch, exc, wake)
            return
        except Exception as exc:  # a bug must not kill the writer or let a caller go unanswered
            self._failed(batch, LogUnavailable(f"decision log write failed: {exc!r}"), wake)
            return
        stats = self.stats
        stats.batches += 1
        stats.batch_seconds.append(time.monotonic() - started)
        self._backoff = 0.0
        if self.down_since is not None:
            self._up()
        for ticket, error in zip(batch, errors, strict=True):
            if error is None or type(error) is int:
                stats.entries_written += len(ticket.entries)
            else:
                stats.entries_failed += len(ticket.entries)
                stats.last_error = str(error)
        self._resolve(batch, errors, wake)

    def _failed(self, batch: list[Ticket], error: Error, wake: bool = True) -> None:
        stats = self.stats
        stats.write_errors += 1
        stats.last_error = str(error)
        if isinstance(error, DatabaseLocked):  # contention passes; anything else is an outage
            self._backoff = min(MAX_BACKOFF, max(0.05, self._backoff * 2))
            self._retry_at = time.monotonic() + self._backoff
        else:
            self._went_down(error)
        if self.options.durability == SYNC or self._closed:
            stats.entries_failed += sum(len(t.entries) for t in batch)
            self._resolve(batch, [LogUnavailable(f"decision log unavailable: {error}")] * len(batch), wake)
            return
        # async: nothing is lost while the process lives: put the batch back and retry later
        stats.retries += 1
        self._requeue(batch)

    def _requeue(self, batch: list[Ticket]) -> None:
        with self._cond:
            for ticket in reversed(batch):
                ticket.state = _QUEUED
                self._queue.appendleft(ticket)
            self._queued_entries += sum(len(t.entries) for t in batch)
            self._in_flight = 0
            self._cond.notify_all()

    # -- outages -----------------------------------------------------------------------------------

    def report_outage(self, error: Error) -> None:
        """Another way to the store (an event loop's relay to the writer process) found it unavailable:
        down, refusing and probing as after a failed write of the writer thread's own."""
        with self._cond:
            self.stats.last_error = str(error)
            self._went_down(error)
            self._cond.notify_all()

    def _refusing(self) -> bool:
        return self.down_since is not None and self.options.durability == SYNC

    def _went_down(self, error: Error) -> None:
        self.down_reason = str(error)
        self._backoff = min(MAX_BACKOFF, max(0.1, self._backoff * 2))
        self._retry_at = time.monotonic() + self._backoff
        if self.down_since is None:
            self.down_since = time.time()
            self.stats.outages += 1
            log.error(
                "decision log unavailable: %s; %s until it recovers (retrying every %.1f s at most)",
                error,
                "every check is denied" if self.options.durability == SYNC else "entries are kept queued",
                MAX_BACKOFF,
            )

    def _refuse(self, batch: list[Ticket]) -> None:
        """During an outage (sync): answer at once with its reason rather than wait for the store."""
        n = sum(len(t.entries) for t in batch)
        self.stats.entries_failed += n
        self.stats.refused += len(batch)
        error = LogUnavailable(
            f"decision log unavailable since {_since(self.down_since)}: {self.down_reason}"
        )
        self._resolve(batch, [error] * len(batch))

    def _probe(self) -> None:
        """After the back-off: check the store (reconnecting); up again when it answers."""
        try:
            if self.recover is not None:
                self.recover()
        except Error as exc:
            self.down_reason = str(exc)
            self.stats.last_error = str(exc)
            self._backoff = min(MAX_BACKOFF, max(0.1, self._backoff * 2))
            self._retry_at = time.monotonic() + self._backoff
            log.warning(
                "decision log still unavailable (down for %.0f s): %s",
                time.time() - (self.down_since or 0),
                exc,
            )
            return
        except Exception as exc:  # a bug in a probe must not kill the writer
            self.down_reason = f"probe failed: {exc!r}"
            self._retry_at = time.monotonic() + MAX_BACKOFF
            return
        self._up()

    def _up(self) -> None:
        if self.down_since is not None:
            log.warning(
                "decision log available again after %.1f s (%d checks were refused meanwhile)",
                time.time() - self.down_since,
                self.stats.refused,
            )
        self.down_since = None
        self.down_reason = ""
        self._backoff = 0.0
        self._retry_at = 0.0

    def _resolve(self, batch: list[Ticket], errors: Sequence[Any], wake: bool = True) -> None:
        """Answer ``batch``; ``wake``: notify the waiters (``write_here`` does, and only those it must)."""
        by_loop: dict[asyncio.AbstractEventLoop, list[Ticket]] = {}
        with self._cond:
            for ticket, result in zip(batch, errors, strict=True):
                ticket.record(result)
                if ticket._lock is not None:
                    ticket._lock.release()
                elif ticket._future is not None:
                    by_loop.setdefault(ticket._loop, []).append(ticket)  # type: ignore[arg-type]
            self._in_flight = 0
            if wake:
                self._cond.notify_all()
        for loop, tickets in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, tickets)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass


def unconfirmed(write_timeout: float) -> LogUnavailable:
    """The error of entries withdrawn because their wait ran out before anyone took them."""
    return LogUnavailable(f"the decision log did not confirm the entry within {write_timeout}s")


class _GaveWay(Exception):
    """write_here found the store locked by another connection: the writer thread takes the entries."""


def _since(when: float | None) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(when or 0, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _settle(tickets: list[Ticket]) -> None:
    for ticket in tickets:
        future = ticket._future
        if future is not None and not future.done():
            future.set_result(ticket.error)
