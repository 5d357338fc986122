"""How the client talks to the PDP: retries with backoff on failures worth retrying, answers read within bounds.

A check is idempotent (deciding twice gives the same decision; the decision log records each
attempt it received), so a connection error, a timeout or a 502/503/504 is retried. Anything else
is final: a 400 is the caller's bad request (raised, as the embedded PDP raises it), every other
failure a reason to deny.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from chamberlain import strictjson
from chamberlain.engine.request_validation import RequestError

#: Statuses a proxy or a PDP starting up answers for a moment: worth another try.
RETRY_STATUSES = frozenset({502, 503, 504})
#: The largest answer read (a CheckResources response with many resources and outputs fits easily).
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
MAX_RESPONSE_DEPTH = 128


@dataclass(frozen=True, slots=True)
class Retry:
    """``attempts`` tries in all; waits of ``backoff`` doubling up to ``max_backoff``, with jitter."""

    attempts: int = 3
    backoff: float = 0.05
    max_backoff: float = 1.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff < 0 or self.max_backoff < 0:
            raise ValueError("Retry: attempts must be at least 1 and waits not negative")

    def delays(self) -> Iterator[float]:
        """The waits before each retry (``attempts - 1`` of them)."""
        for i in range(self.attempts - 1):
            wait = min(self.max_backoff, self.backoff * 2**i)
            yield wait * (0.5 + random.random() / 2)


class Retryable(Exception):
    """This attempt failed in a way another attempt may not: the message says how."""


class Failed(Exception):
    """The PDP answered, but not with a decision: the message says what it answered."""


class RejectedRequest(RequestError):
    """The PDP refused the request as invalid (HTTP 400); the message is the PDP's."""

    def __init__(self, message: str):
        super().__init__("request", message)
        self.args = (f"the PDP refused the request: {message}",)


def describe(exc: httpx.HTTPError, url: str) -> str:
    """A transport failure in words (the exception's own text is often empty)."""
    kind = type(exc).__name__
    detail = str(exc) or "no detail"
    return f"PDP at {url} unreachable ({kind}: {detail})"


def read_answer(status: int, content: bytes, url: str) -> dict[str, Any]:
    """The JSON object of a 200 answer; raises :class:`Retryable`, :class:`Failed` or :class:`RejectedRequest`."""
    if len(content) > MAX_RESPONSE_BYTES:
        raise Failed(f"PDP at {url} answered more than {MAX_RESPONSE_BYTES} bytes")
    if status in RETRY_STATUSES:
        raise Retryable(f"PDP at {url} answered HTTP {status}: {_message(content)}")
    if status == 400:
        raise RejectedRequest(_message(content))
    if status != 200:
        raise Failed(f"PDP at {url} answered HTTP {status}: {_message(content)}")
    try:
        body = strictjson.loads(content, max_depth=MAX_RESPONSE_DEPTH)
    except strictjson.JSONError as exc:
        raise Failed(f"PDP at {url} answered {exc}") from None
    if not isinstance(body, dict):
        raise Failed(f"PDP at {url} answered JSON that is not an object")
    return body


def _message(content: bytes) -> str:
    """Cerbos's error body's ``message``, else the start of the body."""
    try:
        body = strictjson.loads(content[:65536])
    except strictjson.JSONError:
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, str):
        return message[:1000]
    return content[:200].decode("utf-8", "replace") or "(empty body)"
