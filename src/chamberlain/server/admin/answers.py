"""What admin handlers share: a feature's errors turned into Cerbos-style answers (:class:`ApiError`), and a
JSON object body."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from chamberlain import strictjson
from chamberlain.server.admin import AdminRequest, AdminResponse
from chamberlain.server.http import UNAVAILABLE, ApiError
from chamberlain.store.errors import StoreError

#: An error class, the HTTP status it answers and the Cerbos (gRPC) code of its body.
Answer = tuple[type[BaseException], int, int]


def answering(answers: Sequence[Answer], store: str) -> Callable[[Any], Any]:
    """A decorator turning ``answers``' errors into :class:`ApiError` (``{"code", "message"}``), and the
    store's errors into a 503 naming ``store`` (``"session store"``)."""

    def wrap(fn: Any) -> Any:
        def handler(request: AdminRequest) -> dict[str, Any] | AdminResponse:
            try:
                return fn(request)
            except StoreError as exc:
                raise ApiError(503, UNAVAILABLE, f"{store} unavailable: {exc}") from None
            except tuple(kind for kind, _, _ in answers) as exc:
                status, code = next((s, c) for kind, s, c in answers if isinstance(exc, kind))
                raise ApiError(status, code, str(exc)) from None

        handler.__name__ = fn.__name__
        handler.__doc__ = fn.__doc__
        return handler

    return wrap


def json_object(request: AdminRequest, invalid: Callable[[str], Exception]) -> Mapping[str, Any]:
    """The request body as a JSON object ({} when empty); raises ``invalid(message)`` otherwise."""
    if not request.body.strip():
        return {}
    try:
        found = strictjson.loads(request.body, max_depth=request.state.config.max_json_depth)
    except strictjson.JSONError as exc:
        raise invalid(f"request body: invalid JSON: {exc}") from None
    if not isinstance(found, Mapping):
        raise invalid("request body: expected a JSON object")
    return found
