"""Logs for ``serve`` and ``mcp-proxy`` alike: one JSON object per line (``ts``, ``level``, ``logger``,
``msg`` and any extras such as ``callId``) for a collector, or a readable line for a person.

The format is ``auto`` by default (``chamberlain.logFormat``, ``--log-format``): text when standard
error is a terminal, JSON lines otherwise."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Any

import orjson

from chamberlain.text import block, printable

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}
LOGGER = logging.getLogger("chamberlain.server")


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """One line per record: the message and every extra escaped (a newline in a value cannot forge a line)."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={printable(v)}" for k, v in vars(record).items() if k not in _STANDARD)
        base = f"{record.levelname:<7} {record.name}: {printable(record.getMessage())}"
        line = f"{base} {extras}".rstrip()
        if record.exc_info:  # a traceback is the only multi-line part, indented under its line
            line += "\n" + block(self.formatException(record.exc_info))
        return line


FORMATS = ("auto", "json", "text")


def resolve_format(fmt: str, stream: Any = None) -> str:
    """``json`` or ``text``: ``auto`` is text on a terminal, JSON lines otherwise."""
    if fmt != "auto":
        return fmt
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def setup_logging(level: str = "info", fmt: str = "auto") -> None:
    """Send chamberlain's, uvicorn's and the MCP SDK's logs to stderr in ``fmt`` (see FORMATS)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if resolve_format(fmt) == "json" else TextFormatter())
    for name in ("chamberlain", "uvicorn", "uvicorn.error", "granian", "mcp"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(level.upper())
    logging.getLogger("uvicorn.access").disabled = True
