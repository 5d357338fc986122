"""What a leaf commits to without holding it: salted digests of erasable content, limits, redaction.

An entry's leaf holds ``sha256(salt || content)`` of content stored apart (the entry's own detail,
and its call's request, stored once per call). The salt is 16 random bytes per stored record, kept
beside the content and erased with it: once both are gone the digest says nothing that could be
guessed back, and the leaf, the tree, every signed head and every proof stay as they were.

Content is stored as the JSON bytes it was hashed from (orjson, keys sorted): the digest is over
the stored bytes, so no canonical form is needed to check it. Values that are not JSON (sets,
timestamps, CEL values, integers beyond 64 bits) are made plain JSON as
:func:`chamberlain.audit.write.canonical.normalise` makes them.

Redaction (``LogOptions.redact``): attribute paths such as ``R.attr.iban``, ``P.attr.ssn`` or
``R.attr.arguments.card`` (an MCP tool's argument) are stored as
``{"redacted": "<sha256 hex of salt || path || 0x00 || value's JSON>"}``: the log can prove a value
(given it, recompute the digest with the record's salt) without keeping it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from chamberlain.audit.errors import AuditError
from chamberlain.audit.write.canonical import EncodingError, normalise

SALT_BYTES = 16
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
_sha256 = hashlib.sha256
REDACTED = "redacted"


class EntryTooLarge(EncodingError):
    """A request or entry larger than the decision log may hold (its check is denied, naming the limit)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one call may cost the log (``chamberlain.audit.maxRequestBytes`` / ``maxEntryBytes``)."""

    max_request_bytes: int = 1 << 20
    max_entry_bytes: int = 64 << 10
    redact: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_request_bytes < 1024 or self.max_entry_bytes < 1024:
            raise ValueError("maxRequestBytes and maxEntryBytes must be at least 1024")
        for path in self.redact:
            parse_path(path)


def salts(n: int) -> list[bytes]:
    """``n`` fresh random salts (one system call)."""
    raw = os.urandom(SALT_BYTES * n)
    return [raw[i : i + SALT_BYTES] for i in range(0, len(raw), SALT_BYTES)]


def salted(salt: bytes, data: bytes) -> bytes:
    """``sha256(salt || data)``: what a leaf holds of content stored apart."""
    return _sha256(salt + data).digest()


#: A request record's digest is the last 32 bytes of its stored key (see :func:`request_key`).
DIGEST_BYTES = 32
_NS_MAX = (1 << 64) - 1


def request_key(ns: int, digest: bytes) -> bytes:
    """The stored key of a call's request record: the call's time (8 bytes, big-endian nanoseconds) then
    its salted digest.

    Why: keyed by the digest alone, every record went to a random place of the key's index, and each
    commit rewrote about one index page per call (most of the log's bytes written per commit at
    hundreds of calls per batch). Led by the time, records are appended at the index's end. The time
    is not committed to by the leaf (only the digest is): it orders storage, nothing else. Records of
    logs written before hold the bare digest; :func:`request_digest` reads both.
    """
    return min(max(ns, 0), _NS_MAX).to_bytes(8, "big") + digest


def request_digest(key: bytes) -> bytes:
    """The salted digest a request record's stored key ends with (a bare digest is its own)."""
    return key[-DIGEST_BYTES:]


def dumps(value: Any) -> bytes:
    """JSON bytes of ``value`` (keys sorted; non-JSON values made plain); raises :class:`EncodingError`."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        pass
    plain, _ = normalise(value)
    try:
        return orjson.dumps(plain, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise EncodingError(f"cannot encode as JSON: {exc}") from None


def bounded(data: bytes, limit: int, what: str, key: str) -> bytes:
    """``data`` unless it is longer than ``limit``; then :class:`EntryTooLarge` naming the setting."""
    if len(data) > limit:
        raise EntryTooLarge(
            f"{what} is {len(data):,} bytes, more than the decision log holds ({limit:,} bytes, "
            f"chamberlain.audit.{key}): the check is denied because it cannot be recorded"
        )
    return data


# -- redaction ---------------------------------------------------------------------------------------

_ROOTS = {"R": "resource", "P": "principal", "request.resource": "resource", "request.principal": "principal"}


def parse_path(path: str) -> tuple[str, tuple[str, ...]]:
    """``R.attr.iban`` -> ``("resource", ("iban",))``; raises :class:`AuditError` for other forms."""
    for prefix, owner in _ROOTS.items():
        head = prefix + ".attr."
        if path.startswith(head) and all(path[len(head) :].split(".")):
            return owner, tuple(path[len(head) :].split("."))
    raise AuditError(
        f"redact path {path!r}: expected R.attr.NAME[.NAME...] or P.attr.NAME[.NAME...] (e.g. R.attr.iban)"
    )


def redaction_digest(salt: bytes, path: str, value: Any) -> str:
    """The digest a redacted value is stored as (hex); anyone given the value and the salt can recompute it."""
    return _sha256(salt + path.encode() + b"\0" + dumps(value)).hexdigest()


def redact(
    attr: Mapping[str, Any], paths: Iterable[tuple[str, tuple[str, ...]]], salt: bytes, owner_prefix: str
) -> tuple[Mapping[str, Any], list[str]]:
    """``attr`` with each path's value replaced by its digest (copies only what it changes), and the paths hit."""
    hit: list[str] = []
    out: Any = attr
    for names in paths:
        out, found = _replace(out, names, salt, f"{owner_prefix}.attr.{'.'.join(names)}")
        if found:
            hit.append(f"{owner_prefix}.attr.{'.'.join(names)}")
    return out, hit


def _replace(value: Any, names: tuple[str, ...], salt: bytes, path: str) -> tuple[Any, bool]:
    if not isinstance(value, Mapping) or names[0] not in value:
        return value, False
    if len(names) == 1:
        inner = {REDACTED: redaction_digest(salt, path, value[names[0]])}
        return {**value, names[0]: inner}, True
    inner, found = _replace(value[names[0]], names[1:], salt, path)
    return ({**value, names[0]: inner}, True) if found else (value, False)
