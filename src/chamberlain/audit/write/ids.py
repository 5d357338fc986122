"""Call ids: ULIDs (48-bit millisecond time + 80 random bits, Crockford base32), like Cerbos's."""

from __future__ import annotations

import os
import time

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Every pair of characters, by the 10 bits they spell: a ULID's 130 bits are 13 lookups (26 lookups, a
#: character each, took 3.5 µs a call on the server's hot path; this 2.0 µs; base64.b32encode, 3.3).
_PAIRS = [a + b for a in CROCKFORD for b in CROCKFORD]
_SHIFTS = tuple(range(120, -1, -10))


def new_call_id() -> str:
    """A new ULID: 26 characters, sorting by time."""
    return ulid((int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big"))


def ulid(value: int) -> str:
    """The 26 characters of a 128-bit ``value`` (most significant first)."""
    pairs = _PAIRS
    return "".join([pairs[(value >> shift) & 1023] for shift in _SHIFTS])
