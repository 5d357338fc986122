"""Readers of configuration values, shared by every configuration parser (the server's ``.chamberlain.yaml``,
``chamberlain.delegation``, ``chamberlain.sessions``/``approvals``, the console, the gateways).

Each reader takes the value as the YAML file holds it and returns it checked and converted, or raises
``ValueError`` saying what was expected and what was found; the parser prefixes the key it read
(``server.metricsEnabled: expected true or false, got 'yes'``) and lists every problem at once.
Durations are :func:`chamberlain.durations.parse_duration`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from chamberlain.durations import parse_duration


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def non_empty_strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"expected a list of non-empty strings, got {value!r}")
    return tuple(value)


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"must be a positive integer, got {value!r}")
    return value


def int_between(low: int, high: int) -> Callable[[Any], int]:
    """An integer from ``low`` to ``high`` (``true`` is not 1)."""

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be an integer between {low} and {high}, got {value!r}")
        return value

    return check


def choice(*choices: str) -> Callable[[Any], str]:
    """One of ``choices`` (an enumeration)."""

    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    return check


def seconds_between(low: float, high: float) -> Callable[[Any], float]:
    """A duration from ``low`` to ``high`` seconds."""

    def check(value: Any) -> float:
        seconds = parse_duration(value)
        if not low <= seconds <= high:
            raise ValueError(f"must be between {low:g}s and {high:g}s, got {value!r}")
        return seconds

    return check


def is_zero_duration(value: Any) -> bool:
    """``0``, ``"0"`` or ``"0s"``: how a setting says "none" (no idle timeout, no hold, keep forever)."""
    return value in (0, "0", "0s")


def file_path(value: Any, base: Path) -> Path | None:
    """A file path relative to ``base`` (the configuration file's folder); "" (or None) is no file."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected a file path, got {value!r}")
    return base / value


def listen_address(value: Any, example: str = "127.0.0.1:3592") -> tuple[str, int]:
    """``host:port`` or ``:port`` (all interfaces, ``0.0.0.0``); an IPv6 host in brackets (``[::1]:80``)."""
    if not isinstance(value, str) or ":" not in value:
        raise ValueError(f"expected host:port such as {example}, got {value!r}")
    host, _, port = value.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid port in {value!r}")
    return host, int(port)


def unknown_keys(section: Mapping[str, Any], allowed: Collection[str], path: str) -> list[str]:
    """A problem for each key of ``section`` (at ``path``) that is not ``allowed``, naming the allowed ones."""
    names = ", ".join(allowed)
    prefix = f"{path}." if path else ""
    return [f"{prefix}{key}: unknown key (allowed: {names})" for key in section if key not in allowed]
