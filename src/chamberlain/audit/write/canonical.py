"""Canonical JSON (RFC 8785, JCS) for decision-log entries, and SHA-256 digests of it.

:func:`canonical` is what every digest in the log is computed over, so anyone can recompute one
with any JCS implementation. Most values take a fast path: once :func:`normalise` has made a value
plain JSON (and turned integral doubles into integers, as JCS prints them), ``orjson`` with sorted
keys produces exactly the JCS bytes. The few values where the two differ — doubles in
[1e-7, 1e-5), integers beyond ±2^53, keys outside the Basic Multilingual Plane (JCS sorts keys by
UTF-16 code units) — go through the reference ``rfc8785`` package instead. A test checks the fast
path against ``rfc8785`` on generated values.

Values that are not JSON (timestamps, bytes, CEL values, tuples, sets) are first converted as
:func:`chamberlain.cel.jsonvalue.to_json` converts them (RFC 3339 text, base64, lists, ...).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import orjson
import rfc8785

from chamberlain.cel.jsonvalue import to_json
from chamberlain.errors import Error

_SAFE = 2**53 - 1
_SORT = orjson.OPT_SORT_KEYS


class EncodingError(Error):
    """A value that has no canonical JSON form (a string with a lone surrogate, a huge integer)."""


class _Slow(Exception):
    """Raised by the fast normaliser when orjson's output would differ from RFC 8785's."""


def canonical(value: Any) -> bytes:
    """The RFC 8785 canonical JSON of ``value`` (made plain JSON first); raises :class:`EncodingError`."""
    try:
        return orjson.dumps(_fast(value), option=_SORT)
    except _Slow:
        return slow_canonical(value)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise EncodingError(f"cannot encode as canonical JSON: {exc}") from None


def slow_canonical(value: Any) -> bytes:
    """The canonical JSON through the reference ``rfc8785`` implementation (no fast path)."""
    try:
        return rfc8785.dumps(_full(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise EncodingError(f"cannot encode as canonical JSON: {exc}") from None


def normalise(value: Any) -> tuple[Any, bool]:
    """``(plain JSON value, fast)``: ``fast`` tells whether orjson with sorted keys encodes it canonically."""
    try:
        return _fast(value), True
    except _Slow:
        return _full(value), False


def encode(value: Any, fast: bool) -> bytes:
    """Canonical JSON of a value :func:`normalise` returned (``fast`` as it said)."""
    if fast:
        try:
            return orjson.dumps(value, option=_SORT)
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise EncodingError(f"cannot encode as canonical JSON: {exc}") from None
    return slow_canonical(value)


def digest(value: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical(value)).hexdigest()


def _fast(v: Any) -> Any:
    return _walk(v, True)


def _full(v: Any) -> Any:
    return _walk(v, False)


def _walk(v: Any, fast: bool) -> Any:
    """``v`` as plain JSON; ``fast``: raise :class:`_Slow` where orjson's output would not be JCS's."""
    t = type(v)
    if t is str or v is None or t is bool:
        return v
    if t is int:
        if -_SAFE <= v <= _SAFE:
            return v
        if fast:
            raise _Slow
        try:
            return float(v)  # JCS numbers are IEEE doubles: what any JCS implementation would read
        except OverflowError:
            raise EncodingError(f"integer {v} is too large for a JSON number") from None
    if t is float:
        if not math.isfinite(v):
            return str(v)
        if fast:
            if v.is_integer():
                if -_SAFE <= v <= _SAFE:
                    return int(v)  # JCS prints 1.0 as 1 and -0.0 as 0, like an integer
                raise _Slow  # JCS writes large integral doubles in full, orjson with an exponent or ".0"
            if 1e-7 <= abs(v) < 1e-5:
                raise _Slow  # JCS prints these positionally (0.000001), orjson with an exponent
        return v
    if t is dict:
        return {_key(k, fast): _walk(x, fast) for k, x in v.items()}
    if t is list or t is tuple:
        return [_walk(x, fast) for x in v]
    return _walk(_plain(v), fast)


def _key(k: Any, fast: bool) -> str:
    if type(k) is not str:
        plain = to_json(k)
        k = plain if isinstance(plain, str) else orjson.dumps(plain).decode()
    if fast and not k.isascii() and max(k) > "\uffff":
        raise _Slow  # JCS orders keys by UTF-16 code units, orjson by code points
    return k


def _plain(v: Any) -> Any:
    """A non-JSON value (or a subclass of a JSON type) as plain JSON."""
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, str):
        return str(v)
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, dict):
        return dict(v)
    if isinstance(v, set | frozenset):
        return sorted(v, key=lambda x: orjson.dumps(_full(x), option=_SORT))
    if hasattr(v, "items") and callable(v.items):  # any Mapping
        return dict(v.items())
    plain = to_json(v)
    return plain if type(plain) in (str, int, float, bool, list, dict) or plain is None else str(plain)
