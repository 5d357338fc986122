"""Which keys may sign which heads: the log's key schedule and a configured set of trusted keys.

**The schedule** (from the log itself): the log's first key (``audit_meta.verifier_key``) signs heads
from size 0; a ``key_rotation`` entry at ``seq`` s hands over to its ``new_key``: the old key is
valid for heads of size <= s + 1, the new one from size s + 1 on (the rotation's own head carries
both signatures). A new key is trusted only when the first head covering its rotation entry is
signed by the previous key, so no one who can write the database but holds no key can introduce one.

**A key set** (``audit verify --keys FILE``): one key per line, ``#`` comments, as

    <verifier key> [<not before> [<not after>]]

with RFC 3339 times or ``-`` for an open end. Log keys (signature type 0x01) pin which keys may sign
heads, and when: a head counts only when a key both in the schedule and in the set, valid at the
head's signing time, signed it. Witness keys (``cosignature/v1``, type 0x04) in the same file are
the witnesses ``--require-witnesses`` counts.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass, field

import orjson

from chamberlain.audit.errors import AuditError
from chamberlain.audit.tlog.note import NoteError, Verifier, split_note
from chamberlain.audit.tools.witness.cosignature import ALG_COSIGNATURE_V1, CosignerKey
from chamberlain.audit.write.entry import KEY_ROTATION
from chamberlain.store.db import Database, as_bytes


@dataclass(frozen=True, slots=True)
class TrustedKey:
    verifier: Verifier
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None

    def valid_at(self, when: dt.datetime) -> bool:
        return (self.not_before is None or when >= self.not_before) and (
            self.not_after is None or when <= self.not_after
        )


@dataclass(slots=True)
class KeySet:
    """Log keys with validity windows, and witness keys (see the module docstring)."""

    log_keys: list[TrustedKey] = field(default_factory=list)
    witnesses: list[CosignerKey] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str, where: str = "key set") -> KeySet:
        """Raises :class:`AuditError` naming the line."""
        out = cls()
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            try:
                if len(parts) > 3:
                    raise NoteError("expected a key and at most two times")
                if _signature_type(parts[0]) == ALG_COSIGNATURE_V1:
                    if len(parts) > 1:
                        raise NoteError("witness keys take no validity window")
                    out.witnesses.append(CosignerKey.parse(parts[0]))
                    continue
                times = [_time(t) for t in parts[1:]] + [None, None]
                out.log_keys.append(TrustedKey(Verifier.parse(parts[0]), times[0], times[1]))
            except NoteError as exc:
                raise AuditError(f"{where}, line {n}: {exc}") from None
        return out

    def trusts(self, verifier: Verifier, when: dt.datetime) -> bool:
        return any(str(k.verifier) == str(verifier) and k.valid_at(when) for k in self.log_keys)


def _signature_type(vkey: str) -> int:
    try:
        raw = base64.b64decode(vkey.split("+", 2)[-1], validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"key {vkey!r}: invalid base64") from None
    return raw[0] if raw else -1


def _time(text: str) -> dt.datetime | None:
    if text == "-":
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise NoteError(f"{text!r} is not an RFC 3339 time (or - for none)") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Rotation:
    seq: int
    old: Verifier
    new: Verifier


class ScheduleError(AuditError):
    """A rotation entry that does not follow from the log's keys (the message says which)."""

    def __init__(self, message: str, seq: int):
        super().__init__(message)
        self.seq = seq


@dataclass(slots=True)
class KeySchedule:
    first: Verifier
    rotations: list[Rotation] = field(default_factory=list)

    @classmethod
    def load(cls, db: Database, first_key: str) -> KeySchedule:
        """The schedule of the log in ``db`` (rotation entries in log order); raises :class:`ScheduleError`."""
        schedule = cls(Verifier.parse(first_key))
        current = schedule.first
        for seq, body in db.rows(
            "SELECT seq, body FROM audit_entries WHERE kind = ? ORDER BY seq", (KEY_ROTATION,)
        ):
            try:
                data = orjson.loads(as_bytes(body))
                old, new = Verifier.parse(data["old_key"]), Verifier.parse(data["new_key"])
            except (orjson.JSONDecodeError, KeyError, TypeError, NoteError) as exc:
                raise ScheduleError(f"entry {seq}: an unreadable key rotation ({exc})", int(seq)) from None
            if str(old) != str(current):
                raise ScheduleError(
                    f"entry {seq}: a key rotation from {old}, but the log's key then was {current}", int(seq)
                )
            if new.name != current.name:
                raise ScheduleError(f"entry {seq}: a key rotation to another origin ({new.name})", int(seq))
            schedule.rotations.append(Rotation(int(seq), old, new))
            current = new
        return schedule

    def keys_at(self, size: int) -> list[Verifier]:
        """The keys that may sign a head of ``size``."""
        keys = [self.first]
        for r in self.rotations:
            if size > r.seq + 1:
                keys = [r.new]
            elif size == r.seq + 1:
                keys = [r.old, r.new]
        return keys

    def all_keys(self) -> list[Verifier]:
        return [self.first, *(r.new for r in self.rotations)]


def verified_signers(note: str, candidates: list[Verifier]) -> list[Verifier]:
    """The candidates whose signatures on ``note`` verify; raises :class:`NoteError` when a candidate's
    signature line is there but does not verify, or when the note is malformed."""
    text, signatures = split_note(note)
    found = []
    for key in candidates:
        for s in signatures:
            if (s.name, s.id) == (key.name, key.id):
                if not key.verify(text.encode(), s.signature):
                    raise NoteError(f"signature by {key} does not verify")
                found.append(key)
                break
    return found
