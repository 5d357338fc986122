"""Envoy's ext_authz messages, described here, so the gRPC ``Check`` needs only the ``grpc`` extra.

The messages ``envoy.service.auth.v3.Authorization/Check`` exchanges are built at import time with
protobuf's ``descriptor_pb2`` into a private descriptor pool (never the default one: a process that
also imports ``xds-protos`` keeps its own definitions). Names and field numbers are those of Envoy's
published protos (``api/envoy/service/auth/v3/{external_auth,attribute_context}.proto``,
``envoy/config/core/v3/{base,address}.proto``, ``envoy/type/v3/http_status.proto``); only what chamberlain
reads or writes is described. A field this module leaves out (``metadata_context``, a ``Pipe`` address,
``query_parameters_to_set``, ...) is kept as an unknown field when parsed and written back unchanged, so
a message still round-trips whole; the wire test (tests/server/grpc/test_envoy_protos.py) checks both
directions against the generated classes of ``xds-protos``.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.rpc import status_pb2

_F = descriptor_pb2.FieldDescriptorProto
STRING, BYTES, BOOL = _F.TYPE_STRING, _F.TYPE_BYTES, _F.TYPE_BOOL
INT32, INT64, UINT32 = _F.TYPE_INT32, _F.TYPE_INT64, _F.TYPE_UINT32
MESSAGE, ENUM = _F.TYPE_MESSAGE, _F.TYPE_ENUM

#: (name, number, type, type name for messages and enums, repeated, oneof name)
Field = tuple[str, int, int, str, bool, str]


def _field(
    name: str, number: int, kind: int, type_name: str = "", repeated: bool = False, oneof: str = ""
) -> Field:
    return (name, number, kind, type_name, repeated, oneof)


def _message(parent: Any, name: str, fields: list[Field]) -> Any:
    """Add message ``name`` to ``parent`` (a file or a message)."""
    message = parent.message_type.add() if hasattr(parent, "message_type") else parent.nested_type.add()
    message.name = name
    oneofs: list[str] = []
    for field_name, number, kind, type_name, repeated, oneof in fields:
        field = message.field.add(name=field_name, number=number, type=kind, json_name=_camel(field_name))
        field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
        if type_name:
            field.type_name = type_name
        if oneof:
            if oneof not in oneofs:
                oneofs.append(oneof)
                message.oneof_decl.add(name=oneof)
            field.oneof_index = oneofs.index(oneof)
    return message


def _map(message: Any, full_name: str, name: str, number: int) -> None:
    """A ``map<string, string>`` field of ``message`` (``full_name``: the message's, dot first)."""
    entry = message.nested_type.add(name=_camel(name, upper=True) + "Entry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=STRING, label=_F.LABEL_OPTIONAL, json_name="key")
    entry.field.add(name="value", number=2, type=STRING, label=_F.LABEL_OPTIONAL, json_name="value")
    message.field.add(
        name=name,
        number=number,
        type=MESSAGE,
        label=_F.LABEL_REPEATED,
        type_name=f"{full_name}.{entry.name}",
        json_name=_camel(name),
    )


def _camel(name: str, upper: bool = False) -> str:
    head, *rest = name.split("_")
    text = head + "".join(part.capitalize() for part in rest)
    return text[:1].upper() + text[1:] if upper else text


def _file(name: str, package: str, dependencies: list[str]) -> Any:
    return descriptor_pb2.FileDescriptorProto(
        name=name, package=package, syntax="proto3", dependency=dependencies
    )


def _enum(parent: Any, name: str, values: dict[str, int]) -> None:
    enum = parent.enum_type.add(name=name)
    for value_name, number in values.items():
        enum.value.add(name=value_name, number=number)


def _core() -> Any:
    """``envoy.config.core.v3``: the socket address, header values and their append options."""
    core = _file(
        "chamberlain/envoy/config/core/v3/ext_authz_subset.proto",
        "envoy.config.core.v3",
        ["google/protobuf/wrappers.proto"],
    )
    socket = _message(
        core,
        "SocketAddress",
        [
            _field("protocol", 1, ENUM, ".envoy.config.core.v3.SocketAddress.Protocol"),
            _field("address", 2, STRING),
            _field("port_value", 3, UINT32, oneof="port_specifier"),
            _field("named_port", 4, STRING, oneof="port_specifier"),
            _field("resolver_name", 5, STRING),
            _field("ipv4_compat", 6, BOOL),
        ],
    )
    _enum(socket, "Protocol", {"TCP": 0, "UDP": 1})
    _message(
        core,
        "Address",
        [
            _field("socket_address", 1, MESSAGE, ".envoy.config.core.v3.SocketAddress", oneof="address"),
        ],
    )
    _message(
        core,
        "HeaderValue",
        [
            _field("key", 1, STRING),
            _field("value", 2, STRING),
            _field("raw_value", 3, BYTES),
        ],
    )
    option = _message(
        core,
        "HeaderValueOption",
        [
            _field("header", 1, MESSAGE, ".envoy.config.core.v3.HeaderValue"),
            _field("append", 2, MESSAGE, ".google.protobuf.BoolValue"),
            _field("append_action", 3, ENUM, ".envoy.config.core.v3.HeaderValueOption.HeaderAppendAction"),
            _field("keep_empty_value", 4, BOOL),
        ],
    )
    _enum(
        option,
        "HeaderAppendAction",
        {
            "APPEND_IF_EXISTS_OR_ADD": 0,
            "ADD_IF_ABSENT": 1,
            "OVERWRITE_IF_EXISTS_OR_ADD": 2,
            "OVERWRITE_IF_EXISTS": 3,
        },
    )
    _message(
        core,
        "HeaderMap",
        [
            _field("headers", 1, MESSAGE, ".envoy.config.core.v3.HeaderValue", repeated=True),
        ],
    )
    return core


#: Envoy's ``envoy.type.v3.StatusCode``: the HTTP statuses chamberlain answers with, and the zero value.
HTTP_STATUS = {
    "Empty": 0,
    "OK": 200,
    "BadRequest": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "NotFound": 404,
    "InternalServerError": 500,
    "ServiceUnavailable": 503,
}


def _type() -> Any:
    """``envoy.type.v3``: the HTTP status of a denial."""
    types = _file("chamberlain/envoy/type/v3/ext_authz_subset.proto", "envoy.type.v3", [])
    _enum(types, "StatusCode", HTTP_STATUS)
    _message(types, "HttpStatus", [_field("code", 1, ENUM, ".envoy.type.v3.StatusCode")])
    return types


def _auth() -> Any:
    """``envoy.service.auth.v3``: ``CheckRequest`` with its ``AttributeContext``, and ``CheckResponse``."""
    package = "envoy.service.auth.v3"
    auth = _file(
        "chamberlain/envoy/service/auth/v3/ext_authz_subset.proto",
        package,
        [
            "chamberlain/envoy/config/core/v3/ext_authz_subset.proto",
            "chamberlain/envoy/type/v3/ext_authz_subset.proto",
            "google/protobuf/struct.proto",
            "google/protobuf/timestamp.proto",
            "google/rpc/status.proto",
        ],
    )
    context = auth.message_type.add(name="AttributeContext")
    ctx = f".{package}.AttributeContext"
    peer = _message(
        context,
        "Peer",
        [
            _field("address", 1, MESSAGE, ".envoy.config.core.v3.Address"),
            _field("service", 2, STRING),
            _field("principal", 4, STRING),
            _field("certificate", 5, STRING),
        ],
    )
    _map(peer, f"{ctx}.Peer", "labels", 3)
    _message(
        context,
        "Request",
        [
            _field("time", 1, MESSAGE, ".google.protobuf.Timestamp"),
            _field("http", 2, MESSAGE, f"{ctx}.HttpRequest"),
        ],
    )
    http = _message(
        context,
        "HttpRequest",
        [
            _field("id", 1, STRING),
            _field("method", 2, STRING),
            _field("header_map", 13, MESSAGE, ".envoy.config.core.v3.HeaderMap"),
            _field("path", 4, STRING),
            _field("host", 5, STRING),
            _field("scheme", 6, STRING),
            _field("query", 7, STRING),
            _field("fragment", 8, STRING),
            _field("size", 9, INT64),
            _field("protocol", 10, STRING),
            _field("body", 11, STRING),
            _field("raw_body", 12, BYTES),
        ],
    )
    _map(http, f"{ctx}.HttpRequest", "headers", 3)
    _message(context, "TLSSession", [_field("sni", 1, STRING)])
    for name, number, type_name in (
        ("source", 1, "Peer"),
        ("destination", 2, "Peer"),
        ("request", 4, "Request"),
        ("tls_session", 12, "TLSSession"),
    ):
        context.field.add(
            name=name,
            number=number,
            type=MESSAGE,
            label=_F.LABEL_OPTIONAL,
            type_name=f"{ctx}.{type_name}",
            json_name=_camel(name),
        )
    _map(context, ctx, "context_extensions", 10)
    _message(auth, "CheckRequest", [_field("attributes", 1, MESSAGE, ctx)])
    header_option = ".envoy.config.core.v3.HeaderValueOption"
    _message(
        auth,
        "DeniedHttpResponse",
        [
            _field("status", 1, MESSAGE, ".envoy.type.v3.HttpStatus"),
            _field("headers", 2, MESSAGE, header_option, repeated=True),
            _field("body", 3, STRING),
        ],
    )
    _message(
        auth,
        "OkHttpResponse",
        [
            _field("headers", 2, MESSAGE, header_option, repeated=True),
            _field("headers_to_remove", 5, STRING, repeated=True),
            _field("response_headers_to_add", 6, MESSAGE, header_option, repeated=True),
        ],
    )
    _message(
        auth,
        "CheckResponse",
        [
            _field("status", 1, MESSAGE, ".google.rpc.Status"),
            _field("denied_response", 2, MESSAGE, f".{package}.DeniedHttpResponse", oneof="http_response"),
            _field("ok_response", 3, MESSAGE, f".{package}.OkHttpResponse", oneof="http_response"),
            _field("dynamic_metadata", 4, MESSAGE, ".google.protobuf.Struct"),
        ],
    )
    return auth


def _pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for module in (any_pb2, struct_pb2, timestamp_pb2, wrappers_pb2, status_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        pool.Add(proto)
    for proto in (_core(), _type(), _auth()):
        pool.Add(proto)
    return pool


POOL = _pool()


def _class(name: str) -> Any:
    return message_factory.GetMessageClass(POOL.FindMessageTypeByName(name))


CheckRequest = _class("envoy.service.auth.v3.CheckRequest")
CheckResponse = _class("envoy.service.auth.v3.CheckResponse")
AttributeContext = _class("envoy.service.auth.v3.AttributeContext")
HeaderValue = _class("envoy.config.core.v3.HeaderValue")
HeaderValueOption = _class("envoy.config.core.v3.HeaderValueOption")
#: ``HeaderValueOption.append_action``: replace the client's header of the same name, or add it.
OVERWRITE_IF_EXISTS_OR_ADD = (
    POOL.FindEnumTypeByName("envoy.config.core.v3.HeaderValueOption.HeaderAppendAction")
    .values_by_name["OVERWRITE_IF_EXISTS_OR_ADD"]
    .number
)
