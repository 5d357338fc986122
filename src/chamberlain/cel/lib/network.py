"""cel-go's ``ext.Network``: the ``net.IP`` and ``net.CIDR`` types and their functions.

``ip("10.0.0.1")``, ``cidr("10.0.0.0/8")``, ``isIP(s)``, ``isCIDR(s)``, ``ip.isCanonical(s)``;
IP members ``family``, ``isUnspecified``, ``isLoopback``, ``isGlobalUnicast``,
``isLinkLocalMulticast``, ``isLinkLocalUnicast``; CIDR members ``containsIP``, ``containsCIDR``,
``ip``, ``masked``, ``prefixLength``, ``isMask``. ``string(x)`` uses the ``cel_to_string`` hook.

Addresses follow Go's ``net/netip``: zones and IPv4-mapped IPv6 addresses are refused, and a
CIDR keeps its address unmasked (``cidr("10.1.2.3/8").ip()`` is ``10.1.2.3``).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import function
from chamberlain.cel.golang import ip_parse_error, prefix_parse_error, quote
from chamberlain.cel.values import TYPE_IDENTIFIERS, CelType, no_such_overload

IP_TYPE = CelType("net.IP")
CIDR_TYPE = CelType("net.CIDR")
TYPE_IDENTIFIERS.setdefault(IP_TYPE.name, IP_TYPE)
TYPE_IDENTIFIERS.setdefault(CIDR_TYPE.name, CIDR_TYPE)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse_address(text: str, kind: str = "IP Address") -> Address:
    """Go's ``netip.ParseAddr`` (its errors), then cel-go's refusal of zones and IPv4-mapped addresses."""
    refused = ip_parse_error(text)
    if refused is not None:
        raise EvaluationError(f"{kind} {quote(text)} parse error during conversion from string: {refused}")
    if "%" in text:
        raise EvaluationError(f"IP address {quote(text)} with zone value is not allowed")
    addr = ipaddress.ip_address(text)
    if addr.version == 6 and addr.ipv4_mapped is not None:
        raise EvaluationError(f"IPv4-mapped IPv6 address {quote(text)} is not allowed")
    return addr


def _parse_prefix(text: str) -> tuple[Address, int]:
    """Go's ``netip.ParsePrefix`` (the last ``/`` splits; bits without sign or leading zeros)."""
    refused = prefix_parse_error(text)
    if refused is not None:
        raise EvaluationError(f"CIDR {quote(text)} parse error during conversion from string: {refused}")
    addr_text, _, bits_text = text.rpartition("/")
    addr = ipaddress.ip_address(addr_text)
    if addr.version == 6 and addr.ipv4_mapped is not None:
        raise EvaluationError(f"IPv4-mapped IPv6 address {quote(text)} is not allowed")
    return addr, int(bits_text)


def _masked(addr: Address, bits: int) -> Address:
    width = addr.max_prefixlen
    mask = ((1 << bits) - 1) << (width - bits)
    return type(addr)(int(addr) & mask)


class IP:
    """A ``net.IP`` value: an IPv4 or IPv6 address without zone."""

    __slots__ = ("addr",)
    cel_type = IP_TYPE

    def __init__(self, addr: Address):
        self.addr = addr

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IP):
            return NotImplemented
        return self.addr == other.addr

    def __hash__(self) -> int:
        return hash(self.addr)

    def __repr__(self) -> str:
        return f"ip({str(self.addr)!r})"

    def cel_to_string(self) -> str:
        return str(self.addr)

    # Go's netip classification, which differs from Python's ipaddress in places.
    def _first(self, bits: int) -> int:
        return int(self.addr) >> (self.addr.max_prefixlen - bits)

    def is_loopback(self) -> bool:
        return self._first(8) == 127 if self.addr.version == 4 else int(self.addr) == 1

    def is_multicast(self) -> bool:
        return self._first(4) == 0xE if self.addr.version == 4 else self._first(8) == 0xFF

    def is_link_local_unicast(self) -> bool:
        return self._first(16) == 0xA9FE if self.addr.version == 4 else self._first(10) == 0xFE80 >> 6

    def is_link_local_multicast(self) -> bool:
        if self.addr.version == 4:
            return self._first(24) == 0xE00000
        return self._first(16) & 0xFF0F == 0xFF02

    def is_global_unicast(self) -> bool:
        if int(self.addr) == 0 or (self.addr.version == 4 and int(self.addr) == 0xFFFFFFFF):
            return False
        return not (self.is_loopback() or self.is_multicast() or self.is_link_local_unicast())


class CIDR:
    """A ``net.CIDR`` value: an address (kept unmasked) and a prefix length."""

    __slots__ = ("addr", "bits")
    cel_type = CIDR_TYPE

    def __init__(self, addr: Address, bits: int):
        self.addr = addr
        self.bits = bits

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CIDR):
            return NotImplemented
        return self.addr == other.addr and self.bits == other.bits

    def __hash__(self) -> int:
        return hash((self.addr, self.bits))

    def __repr__(self) -> str:
        return f"cidr({self.cel_to_string()!r})"

    def cel_to_string(self) -> str:
        return f"{self.addr}/{self.bits}"

    def contains_address(self, addr: Address) -> bool:
        return addr.version == self.addr.version and _masked(addr, self.bits) == _masked(self.addr, self.bits)

    def contains_prefix(self, other: CIDR) -> bool:
        return self.bits <= other.bits and self.contains_address(other.addr)


