"""Query parameters and paging for admin listings: every listing is paged, every page bounded.

A listing takes ``limit`` (default :data:`DEFAULT_LIMIT`, at most ``chamberlain.admin.maxPageSize``) and
``cursor`` (opaque: the ``next_cursor`` of the previous page), and answers ``next_cursor`` (``null`` on
the last page). A page also stops before ``chamberlain.admin.maxResponseBytes``. Out-of-range or
malformed parameters are a 400 naming the parameter, never a 500.

>>> params = query_params(request.query, ("limit", "cursor", "principal"))
>>> limit = page_limit(params, request.state.config.admin)
>>> after = decode_cursor(params.get("cursor"), "after", default=-1)
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import orjson

from chamberlain.server.admin.settings import AdminConfig
from chamberlain.server.http import bad_request

DEFAULT_LIMIT = 100
#: Integer parameters are 64-bit signed values at most (what the stores hold).
INT_MAX = 2**63 - 1
MAX_QUERY_BYTES = 8192
_CURSOR_VERSION = 1
T = TypeVar("T")


def query_params(query: bytes, allowed: Sequence[str]) -> dict[str, str]:
    """The query string as a mapping; unknown, repeated or undecodable parameters are a 400."""
    if len(query) > MAX_QUERY_BYTES:
        raise bad_request(f"query string longer than {MAX_QUERY_BYTES} bytes")
    try:
        pairs = parse_qsl(
            query.decode("ascii"),
            keep_blank_values=True,
            strict_parsing=bool(query),
            errors="strict",
            max_num_fields=64,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(f"invalid query string: {exc}") from None
    out: dict[str, str] = {}
    for key, value in pairs:
        if key not in allowed:
            listed = ", ".join(allowed) or "none"
            raise bad_request(f"unknown query parameter {key[:64]!r}; allowed: {listed}")
        if key in out:
            raise bad_request(f"query parameter {key!r} given twice")
        out[key] = value
    return out


def int_param(
    params: dict[str, str], name: str, default: int | None = None, *, minimum: int = 0, maximum: int = INT_MAX
) -> int | None:
    """``params[name]`` as an integer in ``[minimum, maximum]`` (``default`` when absent or empty)."""
    text = params.get(name)
    if text is None or text == "":
        return default
    digits = text[1:] if text[:1] == "-" else text
    if not digits.isascii() or not digits.isdigit() or len(digits) > 19:
        raise bad_request(
            f"query parameter {name!r} must be an integer from {minimum} to {maximum}, got {text[:40]!r}"
        )
    value = int(text)
    if not minimum <= value <= maximum:
        raise bad_request(
            f"query parameter {name!r} must be an integer from {minimum} to {maximum}, got {value}"
        )
    return value


def page_limit(params: dict[str, str], settings: AdminConfig) -> int:
    """The page size: ``limit`` from 1 to ``chamberlain.admin.maxPageSize`` (default 100)."""
    limit = int_param(
        params, "limit", min(DEFAULT_LIMIT, settings.max_page_size), minimum=1, maximum=settings.max_page_size
    )
    assert limit is not None
    return limit


def encode_cursor(position: dict[str, Any]) -> str:
    """An opaque cursor holding ``position`` (what the listing needs to continue)."""
    return base64.urlsafe_b64encode(orjson.dumps({"v": _CURSOR_VERSION, **position})).rstrip(b"=").decode()


def decode_cursor(text: str | None, key: str, default: int) -> int:
    """The integer ``key`` of a cursor made by :func:`encode_cursor` (``default`` without a cursor)."""
    if not text:
        return default
    try:
        if len(text) > 512:
            raise ValueError
        data = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        value = data[key] if isinstance(data, dict) and data.get("v") == _CURSOR_VERSION else None
    except (binascii.Error, ValueError, KeyError, orjson.JSONDecodeError):
        value = None
    if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value <= INT_MAX:
        raise bad_request("query parameter 'cursor' is not a cursor this listing gave (use its next_cursor)")
    return value


def bounded_page(
    items: Sequence[T], limit: int, max_bytes: int, size: Callable[[T], int]
) -> tuple[list[T], bool]:
    """The first items that fit in ``max_bytes`` (at least one) and ``limit``, and whether any is left out.

    Fetch ``limit + 1`` items: the last page then says so exactly (no empty page after it)."""
    page: list[T] = []
    total = 0
    for item in items[:limit]:
        total += size(item)
        if page and total > max_bytes:
            return page, True
        page.append(item)
    return page, len(items) > len(page)
