"""Resource URIs in one spelling: a ``resources/read`` is decided on its URI, and a server may read another
spelling of it as the same resource (the MCP SDK's templates decode their parameters, a file server resolves
dot segments, schemes and hosts are read without regard to case), so a URI the decision could not pin down is
refused: the MCP gateway refuses such a URI when no upstream lists it, a header-only proxy (which never sees
the lists) always."""

from __future__ import annotations

import re
import string
from urllib.parse import urlsplit

from chamberlain.gateways.proxy.routing import Unmapped, canonical_segment

#: A percent-encoded octet, and the characters a URI's path or query holds as they are (RFC 3986: unreserved,
#: sub-delimiters, ":", "@", "/", "?"); an unreserved character is never encoded in normal form.
_ENCODED = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_AS_IS = _UNRESERVED | frozenset("!$&'()*+,;=:@/?")


def canonical_uri(uri: str) -> None:
    """Raise :class:`Unmapped` for a URI whose path is not in canonical form, or whose scheme, host, path or
    query is not in RFC 3986 normal form: a policy's ``resources/read::memo://notes/public/*`` matches
    ``memo://notes/public/../secret``, and a DENY on ``memo://notes/secret`` matches neither
    ``memo://notes/%73ecret`` nor ``memo://notes/secret/``, which a server may each resolve to the resource
    that DENY is about."""
    split = urlsplit(uri)
    _lowercase(uri, split.netloc)
    parts = split.path.split("/")
    for part in parts[1:] if split.path.startswith("/") else parts:
        if split.path:
            canonical_segment(part)  # an empty segment too: a trailing slash, or //
    for where, text in (("path", split.path), ("query", split.query)):
        _normal_form(where, text)
    if split.fragment or uri.endswith("#"):
        raise Unmapped("the URI has a fragment (#), which names a part of a resource, not a resource")


def _lowercase(uri: str, netloc: str) -> None:
    """Raise :class:`Unmapped` when the URI's scheme or host is not in lowercase: both are read without regard
    to case (RFC 3986 §6.2.2.1), so ``MEMO://notes/secret`` may be the resource a DENY on ``memo://notes/secret``
    is about, while no action pattern matches it."""
    scheme = uri.partition(":")[0] if ":" in uri else ""
    host = netloc.rpartition("@")[2]
    for what, text in (("scheme", scheme), ("host", host)):
        if text != text.lower():
            raise Unmapped(f"its {what} {text!r} is not in lowercase")


def _normal_form(where: str, text: str) -> None:
    """Raise :class:`Unmapped` when ``text`` (a URI's path or query) has another spelling the upstream reads the
    same: an unreserved character percent-encoded, an encoding in lowercase hex, or a character written as it
    is that a URI holds only percent-encoded."""
    for found in _ENCODED.finditer(text):
        octet = found.group(1)
        if chr(int(octet, 16)) in _UNRESERVED:
            raise Unmapped(
                f"its {where} percent-encodes {chr(int(octet, 16))!r} ({found.group(0)}), which is written as it is"
            )
        if octet != octet.upper():
            raise Unmapped(f"its {where} has a percent-encoding in lowercase hex ({found.group(0)})")
    raw = next((c for c in _ENCODED.sub("", text) if c not in _AS_IS), None)
    if raw is not None:
        raise Unmapped(f"its {where} holds {raw!r} unencoded (write it percent-encoded)")
