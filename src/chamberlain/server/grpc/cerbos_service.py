"""``cerbos.svc.v1.CerbosService`` over gRPC: CheckResources, PlanResources, ServerInfo.

Every call is answered by the HTTP API's own handlers (:mod:`chamberlain.server.cerbos_api`): the
protobuf request becomes the JSON Cerbos's HTTP gateway would have received (protojson names,
integral ``Value`` numbers printed as integers), is validated, decided and recorded in the decision
log exactly as an HTTP check (enforcement point ``grpc:cerbos``), and the JSON answer becomes the
protobuf response. Errors are the gRPC status codes Cerbos answers with (``INVALID_ARGUMENT`` for a
bad request, ``INTERNAL`` for bytes that are not the message); chamberlain's additions to a response
(the ``chamberlain`` and ``delegation`` fields) travel in the trailing metadata ``x-chamberlain-response``.

Requests arrive as bytes (no deserializer in the handler): a request over
``chamberlain.limits.largeRequestBytes`` is parsed, decided and recorded on a worker thread.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import orjson
from google.protobuf.message import DecodeError, Message

from chamberlain.engine.request_validation import InvalidRequest, RequestError
from chamberlain.errors import Error
from chamberlain.server import cerbos_api, decide
from chamberlain.server.grpc import convert, extensions
from chamberlain.server.grpc.stubs import request_pb2, response_pb2
from chamberlain.server.http import ApiError, new_call_id
from chamberlain.server.logs import LOGGER
from chamberlain.server.state import ServerState
from chamberlain.store import StoreError

SERVICE = "cerbos.svc.v1.CerbosService"
POINT = "grpc:cerbos"
_CODES = {code.value[0]: code for code in grpc.StatusCode}
_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}

#: A handler of the HTTP API: (state, JSON body, call id, point) -> the answer or an awaitable of it.
HttpHandler = Callable[[ServerState, bytes, str, str], dict[str, Any] | Awaitable[dict[str, Any]]]


def status_code(code: int) -> grpc.StatusCode:
    """The gRPC status of an :class:`ApiError`'s code."""
    return _CODES.get(code, grpc.StatusCode.UNKNOWN)


class Failed(Exception):
    """A call answered with a gRPC status (``code``, ``message``) instead of a response."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class CerbosService:
    """The servicer; its methods take and return serialized messages."""

    def __init__(self, state: ServerState):
        self.state = state

    def handlers(self) -> grpc.GenericRpcHandler:
        def unary(fn: Callable[..., Awaitable[bytes]]) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(fn)  # bytes in, bytes out

        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "CheckResources": unary(self.check_resources),
                "PlanResources": unary(self.plan_resources),
                "ServerInfo": unary(self.server_info),
            },
        )

    async def check_resources(self, data: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return await self._call(
            "grpc_check_resources",
            data,
            context,
            request_pb2.CheckResourcesRequest,
            cerbos_api.check_resources,
            response_pb2.CheckResourcesResponse,
        )

    async def plan_resources(self, data: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return await self._call(
            "grpc_plan_resources",
            data,
            context,
            request_pb2.PlanResourcesRequest,
            cerbos_api.plan_resources,
            response_pb2.PlanResourcesResponse,
        )

    async def server_info(self, data: bytes, context: grpc.aio.ServicerContext) -> bytes:
        answer = cerbos_api.server_info(self.state, data, "")
        return convert.from_json(answer, response_pb2.ServerInfoResponse())[0].SerializeToString()

    async def _call(
        self,
        endpoint: str,
        data: bytes,
        context: grpc.aio.ServicerContext,
        request_type: type[Message],
        handler: HttpHandler,
        response_type: type[Message],
    ) -> bytes:
        state = self.state
        started = time.monotonic()
        call_id = new_call_id()
        metadata = context.invocation_metadata()
        try:
            try:
                if len(data) > state.config.large_request_bytes:  # parsing, deciding, recording: off the loop
                    state.metrics.observe_moved_to_worker("large")
                    answer = await decide.in_worker(
                        state, self._start, data, metadata, call_id, request_type, handler
                    )
                else:
                    answer = self._start(data, metadata, call_id, request_type, handler)
                if type(answer) is not dict:
                    answer = await answer  # type: ignore[misc]
                message, extras = convert.from_json(answer, response_type())
            except ApiError as exc:
                raise Failed(status_code(exc.code), exc.message) from None
            except (InvalidRequest, RequestError) as exc:
                raise Failed(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
            except StoreError as exc:  # the database, not the request, is the problem
                raise Failed(grpc.StatusCode.UNAVAILABLE, str(exc)) from None
            except Error as exc:  # a chamberlain error about the input (never an ALLOW)
                raise Failed(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
            except Failed:
                raise
            except Exception:
                LOGGER.exception("internal error", extra={"callId": call_id, "endpoint": endpoint})
                raise Failed(grpc.StatusCode.INTERNAL, f"internal error (call id {call_id})") from None
        except Failed as failed:
            state.metrics.observe_request(
                endpoint, _HTTP_STATUS.get(failed.code, 500), time.monotonic() - started
            )
            LOGGER.info(
                "request rejected",
                extra={
                    "callId": call_id,
                    "endpoint": endpoint,
                    "code": failed.code.name,
                    "error": failed.message,
                },
            )
            await context.abort(failed.code, failed.message)
        if extras:
            context.set_trailing_metadata(extensions.response_metadata(extras))
        state.metrics.observe_request(endpoint, 200, time.monotonic() - started)
        return message.SerializeToString()

    def _start(
        self, data: bytes, metadata: Any, call_id: str, request_type: type[Message], handler: HttpHandler
    ) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        """Parse the protobuf request, add the metadata extensions and hand it to the HTTP API's handler."""
        try:
            message = request_type.FromString(data)
        except DecodeError as exc:  # worded as grpc-go (Cerbos) words it
            raise Failed(grpc.StatusCode.INTERNAL, f"grpc: error unmarshalling request: {exc}") from None
        request = convert.to_json(message)
        extensions.apply(request, extensions.read(metadata, self.state.config.max_json_depth))
        try:
            body = orjson.dumps(request)
        except TypeError:  # an integral double past 2**64 (printed in full, as protojson does)
            body = json.dumps(request).encode()
        return handler(self.state, body, call_id, POINT)
