"""chamberlain's own signing keys: one key file, generated when absent, rotated without breaking tokens.

The file (``signingKeyFile``, by default ``<stateDir>/delegation-signing-keys.json``, mode 0600) is a
JWK Set of private keys. Exactly one entry has no ``publishUntil``: the current key, which signs.
Rotation makes a new current key and gives the old one ``publishUntil`` = now + the longest token
lifetime, so it stays in the published JWKS until every token it signed has expired. ``kid`` is the
RFC 7638 thumbprint. Algorithms: ``EdDSA`` (Ed25519, the default) and ``ES256`` (P-256).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, JWKRegistry, OKPKey

from chamberlain import strictjson
from chamberlain.delegation.errors import DelegationConfigError
from chamberlain.files import MAX_CONFIG_BYTES, FileRefused, read_bounded

KEY_FILE_NAME = "delegation-signing-keys.json"
#: alg -> (key type, curve) of the keys chamberlain signs with.
SIGNING_ALGORITHMS: dict[str, tuple[str, str]] = {"EdDSA": ("OKP", "Ed25519"), "ES256": ("EC", "P-256")}
_PUBLISH_UNTIL = "publishUntil"
_RECHECK_SECONDS = 1.0

# RFC 9864 renames EdDSA to Ed25519, but verifiers (PyJWT, Authlib, most JOSE libraries) know "EdDSA";
# joserfc warns on every use of the old name, which we keep on purpose.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)

Key = OKPKey | ECKey


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key of the file: ``publish_until`` is None for the current key."""

    kid: str
    alg: str
    key: Key
    publish_until: float | None = None

    def public_jwk(self) -> dict[str, Any]:
        return self.key.as_dict(private=False)


def generate_key(alg: str, kid_prefix: str = "") -> SigningKey:
    """A new private key for ``alg`` (``EdDSA`` or ``ES256``), its kid the RFC 7638 thumbprint.

    ``kid_prefix`` goes before the thumbprint (the development IdP marks its keys with it).
    """
    kty, crv = SIGNING_ALGORITHMS[alg]
    raw = OKPKey.generate_key(crv) if kty == "OKP" else ECKey.generate_key(crv)  # type: ignore[arg-type]
    kid = kid_prefix + raw.thumbprint()
    key = JWKRegistry.import_key(raw.as_dict(private=True, kid=kid, alg=alg, use="sig"))
    return SigningKey(kid, alg, key)  # type: ignore[arg-type]


def _entry(key: SigningKey) -> dict[str, Any]:
    entry: dict[str, Any] = dict(key.key.as_dict(private=True))
    if key.publish_until is not None:
        entry[_PUBLISH_UNTIL] = int(key.publish_until)
    return entry


