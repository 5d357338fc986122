"""Text for people: values from requests, policies and the decision log escaped before they are printed.

A principal id, an action or an attribute may hold any character. Printed as is, a newline in one
forges a line of ``audit search`` or of a text-mode log, and an escape sequence rewrites what a
terminal shows. :func:`printable` escapes every control character (C0, DEL, C1), the Unicode line
and paragraph separators and the bidirectional overrides (which reorder what a reader sees),
as ``\\n``, ``\\x1b``, ``\\u202e``. A string without them is returned unchanged (the common case:
one ``str.isprintable`` call).

Use :func:`printable` on each value put into one line, and :func:`block` on multi-line text whose
line breaks are its own (it keeps ``\\n`` and escapes the rest).
"""

from __future__ import annotations

import logging
import re

# Controls, line/paragraph separators and the bidirectional formatting characters (Trojan Source).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_BUT_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object) -> str:
    """``str(value)`` on one line: every control character escaped (``\\n``, ``\\x1b``, ``\\u202e``)."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():  # no control, separator or format character: nothing to escape
        return text
    return _UNSAFE.sub(_escape, text)


def block(text: str) -> str:
    """Multi-line ``text`` with its line breaks kept and every other control character escaped."""
    if text.isprintable():
        return text
    return _UNSAFE_BUT_NEWLINE.sub(_escape, text)


class LineFormatter(logging.Formatter):
    """A ``logging`` formatter whose lines are one line each: the formatted message is :func:`printable`
    (a traceback, the only multi-line part, follows it as usual)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))


def plural(count: int, one: str, many: str | None = None) -> str:
    """``1 policy``, ``2 policies``, ``0 tests``."""
    return f"{count} {one if count == 1 else (many or one + 's')}"