@function("ip")
def ip(text: Any) -> IP:
    """``ip("192.168.0.1")``."""
    if type(text) is not str:
        raise no_such_overload("ip", text)
    return IP(_parse_address(text))


@function("cidr")
def cidr(text: Any) -> CIDR:
    """``cidr("192.168.0.0/24")``."""
    if type(text) is not str:
        raise no_such_overload("cidr", text)
    return CIDR(*_parse_prefix(text))


@function("isIP")
def is_ip(text: Any) -> bool:
    """``isIP(s)``: whether ``ip(s)`` would succeed."""
    if type(text) is not str:
        raise no_such_overload("isIP", text)
    try:
        _parse_address(text)
    except EvaluationError:
        return False
    return True


@function("isCIDR")
def is_cidr(text: Any) -> bool:
    """``isCIDR(s)``: whether ``cidr(s)`` would succeed."""
    if type(text) is not str:
        raise no_such_overload("isCIDR", text)
    try:
        _parse_prefix(text)
    except EvaluationError:
        return False
    return True


@function("ip.isCanonical")
def is_canonical(text: Any) -> bool:
    """``ip.isCanonical(s)``: whether ``s`` is the address's canonical (RFC 5952) spelling."""
    if type(text) is not str:
        raise no_such_overload("ip.isCanonical", text)
    return str(_parse_address(text)) == text


def _require_ip(name: str, value: Any) -> IP:
    if type(value) is not IP:
        raise no_such_overload(name, value)
    return value


def _require_cidr(name: str, value: Any, *args: Any) -> CIDR:
    if type(value) is not CIDR:
        raise no_such_overload(name, value, *args)
    return value


@function("family", member=True)
def family(value: Any) -> int:
    """``ip.family()``: 4 or 6."""
    return _require_ip("family", value).addr.version


@function("isUnspecified", member=True)
def is_unspecified(value: Any) -> bool:
    """``ip.isUnspecified()``: ``0.0.0.0`` or ``::``."""
    return int(_require_ip("isUnspecified", value).addr) == 0


@function("isLoopback", member=True)
def is_loopback(value: Any) -> bool:
    """``ip.isLoopback()``: ``127.0.0.0/8`` or ``::1``."""
    return _require_ip("isLoopback", value).is_loopback()


@function("isGlobalUnicast", member=True)
def is_global_unicast(value: Any) -> bool:
    """``ip.isGlobalUnicast()`` (Go's definition: private addresses count as global)."""
    return _require_ip("isGlobalUnicast", value).is_global_unicast()


@function("isLinkLocalMulticast", member=True)
def is_link_local_multicast(value: Any) -> bool:
    """``ip.isLinkLocalMulticast()``: ``224.0.0.0/24`` or ``ffX2::/16``."""
    return _require_ip("isLinkLocalMulticast", value).is_link_local_multicast()


@function("isLinkLocalUnicast", member=True)
def is_link_local_unicast(value: Any) -> bool:
    """``ip.isLinkLocalUnicast()``: ``169.254.0.0/16`` or ``fe80::/10``."""
    return _require_ip("isLinkLocalUnicast", value).is_link_local_unicast()


@function("containsIP", member=True)
def contains_ip(network: Any, value: Any) -> bool:
    """``cidr.containsIP(ip)``, ``ip`` a ``net.IP`` or a string."""
    _require_cidr("containsIP", network, value)
    if type(value) not in (IP, str):
        raise no_such_overload("containsIP", network, value)
    addr = value.addr if type(value) is IP else _parse_address(value)
    return network.contains_address(addr)


@function("containsCIDR", member=True)
def contains_cidr(network: Any, value: Any) -> bool:
    """``cidr.containsCIDR(other)``, ``other`` a ``net.CIDR`` or a string."""
    _require_cidr("containsCIDR", network, value)
    if type(value) not in (CIDR, str):
        raise no_such_overload("containsCIDR", network, value)
    other = value if type(value) is CIDR else CIDR(*_parse_prefix(value))
    return network.contains_prefix(other)


@function("ip", member=True)
def cidr_ip(network: Any) -> IP:
    """``cidr.ip()``: the CIDR's address as written (not masked)."""
    _require_cidr("ip", network)
    return IP(network.addr)


@function("masked", member=True)
def masked(network: Any) -> CIDR:
    """``cidr.masked()``: the CIDR with the host bits of its address cleared."""
    _require_cidr("masked", network)
    return CIDR(_masked(network.addr, network.bits), network.bits)


@function("prefixLength", member=True)
def prefix_length(network: Any) -> int:
    """``cidr.prefixLength()``."""
    _require_cidr("prefixLength", network)
    return network.bits


@function("isMask", member=True)
def is_mask(network: Any) -> bool:
    """``cidr.isMask()``: whether the address has no host bits set."""
    _require_cidr("isMask", network)
    return _masked(network.addr, network.bits) == network.addr


def literal_error(function_name: str, text: str) -> str | None:
    """The compile error cel-go reports for ``ip("...")`` or ``cidr("...")`` with a bad literal.

    cel-go validates string literal arguments of the global ``ip`` and ``cidr`` functions when it
    compiles; the compiler may call this for such calls (None: the literal is fine).
    """
    parse = {"ip": _parse_address, "cidr": _parse_prefix}.get(function_name)
    if parse is None:
        return None
    try:
        parse(text)
    except EvaluationError as e:
        return f"invalid {function_name} argument: {e}"
    return None
