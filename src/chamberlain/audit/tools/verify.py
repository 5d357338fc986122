"""Verifying a decision log: every entry, every hash, the tree and every signed head, recomputed.

Checks, in log order: sequence numbers run 0, 1, 2, ... without gaps; each entry's own ``seq``
is its position; its leaf hash is SHA-256(0x00 || body); for a format 2 entry, its content and
its call's request record match the salted digests its leaf holds, or the entry was erased by an
erasure entry that lists it; its search columns are the entry's values; every stored tree node
equals the one recomputed from the leaves; every signed head's signature verifies with the log's
key and its root equals the recomputed root at its size; no signed head (nor the trusted head) is
larger than the log.

Heads cannot simply disappear: a log gets the empty tree's head in the transaction that creates
it, so a log without heads lost them; and the entries after the latest head (the unsigned tail)
must be younger than ``max_unsigned_age`` — a running log signs every ``headInterval``, so an old
unsigned tail means heads were deleted (or the writer died and was never restarted).

The first difference is named: an entry edited, deleted, inserted or moved is reported at its
sequence number; an edit that also rewrote the leaf hash and the stored nodes shows as a signed
head that no longer matches, naming the range of entries since the previous matching head.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from chamberlain.audit.errors import AuditError
from chamberlain.audit.storage import heads as heads_mod
from chamberlain.audit.storage.reader import AuditReader
from chamberlain.audit.storage.tables import STRIDE
from chamberlain.audit.storage.tree import stored_size
from chamberlain.audit.tlog.merkle import Edge, leaf_hash
from chamberlain.audit.tlog.note import Checkpoint, NoteError, Verifier, split_note
from chamberlain.audit.tools.keyset import KeySchedule, KeySet, ScheduleError, verified_signers
from chamberlain.audit.write.content import request_digest, salted
from chamberlain.audit.write.entry import (
    COLUMNS,
    ERASABLE_COLUMNS,
    ERASURE,
    LEGACY_VERSION,
    columns_of,
    to_ns,
)
from chamberlain.store.db import Database, as_bytes
from chamberlain.store.errors import StoreError

CHUNK = 20_000
MAX_UNSIGNED_AGE = 300.0  # seconds; a running log signs every headInterval (10 s by default)
_ERASABLE = [3 + COLUMNS.index(name) for name in ERASABLE_COLUMNS]  # their places in a row of _SELECT_2
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class TrustedHead:
    """A head the verifier trusts from outside the log: a signed checkpoint and the key to check it."""

    checkpoint: str
    verifier_key: str = ""

    @classmethod
    def parse(cls, text: str) -> TrustedHead:
        """The JSON ``chamberlain audit head --json`` prints, or a bare signed checkpoint note."""
        stripped = text.strip()
        if stripped.startswith("{"):
            try:
                data = orjson.loads(stripped)
            except orjson.JSONDecodeError as exc:
                raise AuditError(f"trusted head: invalid JSON: {exc}") from None
            if not isinstance(data, dict) or not isinstance(data.get("checkpoint"), str):
                raise AuditError('trusted head: expected {"checkpoint": "...", "verifier_key": "..."}')
            return cls(data["checkpoint"], str(data.get("verifier_key") or ""))
        return cls(text if text.endswith("\n") else text + "\n")


@dataclass(slots=True)
class Report:
    """The outcome: ``ok`` when nothing differs; otherwise ``problem`` names the first difference."""

    size: int = 0
    heads: int = 0
    root: bytes = b""
    pending: int = 0
    problem: str = ""
    first_bad: int | None = None
    notes: list[str] = field(default_factory=list)
    erased: int = 0
    erasures: list[dict[str, Any]] = field(default_factory=list)  # {"seq", "by", "time", "count", "selector"}
    legacy: int = 0  # format 1 entries (not replayable, not erasable)
    unsigned: int = 0  # entries after the latest signed head
    keys: list[str] = field(default_factory=list)  # the log's signing keys, oldest first
    witnessed: list[str] = field(
        default_factory=list
    )  # witness keys with a valid cosignature on the latest head

    @property
    def ok(self) -> bool:
        return not self.problem

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "tree_size": self.size,
            "signed_heads": self.heads,
            "root_hash": self.root.hex(),
            "pending": self.pending,
            "problem": self.problem or None,
            "first_bad_entry": self.first_bad,
            "erased_entries": self.erased,
            "erasures": self.erasures,
            "format_1_entries": self.legacy,
            "unsigned_entries": self.unsigned,
            "keys": self.keys,
            "witnessed_by": self.witnessed,
            "notes": self.notes,
        }


class _Tampered(Exception):
    def __init__(self, message: str, seq: int | None):
        super().__init__(message)
        self.seq = seq


def verify(
    db: Database,
    *,
    trusted: TrustedHead | None = None,
    progress: Progress | None = None,
    max_unsigned_age: float | None = MAX_UNSIGNED_AGE,
    now: dt.datetime | None = None,
    keys: KeySet | None = None,
    require_witnesses: int = 0,
) -> Report:
    """Verify the log in ``db`` (see the module docstring); ``max_unsigned_age`` None: any unsigned tail.

    ``keys``: only these log keys, in their validity windows, may sign heads (see
    :mod:`chamberlain.audit.tools.keyset`). ``require_witnesses``: the latest head must carry valid
    cosignatures from at least this many distinct witness keys of ``keys``.
    """
    if require_witnesses and (keys is None or not keys.witnesses):
        raise AuditError(
            "--require-witnesses needs the witnesses' keys: list them in a key set (--keys FILE) "
            "or give --witness-key"
        )
    report = Report()
    with db.snapshot():  # a log being written meanwhile is verified as of this moment
        reader = AuditReader(db)
        report.pending = reader.pending()
        try:
            _verify(db, reader, trusted, progress, report, keys)
            _check_tail(db, report, max_unsigned_age, now)
            if require_witnesses:
                _check_witnesses(db, report, keys, require_witnesses)  # type: ignore[arg-type]
        except _Tampered as exc:
            report.problem = str(exc)
            report.first_bad = exc.seq
    return report


_SELECT_2 = (
    "SELECT e.seq, e.leaf, e.body, e.time, e.kind, e.session_id, e.principal, e.actors, e.resource_kind, "
    "e.resource_id, e.action, e.effect, e.salt, e.content, e.request, e.erased_by, r.salt, r.body "
    "FROM audit_entries e LEFT JOIN audit_requests r ON r.digest = e.request ORDER BY e.seq"
)
_SELECT_1 = (
    "SELECT seq, leaf, body, time, kind, session_id, principal, actors, resource_kind, resource_id, action, "
    "effect, NULL, NULL, NULL, NULL, NULL, NULL FROM audit_entries ORDER BY seq"
)


def _verify(
    db: Database,
    reader: AuditReader,
    trusted: TrustedHead | None,
    progress: Progress | None,
    report: Report,
    keys: KeySet | None,
) -> None:
    first_key = reader.meta.get("verifier_key")
    if not isinstance(first_key, str):
        raise _Tampered("audit_meta holds no verifier_key: the log's metadata was edited", None)
    try:
        schedule = KeySchedule.load(db, first_key)
    except ScheduleError as exc:
        raise _Tampered(str(exc), exc.seq) from None
    except NoteError as exc:
        raise _Tampered(f"audit_meta.verifier_key: {exc} (the log's metadata was edited)", None) from None
    report.keys = [str(k) for k in schedule.all_keys()]
    expected = _signed_roots(db, schedule, keys, report)
    signed_sizes = sorted(expected)
    trusted_size = _trusted(trusted, schedule, expected)
    try:
        recorded = stored_size(db)
    except StoreError as exc:
        raise _Tampered(str(exc), None) from None
    total = max(recorded, _max_seq(db) + 1)  # for the progress bar
    edge = Edge()
    next_seq = 0
    last_good_head = 0
    erased: list[tuple[int, int | None]] = []  # (seq, erased_by)
    erasures: dict[int, list[list[int]]] = {}
    checked_request = b""
    for chunk in db.stream(_SELECT_1 if reader.legacy else _SELECT_2, chunk=CHUNK):
        stored_nodes = _stored_nodes(db, chunk[0][0], chunk[-1][0] + 1)
        for row in chunk:
            seq = row[0]
            if seq != next_seq:
                raise _Tampered(f"entry {next_seq} is missing (deleted): the next entry is {seq}", next_seq)
            body = as_bytes(row[2])
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise _Tampered(f"entry {seq} is not valid JSON (edited)", seq) from None
            if not isinstance(data, dict) or data.get("seq") != seq:
                inner = data.get("seq") if isinstance(data, dict) else None
                first = min(seq, inner) if isinstance(inner, int) and inner >= 0 else seq
                raise _Tampered(
                    f"entry {seq} holds sequence number {inner}: entries were inserted, moved or "
                    f"reordered from entry {first} on",
                    first,
                )
            h = leaf_hash(body)
            if h != as_bytes(row[1]):
                raise _Tampered(f"entry {seq} was edited: its content does not match its leaf hash", seq)
            if data.get("v", LEGACY_VERSION) == LEGACY_VERSION:
                report.legacy += 1
                content = None
            else:
                content = _content(seq, data, row)
                if content is None:
                    erased.append((seq, row[15]))
                if row[14] is not None and as_bytes(row[14]) != checked_request:
                    checked_request = _request(seq, data, row, content is None)
                if data.get("kind") == ERASURE:
                    erasures[seq] = data.get("erased") or []
                    report.erasures.append(
                        {
                            "seq": seq,
                            "by": data.get("by"),
                            "time": data.get("time"),
                            "count": data.get("count"),
                            "selector": data.get("selector"),
                        }
                    )
            if columns_of(data, content) != tuple(row[3:12]):
                raise _Tampered(f"entry {seq}: its search columns differ from its content (edited)", seq)
            for level, index, node in edge.append(h):
                if level % STRIDE == 0 and stored_nodes.get((level, index)) != node:
                    first = index << level
                    raise _Tampered(
                        f"tree node at level {level}, index {index} does not match entries {first}..{seq}: "
                        "an entry there was altered (with its leaf hash) or the node was",
                        first,
                    )
            next_seq = seq + 1
            root = expected.get(next_seq)
            if root is not None:
                if edge.root() != root:
                    raise _Tampered(
                        f"the signed head at size {next_seq} does not match the entries: one of entries "
                        f"{last_good_head}..{seq} was altered, removed, inserted or reordered",
                        last_good_head,
                    )
                last_good_head = next_seq
        if progress is not None:
            progress(next_seq, total)
    report.size = next_seq
    report.root = edge.root()
    _check_erased(erased, erasures)
    report.erased = len(erased)
    if next_seq > recorded:
        raise _Tampered(
            f"entries {recorded}..{next_seq - 1} lie beyond the log's recorded size of {recorded} (inserted)",
            recorded,
        )
    if recorded > next_seq:
        raise _Tampered(f"the log was cut off: it recorded {recorded} entries but holds {next_seq}", next_seq)
    if trusted_size is not None and trusted_size > next_seq:
        raise _Tampered(
            f"the log was cut off: the trusted head covers {trusted_size} entries, the log holds {next_seq}",
            next_seq,
        )
    if signed_sizes and signed_sizes[-1] > next_seq:
        raise _Tampered(
            f"the log was cut off after a signed head: the head at size {signed_sizes[-1]} covers "
            f"entries up to {signed_sizes[-1] - 1}, the log ends at {next_seq - 1}",
            next_seq,
        )
    if 0 in expected and expected[0] != Edge().root():
        raise _Tampered("the signed head at size 0 has a root other than the empty tree's", 0)
    if report.pending:
        report.notes.append(f"{report.pending} entries are durable but not yet sequenced (audit_pending)")


def _content(seq: int, data: dict[str, Any], row: tuple[Any, ...]) -> dict[str, Any] | None:
    """A format 2 entry's content, checked against its leaf's salted digest (None: erased)."""
    if row[13] is None:
        if row[15] is None:
            raise _Tampered(f"entry {seq}: its content was removed without an erasure entry", seq)
        if any(row[i] for i in _ERASABLE) or row[12] is not None:
            raise _Tampered(f"entry {seq} is erased but still holds content (edited)", seq)
        return None
    stored = as_bytes(row[13])
    if row[12] is None or salted(as_bytes(row[12]), stored).hex() != data.get("content"):
        raise _Tampered(f"entry {seq}: its content does not match the digest in its leaf (edited)", seq)
    try:
        content = orjson.loads(stored)
    except orjson.JSONDecodeError:
        raise _Tampered(f"entry {seq}: its content is not valid JSON (edited)", seq) from None
    if not isinstance(content, dict):
        raise _Tampered(f"entry {seq}: its content is not an object (edited)", seq)
    return content


def _request(seq: int, data: dict[str, Any], row: tuple[Any, ...], erased: bool) -> bytes:
    """Check the request record entry ``seq`` refers to; returns its key (checked once per call)."""
    key = as_bytes(row[14])
    digest = request_digest(key)
    if digest.hex() != data.get("request", ""):
        raise _Tampered(f"entry {seq}: its request column differs from its leaf (edited)", seq)
    if not digest:
        return key
    if row[17] is None:
        if erased:
            return key
        raise _Tampered(f"entry {seq}: the request record of its call is missing (deleted)", seq)
    if salted(as_bytes(row[16]), as_bytes(row[17])) != digest:
        raise _Tampered(f"entry {seq}: the request record of its call does not match its leaf (edited)", seq)
    return key


def _check_erased(erased: list[tuple[int, int | None]], erasures: dict[int, list[list[int]]]) -> None:
    """Every erased entry is listed by the erasure entry it names, which comes after it."""
    starts: dict[int, list[int]] = {by: [r[0] for r in ranges] for by, ranges in erasures.items()}
    for seq, by in erased:
        ranges = erasures.get(by) if by is not None else None
        if ranges is None or by is None or by <= seq:
            raise _Tampered(
                f"entry {seq}: its content was removed, but entry {by} is not an erasure entry "
                "that came after it",
                seq,
            )
        i = bisect.bisect_right(starts[by], seq) - 1
        if i < 0 or not ranges[i][0] <= seq <= ranges[i][1]:
            raise _Tampered(
                f"entry {seq}: its content was removed, but erasure entry {by} does not list it", seq
            )


def _check_tail(db: Database, report: Report, max_age: float | None, now: dt.datetime | None) -> None:
    """A log without heads lost them; an old unsigned tail lost the heads that covered it."""
    latest = max((h.size for h in heads_mod.all_heads(db)), default=None)
    if latest is None:
        if report.size:
            raise _Tampered(
                f"the log holds {report.size} entries but no signed head: a log gets its first head when "
                "it is created and heads are never removed, so they were deleted (entries may have been "
                "rewritten: verify against a head kept outside the database, --trusted-head)",
                0,
            )
        return
    report.unsigned = report.size - latest
    if not report.unsigned or max_age is None:
        return
    oldest = db.value("SELECT min(time) FROM audit_entries WHERE seq >= ?", (latest,), "")
    limit = to_ns(now or dt.datetime.now(dt.UTC)) - int(max_age * 1e9)
    try:
        old = to_ns(dt.datetime.fromisoformat(str(oldest)[:26].rstrip("Z") + "+00:00")) < limit
    except ValueError:
        old = True
    if old:
        raise _Tampered(
            f"signed heads do not cover the log: {report.unsigned} entries after the latest head (size {latest}), "
            f"from {oldest} on, are older than {max_age:.0f} s; a running log signs every head interval, so the "
            "heads covering them were deleted — or the writer died and was not started again (starting it signs "
            "them if they extend the latest head and the head file)",
            latest,
        )
    report.notes.append(
        f"{report.unsigned} entries after the latest signed head (size {latest}) are not signed yet"
    )


def _signed_roots(
    db: Database, schedule: KeySchedule, keys: KeySet | None, report: Report
) -> dict[int, bytes]:
    """Every stored head, signature checked: size -> root. Two different roots for one size is a fork.

    Each head must be signed by a key the schedule allows at its size (and, with ``keys``, one the key
    set trusts at its signing time); the first head over a rotation entry by the previous key too.
    """
    roots: dict[int, bytes] = {}
    endorse = {r.seq: r for r in schedule.rotations}
    for head in heads_mod.all_heads(db):
        allowed = schedule.keys_at(head.size)
        try:
            signers = verified_signers(head.note, allowed)
            if not signers:
                raise NoteError(
                    f"not signed by {' or '.join(map(str, allowed))}, the log's key for that size"
                )
            checkpoint = Checkpoint.parse(split_note(head.note)[0])
            if checkpoint.origin != allowed[0].name:
                raise NoteError(
                    f"checkpoint origin {checkpoint.origin!r} differs from the key name {allowed[0].name!r}"
                )
        except NoteError as exc:
            raise _Tampered(f"the signed head at size {head.size} does not verify: {exc}", None) from None
        if keys is not None and keys.log_keys:
            when = _head_time(head.signed_at)
            if not any(keys.trusts(v, when) for v in signers):
                raise _Tampered(
                    f"the signed head at size {head.size} is signed by {', '.join(map(str, signers))}, "
                    f"which the key set does not trust at {head.signed_at}",
                    None,
                )
        for seq in [s for s in endorse if s < head.size]:
            rotation = endorse.pop(seq)
            if not any(str(v) == str(rotation.old) for v in signers):
                raise _Tampered(
                    f"the key rotation at entry {seq} is not vouched for: the first head over it (size "
                    f"{head.size}) is not signed by the previous key {rotation.old}",
                    seq,
                )
        if (checkpoint.size, checkpoint.root) != (head.size, head.root):
            raise _Tampered(f"the head row at size {head.size} differs from its signed checkpoint", None)
        if roots.get(head.size, head.root) != head.root:
            raise _Tampered(
                f"two signed heads at size {head.size} have different roots (the log forked)", None
            )
        roots[head.size] = head.root
        report.heads += 1
    return roots


def _trusted(trusted: TrustedHead | None, schedule: KeySchedule, expected: dict[int, bytes]) -> int | None:
    if trusted is None:
        return None
    log_keys = schedule.all_keys()
    if trusted.verifier_key:
        try:
            key = Verifier.parse(trusted.verifier_key)
        except NoteError as exc:
            raise AuditError(f"trusted head: {exc}") from None
        if str(key) not in map(str, log_keys):
            raise _Tampered(
                f"the log is signed by {', '.join(map(str, log_keys))}, not by the trusted key {key}", None
            )
    try:
        checkpoint: Checkpoint = Checkpoint.parse(split_note(trusted.checkpoint)[0])
        if not verified_signers(trusted.checkpoint, schedule.keys_at(checkpoint.size)):
            raise NoteError(f"not signed by the log's key for size {checkpoint.size}")
    except NoteError as exc:
        raise _Tampered(f"the trusted head does not verify with the log's key: {exc}", None) from None
    if expected.get(checkpoint.size, checkpoint.root) != checkpoint.root:
        raise _Tampered(
            f"the log's signed head at size {checkpoint.size} differs from the trusted head", None
        )
    expected[checkpoint.size] = checkpoint.root
    return checkpoint.size


def _head_time(signed_at: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(signed_at[:26].rstrip("Z") + "+00:00")
    except ValueError:
        return dt.datetime.max.replace(tzinfo=dt.UTC)  # unreadable: inside no window that has an end


def _check_witnesses(db: Database, report: Report, keys: KeySet, required: int) -> None:
    """The latest head must carry valid cosignatures from ``required`` distinct witness keys of ``keys``."""
    from chamberlain.audit.tools.witness.client import cosignatures

    latest = heads_mod.latest(db)
    if latest is None:
        raise _Tampered("no signed head to be witnessed", None)
    text = split_note(latest.note)[0]
    witnessed: set[str] = set()
    for line in cosignatures(db, latest.size):
        for key in keys.witnesses:
            try:
                if key.verify_line(line, text) is not None:
                    witnessed.add(str(key))
            except NoteError as exc:
                raise _Tampered(
                    f"a cosignature on the head at size {latest.size} does not verify: {exc}", None
                ) from None
    report.witnessed = sorted(witnessed)
    if len(witnessed) < required:
        raise _Tampered(
            f"the latest signed head (size {latest.size}) is cosigned by {len(witnessed)} of the trusted "
            f"witnesses, {required} required",
            None,
        )


def _max_seq(db: Database) -> int:
    return int(db.value("SELECT max(seq) FROM audit_entries", (), -1))


def _stored_nodes(db: Database, start: int, end: int) -> dict[tuple[int, int], bytes]:
    """Stored nodes that close while leaves ``[start, end)`` are appended."""
    found: dict[tuple[int, int], bytes] = {}
    level = STRIDE
    while (1 << level) <= end:
        rows = db.rows(
            "SELECT idx, hash FROM audit_nodes WHERE level = ? AND idx >= ? AND idx < ?",
            (level, start >> level, end >> level),
        )
        for idx, h in rows:
            found[(level, idx)] = as_bytes(h)
        level += STRIDE
    return found


def check_extends(db: Database, verifier_keys: list[str], trusted: TrustedHead | None = None) -> None:
    """Before a writer signs anything: the log must still extend its latest signed head and ``trusted``.

    Cheap (stored subtree hashes only). Raises :class:`LogTampered` naming what no longer holds, so
    a restarted server never signs over a rewritten log.
    """
    from chamberlain.audit.errors import LogTampered
    from chamberlain.audit.storage.tree import TreeStore

    where = db.url.display
    size = stored_size(db)
    latest = heads_mod.latest(db)
    tree = TreeStore(db)
    claims: list[tuple[str, int, bytes]] = []
    if latest is None:
        if size:
            raise LogTampered(
                f"the decision log at {where} holds {size} entries but no signed head (heads were "
                "deleted): refusing to sign over it; run `chamberlain audit verify`"
            )
    else:
        try:
            checkpoint = _open_any(latest.note, verifier_keys)
        except NoteError as exc:
            raise LogTampered(f"the latest signed head of {where} does not verify: {exc}") from None
        claims.append(("its latest signed head", checkpoint.size, checkpoint.root))
    if trusted is not None:
        try:
            checkpoint = _open_any(trusted.checkpoint, verifier_keys)
        except NoteError as exc:
            raise LogTampered(f"the head file of {where} does not verify with the log's key: {exc}") from None
        claims.append(("the head published in its head file", checkpoint.size, checkpoint.root))
    for what, n, root in claims:
        if n > size:
            raise LogTampered(
                f"the decision log at {where} holds {size} entries, but {what} covers {n}: it was cut "
                "off; refusing to sign over it"
            )
        try:
            found = tree.root(n)
        except StoreError as exc:  # a damaged tree: the message says what is missing
            raise LogTampered(str(exc)) from None
        if found != root:
            raise LogTampered(
                f"the decision log at {where} no longer matches {what} (size {n}): it was rewritten; "
                "refusing to sign over it; run `chamberlain audit verify`"
            )


def _open_any(note: str, verifier_keys: list[str]) -> Checkpoint:
    """The checkpoint of ``note`` when one of the log's keys signed it; raises NoteError."""
    verifiers = [Verifier.parse(k) for k in verifier_keys]
    if not verified_signers(note, verifiers):
        raise NoteError(f"not signed by {' or '.join(verifier_keys)}")
    return Checkpoint.parse(split_note(note)[0])
