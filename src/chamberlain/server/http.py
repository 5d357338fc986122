"""HTTP plumbing shared by the endpoints: Cerbos's error body, call ids, reading bodies with limits
(sending a response is :func:`chamberlain.asgi.respond`)."""

from __future__ import annotations

from typing import Any

import orjson

from chamberlain import strictjson
from chamberlain.asgi import Receive, receive_by
from chamberlain.audit.write.ids import new_call_id as new_call_id  # re-exported: the server's call ids
from chamberlain.engine.request_validation import Message, holds_fields

# gRPC status codes Cerbos puts in its error body, and the HTTP statuses grpc-gateway maps them to.
INVALID_ARGUMENT, DEADLINE_EXCEEDED, NOT_FOUND, RESOURCE_EXHAUSTED, UNIMPLEMENTED, INTERNAL = (
    3,
    4,
    5,
    8,
    12,
    13,
)
UNAVAILABLE = 14
PERMISSION_DENIED, UNAUTHENTICATED = 7, 16


class ApiError(Exception):
    """An error answered as Cerbos answers it: ``{"code": <grpc code>, "message": ...}`` with ``status``."""

    def __init__(
        self, status: int, code: int, message: str, *, headers: list[tuple[bytes, bytes]] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or []  # added to the response (WWW-Authenticate, Retry-After, Allow)

    def body(self) -> bytes:
        return orjson.dumps({"code": self.code, "message": self.message})


def bad_request(message: str) -> ApiError:
    return ApiError(400, INVALID_ARGUMENT, message)


async def read_body(receive: Receive, limit: int, deadline: float, content_length: int | None) -> bytes:
    """The request body, refused once it exceeds ``limit`` bytes (413) or arrives after ``deadline`` (408)."""
    if content_length is not None and content_length > limit:
        raise _too_large(content_length, limit)
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        try:
            message = await receive_by(receive, deadline)
        except TimeoutError:
            raise ApiError(
                408,
                DEADLINE_EXCEEDED,
                "timed out reading the request body (server.advanced.http.readTimeout)",
            ) from None
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError("client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(size: int, limit: int) -> ApiError:
    return ApiError(
        413,
        RESOURCE_EXHAUSTED,
        f"request body larger than max ({size} vs. {limit} bytes; server.advanced.grpc.maxRecvMsgSizeBytes)",
    )


def parse_json(body: bytes, max_depth: int, schema: Message | None = None) -> Any:
    """The body as JSON, or a 400 naming the problem: syntax, nesting deeper than ``max_depth``, a duplicate
    key (worded as Cerbos words it against ``schema``: ``duplicate field "id"`` / ``duplicate map key "x"``)."""
    if not body.strip():
        return {}
    try:
        return strictjson.loads(body, max_depth=max_depth)
    except strictjson.DuplicateKeyError as exc:
        fields = schema is None or holds_fields(schema, exc.path)
        raise bad_request(f'duplicate {"field" if fields else "map key"} "{exc.key}"') from None
    except strictjson.JSONError as exc:
        raise bad_request(str(exc)) from None


def content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                raise bad_request("invalid Content-Length header") from None
    return None
