"""A connection's transport that sends a response's header block and body in one write.

uvicorn writes the status line and headers when the app starts its answer, and the body in a second
``transport.write``; uvloop sends each at once, so every answer cost two ``send`` system calls (and on
loopback, two passes through the receiving side's TCP stack). Measured with the server under wrk at 16
connections: the first of the two was about a tenth of the serving thread's samples.

:class:`CoalescingTransport` holds one write back: the next write goes out joined with it, and
whatever is still held leaves at the end of this turn of the event loop, before a close, or before
anything else is done with the transport (order is kept: every write passes through here). A write held
alone (``100 Continue``, a streamed response's last chunk) is late by at most one turn of the loop.
"""

from __future__ import annotations

import asyncio
from typing import Any


class CoalescingTransport:
    """Wraps a connection's transport; everything but writing and closing is the wrapped transport's."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._held = None
            self._transport.write(held + data)

    def writelines(self, lines: Any) -> None:
        self.write(b"".join(lines))

    def flush(self) -> None:
        """Send what is held (the end of a loop turn, a close, an EOF)."""
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
