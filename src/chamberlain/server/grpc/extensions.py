"""chamberlain's request extensions over gRPC: request metadata, since Cerbos's protobuf ``AuxData`` has only ``jwt``.

``x-chamberlain-session``, ``x-chamberlain-approval`` and ``x-chamberlain-delegation`` each carry one
JSON value, placed where the HTTP API reads it: ``auxData.session``, ``auxData.approval``,
``auxData.delegation``. Each is at most :data:`MAX_EXTENSION_BYTES` and nested at most
``chamberlain.limits.maxJSONDepth`` deep; a value that is not JSON, too large, or sent twice is
refused (``INVALID_ARGUMENT``), never ignored. A chamberlain delegation token needs no extension:
it travels in ``auxData.jwt`` as over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from chamberlain import strictjson
from chamberlain.server.http import bad_request

#: metadata key -> the auxData field it fills.
EXTENSIONS = {
    "x-chamberlain-session": "session",
    "x-chamberlain-approval": "approval",
    "x-chamberlain-delegation": "delegation",
}
MAX_EXTENSION_BYTES = 16384
#: Response fields chamberlain adds (``chamberlain``, ``delegation``) have no place in Cerbos's messages:
#: they travel as JSON in this trailing metadata key.
RESPONSE_KEY = "x-chamberlain-response"
#: gRPC clients refuse metadata over 8 KiB by default: larger additions are replaced by a note saying where to read them.
MAX_RESPONSE_BYTES = 8000


def response_metadata(extras: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The trailing metadata carrying ``extras`` (ASCII JSON), or a note when it would be too large for clients."""
    text = json.dumps(extras, ensure_ascii=True, separators=(",", ":"))
    if len(text) > MAX_RESPONSE_BYTES:
        text = json.dumps(
            {
                "omitted": f"{len(text)} bytes, over {MAX_RESPONSE_BYTES}: the fields "
                f"{sorted(extras)} are in the HTTP API's answer and the decision log"
            }
        )
    return ((RESPONSE_KEY, text),)


def read(metadata: Iterable[tuple[str, str | bytes]] | None, max_depth: int) -> dict[str, Any]:
    """The auxData fields the request's metadata names (raises a 400-style ApiError: INVALID_ARGUMENT)."""
    found: dict[str, Any] = {}
    for key, value in metadata or ():
        field = EXTENSIONS.get(key)
        if field is None:
            continue
        if field in found:
            raise bad_request(f"metadata {key}: sent more than once")
        raw = value.encode() if isinstance(value, str) else value
        if len(raw) > MAX_EXTENSION_BYTES:
            raise bad_request(f"metadata {key}: {len(raw)} bytes, more than {MAX_EXTENSION_BYTES}")
        try:
            found[field] = strictjson.loads(raw, max_depth=max_depth)
        except strictjson.JSONError as exc:
            raise bad_request(f"metadata {key}: not JSON: {exc}") from None
    return found


def apply(request: dict[str, Any], fields: dict[str, Any]) -> None:
    """Put the extension ``fields`` into ``request['auxData']``."""
    if fields:
        aux = request.setdefault("auxData", {})
        aux.update(fields)
