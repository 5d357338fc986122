"""What a feature's store over one database shares (sessions, approvals): opening, one connection used by
one thread at a time with its failures remembered for health, and transitions handed on after commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Self

from chamberlain.store import StoreURL
from chamberlain.store import sqlite as sqlite_store
from chamberlain.store.db import Database, open_database
from chamberlain.store.errors import DatabaseLocked, StoreError
from chamberlain.store.url import SQLITE


class Busy(Exception):
    """In :meth:`OwnedStore.without_waiting`: the store would have to wait (its connection in use by
    another thread, or the database's write lock held by another connection); nothing was written."""


class Refused(Busy):
    """In :meth:`OwnedStore.refusing`: the store was about to be used; nothing was read or written."""


class OwnedStore:
    """A store owning one database connection; subclasses call :meth:`setup` first in ``__init__``."""

    db: Database
    on_transition: Callable[[Any], None] | None

    def setup(self, db: Database, on_transition: Callable[[Any], None] | None) -> None:
        self.db = db
        self.on_transition = on_transition
        self._lock = threading.Lock()
        self.problem = ""  # the last store failure, "" once a statement succeeded again
        self.problem_since = 0.0
        self._quick = threading.local()  # set while a caller must not wait (see without_waiting)
        self._waitless_conn: Any = None  # the connection left with busy_timeout 0 by without_waiting

    @classmethod
    def open(cls, url: str | StoreURL, **options: Any) -> Self:
        """Open (creating the tables) the store at ``url``; raises StoreError naming what is wrong."""
        db = open_database(url)
        try:
            return cls(db, **options)
        except BaseException:
            db.close()
            raise

    def close(self) -> None:
        with self._lock:
            self.db.close()

    @property
    def waitless(self) -> bool:
        """Whether :meth:`without_waiting` can serve here (SQLite: statements are local and short)."""
        return self.db.kind == SQLITE

    @contextmanager
    def refusing(self) -> Iterator[None]:
        """Any use of the store meanwhile (on this thread) raises :class:`Refused` before a statement runs:
        for a caller that goes elsewhere when this store is needed at all."""
        self._quick.refuse = True
        try:
            yield
        finally:
            self._quick.refuse = False

    @contextmanager
    def without_waiting(self) -> Iterator[None]:
        """Use the store without ever waiting (an event loop's thread: no hop to a worker thread when the
        store is free): where a statement would wait for the connection or the write lock, :class:`Busy`
        is raised instead, before anything is written (SQLite only: see :attr:`waitless`)."""
        if not self._lock.acquire(blocking=False):
            raise Busy("the store's connection is in use")
        try:
            if self._waitless_conn is not self.db.conn:  # left at 0 until a waiting use (see _using)
                self.db.set_busy_timeout(0)
                self._waitless_conn = self.db.conn
            self._quick.on = True
            try:
                yield
            finally:
                self._quick.on = False
        finally:
            self._lock.release()

    @contextmanager
    def _using(self) -> Iterator[Database]:
        """The connection, for one thread at a time; failures are remembered for health."""
        if getattr(self._quick, "refuse", False):
            raise Refused("the store is not to be used here")
        if getattr(self._quick, "on", False):  # the caller holds the lock (without_waiting)
            try:
                yield self.db
            except DatabaseLocked as exc:
                raise Busy(str(exc)) from None
            return
        with self._lock:
            try:
                if self.db.broken:
                    self.db.reconnect()
                if self._waitless_conn is not None:  # without_waiting's busy_timeout 0: wait again here
                    if self._waitless_conn is self.db.conn:
                        self.db.set_busy_timeout(sqlite_store.DEFAULT_BUSY_TIMEOUT)
                    self._waitless_conn = None
                yield self.db
            except StoreError as exc:
                if not self.problem:
                    self.problem_since = time.time()
                self.problem = str(exc)
                raise
            self.problem = ""

    def _emit(self, transitions: Sequence[Any]) -> None:
        """Hand committed transitions to ``on_transition`` (the decision log)."""
        if self.on_transition is not None:
            for t in transitions:
                self.on_transition(t)
