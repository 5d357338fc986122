"""The tamper-evident decision log: every decision an entry, in an RFC 9162 Merkle tree, heads signed.

- :class:`DecisionLog` (``DecisionLog.open("sqlite:///decisions.db")``): record entries (group
  commit, ``sync`` or ``async`` durability), sign tree heads, read.
- :class:`AuditReader`: entries, search, export, heads, inclusion and consistency proofs.
- :func:`verify`: recompute every hash, the tree and every signed head; name the first difference.
- :mod:`~chamberlain.audit.write.decisions`: the entries of a check; :mod:`~chamberlain.audit.write.canonical`:
  RFC 8785 canonical JSON; :mod:`~chamberlain.audit.tlog.merkle`: hashing and proofs;
  :mod:`~chamberlain.audit.tlog.note`: signed notes, keys and checkpoints.
"""

from chamberlain.audit.errors import AuditError, LogUnavailable
from chamberlain.audit.log import DecisionLog, LogOptions
from chamberlain.audit.storage.heads import Head
from chamberlain.audit.storage.reader import AuditReader, Filter, QueryError
from chamberlain.audit.tools.verify import Report, TrustedHead, verify
from chamberlain.audit.write.entry import Entry, new_entry
from chamberlain.audit.write.writer import ASYNC, SYNC

__all__ = [
    "ASYNC",
    "SYNC",
    "AuditError",
    "AuditReader",
    "DecisionLog",
    "Entry",
    "Filter",
    "Head",
    "LogOptions",
    "LogUnavailable",
    "QueryError",
    "Report",
    "TrustedHead",
    "new_entry",
    "verify",
]
