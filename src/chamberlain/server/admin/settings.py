"""The admin surface's configuration: Cerbos's ``server.adminAPI`` and chamberlain's ``chamberlain.admin``.

```yaml
server:
  adminAPI:
    enabled: false                  # off by default, as in Cerbos
    adminCredentials:
      username: operator
      passwordHash: JDJ5JDEw...     # base64 of a bcrypt hash (Cerbos's format)
chamberlain:
  admin:
    policies: ""                    # "" = the shipped admin policies; else a folder that replaces them
    rolesClaim: roles               # the claim of people's tokens holding their roles
    credentialCacheTTL: 60s         # how long a verified basic-auth credential is remembered
    maxFailedLogins: 10             # failed basic-auth attempts per client address per minute; then 429
    maxPageSize: 1000               # the largest `limit` of a listing
    maxResponseBytes: 4194304       # a listing's page stops before this many bytes
```

Unlike Cerbos, there is no default credential pair: the admin API enabled with neither credentials nor
``chamberlain.delegation.trustedIssuers`` refuses to start.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Every key of ``server.adminAPI`` and ``chamberlain.admin`` with its default.
SERVER_DEFAULTS: dict[str, Any] = {"enabled": False, "adminCredentials": {"username": "", "passwordHash": ""}}
DEFAULTS: dict[str, Any] = {
    "policies": "",
    "rolesClaim": "roles",
    "credentialCacheTTL": "60s",
    "maxFailedLogins": 10,
    "maxPageSize": 1000,
    "maxResponseBytes": 4 * 1024 * 1024,
}
_BCRYPT = re.compile(rb"^\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}$")
ENABLE_HINT = (
    "set server.adminAPI.enabled: true with server.adminAPI.adminCredentials (username, passwordHash) "
    "or chamberlain.delegation.trustedIssuers for people's tokens (docs/security.md, 'The admin surface')"
)


@dataclass(frozen=True, slots=True)
class AdminConfig:
    """The validated admin settings; ``username`` is ``""`` when there are no operator credentials."""

    enabled: bool = False
    username: str = ""
    password_hash: bytes = b""
    policies: Path | None = None  # None: the shipped admin policies
    roles_claim: str = "roles"
    credential_cache_ttl: float = 60.0
    max_failed_logins: int = 10
    max_page_size: int = 1000
    max_response_bytes: int = 4 * 1024 * 1024


def credentials(credentials: Mapping[str, Any], problems: list[str]) -> tuple[str, bytes]:
    """``server.adminAPI.adminCredentials``: the username and the decoded bcrypt hash (both empty when
    neither is set); problems appended."""
    where = "server.adminAPI.adminCredentials"
    username, encoded = credentials.get("username") or "", credentials.get("passwordHash") or ""
    if not isinstance(username, str) or not isinstance(encoded, str):
        problems.append(f"{where}: username and passwordHash must be strings")
        return "", b""
    if not username and not encoded:
        return "", b""
    if not username or not encoded:
        problems.append(f"{where}: username and passwordHash go together: set both")
        return "", b""
    if ":" in username or len(username) > 256:
        problems.append(f"{where}.username: at most 256 characters and no ':' (basic auth separates with it)")
        return "", b""
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        problems.append(f"{where}.passwordHash: not base64 (expected the base64 encoding of a bcrypt hash)")
        return "", b""
    if not _BCRYPT.match(decoded):
        problems.append(
            f"{where}.passwordHash: the decoded value is not a bcrypt hash ($2y$10$...); "
            "make one with: htpasswd -nbB user 'password' | cut -d: -f2 | base64 -w0"
        )
        return "", b""
    return username, decoded