def read_key_file(path: Path, where: str = "") -> list[SigningKey]:
    """The keys of a key file; raises :class:`DelegationConfigError` naming the file and the entry."""
    where = where or f"signingKeyFile {path}"
    try:
        data = strictjson.loads(read_bounded(path, MAX_CONFIG_BYTES, "signing key file"))
    except FileRefused as exc:
        raise DelegationConfigError(f"{where}: cannot read it: {exc}") from None
    except strictjson.JSONError as exc:
        raise DelegationConfigError(f"{where}: not JSON: {exc.reason}") from None
    entries = data.get("keys") if isinstance(data, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise DelegationConfigError(f'{where}: expected a JWK Set {{"keys": [...]}} with at least one key')
    keys = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise DelegationConfigError(f"{where}: keys[{i}]: expected a JWK object")
        params = {k: v for k, v in entry.items() if k != _PUBLISH_UNTIL}
        alg, kid, until = params.get("alg"), params.get("kid"), entry.get(_PUBLISH_UNTIL)
        if alg not in SIGNING_ALGORITHMS or not isinstance(kid, str) or not kid:
            raise DelegationConfigError(f"{where}: keys[{i}]: needs a kid and an alg of EdDSA or ES256")
        try:
            key = JWKRegistry.import_key(params)
        except (JoseError, ValueError, TypeError) as exc:
            raise DelegationConfigError(f"{where}: keys[{i}] (kid {kid}): not a valid JWK: {exc}") from None
        if not key.is_private or (key.key_type, key.get("crv")) != SIGNING_ALGORITHMS[alg]:
            raise DelegationConfigError(f"{where}: keys[{i}] (kid {kid}): not a private {alg} key")
        if until is not None and not isinstance(until, int | float):
            raise DelegationConfigError(f"{where}: keys[{i}] (kid {kid}): publishUntil must be a number")
        keys.append(SigningKey(kid, alg, key, until))  # type: ignore[arg-type]
    if sum(k.publish_until is None for k in keys) != 1:
        raise DelegationConfigError(f"{where}: exactly one key must be current (have no publishUntil)")
    return keys


def write_key_file(path: Path, keys: list[SigningKey], *, replace: bool) -> None:
    """Write a key file (mode 0600) atomically; without ``replace``, a file that exists already wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"keys": [_entry(k) for k in keys]}, out, indent=2)
    try:
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
    finally:
        tmp.unlink(missing_ok=True)


class SigningKeys:
    """The key file's keys, re-read when the file changes (so a rotation reaches running servers)."""

    def __init__(self, path: str | os.PathLike[str], algorithm: str = "EdDSA"):
        if algorithm not in SIGNING_ALGORITHMS:
            raise DelegationConfigError(f"signingAlgorithm: must be EdDSA or ES256, got {algorithm!r}")
        self.path = Path(path)
        self.algorithm = algorithm
        if not self.path.exists():
            write_key_file(self.path, [generate_key(algorithm)], replace=False)
        self._keys: list[SigningKey] = []
        self._mtime = -1.0
        self._checked = 0.0
        self._load()
        if self.current.alg != algorithm:
            raise DelegationConfigError(
                f"signingKeyFile {self.path}: the current key is {self.current.alg} but signingAlgorithm is "
                f"{algorithm}: rotate it (chamberlain token rotate-key --algorithm {algorithm})"
            )

    def _load(self) -> None:
        stat = self.path.stat()
        self._keys = read_key_file(self.path)
        self._mtime = stat.st_mtime
        self._checked = time.monotonic()

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < _RECHECK_SECONDS:
            return
        self._checked = now
        try:
            if self.path.stat().st_mtime != self._mtime:
                self._load()
        except (OSError, DelegationConfigError):
            pass  # keep signing with the keys we have; a broken file is reported at the next start

    @property
    def current(self) -> SigningKey:
        self._refresh()
        return next(k for k in self._keys if k.publish_until is None)

    def published(self, now: float | None = None) -> list[SigningKey]:
        """The current key and the retired keys whose tokens may still be valid."""
        self._refresh()
        when = time.time() if now is None else now
        return [k for k in self._keys if k.publish_until is None or k.publish_until > when]

    def find(self, kid: str) -> Key | None:
        """The published key named ``kid`` (for verifying chamberlain's own tokens)."""
        for key in self.published():
            if key.kid == kid:
                return key.key
        return None

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set (``/.well-known/jwks.json``)."""
        return {"keys": [k.public_jwk() for k in self.published()]}

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A JWT access token (``typ: at+jwt``, RFC 9068) signed by the current key."""
        key = self.current
        header = {"typ": "at+jwt", "alg": key.alg, "kid": key.kid}
        return jwt.encode(header, dict(claims), key.key, algorithms=[key.alg])


def rotate(
    path: str | os.PathLike[str], algorithm: str, publish_for: float, now: float | None = None
) -> SigningKey:
    """Make a new current key in ``path``; the old current key stays published for ``publish_for`` seconds.

    Retired keys whose time has passed are dropped. Returns the new key.
    """
    if algorithm not in SIGNING_ALGORITHMS:
        raise DelegationConfigError(f"algorithm must be EdDSA or ES256, got {algorithm!r}")
    file = Path(path)
    when = time.time() if now is None else now
    keys = read_key_file(file) if file.exists() else []
    kept = [
        SigningKey(k.kid, k.alg, k.key, when + publish_for) if k.publish_until is None else k
        for k in keys
        if k.publish_until is None or k.publish_until > when
    ]
    new = generate_key(algorithm)
    write_key_file(file, [new, *kept], replace=True)
    return new
