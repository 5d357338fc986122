"""What a feature's store over one database shares (sessions, approvals): opening, one connection used by
one thread at a time with its failures remembered for health, and transitions handed on after commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Self

from chamberlain.store import StoreURL
from chamberlain.store.db import Database, open_database
from chamberlain.store.errors import StoreError


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

    @contextmanager
    def _using(self) -> Iterator[Database]:
        """The connection, for one thread at a time; failures are remembered for health."""
        with self._lock:
            try:
                if self.db.broken:
                    self.db.reconnect()
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
