"""The ``add-checkpoint`` call of C2SP tlog-witness: request bodies, their parsing, and size answers.

Request body: ``old <size>\\n``, up to 63 consistency proof lines (base64 hashes), an empty line,
then the signed checkpoint note. A 409 answer's body is the witness's latest size and a newline
(``Content-Type: text/x.tlog.size``); a 200 answer's body is one or more cosignature lines.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from chamberlain.audit.tlog.note import NoteError, decimal

MAX_PROOF = 63
MAX_BODY = 64 * 1024  # a checkpoint with a few signatures and 63 hashes is under 4 KiB
SIZE_TYPE = "text/x.tlog.size"


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    old: int
    proof: list[bytes]
    note: str


def request_body(old: int, proof: list[bytes], note: str) -> bytes:
    lines = [f"old {old}\n", *(base64.b64encode(h).decode() + "\n" for h in proof), "\n"]
    return ("".join(lines) + note).encode()


def parse_request(body: bytes) -> AddCheckpoint:
    """Raises :class:`NoteError` (the witness answers 400) for a malformed body."""
    if len(body) > MAX_BODY:
        raise NoteError(f"request body larger than {MAX_BODY} bytes")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise NoteError("request body is not UTF-8") from None
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise NoteError("expected an old size line, proof lines, an empty line and a checkpoint")
    lines = head.split("\n")
    if not lines[0].startswith("old "):
        raise NoteError("the first line must be `old <size>`")
    old = decimal(lines[0][4:], "old size")
    if len(lines) - 1 > MAX_PROOF:
        raise NoteError(f"more than {MAX_PROOF} consistency proof lines")
    proof = []
    for line in lines[1:]:
        try:
            h = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            raise NoteError("a consistency proof line is not base64") from None
        if len(h) != 32:
            raise NoteError("a consistency proof line is not a 32-byte hash")
        proof.append(h)
    return AddCheckpoint(old, proof, note)


def parse_size(body: bytes) -> int:
    """The size in a 409 answer; raises :class:`NoteError` for anything else."""
    text = body.decode("ascii", "replace")
    if not text.endswith("\n") or "\n" in text[:-1]:
        raise NoteError(f"expected a tree size and a newline, got {text[:60]!r}")
    return decimal(text[:-1], "witness's tree size")
