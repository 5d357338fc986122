"""Envoy's ext_authz over gRPC: ``envoy.service.auth.v3.Authorization/Check`` (served with gateway routes).

Envoy's ``CheckRequest`` (``attributes.request.http``: method, path with the query string, host,
headers, and the body when ``with_request_body`` is configured) becomes a
:class:`~chamberlain.gateways.proxy.contract.ProxyRequest` (``proxy="envoy-grpc"``), decided by the
server's proxy authorizer, and the :class:`ProxyAnswer` becomes a ``CheckResponse``:

- allowed: status OK, ``ok_response.headers`` set on the upstream request (overwriting any the client
  sent under the same names);
- denied: status UNAUTHENTICATED (401) or PERMISSION_DENIED (403), ``denied_response`` with the HTTP
  status, the headers for the client (``WWW-Authenticate``) and the body;
- both: ``dynamic_metadata`` ``{"decisionId", "logIndex"}`` (under the ext_authz filter's namespace in Envoy).

A body is partial when Envoy says so (``x-envoy-auth-partial-body: true``, sent with
``allow_partial_message``) or is shorter than the request's ``size``: it is never decided as whole.
An authorizer failure is a denial (403), never an allow.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from google.rpc import code_pb2

from chamberlain.gateways.proxy.contract import ProxyAnswer, ProxyAuthorizer, ProxyRequest
from chamberlain.server.grpc import envoy_protos
from chamberlain.server.logs import LOGGER
from chamberlain.server.state import ServerState

SERVICE = "envoy.service.auth.v3.Authorization"
PARTIAL_BODY_HEADER = "x-envoy-auth-partial-body"
_STATUS_CODE = {200: code_pb2.OK, 401: code_pb2.UNAUTHENTICATED, 403: code_pb2.PERMISSION_DENIED}
_FAILED = ProxyAnswer(403, body=b"authorization failed\n")


def proxy_request(check: Any) -> ProxyRequest:
    """The original request an Envoy ``CheckRequest`` asks about."""
    attributes = check.attributes
    http = attributes.request.http
    headers: dict[str, str] = {}
    repeated: set[str] = set()  # with encode_raw_headers Envoy sends each value apart: repeats can be told
    for name, value in http.headers.items():
        _add(headers, repeated, name, value)
    for header in http.header_map.headers:  # encode_raw_headers: repeated, values as bytes
        _add(
            headers,
            repeated,
            header.key,
            header.raw_value.decode("utf-8", "replace") if header.raw_value else header.value,
        )
    path, _, query = http.path.partition("?")  # Envoy's path carries the query string
    body: bytes | None = None
    partial = headers.get(PARTIAL_BODY_HEADER)
    if http.raw_body or http.body or partial is not None:  # with_request_body was configured
        body = http.raw_body or http.body.encode()
    truncated = (partial is not None and partial != "false") or (body is not None and http.size > len(body))
    headers.pop(PARTIAL_BODY_HEADER, None)
    repeated.discard(PARTIAL_BODY_HEADER)
    address = attributes.source.address.socket_address.address
    return ProxyRequest(
        method=(http.method or "GET").upper(),
        path=path or "/",
        query=query,
        host=http.host or headers.get("host", ""),
        headers=headers,
        proxy="envoy-grpc",
        peer=address or None,
        body=body,
        body_truncated=truncated,
        repeated=frozenset(repeated),
    )


def _add(headers: dict[str, str], repeated: set[str], name: str, value: str) -> None:
    name = name.lower()
    if name.startswith(":"):  # pseudo-headers (:method, :path, :authority) are the request's own fields
        return
    if name in headers:
        headers[name] = f"{headers[name]},{value}"
        repeated.add(name)
    else:
        headers[name] = value


def check_response(answer: ProxyAnswer) -> Any:
    """The ``CheckResponse`` telling Envoy ``answer``."""

    def options(headers: Any) -> list[Any]:  # names in lower case, as HTTP/2 (and Envoy) keep them
        return [
            envoy_protos.HeaderValueOption(
                header=envoy_protos.HeaderValue(key=k.lower(), value=v),
                append_action=envoy_protos.OVERWRITE_IF_EXISTS_OR_ADD,
            )
            for k, v in headers.items()
        ]

    response = envoy_protos.CheckResponse()
    response.status.code = _STATUS_CODE[answer.status]
    if answer.allowed:
        response.ok_response.headers.extend(options(answer.upstream_headers))
    else:
        denied = response.denied_response
        denied.status.code = envoy_protos.HTTP_STATUS["Unauthorized" if answer.status == 401 else "Forbidden"]
        denied.headers.extend(options(answer.client_headers))
        denied.body = answer.body.decode("utf-8", "replace")
    if answer.decision_id is not None:
        response.dynamic_metadata.fields["decisionId"].string_value = answer.decision_id
    if answer.log_index is not None:
        response.dynamic_metadata.fields["logIndex"].number_value = answer.log_index
    return response


class AuthorizationService:
    """The ``Check`` servicer; it takes and returns serialized messages."""

    def __init__(self, state: ServerState, authorizer: ProxyAuthorizer):
        self.state = state
        self.authorizer = authorizer
        self.check_request = envoy_protos.CheckRequest

    def handlers(self) -> grpc.GenericRpcHandler:
        unary: Callable[..., Awaitable[bytes]] = self.check
        return grpc.method_handlers_generic_handler(
            SERVICE, {"Check": grpc.unary_unary_rpc_method_handler(unary)}
        )

    async def check(self, data: bytes, context: grpc.aio.ServicerContext) -> bytes:
        started = time.monotonic()
        try:
            check = self.check_request.FromString(data)
        except DecodeError as exc:  # Envoy denies when its authorization service fails
            await context.abort(grpc.StatusCode.INTERNAL, f"grpc: error unmarshalling request: {exc}")
        request = proxy_request(check)
        try:
            answer = await self.authorizer.authorize(request)
        except Exception:
            LOGGER.exception(
                "proxy authorizer failed; denied", extra={"proxy": "envoy-grpc", "path": request.path}
            )
            answer = _FAILED
        self.state.metrics.observe_request("envoy_check", answer.status, time.monotonic() - started)
        return check_response(answer).SerializeToString()  # type: ignore[no-any-return]
