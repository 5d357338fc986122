"""Instants as the sessions API shows them: RFC 3339 in UTC."""

from __future__ import annotations

import datetime as dt


def rfc3339(seconds: float) -> str:
    """``2026-12-06T11:20:00.123Z``."""
    instant = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")
