"""A witness's key file: one ``PRIVATE+KEY+<name>+<id>+<base64(0x04 || seed)>`` line, created on first use."""

from __future__ import annotations

import socket
from pathlib import Path

from chamberlain.audit.storage.keys import SigningKeyError, create_key_file
from chamberlain.audit.tlog.note import NoteError
from chamberlain.audit.tools.witness.cosignature import Cosigner


def load_or_create(path: Path, name: str = "") -> Cosigner:
    """The cosigner in ``path``; a new key named ``name`` (default ``witness/<host>``) when it is missing."""
    path = Path(path)
    if not path.exists():
        create_key_file(
            path, Cosigner.generate(name or f"witness/{socket.gethostname() or 'host'}").private_text()
        )
    try:
        return Cosigner.parse(path.read_text())
    except OSError as exc:
        raise SigningKeyError(f"cannot read witness key file {path}: {exc.strerror or exc}") from None
    except NoteError as exc:
        raise SigningKeyError(f"witness key file {path}: {exc}") from None
