"""Go's ``net/url.Parse`` as the JSON Schema ``uri``, ``uri-reference`` (and ``iri``, ``iri-reference``,
``uri-template``) formats apply it in Cerbos.

Cerbos's validator (santhosh-tekuri/jsonschema) takes a URI when Go's ``url.Parse`` does (and, for
``uri``, finds a scheme), and a host name holding a colon only as a bracketed IPv6 address. Go's
parser is lenient where the RFC is not: a path, query or fragment may hold spaces, ``<``, ``{`` or
``|`` (only control characters and malformed ``%`` escapes fail), a host may hold ``<>"`` but not a
space, an opaque part (``mailto:a b``) is not looked at. :func:`parse` answers what Go answers.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

_HEX = frozenset("0123456789abcdefABCDEF")
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
#: ASCII a host may hold unescaped (Go's ``shouldEscape`` for ``encodeHost``).
_HOST_CHARS = _ALNUM | frozenset("!$&'()*+,;=:[]<>\"-_.~")
#: What ``validUserinfo`` takes.
_USERINFO_CHARS = _ALNUM | frozenset("-._:~!$&'()*+,;=%@")


@dataclass(frozen=True)
class URL:
    """What the format checks read of a parsed URL."""

    scheme: str
    host: str
    #: The path as written (escapes kept), empty for an opaque URI (``mailto:a``).
    path: str = ""


def parse(raw: str) -> URL | None:
    """``raw`` parsed as Go's ``url.Parse`` parses it, or None where Go returns an error (also for an
    unbracketed or invalid IPv6 host, as the validator adds)."""
    rest, hash_mark, fragment = raw.partition("#")
    if any(ord(c) < 0x20 or c == "\x7f" for c in rest):
        return None
    url = _parse(rest)
    if url is None or (hash_mark and not _unescapes(fragment, host=False)):
        return None
    return url if _ipv6_host_ok(url.host) else None


def _parse(raw: str) -> URL | None:
    if raw == "*":
        return URL("", "", "*")
    scheme, rest = _scheme(raw)
    if scheme is None:
        return None
    rest = rest.partition("?")[0]  # the query is not looked at
    if not rest.startswith("/"):
        if scheme:
            return URL(scheme, "")  # opaque: Go does not look inside
        if ":" in rest.partition("/")[0]:
            return None  # first path segment in URL cannot contain colon
    host = ""
    if rest.startswith("//") and (scheme or not rest.startswith("///")):
        authority, slash, path = rest[2:].partition("/")
        parsed = _authority(authority)
        if parsed is None:
            return None
        host, rest = parsed, slash + path
    return URL(scheme, host, rest) if _unescapes(rest, host=False) else None


def _scheme(raw: str) -> tuple[str | None, str]:
    """Go's ``getScheme``: ("", raw) when there is none, (None, "") for a leading colon."""
    for i, c in enumerate(raw):
        if c.isascii() and c.isalpha():
            continue
        if c.isascii() and (c.isdigit() or c in "+-."):
            if i == 0:
                return "", raw
            continue
        if c == ":":
            return (None, "") if i == 0 else (raw[:i], raw[i + 1 :])
        return "", raw
    return "", raw


def _authority(authority: str) -> str | None:
    """The host of ``authority`` (``user@host:port``), or None where Go refuses it."""
    userinfo, at, host = authority.rpartition("@")
    if at and (not all(c in _USERINFO_CHARS or not c.isascii() for c in userinfo)):
        return None
    if at and not _unescapes(userinfo, host=False):
        return None
    return host if _host_ok(host) else None


def _host_ok(host: str) -> bool:
    """Go's ``parseHost``: a bracketed address with an optional port, or a name with one."""
    if host.startswith("["):
        close = host.rfind("]")
        if close < 0 or not _port_ok(host[close + 1 :]) or not _ipv6_literal(host[1:close]):
            return False
        if "%25" in host[:close]:  # an IPv6 zone: escaped its own way
            return _unescapes(host, host=False)
    else:
        colon = host.rfind(":")
        if colon >= 0 and not _port_ok(host[colon:]):
            return False
    return _unescapes(host, host=True)


def _ipv6_literal(text: str) -> bool:
    """Only an IPv6 address may be bracketed (Go's ``netip.ParseAddr``, a zone allowed as ``%25``)."""
    return _is_ipv6(text.replace("%25", "%", 1))


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _port_ok(port: str) -> bool:
    """Go's ``validOptionalPort``: nothing, or a colon and digits."""
    return port == "" or (port[0] == ":" and all(c in "0123456789" for c in port[1:]))


def _unescapes(text: str, *, host: bool) -> bool:
    """Whether Go's ``unescape`` takes ``text``: every ``%`` starts two hex digits (in a host, only an
    escape of a non-ASCII byte or ``%25``), and a host's other ASCII characters are allowed there."""
    i = 0
    while i < len(text):
        c = text[i]
        if c == "%":
            escape = text[i + 1 : i + 3]
            if len(escape) < 2 or not set(escape) <= _HEX:
                return False
            if host and int(escape[0], 16) < 8 and escape != "25":
                return False
            i += 3
            continue
        if host and c.isascii() and c not in _HOST_CHARS:
            return False
        i += 1
    return True


def _ipv6_host_ok(host: str) -> bool:
    """The validator's own check: a host name (Go's ``Hostname()``) with a colon is a bracketed,
    valid IPv6 address (``net.ParseIP``: no zone)."""
    name = host
    colon = name.rfind(":")
    if colon >= 0 and _port_ok(name[colon:]):
        name = name[:colon]
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if ":" not in name:
        return True
    return "[" in host and "]" in host and "%" not in name and _is_ipv6(name)
