"""Rotating the log's signing key without breaking verification.

:func:`rotate`, in one transaction holding the tree's lock:

1. appends a ``key_rotation`` entry — public: ``old_key`` and ``new_key`` (verifier keys of one
   origin: same name, new key id), ``by`` — so the change is itself in the log;
2. makes the new key the log's signing key (``audit_meta.signing_key``; ``keys`` lists them all);
3. signs a head over it with **both** keys: the old key vouches for the new one (the verifier trusts
   a new key only when the first head covering its rotation entry is signed by the previous key),
   and witnesses that know only the old key still cosign it.

Heads after it are signed by the new key only. The new key is appended to the key file first, so a
replica reading that file (``KeyRing``) finds it when the log names it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from chamberlain.audit.errors import AuditError
from chamberlain.audit.storage import heads
from chamberlain.audit.storage.heads import Head
from chamberlain.audit.storage.keys import KeyRing, add, log_keys
from chamberlain.audit.storage.tables import read_meta
from chamberlain.audit.storage.tree import TreeStore, stored_size
from chamberlain.audit.tlog.note import Signer
from chamberlain.audit.write.append import append_groups
from chamberlain.audit.write.canonical import EncodingError
from chamberlain.audit.write.content import Limits
from chamberlain.audit.write.entry import KEY_ROTATION, new_entry, timestamp
from chamberlain.store.db import Database


@dataclass(frozen=True, slots=True)
class Rotation:
    old_key: str
    new_key: str
    entry: int
    head: Head

    def to_json(self) -> dict[str, Any]:
        return {
            "old_key": self.old_key,
            "new_key": self.new_key,
            "rotation_entry": self.entry,
            "head": {"tree_size": self.head.size, "checkpoint": self.head.note},
        }


def rotate(
    db: Database, keys: KeyRing, *, new: Signer | None = None, by: str = "", reason: str = ""
) -> Rotation:
    """Rotate to ``new`` (a new key of the log's name, generated when None); see the module docstring."""
    old = keys.active(db)
    new = new or Signer.generate(old.name)
    if new.name != old.name:
        raise AuditError(f"the new key's name {new.name!r} must be the log's origin {old.name!r}")
    if str(new.verifier) == str(old.verifier):
        raise AuditError("the new key is the key the log signs with already")
    add(keys.path, new)
    if keys.get(str(new.verifier)) is None:
        raise AuditError(f"signing key file {keys.path} did not keep the new key")
    from chamberlain.audit.tools.erase import operator

    with db.transaction():
        size = stored_size(db, lock=True)
        if keys.active(db).verifier != old.verifier:
            raise AuditError("another rotation happened meanwhile: run the command again")
        meta = read_meta(db)
        entry = new_entry(
            KEY_ROTATION,
            time=timestamp(dt.datetime.now(dt.UTC)),
            point="rotate-key",
            public={"old_key": str(old.verifier), "new_key": str(new.verifier), "by": by or operator()},
            reason=reason,
        )
        edge = TreeStore(db).edge(size)
        [error] = append_groups(db, [entry], edge, Limits())
        if isinstance(error, EncodingError):
            raise AuditError(f"the rotation entry cannot be encoded: {error}")
        known = [*log_keys(meta), str(new.verifier)]
        for key, value in (("signing_key", str(new.verifier)), ("keys", "\n".join(known))):
            db.execute(
                "INSERT INTO audit_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
        head = heads.sign(db, [old, new], edge.size, edge.root())
    return Rotation(str(old.verifier), str(new.verifier), size, head)
