"""What can go wrong with persistence, each error naming the database and what to do."""

from __future__ import annotations

from chamberlain.errors import Error


class StoreError(Error):
    """A database that cannot be used: the message names it and the problem."""


class InvalidURL(StoreError):
    """A store URL that is neither ``sqlite:///PATH`` nor ``postgresql://...``."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or opened right now (missing, refused, locked)."""


class DatabaseLocked(StoreUnavailable):
    """Another connection holds the database's write lock longer than the busy timeout."""


class StoreFull(StoreError):
    """The disk or the database's size limit is full: nothing more can be written."""


class NotADatabase(StoreError):
    """The file is not a database at all, or a corrupt one."""


class ForeignDatabase(StoreError):
    """A valid database that another application owns: chamberlain refuses to write into it."""
