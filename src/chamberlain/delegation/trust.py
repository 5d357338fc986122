"""Whose signatures chamberlain accepts: the configured trusted issuers' key sets, and its own keys.

Key sets come from local files only (``jwksFile``, or ``jwksUri`` with a ``file://`` URI):
chamberlain never fetches anything at run time, so an ``http(s)://`` ``jwksUri`` is refused.
Symmetric keys (``kty: oct``) are refused too: a shared secret would let anyone who verifies
tokens also mint them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

from chamberlain import strictjson
from chamberlain.delegation.errors import DelegationConfigError
from chamberlain.files import MAX_CONFIG_BYTES, FileRefused, read_bounded

VerifyKey = OKPKey | ECKey | RSAKey


class KeyFinder(Protocol):
    """Finds the verification key a token's ``kid`` names (None when there is none)."""

    def find(self, kid: str) -> VerifyKey | None: ...


class StaticKeys:
    """A JWK Set read once: public keys by ``kid``."""

    def __init__(self, keys: Mapping[str, VerifyKey]):
        self._keys = dict(keys)

    def find(self, kid: str) -> VerifyKey | None:
        return self._keys.get(kid)

    def kids(self) -> list[str]:
        return sorted(self._keys)


def parse_jwks(data: Any, where: str) -> StaticKeys:
    """Public keys from a JWK Set (``{"keys": [...]}``); every key needs a ``kid``."""
    entries = data.get("keys") if isinstance(data, Mapping) else None
    if not isinstance(entries, list):
        raise DelegationConfigError(f'{where}: expected a JWK Set {{"keys": [...]}}')
    keys: dict[str, VerifyKey] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise DelegationConfigError(f"{where}: keys[{i}]: expected a JWK object")
        kid = entry.get("kid")
        if entry.get("kty") == "oct":
            raise DelegationConfigError(f"{where}: keys[{i}]: symmetric keys (kty oct) are not accepted")
        if not isinstance(kid, str) or not kid:
            raise DelegationConfigError(f"{where}: keys[{i}]: every key needs a kid")
        if kid in keys:
            raise DelegationConfigError(f"{where}: keys[{i}]: duplicate kid {kid!r}")
        if entry.get("use", "sig") != "sig":
            continue  # an encryption key published alongside: not for signatures
        try:
            key = JWKRegistry.import_key(dict(entry))
        except (JoseError, ValueError, TypeError) as exc:
            raise DelegationConfigError(f"{where}: keys[{i}] (kid {kid}): not a valid JWK: {exc}") from None
        if key.key_type not in ("RSA", "EC", "OKP"):
            raise DelegationConfigError(f"{where}: keys[{i}] (kid {kid}): unsupported kty {key.key_type}")
        public = JWKRegistry.import_key(key.as_dict(private=False))  # never hold a private part
        keys[kid] = public  # type: ignore[assignment]
    return StaticKeys(keys)


def load_jwks_file(path: str | Path, where: str) -> StaticKeys:
    """Read a JWK Set from a local file."""
    try:
        data = strictjson.loads(read_bounded(path, MAX_CONFIG_BYTES, "JWK Set file"))
    except FileRefused as exc:
        raise DelegationConfigError(f"{where}: cannot read {path}: {exc}") from None
    except strictjson.JSONError as exc:
        raise DelegationConfigError(f"{where}: {path} is not JSON: {exc.reason}") from None
    return parse_jwks(data, f"{where} ({path})")


def jwks_uri_path(uri: str, where: str) -> Path:
    """The local file a ``jwksUri`` names; ``http(s)`` and every other scheme are refused."""
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https"):
        raise DelegationConfigError(
            f"{where}: not supported: remote JWKS ({uri}): chamberlain never fetches at run time; "
            "save the key set to a file and set jwksFile (or a file:// jwksUri)"
        )
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        raise DelegationConfigError(f"{where}: jwksUri must be a file:// URI, got {uri!r}")
    return Path(unquote(parsed.path))


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    """A token issuer chamberlain accepts subject and actor tokens from (and people's tokens at the admin
    surface: those name ``admin_audience`` when it is set, else ``audience``)."""

    issuer: str
    audience: str
    keys: StaticKeys
    source: str  # where the keys came from, for messages
    admin_audience: str = ""

    @property
    def people_audience(self) -> str:
        """What a person's token must name in ``aud`` to sign in at the admin surface and the console."""
        return self.admin_audience or self.audience
