"""The log's signing keys: read from a file, or generated into it on first start (mode 0600).

The file holds one line per key in Go's note signer format (``PRIVATE+KEY+<name>+<id>+<base64>``),
so Go's ``golang.org/x/mod/sumdb/note`` tools can use it as well; oldest first. A log records which
of them signs its heads (``audit_meta.signing_key``, changed by ``chamberlain audit rotate-key``); a
:class:`KeyRing` reads the file again when the log names a key it does not hold yet, so replicas
given the new file pick the new key up without a restart.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from pathlib import Path

from chamberlain.audit.tlog.note import NoteError, Signer, Verifier
from chamberlain.errors import Error
from chamberlain.files import MAX_CONFIG_BYTES, FileRefused, read_text_bounded
from chamberlain.store.db import Database


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
    if not create_key_file(path, signer.private_text()):
        return load(path)  # another process created it first: use that one
    return signer


def create_key_file(path: Path, text: str) -> bool:
    """Write ``text`` to a new file ``path`` (mode 0600), complete or not at all; False when it exists."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.link(temp, path)
    except FileExistsError:
        return False
    except OSError as exc:
        raise SigningKeyError(f"cannot create key file {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()
    return True


def load(path: Path) -> Signer:
    """The newest signer in ``path``; raises :class:`SigningKeyError` naming the file."""
    return load_all(path)[-1]


def load_all(path: Path) -> list[Signer]:
    """Every signer in ``path``, oldest first; raises :class:`SigningKeyError` naming the file and line."""
    try:
        text = read_text_bounded(path, MAX_CONFIG_BYTES, "signing key file")
    except FileRefused as exc:
        raise SigningKeyError(f"cannot read signing key file {path}: {exc}") from None
    signers = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                signers.append(Signer.parse(line))
            except NoteError as exc:
                raise SigningKeyError(f"signing key file {path}, line {n}: {exc}") from None
    if not signers:
        raise SigningKeyError(f"signing key file {path} holds no key")
    return signers


def add(path: Path, signer: Signer) -> None:
    """Append ``signer`` to the key file ``path`` (rewritten aside and renamed into place, mode 0600)."""
    path = Path(path)
    lines = [s.private_text() for s in load_all(path)] if path.exists() else []
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join([*lines, signer.private_text()]) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except OSError as exc:
        raise SigningKeyError(f"cannot write signing key file {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()


def active_key(db: Database) -> str:
    """The verifier key that signs the log's heads now (its first key until a rotation)."""
    found = db.value("SELECT value FROM audit_meta WHERE key = 'signing_key'")
    return str(found) if found else str(db.value("SELECT value FROM audit_meta WHERE key = 'verifier_key'"))


def log_keys(meta: dict[str, str]) -> list[str]:
    """Every verifier key the log has signed with, oldest first (from ``audit_meta``)."""
    return [k for k in meta.get("keys", "").split("\n") if k] or [meta["verifier_key"]]


class KeyRing:
    """The signers of a key file, by verifier key; :meth:`active` is the one the log says signs now."""

    def __init__(self, path: Path, signers: list[Signer]):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._by_key = {str(s.verifier): s for s in signers}
        self.newest = signers[-1]

    @classmethod
    def open(cls, path: Path, *, create: bool = True, name: str = "") -> KeyRing:
        """The key file at ``path``; a new key named ``name`` in it when missing and ``create``."""
        if create:
            load_or_create(path, name)
        return cls(path, load_all(path))

    def get(self, vkey: str) -> Signer | None:
        """The signer of ``vkey``, reading the file again when it is not known yet (a rotated key)."""
        with self._lock:
            found = self._by_key.get(vkey)
            if found is None:
                signers = load_all(self.path)
                self._by_key = {str(s.verifier): s for s in signers}
                self.newest = signers[-1]
                found = self._by_key.get(vkey)
            return found

    def active(self, db: Database) -> Signer:
        """The signer of the log's active key; raises :class:`SigningKeyError` when the file lacks it."""
        vkey = active_key(db)
        signer = self.get(vkey)
        if signer is None:
            raise SigningKeyError(
                f"signing key file {self.path} does not hold the decision log's signing key {vkey}: give this "
                "replica the key file written by `chamberlain audit rotate-key` (it holds the old and new keys)"
            )
        return signer

    def verifiers(self) -> list[Verifier]:
        with self._lock:
            return [s.verifier for s in self._by_key.values()]
