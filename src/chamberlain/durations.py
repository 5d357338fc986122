"""Go-style durations in configuration files (``30s``, ``1m30s``, ``500ms``), as Cerbos writes them."""

from __future__ import annotations

import re
from typing import Any

_DURATION = re.compile(r"^\s*((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)\s*)+)$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any, *, positive: bool = False) -> float:
    """A Go duration or a number of seconds, as seconds; never negative, and above 0 if ``positive``.

    Raises ``ValueError`` saying what was expected.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.match(value):
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION_PART.findall(value))
    else:
        raise ValueError(f"expected a duration such as 30s, 500ms or 1m, got {value!r}")
    if seconds < 0:
        raise ValueError("must not be negative")
    if positive and seconds <= 0:
        raise ValueError("must be longer than zero")
    return seconds
