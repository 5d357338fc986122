"""Signed notes (C2SP signed-note) with Ed25519 keys, and tree-head checkpoints (C2SP tlog-checkpoint).

Key formats are those of Go's ``golang.org/x/mod/sumdb/note``:

- verifier key: ``<name>+<hex key id>+<base64(0x01 || 32-byte public key)>``
- signer key:   ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || 32-byte seed)>``

where key id = the first four bytes (big-endian) of ``SHA-256(name || 0x0A || 0x01 || public key)``.
A signature line is ``— <name> <base64(key id || Ed25519 signature over the note text)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chamberlain.errors import Error

ALG_ED25519 = 0x01
_DASH = "\u2014 "
_PRIVATE = "PRIVATE+KEY+"


class NoteError(Error):
    """A key or note that is malformed, or a signature that does not verify."""


def key_id(name: str, public: bytes) -> int:
    """The 32-bit key id of an Ed25519 key (C2SP signed-note)."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public).digest()
    return int.from_bytes(digest[:4], "big")


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what}: invalid base64") from None


@dataclass(frozen=True, slots=True)
class Verifier:
    """A public key that checks signatures: its name, key id and Ed25519 key."""

    name: str
    id: int
    public: bytes

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """A verifier from its text ``name+hash+base64``; raises :class:`NoteError`."""
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError(f"verifier key {vkey!r}: expected name+hash+base64")
        name, hex_id, data = parts
        _check_name(name)
        if len(hex_id) != 8:
            raise NoteError(f"verifier key {vkey!r}: the key id must be 8 hex digits")
        try:
            claimed = int(hex_id, 16)
        except ValueError:
            raise NoteError(f"verifier key {vkey!r}: the key id must be 8 hex digits") from None
        raw = _b64(data, f"verifier key {vkey!r}")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError(f"verifier key {vkey!r}: not an Ed25519 key (algorithm byte 0x01, 32 bytes)")
        public = raw[1:]
        if key_id(name, public) != claimed:
            raise NoteError(f"verifier key {vkey!r}: key id does not match the name and key")
        return cls(name, claimed, public)

    def __str__(self) -> str:
        data = base64.b64encode(bytes([ALG_ED25519]) + self.public).decode()
        return f"{self.name}+{self.id:08x}+{data}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


class Signer:
    """An Ed25519 private key with a name, signing note texts."""

    __slots__ = ("_key", "name", "verifier")

    def __init__(self, name: str, seed: bytes):
        _check_name(name)
        if len(seed) != 32:
            raise NoteError("an Ed25519 seed is 32 bytes")
        self.name = name
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = Verifier(name, key_id(name, public), public)

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls(name, os.urandom(32))

    @classmethod
    def parse(cls, skey: str) -> Signer:
        """A signer from ``PRIVATE+KEY+name+hash+base64``; raises :class:`NoteError`."""
        text = skey.strip()
        if not text.startswith(_PRIVATE):
            raise NoteError("signer key: expected PRIVATE+KEY+<name>+<hash>+<base64>")
        parts = text[len(_PRIVATE) :].split("+", 2)
        if len(parts) != 3 or len(parts[1]) != 8:
            raise NoteError("signer key: expected PRIVATE+KEY+<name>+<hash>+<base64>")
        name, hex_id, data = parts
        raw = _b64(data, "signer key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("signer key: not an Ed25519 key (algorithm byte 0x01, 32-byte seed)")
        signer = cls(name, raw[1:])
        if f"{signer.verifier.id:08x}" != hex_id.lower():
            raise NoteError("signer key: key id does not match the name and key")
        return signer

    def private_text(self) -> str:
        seed = self._key.private_bytes_raw()
        data = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        return f"{_PRIVATE}{self.name}+{self.verifier.id:08x}+{data}"

    def sign(self, text: str) -> str:
        """The signed note: ``text`` (ending in a newline), a blank line, this key's signature line."""
        if not text.endswith("\n"):
            raise NoteError("a note text must end with a newline")
        signature = self.verifier.id.to_bytes(4, "big") + self._key.sign(text.encode())
        return f"{text}\n{_DASH}{self.name} {base64.b64encode(signature).decode()}\n"


def sign_note(text: str, signers: list[Signer]) -> str:
    """``text`` signed by each of ``signers`` (one signature line each, in order)."""
    notes = [s.sign(text) for s in signers]
    return notes[0] + "".join(n[len(text) + 1 :] for n in notes[1:])


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    id: int
    signature: bytes


def split_note(note: str) -> tuple[str, list[Signature]]:
    """The text and signature lines of a signed note; raises :class:`NoteError` when malformed."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("a signed note must not contain control characters other than newline")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError("not a signed note: no blank line before the signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    signatures = []
    for line in block[:-1].split("\n"):
        if not line.startswith(_DASH):
            raise NoteError(f"malformed signature line {line!r}")
        name, _, data = line[len(_DASH) :].partition(" ")
        raw = _b64(data, f"signature of {name!r}")
        if not name or len(raw) < 5:
            raise NoteError(f"malformed signature line {line!r}")
        signatures.append(Signature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    if not signatures:
        raise NoteError("a signed note needs at least one signature")
    return text, signatures


def open_note(note: str, verifier: Verifier) -> str:
    """The text of ``note`` once ``verifier``'s signature on it checks out; raises :class:`NoteError`."""
    text, signatures = split_note(note)
    mine = [s for s in signatures if s.name == verifier.name and s.id == verifier.id]
    if not mine:
        raise NoteError(f"note is not signed by {verifier.name}+{verifier.id:08x}")
    for s in mine:
        if not verifier.verify(text.encode(), s.signature):
            raise NoteError(f"signature by {verifier.name}+{verifier.id:08x} does not verify")
    return text


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: the log's origin, its size and root hash (C2SP tlog-checkpoint)."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or not all(lines[:-1]):
            raise NoteError("checkpoint: expected origin, tree size and root hash lines")
        origin, size_text, root_text = lines[0], lines[1], lines[2]
        size = decimal(size_text, "checkpoint: tree size")
        root = _b64(root_text, "checkpoint root hash")
        if len(root) != 32:
            raise NoteError("checkpoint: the root hash must be 32 bytes")
        return cls(origin, size, root)


#: The largest tree size read: SQLite's (and PostgreSQL's) integers are signed 64-bit.
MAX_TREE_SIZE = 2**63 - 1


def decimal(text: str, what: str) -> int:
    """A tree size: ASCII digits without leading zeros, at most :data:`MAX_TREE_SIZE`; else
    :class:`NoteError` (``str.isdigit`` and ``int`` also take other scripts' digits and superscripts)."""
    if (
        not text.isascii()
        or not text.isdigit()
        or (text.startswith("0") and text != "0")
        or len(text) > 19
        or int(text) > MAX_TREE_SIZE
    ):
        raise NoteError(f"{what}: {text[:40]!r} is not a decimal number up to 2^63-1 without leading zeros")
    return int(text)


def open_checkpoint(note: str, verifier: Verifier) -> Checkpoint:
    """A signed checkpoint, verified; its origin must be the key's name."""
    checkpoint = Checkpoint.parse(open_note(note, verifier))
    if checkpoint.origin != verifier.name:
        raise NoteError(
            f"checkpoint origin {checkpoint.origin!r} differs from the key name {verifier.name!r}"
        )
    return checkpoint
