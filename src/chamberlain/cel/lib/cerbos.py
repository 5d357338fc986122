"""Cerbos's own CEL functions (``CerbosCELLib``): set operations on lists, ``inIPAddrRange``,
``now``/``timeSince``, ``id`` and the cross-platform path functions (``basePath`` ... ``volumeName``).

The path functions follow Cerbos's ``crosspath`` package: UNIX paths are handled as Go's
``path/filepath`` does on Linux, and Windows paths (``C:\\dir``, ``\\\\host\\share\\dir``,
``dir\\file``) are encoded to slash form, processed the same way, and decoded back.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from chamberlain.cel.errors import EvaluationError
from chamberlain.cel.functions import StringCache, function
from chamberlain.cel.lib.sets import contains_all, intersects, membership, require_lists
from chamberlain.cel.values import NO_SUCH_OVERLOAD, Duration, Timestamp, no_such_overload

# ---------------------------------------------------------------- lists as sets


@function("except", member=True, also_global=True)
def except_(a: Any, b: Any) -> list:
    """``a.except(b)``: the elements of ``a`` that are not in ``b``, in order."""
    require_lists("except", a, b)
    found = membership(b)
    return [x for x in a if not found(x)]


@function("intersect", member=True, also_global=True)
def intersect(a: Any, b: Any) -> list:
    """``a.intersect(b)``: the elements of the shorter list that are in the other (``a`` on ties)."""
    require_lists("intersect", a, b)
    if len(a) > len(b):
        a, b = b, a
    found = membership(b)
    return [x for x in a if found(x)]


def _has_intersection(a: Any, b: Any) -> bool:
    require_lists("hasIntersection", a, b)
    return intersects(a, b)


def _is_subset(a: Any, b: Any) -> bool:
    require_lists("isSubset", a, b)
    return contains_all(b, a)


for _name in ("hasIntersection", "has_intersection"):
    function(_name, member=True, also_global=True)(_has_intersection)
for _name in ("isSubset", "is_subset"):
    function(_name, member=True, also_global=True)(_is_subset)


# ---------------------------------------------------------------- IP ranges (Go's net package)

_V4_IN_V6 = b"\0" * 10 + b"\xff\xff"


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Go's ``netip.ParseAddr`` without zones (which ``net.ParseIP`` refuses), or None if invalid."""
    if "%" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _ip16(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bytes:
    """Go's 16-byte ``net.IP`` form (IPv4 as ``::ffff:a.b.c.d``)."""
    if addr.version == 4:
        return _V4_IN_V6 + addr.packed
    return addr.packed


def _to4(ip: bytes) -> bytes:
    """Go's ``IP.To4``: the 4-byte form of an IPv4 (or IPv4-mapped) address, else ``ip``."""
    if len(ip) == 16 and ip[:12] == _V4_IN_V6:
        return ip[12:]
    return ip


def _mask(bits: int, length: int) -> bytes:
    value = ((1 << bits) - 1) << (8 * length - bits)
    return value.to_bytes(length, "big")


def _parse_cidr(text: str) -> tuple[bytes, bytes]:
    """Go's ``net.ParseCIDR``: the (network number, mask) of the network, IPv4 ones 4 bytes long."""
    addr_text, slash, bits_text = text.partition("/")
    addr = _parse_ip(addr_text) if slash else None
    length = 4 if addr is not None and addr.version == 4 else 16
    if addr is None or not bits_text.isascii() or not bits_text.isdigit() or int(bits_text) > 8 * length:
        raise EvaluationError(f"invalid CIDR address: {text}")
    mask = _mask(int(bits_text), length)
    return bytes(a & m for a, m in zip(addr.packed, mask, strict=True)), mask


def _network_contains(network: bytes, mask: bytes, ip: bytes) -> bool:
    """Go's ``IPNet.Contains``."""
    network = _to4(network)
    if len(mask) == 16 and len(network) == 4:
        mask = mask[12:]
    ip = _to4(ip)
    if len(ip) != len(network):
        return False
    return all(n & m == i & m for n, m, i in zip(network, mask, ip, strict=True))


@function("inIPAddrRange", member=True)
def in_ip_addr_range(ip: Any, cidr: Any) -> bool:
    """``"10.0.0.1".inIPAddrRange("10.0.0.0/8")``."""
    if type(ip) is not str or type(cidr) is not str:
        raise no_such_overload("inIPAddrRange", ip, cidr)
    network, mask, network_int, mask_int = _CIDRS[cidr]
    if network_int is not None:  # the common case, an IPv4 range and a dotted-quad address, in integers
        try:
            quad = _from_bytes(_inet_pton(_AF_INET, ip), "big")  # strict a.b.c.d, as Go
        except (OSError, ValueError):
            pass
        else:
            return quad & mask_int == network_int
    addr = _parse_ip(ip)
    if addr is None:
        raise EvaluationError(f"invalid IP address: {ip}")
    return _network_contains(network, mask, _ip16(addr))


def _range(text: str) -> tuple[bytes, bytes, int | None, int | None]:
    """``_parse_cidr``, and for an IPv4 network its number and mask as integers."""
    network, mask = _parse_cidr(text)
    if len(network) == 4:
        return network, mask, int.from_bytes(network, "big"), int.from_bytes(mask, "big")
    return network, mask, None, None


#: Policies name few ranges: each is parsed once.
_CIDRS = StringCache(_range, maxsize=1024)
# Read once here rather than looked up on every call.
_inet_pton, _AF_INET, _from_bytes = socket.inet_pton, socket.AF_INET, int.from_bytes


# ---------------------------------------------------------------- time

#: Go's ``Time.Sub`` saturates at the int64 bounds of nanoseconds.
_GO_DURATION_MIN, _GO_DURATION_MAX = -(2**63), 2**63 - 1


def request_time(activation: Mapping[str, Any]) -> Timestamp:
    """The request's fixed "now": ``activation["now"]``, a timestamp or a timezone-aware datetime,
    or a function giving one (read once per request); the system clock when absent."""
    now = activation.get("now")
    if callable(now):
        now = now()
    if type(now) is Timestamp:
        return now
    if now is None:
        return Timestamp.now()
    if not isinstance(now, _dt.datetime) or now.tzinfo is None:
        raise EvaluationError("activation 'now' must be a timestamp or a timezone-aware datetime")
    return Timestamp.from_datetime(now)


@function("now", needs_activation=True)
def now(activation: Mapping[str, Any]) -> Timestamp:
    """``now()``: the request time."""
    return request_time(activation)


@function("timeSince", member=True, also_global=True, needs_activation=True)
def time_since(activation: Mapping[str, Any], ts: Any) -> Duration:
    """``ts.timeSince()``: the duration from ``ts`` to the request time (saturating, as Go's ``Sub``)."""
    if type(ts) is not Timestamp:
        raise EvaluationError(NO_SUCH_OVERLOAD)
    elapsed = int(request_time(activation)) - int(ts)
    return Duration(max(_GO_DURATION_MIN, min(elapsed, _GO_DURATION_MAX)))


@function("id")
def identity(value: Any) -> Any:
    """``id(x)``: ``x`` itself."""
    return value


# ---------------------------------------------------------------- Go path/filepath (Linux)


def _clean(path: str) -> str:
    """Go's ``filepath.Clean``: the shortest equivalent path, resolved lexically."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def _base(path: str) -> str:
    if not path:
        return "."
    path = path.rstrip("/")
    if not path:
        return "/"
    return path[path.rfind("/") + 1 :]


def _dir(path: str) -> str:
    return _clean(path[: path.rfind("/") + 1])


def _ext(path: str) -> str:
    for i in range(len(path) - 1, -1, -1):
        if path[i] == "/":
            break
        if path[i] == ".":
            return path[i:]
    return ""


def _join(*elements: str) -> str:
    parts = [e for e in elements if e]
    return _clean("/".join(parts)) if parts else ""


def _elements(path: str) -> list[str]:
    """The elements of a clean path; a rooted path's first element is empty."""
    if path == "/":
        return [""]
    return path.split("/") if path else []


def _rel(base_path: str, target_path: str) -> str:
    """Go's ``filepath.Rel``."""
    base, target = _clean(base_path), _clean(target_path)
    if base == target:
        return "."
    if base == ".":
        base = ""
    cannot = EvaluationError(f"Rel: can't make {target_path} relative to {base_path}")
    if base.startswith("/") != target.startswith("/"):
        raise cannot
    base_parts, target_parts = _elements(base), _elements(target)
    common = 0
    while (
        common < len(base_parts) and common < len(target_parts) and base_parts[common] == target_parts[common]
    ):
        common += 1
    if common < len(base_parts) and base_parts[common] == "..":
        raise cannot
    ups = [".."] * (len(base_parts) - common)
    return "/".join(ups + target_parts[common:])


class _BadPattern(Exception):
    pass


def _glob_match(pattern: str, name: str) -> bool:
    """Go's ``filepath.Match`` on Linux: ``*``, ``?``, ``[...]`` classes and ``\\`` escapes."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return "/" not in name
        rest = _match_chunk(chunk, name)
        if rest is not None and (not rest or pattern):
            name = rest
            continue
        if star:
            matched = False
            for i in range(len(name)):
                if name[i] == "/":
                    break
                rest = _match_chunk(chunk, name[i + 1 :])
                if rest is not None:
                    if not pattern and rest:
                        continue
                    name, matched = rest, True
                    break
            if matched:
                continue
        while pattern:  # the rest of the pattern must still be well formed
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "")
        return False
    return not name


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    stripped = pattern.lstrip("*")
    star = len(stripped) != len(pattern)
    in_range = False
    i = 0
    while i < len(stripped):
        c = stripped[i]
        if c == "\\":
            if i + 1 < len(stripped):
                i += 1
        elif c == "[":
            in_range = True
        elif c == "]":
            in_range = False
        elif c == "*" and not in_range:
            break
        i += 1
    return star, stripped[:i], stripped[i:]


def _match_chunk(chunk: str, s: str) -> str | None:
    """The rest of ``s`` after ``chunk`` matched its start, or None; checks the whole chunk's syntax."""
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        c = chunk[0]
        if c == "[":
            char = ""
            if not failed:
                char, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = chunk.startswith("^")
            if negated:
                chunk = chunk[1:]
            matched = False
            ranges = 0
            while True:
                if chunk.startswith("]") and ranges > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _class_char(chunk)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _class_char(chunk[1:])
                if lo <= char <= hi:
                    matched = True
                ranges += 1
            if matched == negated:
                failed = True
        elif c == "?":
            if not failed:
                failed = s[0] == "/"
                s = s[1:]
            chunk = chunk[1:]
        else:
            if c == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise _BadPattern
            if not failed:
                failed = chunk[0] != s[0]
                s = s[1:]
            chunk = chunk[1:]
    return None if failed else s


def _class_char(chunk: str) -> tuple[str, str]:
    if not chunk or chunk[0] in "-]":
        raise _BadPattern
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise _BadPattern
    if len(chunk) == 1:
        raise _BadPattern
    return chunk[0], chunk[1:]


# ---------------------------------------------------------------- crosspath: UNIX and Windows paths

_UNKNOWN, _DRIVE, _UNC = range(3)


@dataclass(frozen=True, slots=True)
class _Encoded:
    """A path in slash form: ``\\\\host\\share\\x`` is ``/host/share/x``, ``C:\\x`` is ``/C:/x``."""

    value: str
    kind: int
    win32: bool
    root: bool


def _is_drive(path: str) -> bool:
    return len(path) > 1 and path[0].isascii() and path[0].isalpha() and path[1] == ":"


def _encode(path: str) -> _Encoded:
    win32 = "\\" in path
    root = False
    if path.startswith("\\\\"):
        kind, value = _UNC, path.replace("\\", "/")
        root = len(path[2:].split("\\", 2)) == 2
    elif _is_drive(path):
        if not win32 and len(path) > 2:  # like D:. or D:foo
            raise EvaluationError(f"failed to encode path {path}: unsupported Win32 path")
        kind, value = _DRIVE, ("\\" + path).replace("\\", "/")
        root = len(path) in (2, 3)
    else:
        kind = _UNKNOWN
        value = path.replace("\\", "/") if win32 else path
        root = not win32 and value == "/"
    return _Encoded(_clean(value), kind, win32, root)


def _decode(encoded: _Encoded) -> str:
    if encoded.kind == _UNC:
        return "\\" + encoded.value.replace("/", "\\")
    if encoded.kind == _DRIVE:
        return encoded.value.replace("/", "\\").removeprefix("\\")
    if encoded.win32:
        return encoded.value.replace("/", "\\")
    return encoded.value


def _strip_last(encoded: _Encoded) -> _Encoded:
    idx = encoded.value.rfind("/")
    if idx < 0:  # Go slices with -1 here and panics
        raise EvaluationError(f"cannot take the directory of {_decode(encoded)}")
    return replace(encoded, value=encoded.value[:idx])


def base_path(path: str) -> str:
    return _base(_encode(path).value)


def dir_path(path: str) -> str:
    encoded = _encode(path)
    if encoded.kind == _UNC:
        return _decode(encoded if encoded.root else _strip_last(encoded))
    if encoded.kind == _DRIVE:
        return _decode(encoded) + "\\" if encoded.root else _decode(_strip_last(encoded))
    if encoded.win32:
        return _decode(_strip_last(encoded))
    return _decode(replace(encoded, value=_dir(encoded.value)))


def ext_path(path: str) -> str:
    return _ext(_encode(path).value)


def join_path(*paths: str) -> str:
    if not paths:
        return ""
    if len(paths) == 1:
        return paths[0]
    result = _encode(paths[0])
    value = result.value
    for path in paths[1:]:
        value = _join(value, _encode(path).value)
    return _decode(replace(result, value=value))


def match_path(path: str, pattern: str) -> bool:
    encoded_path, encoded_pattern = _encode(path), _encode(pattern)
    try:
        return _glob_match(encoded_pattern.value, encoded_path.value)
    except _BadPattern:
        raise EvaluationError(
            f'failed to match pattern "{pattern}" on path "{path}": syntax error in pattern'
        ) from None


def rel_path(base: str, target: str) -> str:
    encoded_base, encoded_target = _encode(base), _encode(target)
    try:
        value = _rel(encoded_base.value, encoded_target.value)
    except EvaluationError as e:
        raise EvaluationError(f"failed to determine relative path of {target}: {e}") from None
    if value in (".", ".."):
        return value
    if encoded_target.kind == _UNC and not value.startswith("\\"):
        return value.replace("/", "\\")
    return _decode(replace(encoded_target, value=value))


def volume_name(path: str) -> str:
    if path.startswith("\\\\"):
        parts = path[2:].split("\\", 2)
        if len(parts) > 1 and parts[0] and parts[1]:
            return "\\\\" + parts[0] + "\\" + parts[1]
    elif _is_drive(path):
        return path[:2]
    return ""


def path_has_prefix(path: str, prefix: str) -> bool:
    if path == prefix:
        return True
    rel = rel_path(prefix, path)
    return bool(rel) and rel[0] not in "./"


def _strings(name: str, *args: Any) -> None:
    if not all(type(a) is str for a in args):
        raise no_such_overload(name, *args)


@function("basePath")
def cel_base_path(path: Any) -> str:
    """``basePath("/a/b.txt")``: the last element, ``b.txt``."""
    _strings("basePath", path)
    return base_path(path)


@function("dirPath")
def cel_dir_path(path: Any) -> str:
    """``dirPath("/a/b.txt")``: all but the last element, ``/a``."""
    _strings("dirPath", path)
    return dir_path(path)


@function("extPath")
def cel_ext_path(path: Any) -> str:
    """``extPath("/a/b.txt")``: the extension, ``.txt``."""
    _strings("extPath", path)
    return ext_path(path)


@function("joinPath")
def cel_join_path(paths: Any) -> str:
    """``joinPath(["/a", "b"])``: ``/a/b``."""
    if type(paths) not in (list, tuple) or not all(type(p) is str for p in paths):
        raise no_such_overload("joinPath", paths)
    return join_path(*paths)


@function("relPath")
def cel_rel_path(base: Any, target: Any) -> str:
    """``relPath("/a/b", "/a/c")``: ``../c``."""
    _strings("relPath", base, target)
    return rel_path(base, target)


@function("volumeName")
def cel_volume_name(path: Any) -> str:
    """``volumeName("C:\\\\a")``: ``C:``; empty for UNIX paths."""
    _strings("volumeName", path)
    return volume_name(path)


@function("pathHasPrefix", member=True, also_global=True)
def cel_path_has_prefix(path: Any, prefix: Any) -> bool:
    """``pathHasPrefix("/a/b", "/a")``: whether ``prefix`` is ``path`` or one of its ancestors."""
    _strings("pathHasPrefix", path, prefix)
    return path_has_prefix(path, prefix)


@function("pathMatch", member=True, also_global=True)
def cel_path_match(path: Any, pattern: Any) -> bool:
    """``pathMatch("/a/b.zip", "/a/*.zip")``: shell-style glob match."""
    _strings("pathMatch", path, pattern)
    return match_path(path, pattern)


@function("pathMatchAnyOf", member=True, also_global=True)
def cel_path_match_any_of(path: Any, patterns: Any) -> bool:
    """``pathMatchAnyOf(path, [patterns])``: whether any pattern matches."""
    if (
        type(path) is not str
        or type(patterns) not in (list, tuple)
        or not all(type(p) is str for p in patterns)
    ):
        raise no_such_overload("pathMatchAnyOf", path, patterns)
    return any(match_path(path, p) for p in patterns)
