"""Console logins: a signed, HttpOnly, SameSite=Strict cookie naming a login.

The cookie carries a random login id and an HMAC of it under a secret key, so a forged or altered
cookie is refused before any lookup; logging out removes the login at once. Each login has its own
CSRF token, which every state-changing form sends back. Logins expire after
``chamberlain.console.sessionTTL`` (a person's at the latest when their token does) and at most
``maxLogins`` are held (the oldest is dropped first). The server keeps them, and the key, in its state
database (:mod:`chamberlain.console.stored`: shared by replicas, kept over restarts); without one they
live in memory under a process-random key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlencode

from chamberlain.server.admin import Caller

COOKIE = "chamberlain_console"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Login:
    """Who is logged in to the console, until when, and the CSRF token of their forms."""

    id: str
    caller: Caller
    expires_at: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def is_person(self) -> bool:
        return self.caller.via == "jwt"


class Expiring(Generic[T]):
    """At most ``limit`` values by key, each until its expiry (the oldest dropped first)."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.time):
        self.limit = limit
        self.clock = clock
        self._items: OrderedDict[str, tuple[float, T]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: str, value: T, expires_at: float) -> None:
        with self._lock:
            self._items[key] = (expires_at, value)
            while len(self._items) > self.limit:
                self._items.popitem(last=False)

    def get(self, key: str) -> T | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            if found[0] <= self.clock():
                del self._items[key]
                return None
            return found[1]

    def pop(self, key: str) -> T | None:
        with self._lock:
            found = self._items.pop(key, None)
        return None if found is None or found[0] <= self.clock() else found[1]


class Items(Protocol[T]):
    """Where values are kept until they expire: :class:`Expiring` (memory) or ``stored.Stored`` (database)."""

    def put(self, key: str, value: T, expires_at: float) -> None: ...

    def get(self, key: str) -> T | None: ...

    def pop(self, key: str) -> T | None: ...


def login_json(login: Login) -> dict[str, Any]:
    """A login as the state database keeps it (JSON), without its id."""
    c = login.caller
    caller = {
        "id": c.id,
        "roles": list(c.roles),
        "attr": dict(c.attr),
        "via": c.via,
        "issuer": c.issuer,
        "interactive": c.interactive,
    }
    return {"caller": caller, "expires_at": login.expires_at, "csrf": login.csrf}  # the id: see _stored_name


def login_from_json(data: dict[str, Any]) -> Login:
    """The login :func:`login_json` kept (its id is filled in by whoever knew it)."""
    c = data["caller"]
    caller = Caller(
        c["id"],
        tuple(c["roles"]),
        c["attr"],
        via=c["via"],
        issuer=c["issuer"],
        interactive=c.get("interactive", True)
        is True,  # kept before 2026-12-07: console logins, all interactive
    )
    return Login("", caller, float(data["expires_at"]), data["csrf"])


class Logins:
    """The console's logins and the signing of their cookies (in ``items`` under ``key`` when given)."""

    def __init__(
        self,
        ttl: float,
        limit: int,
        clock: Callable[[], float] = time.time,
        *,
        items: Items[Login] | None = None,
        key: bytes | None = None,
    ):
        self.ttl = ttl
        self.clock = clock
        self._key = key or secrets.token_bytes(32)
        self._store: Items[Login] = items if items is not None else Expiring(limit, clock)

    def open(self, caller: Caller, not_after: float | None = None) -> tuple[Login, str]:
        """A new login for ``caller`` and its cookie value."""
        expires = self.clock() + self.ttl
        if not_after is not None:
            expires = min(expires, not_after)
        login = Login(secrets.token_urlsafe(24), caller, expires)
        self._store.put(_stored_name(login.id), login, expires)
        return login, f"{login.id}.{self._sign(login.id)}"

    def find(self, cookie: str | None) -> Login | None:
        """The login a cookie names, when its signature holds and it has not expired or ended."""
        if not cookie or len(cookie) > 200:
            return None
        login_id, _, signature = cookie.partition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(login_id).encode()):
            return None
        return self.find_id(login_id)

    def find_id(self, login_id: str) -> Login | None:
        """The login with this id while it lasts (a live stream checks its login is still there)."""
        found = self._store.get(_stored_name(login_id))
        return None if found is None else dataclasses.replace(found, id=login_id)

    def close(self, login: Login) -> None:
        self._store.pop(_stored_name(login.id))

    def _sign(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), "sha256").hexdigest()


def _stored_name(login_id: str) -> str:
    """What a login is kept under: a digest of its id, so that reading the store (the state database)
    gives nobody a login id to make a cookie of (the cookie key is kept there too)."""
    return hashlib.sha256(login_id.encode()).hexdigest()


def same_token(expected: str, given: str) -> bool:
    """Constant-time comparison of CSRF tokens (an empty token never matches)."""
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


#: The longest notice a page shows (what a redirect after an action says).
MAX_NOTICE = 300


def notice_query(login: Login, text: str) -> str:
    """The query string carrying ``text`` to the page a form redirects to, tagged for this login."""
    text = text[:MAX_NOTICE]
    return urlencode({"notice": text, "tag": _notice_tag(login, text)})


def notice_of(login: Login, params: Mapping[str, str]) -> str:
    """The ``notice`` a page shows: only one this console wrote for this login (a link that anyone can
    craft, ``/console/sessions?notice=Session ... revoked.``, would otherwise put their words in its
    status line); else none."""
    text = params.get("notice", "")
    if not text or len(text) > MAX_NOTICE:
        return ""
    return text if same_token(_notice_tag(login, text), params.get("tag", "")) else ""


def _notice_tag(login: Login, text: str) -> str:
    return hmac.new(login.csrf.encode(), b"notice\x00" + text.encode(), hashlib.sha256).hexdigest()[:32]
