"""Colour on a terminal, none when piped: the one rule every ``chamberlain`` command follows.

``NO_COLOR`` (any non-empty value, https://no-color.org) turns colour off; ``FORCE_COLOR`` (any
non-empty value) turns it on when the output is not a terminal, NO_COLOR winning over both. ``rich``
reads the same two variables, so commands that print through ``rich`` agree with those that use this.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TextIO

import typer

#: Result words and what they look like.
STYLES = {
    "PASSED": {"fg": "green"},
    "FAILED": {"fg": "red", "bold": True},
    "ERRORED": {"fg": "red", "bold": True},
    "SKIPPED": {"fg": "yellow"},
    "dim": {"dim": True},
}

Paint = Callable[[str, str], str]


def enabled(stream: TextIO) -> bool:
    """Whether to colour what goes to ``stream``: NO_COLOR, then FORCE_COLOR, then is it a terminal."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


def plain(text: str, style: str) -> str:
    """No colour."""
    return text


def ansi(text: str, style: str) -> str:
    """``text`` in the style named (see STYLES); an unknown style leaves it plain."""
    return typer.style(text, **STYLES[style]) if style in STYLES else text


def painter(stream: TextIO) -> Paint:
    """``ansi`` when ``stream`` gets colour, ``plain`` otherwise."""
    return ansi if enabled(stream) else plain
