"""The PostgreSQL sequencer: one replica at a time numbers pending entries, grows the tree, signs heads.

Every replica runs a :class:`Sequencer` thread with its own connection. It becomes the sequencer
by taking a session-level advisory lock (``pg_try_advisory_lock``) on that connection and stays it
while the connection lives; when its process dies the lock goes with the connection and another
replica's thread takes it within ``poll_interval``. All its writes happen on the locked
connection, in transactions that also remove what they sequence from ``audit_pending``, so a
takeover loses and duplicates nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chamberlain.audit.storage.heads import Head
from chamberlain.audit.storage.keys import KeyRing
from chamberlain.audit.storage.tree import TreeStore
from chamberlain.audit.tlog.merkle import Edge
from chamberlain.audit.write.append import sequence_pending, sign_current
from chamberlain.errors import Error
from chamberlain.store.db import Database, open_database
from chamberlain.store.url import StoreURL

log = logging.getLogger("chamberlain.audit")
_LOCK_CLASS = 7412002  # the advisory lock's first key; the second is the schema's hash


@dataclass(frozen=True, slots=True)
class SequencerOptions:
    poll_interval: float = 0.05
    head_interval: float = 10.0
    batch_size: int = 4096


class Sequencer:
    """The sequencer election and loop of one replica (a daemon thread)."""

    def __init__(
        self,
        url: StoreURL,
        keys: KeyRing,
        options: SequencerOptions,
        *,
        on_head: Callable[[Head], None] | None = None,
        retention: Any = None,
    ) -> None:
        """``on_head``: publishes each head signed; ``retention``: erases old content when due (the leader only)."""
        self.url = url
        self.keys = keys
        self.options = options
        self.on_head = on_head
        self.retention = retention
        self.is_leader = False
        self.last_error = ""
        self.sequenced = 0
        self.heads_signed = 0
        self.errors = 0
        self._db: Database | None = None
        self._edge: Edge | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._head_requests = 0  # on-demand head requests made ...
        self._head_served = 0  # ... and answered by a head signed after them
        self._head_done = threading.Condition()
        self._last_head: Head | None = None
        self._next_head = 0.0
        self._thread = threading.Thread(target=self._run, name="chamberlain-sequencer", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """New pending entries: look now rather than at the next poll."""
        self._wake.set()

    def sign_head(self, timeout: float = 10.0) -> Head | None:
        """Sequence what is pending and sign a head now, if this replica is (or soon becomes) the sequencer.

        ``None`` when another replica holds the role (its heads come at its interval) or on timeout.
        """
        deadline = time.monotonic() + max(0.5, 4 * self.options.poll_interval)
        while not self.is_leader:
            if time.monotonic() >= deadline or self._stop.is_set():
                return None
            time.sleep(self.options.poll_interval / 2)
        with self._head_done:
            self._head_requests += 1
            mine = self._head_requests
            self._wake.set()
            if not self._head_done.wait_for(lambda: self._head_served >= mine or not self.is_leader, timeout):
                return None
            return self._last_head if self._head_served >= mine else None

    def stop(self, timeout: float = 10.0) -> None:
        """Sequence what is pending, sign a final head (when leader), release the lock."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    # -- the thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.0
        while True:
            stopping = self._stop.is_set()
            try:
                if self._lead():
                    moved = self._step()
                    if stopping and not moved:
                        self._sign(force=False)
                        break
                    backoff = 0.0
                    if self.last_error:
                        log.warning("decision log sequencer working again")
                        self.last_error = ""
                    if moved:
                        continue
                elif stopping:
                    break
            except Error as exc:
                if not self.last_error:
                    log.error("decision log sequencer: %s; reconnecting with back-off", exc)
                else:
                    log.warning("decision log sequencer still failing: %s", exc)
                self.last_error = str(exc)
                self.errors += 1
                self._drop()
                backoff = min(5.0, max(0.1, backoff * 2))
                if stopping:
                    break
                self._stop.wait(backoff)
                continue
            self._wake.wait(self.options.poll_interval)
            self._wake.clear()
        self._drop()

    def _lead(self) -> bool:
        if self._db is None:
            self._db = open_database(self.url)
            self.is_leader = False
        if not self.is_leader:
            got = self._db.value("SELECT pg_try_advisory_lock(?, hashtext(current_schema()))", (_LOCK_CLASS,))
            if got:
                self.is_leader = True
                self._edge = None
                self._next_head = 0.0  # sign at once: the tree may have grown while nobody led
        return self.is_leader

    def _step(self) -> bool:
        """Sequence one batch; sign a head when one is due or wanted. True when it moved entries."""
        assert self._db is not None
        wanted = self._head_requests  # requests made before this step's look at audit_pending
        self._edge, moved = sequence_pending(
            self._db, TreeStore(self._db), self._edge, self.options.batch_size
        )
        self.sequenced += moved
        if wanted > self._head_served and moved < self.options.batch_size:  # all pending sequenced: sign
            self._sign(force=False)
            with self._head_done:
                self._head_served = wanted
                self._head_done.notify_all()
        elif time.monotonic() >= self._next_head and not moved:
            self._sign(force=False)
        if self.retention is not None and not moved and time.monotonic() >= self.retention.next:
            self.retention.run(self._db)
        return moved > 0

    def _sign(self, force: bool) -> None:
        assert self._db is not None
        before = self._last_head
        self._next_head = time.monotonic() + self.options.head_interval
        self._last_head, self._edge = sign_current(
            self._db, TreeStore(self._db), self._edge, self.keys, force=force
        )
        if before is None or self._last_head.size != before.size:
            self.heads_signed += 1
            if self.on_head is not None:
                self.on_head(self._last_head)

    def _drop(self) -> None:
        self.is_leader = False
        self._edge = None
        if self._db is not None:
            self._db.close()  # releases the advisory lock
            self._db = None
        with self._head_done:
            self._head_done.notify_all()
