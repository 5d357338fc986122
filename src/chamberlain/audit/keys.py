"""The log's signing key: read from a file, or generated into it on first start (mode 0600).

The file holds one line in Go's note signer format (``PRIVATE+KEY+<name>+<id>+<base64>``), so
Go's ``golang.org/x/mod/sumdb/note`` tools can use it as well.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from pathlib import Path

from chamberlain.audit.note import NoteError, Signer
from chamberlain.errors import Error
from chamberlain.files import MAX_CONFIG_BYTES, FileRefused, read_text_bounded


class SigningKeyError(Error):
    """A signing key file that cannot be read, written or parsed."""


def default_key_name() -> str:
    """``chamberlain/<host>-<random>``: unique per generated key, a valid note key name."""
    host = "".join(c if c.isalnum() or c in "-." else "-" for c in socket.gethostname()) or "host"
    return f"chamberlain/{host}-{secrets.token_hex(4)}"


def load_or_create(path: Path, name: str = "") -> Signer:
    """The signer in ``path``; a new key named ``name`` (or :func:`default_key_name`) when the file is missing.

    The new file appears complete or not at all (written aside, then hard-linked into place), so
    processes starting together agree on one key.
    """
    path = Path(path)
    if path.exists():
        return load(path)
    signer = Signer.generate(name or default_key_name())
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(signer.private_text() + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.link(temp, path)
    except FileExistsError:
        return load(path)  # another process created it first: use that one
    except OSError as exc:
        raise SigningKeyError(f"cannot create signing key file {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()
    return signer


def load(path: Path) -> Signer:
    """The signer in ``path``; raises :class:`SigningKeyError` naming the file."""
    try:
        text = read_text_bounded(path, MAX_CONFIG_BYTES, "signing key file")
    except FileRefused as exc:
        raise SigningKeyError(f"cannot read signing key file {path}: {exc}") from None
    try:
        return Signer.parse(text)
    except NoteError as exc:
        raise SigningKeyError(f"signing key file {path}: {exc}") from None
