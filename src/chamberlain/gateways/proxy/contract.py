"""The one question every proxy asks, and its answer, whatever the wire (HTTP or Envoy's gRPC ``Check``).

The HTTP endpoint (``/_chamberlain/authz``) and the gRPC ``envoy.service.auth.v3.Authorization`` servicer
both build a :class:`ProxyRequest` from what their proxy sent and turn the :class:`ProxyAnswer` back into
their wire format; the mapping to principal, resource and action, the decision and its log entry happen
once, behind :class:`ProxyAuthorizer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

#: Which proxy asked: decides which headers carry the original request and how the answer is shaped.
ProxyKind = Literal["envoy-http", "envoy-grpc", "nginx", "caddy", "traefik"]


@dataclass(frozen=True, slots=True)
class ProxyRequest:
    """The original request a proxy asks about (never the request to chamberlain itself)."""

    method: str  # upper case, e.g. "POST"
    path: str  # the original path, without the query string
    query: str  # the original query string, without "?" ("" when none)
    host: str
    headers: Mapping[str, str]  # the original request's headers, names in lower case
    proxy: ProxyKind
    peer: str | None = None  # the address the proxy connected from
    body: bytes | None = None  # None: the proxy sent no body
    body_truncated: bool = False  # the proxy sent only a prefix: never decide as if it were whole
    #: Header names given more than once (their values joined with ", " in ``headers``); empty where the
    #: proxy merged them itself (Envoy's gRPC service without ``encode_raw_headers``), which chamberlain cannot
    #: tell from one value.
    repeated: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ProxyAnswer:
    """What to tell the proxy: allowed is a 200; a denial is 401 (no or bad credentials) or 403.

    Only 200, 401 and 403 are ever answered (nginx treats anything else as an error)."""

    status: Literal[200, 401, 403]
    upstream_headers: Mapping[str, str] = field(default_factory=dict)  # added to the request on an allow
    client_headers: Mapping[str, str] = field(default_factory=dict)  # on a denial, e.g. WWW-Authenticate
    body: bytes = b""  # on a denial: what the caller reads (no policy internals unless configured)
    decision_id: str | None = None  # the call id of the decision
    log_index: int | None = None  # the decision log entry's index, when recorded synchronously

    @property
    def allowed(self) -> bool:
        return self.status == 200


class ProxyAuthorizer(Protocol):
    """Decides a :class:`ProxyRequest`; never raises for bad input (that is a 401 or 403)."""

    async def authorize(self, request: ProxyRequest) -> ProxyAnswer: ...
