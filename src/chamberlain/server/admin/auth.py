"""Who is calling the admin surface: the operator (basic auth) or a person (a bearer JWT).

- ``Authorization: Basic ...``: Cerbos's ``server.adminAPI.adminCredentials`` (a bcrypt hash). bcrypt
  runs on two threads of its own, never on the event loop; a verified credential is remembered for
  ``chamberlain.admin.credentialCacheTTL`` under a keyed digest (a process-random HMAC key, so the cache
  holds nothing a password could be recovered from quickly), in a bounded cache, so repeated calls cost
  microseconds. Failures are never cached; past ``maxFailedLogins`` failures a minute from one client
  address, its basic-auth attempts are refused (429) without running bcrypt or reading the cache.
- ``Authorization: Bearer <JWT>``: a token of one of ``chamberlain.delegation.trustedIssuers``, verified
  by the delegation code (signature, ``alg`` allow-list, ``exp``/``nbf``/``iat``) and naming that
  issuer's ``audience``. The caller is the pair (``iss``, ``sub``); roles come from the claim
  ``chamberlain.admin.rolesClaim``.

Every refusal is a 401 saying what was wrong (429 when rate limited).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import bcrypt

from chamberlain.delegation.config import DelegationConfig
from chamberlain.delegation.errors import TokenError
from chamberlain.delegation.tokens import MAX_TOKEN_BYTES, require_audience, verify_jwt
from chamberlain.delegation.trust import KeyFinder
from chamberlain.server.admin import Caller
from chamberlain.server.admin.settings import AdminConfig
from chamberlain.server.http import RESOURCE_EXHAUSTED, UNAUTHENTICATED, ApiError

#: Verified credentials remembered at most (each an HMAC digest and an expiry).
CACHE_ENTRIES = 256
#: Client addresses whose failed attempts are counted at most (the oldest is forgotten first).
TRACKED_CLIENTS = 10_000
FAILURE_WINDOW = 60.0
MAX_BASIC_BYTES = 1024
ADMIN_ROLE = "admin"
_CHALLENGE = [(b"www-authenticate", b'Basic realm="chamberlain admin", Bearer realm="chamberlain admin"')]


def unauthenticated(message: str) -> ApiError:
    """A 401 with the challenge naming both schemes."""
    return ApiError(401, UNAUTHENTICATED, f"admin API: {message}", headers=_CHALLENGE)


class FailedLogins:
    """Failed basic-auth attempts per client address within a sliding minute (bounded memory)."""

    def __init__(self, limit: int, clock: Callable[[], float]):
        self.limit = limit
        self.clock = clock
        self._seen: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: it may now)."""
        with self._lock:
            times = self._recent(client)
            return 0.0 if len(times) < self.limit else max(0.0, times[0] + FAILURE_WINDOW - self.clock())

    def add(self, client: str) -> None:
        with self._lock:
            self._seen[client] = [*self._recent(client), self.clock()]
            self._seen.move_to_end(client)
            while len(self._seen) > TRACKED_CLIENTS:
                self._seen.popitem(last=False)

    def _recent(self, client: str) -> list[float]:
        """``client``'s failures within the window (only clients that failed are ever stored)."""
        cutoff = self.clock() - FAILURE_WINDOW
        return [t for t in self._seen.get(client, ()) if t > cutoff][-self.limit :]


