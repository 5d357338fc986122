"""``cosignature/v1``: timestamped Ed25519 cosignatures on checkpoints (C2SP tlog-cosignature).

A cosigner key has a name (a schema-less URL such as ``witness.example/w1``) and an Ed25519 key; its
key ID is ``SHA-256(name || 0x0A || 0x04 || public key)[:4]``. Keys are written as signed-note keys
with signature type 0x04:

- verifier key: ``<name>+<hex key id>+<base64(0x04 || 32-byte public key)>``
- signer key:   ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 || 32-byte seed)>``

The signed message is ``cosignature/v1\\ntime <T>\\n`` followed by the checkpoint's note text; the
signature line is ``— <name> base64(key id || u64 timestamp || Ed25519 signature)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chamberlain.audit.tlog.note import NoteError

ALG_COSIGNATURE_V1 = 0x04
DASH = "\u2014 "
_PRIVATE = "PRIVATE+KEY+"
MAX_TIMESTAMP = (1 << 63) - 1


def cosigner_key_id(name: str, public: bytes) -> int:
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public).digest()
    return int.from_bytes(digest[:4], "big")


def message(checkpoint_text: str, timestamp: int) -> bytes:
    """What a cosigner signs: the header line, the time line and the checkpoint's note text."""
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint_text}".encode()


def _split_key(text: str, what: str) -> tuple[str, str, bytes]:
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or len(parts[1]) != 8:
        raise NoteError(f"{what} {text.strip()!r}: expected name+hash+base64")
    name, hex_id, data = parts
    if not name or any(c.isspace() for c in name):
        raise NoteError(f"{what} {text.strip()!r}: the name must be non-empty, without spaces")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} {text.strip()!r}: invalid base64") from None
    if len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:
        raise NoteError(f"{what} {text.strip()!r}: not a cosignature/v1 key (signature type 0x04, 32 bytes)")
    return name, hex_id.lower(), raw[1:]


@dataclass(frozen=True, slots=True)
class CosignerKey:
    """A witness's public key: verifies its cosignatures."""

    name: str
    id: int
    public: bytes

    @classmethod
    def parse(cls, vkey: str) -> CosignerKey:
        name, hex_id, public = _split_key(vkey, "witness key")
        if f"{cosigner_key_id(name, public):08x}" != hex_id:
            raise NoteError(f"witness key {vkey.strip()!r}: the key id does not match the name and key")
        return cls(name, int(hex_id, 16), public)

    def __str__(self) -> str:
        data = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public).decode()
        return f"{self.name}+{self.id:08x}+{data}"

    def verify_line(self, line: str, checkpoint_text: str) -> int | None:
        """The timestamp of ``line`` when it is this key's valid cosignature on ``checkpoint_text``.

        ``None`` for another key's line; raises :class:`NoteError` when the line is this key's
        (name and id match) but malformed or does not verify.
        """
        if not line.startswith(DASH):
            return None
        name, _, data = line[len(DASH) :].partition(" ")
        if name != self.name:
            return None
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise NoteError(f"cosignature of {name}: invalid base64") from None
        if len(raw) < 4 or int.from_bytes(raw[:4], "big") != self.id:
            return None
        if len(raw) != 4 + 8 + 64:
            raise NoteError(f"cosignature of {name}: expected a key id, a timestamp and an Ed25519 signature")
        timestamp = int.from_bytes(raw[4:12], "big")
        if timestamp > MAX_TIMESTAMP:
            raise NoteError(f"cosignature of {name}: timestamp out of range")
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(
                raw[12:], message(checkpoint_text, timestamp)
            )
        except InvalidSignature:
            raise NoteError(f"cosignature of {self} does not verify") from None
        return timestamp


class Cosigner:
    """A witness's private key: cosigns checkpoints."""

    __slots__ = ("_key", "key", "name")

    def __init__(self, name: str, seed: bytes):
        if not name or any(c.isspace() or c == "+" for c in name):
            raise NoteError(f"witness name {name!r} must be non-empty, without spaces or '+'")
        if len(seed) != 32:
            raise NoteError("an Ed25519 seed is 32 bytes")
        self.name = name
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key = CosignerKey(name, cosigner_key_id(name, public), public)

    @classmethod
    def generate(cls, name: str) -> Cosigner:
        return cls(name, os.urandom(32))

    @classmethod
    def parse(cls, skey: str) -> Cosigner:
        text = skey.strip()
        if not text.startswith(_PRIVATE):
            raise NoteError("witness signer key: expected PRIVATE+KEY+<name>+<hash>+<base64>")
        name, hex_id, seed = _split_key(text[len(_PRIVATE) :], "witness signer key")
        signer = cls(name, seed)
        if f"{signer.key.id:08x}" != hex_id:
            raise NoteError("witness signer key: the key id does not match the name and key")
        return signer

    def private_text(self) -> str:
        data = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self._key.private_bytes_raw()).decode()
        return f"{_PRIVATE}{self.name}+{self.key.id:08x}+{data}"

    def cosign(self, checkpoint_text: str, timestamp: int | None = None) -> str:
        """A signature line (ending in a newline) cosigning ``checkpoint_text`` at ``timestamp`` (now)."""
        ts = int(time.time()) if timestamp is None else timestamp
        signature = self._key.sign(message(checkpoint_text, ts))
        raw = self.key.id.to_bytes(4, "big") + ts.to_bytes(8, "big") + signature
        return f"{DASH}{self.name} {base64.b64encode(raw).decode()}\n"
