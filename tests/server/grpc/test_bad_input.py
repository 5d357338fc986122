"""Bad input over gRPC: oversized messages, malformed protobuf, huge or broken metadata, deep nesting,
bytes that are not UTF-8, extensions of the wrong shape: a clean gRPC error each time, and the server keeps answering."""

from __future__ import annotations

import grpc
import pytest
from cerbos.request.v1 import request_pb2
from cerbos.response.v1 import response_pb2
from google.protobuf import struct_pb2

from tests.server.grpc.support import CHECK, GrpcThreadServer, unary
from tests.server.grpc.test_cerbos_service import REQUEST
from tests.server.support import STORE

MAX_MESSAGE = 20000
LIMITS = {
    "server": {"advanced": {"grpc": {"maxRecvMsgSizeBytes": MAX_MESSAGE}}},
    "chamberlain": {"limits": {"maxHeaderBytes": 8192, "largeRequestBytes": 4096}},
}


@pytest.fixture(scope="module")
def channel():
    with GrpcThreadServer(STORE, LIMITS) as server, grpc.insecure_channel(server.grpc_address) as ch:
        yield ch


@pytest.fixture(autouse=True)
def still_answers(channel):
    yield
    code, reply, _ = unary(channel, CHECK, REQUEST, response_pb2.CheckResourcesResponse)
    assert code == grpc.StatusCode.OK and reply["results"][0]["actions"]["view:public"] == "EFFECT_ALLOW"


def _with_attr(value: struct_pb2.Value) -> request_pb2.CheckResourcesRequest:
    request = request_pb2.CheckResourcesRequest()
    request.CopyFrom(REQUEST)
    request.principal.attr["x"].CopyFrom(value)
    return request


def test_a_message_over_max_recv_msg_size_is_resource_exhausted(channel):
    request = _with_attr(struct_pb2.Value(string_value="x" * MAX_MESSAGE))
    assert unary(channel, CHECK, request)[0] == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_large_message_under_the_limit_is_decided_off_the_loop(channel):
    request = _with_attr(struct_pb2.Value(string_value="x" * 8000))  # over largeRequestBytes
    code, reply, _ = unary(channel, CHECK, request, response_pb2.CheckResourcesResponse)
    assert code == grpc.StatusCode.OK and reply["requestId"] == "g-1"


@pytest.mark.parametrize(
    "data",
    [b"\x0a", b"\x12\xff\xff\xff\xff\x0f", b"\x0a\x02\xc3\x28"],
    ids=["truncated", "huge_length", "invalid_utf8"],
)
def test_malformed_protobuf_is_internal_as_in_grpc_go(channel, data):
    code, details, _ = unary(channel, CHECK, data)
    assert code == grpc.StatusCode.INTERNAL and "unmarshalling request" in details


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (tag, varint length, payload)."""
    length, size = b"", len(payload)
    while True:
        byte, size = size & 0x7F, size >> 7
        length += bytes([byte | (0x80 if size else 0)])
        if not size:
            break
    return bytes([number << 3 | 2]) + length + payload


def test_attributes_nested_past_protobufs_depth_limit_are_refused(channel):
    """200 lists in lists (protobuf decoders stop at 100 levels; the JSON limit, 64, is never reached first)."""
    value = _field(3, b"leaf")  # Value.string_value
    for _ in range(200):
        value = _field(6, _field(1, value))  # Value.list_value -> ListValue.values
    principal = _field(1, b"john") + _field(3, b"employee") + _field(4, _field(1, b"x") + _field(2, value))
    data = REQUEST.SerializeToString() + _field(3, principal)  # a second principal merges into the first
    code, details, _ = unary(channel, CHECK, data)
    assert code == grpc.StatusCode.INTERNAL and "unmarshalling request" in details


def test_metadata_over_max_header_bytes_is_resource_exhausted(channel):
    code, details, _ = unary(channel, CHECK, REQUEST, metadata=[("x-filler", "y" * 20000)])
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "metadata size" in details


def test_an_extension_of_the_wrong_shape_is_invalid_argument(channel):
    code, details, _ = unary(channel, CHECK, REQUEST, metadata=[("x-chamberlain-session", "42")])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "auxData.session" in details