class BasicAuth:
    """Checks ``server.adminAPI.adminCredentials``: bcrypt off the event loop, successes cached briefly."""

    def __init__(
        self,
        settings: AdminConfig,
        observe: Callable[[str, str], None],
        clock: Callable[[], float] = time.monotonic,
    ):
        self.settings = settings
        self.observe = observe
        self.clock = clock
        self.failures = FailedLogins(settings.max_failed_logins, clock)
        self._key = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()
        self._bcrypt = ThreadPoolExecutor(2, thread_name_prefix="chamberlain-bcrypt")
        self._caller = Caller(settings.username, (ADMIN_ROLE,), via="basic")

    def close(self) -> None:
        self._bcrypt.shutdown(wait=False, cancel_futures=True)

    def cached(self, username: str, password: bytes) -> tuple[bytes, bool]:
        """The credentials' digest, and whether they were verified less than the TTL ago."""
        digest = hmac.digest(self._key, username.encode() + b"\0" + password, "sha256")
        with self._lock:
            expiry = self._cache.get(digest)
            if expiry is not None and expiry > self.clock():
                return digest, True
            self._cache.pop(digest, None)
        return digest, False

    def _remember(self, digest: bytes) -> None:
        with self._lock:
            self._cache[digest] = self.clock() + self.settings.credential_cache_ttl
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)

    def _verify(self, username: str, password: bytes) -> bool:
        """bcrypt (on a worker thread); the hash is checked even for a wrong username (same cost)."""
        try:
            matches = bcrypt.checkpw(password, self.settings.password_hash)
        except ValueError:  # a password bcrypt cannot take (over 72 bytes)
            matches = False
        return hmac.compare_digest(username.encode(), self.settings.username.encode()) and matches

    async def authenticate(self, encoded: str, client: str) -> Caller:
        if not self.settings.username:
            raise unauthenticated(
                "basic auth is not configured (server.adminAPI.adminCredentials); "
                "use a bearer token from a trusted issuer"
            )
        username, password = _basic_credentials(encoded)
        # The limit comes before the cache: a cached credential let through would tell a guesser at a
        # limited address its right guess (200, not 429) at the cache's speed.
        wait = self.failures.retry_after(client)
        if wait > 0:
            self.observe("basic", "limited")
            raise ApiError(
                429,
                RESOURCE_EXHAUSTED,
                f"admin API: too many failed sign-ins from {client}; retry in {int(wait) + 1} s",
                headers=[(b"retry-after", str(int(wait) + 1).encode())],
            )
        digest, hit = self.cached(username, password)
        if hit:
            self.observe("basic", "cached")
            return self._caller
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(self._bcrypt, self._verify, username, password):
            self.failures.add(client)
            self.observe("basic", "failed")
            raise unauthenticated("wrong username or password")
        self._remember(digest)
        self.observe("basic", "verified")
        return self._caller


def _basic_credentials(encoded: str) -> tuple[str, bytes]:
    if len(encoded) > MAX_BASIC_BYTES:
        raise unauthenticated(f"malformed basic credentials: longer than {MAX_BASIC_BYTES} bytes")
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
        username, sep, password = raw.decode("utf-8").partition(":")
    except (binascii.Error, ValueError):
        raise unauthenticated("malformed basic credentials: expected base64 of username:password") from None
    if not sep or not username:
        raise unauthenticated("malformed basic credentials: expected base64 of username:password")
    return username, password.encode()


def bearer_caller(
    token: str, delegation: DelegationConfig | None, settings: AdminConfig, now: float
) -> Caller:
    """The person a trusted issuer's token names: (iss, sub), roles from ``rolesClaim``, claims as attr."""
    trusted = delegation.trusted_issuers if delegation is not None else ()
    if not trusted:
        raise unauthenticated("bearer tokens need chamberlain.delegation.trustedIssuers; none is configured")
    if len(token) > MAX_TOKEN_BYTES:
        raise unauthenticated(f"bearer token: longer than {MAX_TOKEN_BYTES} bytes")
    assert delegation is not None

    def keys_of(issuer: str) -> KeyFinder | None:  # the people's issuers only, never chamberlain's own
        found = delegation.trusted(issuer)
        return found.keys if found is not None else None

    where = "bearer token"
    try:
        verified = verify_jwt(token, keys_of, now=now, leeway=delegation.leeway, where=where)
        issuer = delegation.trusted(verified.issuer)
        assert issuer is not None
        require_audience(verified.claims, [issuer.people_audience], where)
    except TokenError as exc:
        raise unauthenticated(str(exc)) from None
    claims = verified.claims
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise unauthenticated(f"{where}: claim sub is missing or not a string")
    return Caller(sub, _roles(claims, settings.roles_claim), dict(claims), via="jwt", issuer=verified.issuer)


def _roles(claims: Mapping[str, Any], claim: str) -> tuple[str, ...]:
    """A list of role names, or one space-separated string; anything else is no roles."""
    value = claims.get(claim)
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list):
        return ()
    return tuple(dict.fromkeys(r for r in value if isinstance(r, str) and r))
