"""chamberlain's own descriptors of Envoy's ext_authz messages (:mod:`chamberlain.server.grpc.envoy_protos`)
against the classes ``xds-protos`` generates from Envoy's published protos: the same bytes both ways, and
the gRPC ``Check`` served in a process where Envoy's protos cannot be imported at all."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from google.protobuf import json_format, struct_pb2, timestamp_pb2, wrappers_pb2
from google.rpc import code_pb2

from chamberlain.gateways.proxy.contract import ProxyAnswer
from chamberlain.server.grpc import envoy, envoy_protos
from tests.server.grpc.support import envoy_protos as install_envoy_protos
from tests.server.support import REPO

install_envoy_protos()  # before Envoy's modules are imported

from envoy.config.core.v3 import address_pb2, base_pb2  # noqa: E402
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2  # noqa: E402
from envoy.type.v3 import http_status_pb2  # noqa: E402

Context = attribute_context_pb2.AttributeContext


def full_check_request() -> external_auth_pb2.CheckRequest:
    """A CheckRequest with every field Envoy can set, including those chamberlain does not describe."""
    metadata = base_pb2.Metadata()
    metadata.filter_metadata["envoy.filters.http.jwt_authn"].update({"payload": {"sub": "alice"}})
    http = Context.HttpRequest(
        id="4398046511104",
        method="POST",
        path="/invoices/7/pay?now=1",
        host="api.example",
        scheme="https",
        query="",
        fragment="",
        size=11,
        protocol="HTTP/2",
        body='{"amount":5}',
        raw_body=b"\x00\xff",
        header_map=base_pb2.HeaderMap(headers=[base_pb2.HeaderValue(key="x-raw", raw_value=b"r\xc3\xa9")]),
    )
    http.headers.update({":method": "POST", "authorization": "Bearer t", "x-multi": "a,b"})
    source = Context.Peer(
        address=address_pb2.Address(
            socket_address=address_pb2.SocketAddress(
                protocol=address_pb2.SocketAddress.UDP,
                address="10.1.2.3",
                port_value=51234,
                resolver_name="r",
                ipv4_compat=True,
                network_namespace_filepath="/var/run/netns/x",
            )
        ),
        service="frontend",
        principal="spiffe://example/frontend",
        certificate="-----BEGIN%20CERTIFICATE",
    )
    source.labels.update({"app": "web"})
    destination = Context.Peer(address=address_pb2.Address(pipe=address_pb2.Pipe(path="/tmp/envoy.sock")))
    attributes = Context(
        source=source,
        destination=destination,
        metadata_context=metadata,
        route_metadata_context=metadata,
        request=Context.Request(time=timestamp_pb2.Timestamp(seconds=1767225600, nanos=5), http=http),
        tls_session=Context.TLSSession(sni="api.example"),
    )
    attributes.context_extensions.update({"virtual_host": "api"})
    return external_auth_pb2.CheckRequest(attributes=attributes)


def test_an_envoy_check_request_parses_with_chamberlains_descriptors_and_round_trips_whole():
    sent = full_check_request()
    wire = sent.SerializeToString()
    mine = envoy_protos.CheckRequest.FromString(wire)
    http = mine.attributes.request.http
    assert (http.method, http.path, http.host, http.size, http.body, http.raw_body) == (
        "POST",
        "/invoices/7/pay?now=1",
        "api.example",
        11,
        '{"amount":5}',
        b"\x00\xff",
    )
    assert dict(http.headers) == {":method": "POST", "authorization": "Bearer t", "x-multi": "a,b"}
    assert [(h.key, h.raw_value) for h in http.header_map.headers] == [("x-raw", b"r\xc3\xa9")]
    socket = mine.attributes.source.address.socket_address
    assert (socket.address, socket.port_value, socket.protocol, socket.resolver_name, socket.ipv4_compat) == (
        "10.1.2.3",
        51234,
        1,
        "r",
        True,
    )
    assert mine.attributes.source.principal == "spiffe://example/frontend"
    assert dict(mine.attributes.source.labels) == {"app": "web"}
    assert mine.attributes.tls_session.sni == "api.example"
    assert dict(mine.attributes.context_extensions) == {"virtual_host": "api"}
    assert mine.attributes.request.time.seconds == 1767225600
    # What chamberlain does not describe (metadata_context, a pipe address, ...) survives as unknown fields.
    assert external_auth_pb2.CheckRequest.FromString(mine.SerializeToString()) == sent
    # The request chamberlain decides from it.
    request = envoy.proxy_request(mine)
    assert (request.method, request.path, request.query, request.peer) == (
        "POST",
        "/invoices/7/pay",
        "now=1",
        "10.1.2.3",
    )
    assert request.headers["x-raw"] == "ré" and request.body == b"\x00\xff"


def test_chamberlains_check_responses_parse_with_envoys_classes():
    allowed = ProxyAnswer(
        200, upstream_headers={"X-Chamberlain-Subject": "alice"}, decision_id="d-1", log_index=7
    )
    reply = external_auth_pb2.CheckResponse.FromString(envoy.check_response(allowed).SerializeToString())
    assert reply.status.code == code_pb2.OK and reply.WhichOneof("http_response") == "ok_response"
    [option] = reply.ok_response.headers
    assert (option.header.key, option.header.value, option.append_action) == (
        "x-chamberlain-subject",
        "alice",
        base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
    )
    assert json_format.MessageToDict(reply.dynamic_metadata) == {"decisionId": "d-1", "logIndex": 7}
    denied = ProxyAnswer(401, client_headers={"WWW-Authenticate": "Bearer"}, body=b"no\n", decision_id="d-2")
    reply = external_auth_pb2.CheckResponse.FromString(envoy.check_response(denied).SerializeToString())
    assert reply.status.code == code_pb2.UNAUTHENTICATED
    assert reply.denied_response.status.code == http_status_pb2.Unauthorized
    assert reply.denied_response.body == "no\n"
    assert [(o.header.key, o.header.value) for o in reply.denied_response.headers] == [
        ("www-authenticate", "Bearer")
    ]
    forbidden = external_auth_pb2.CheckResponse.FromString(
        envoy.check_response(ProxyAnswer(403, body=b"x")).SerializeToString()
    )
    assert forbidden.status.code == code_pb2.PERMISSION_DENIED
    assert forbidden.denied_response.status.code == http_status_pb2.Forbidden


def test_every_field_envoy_defines_and_chamberlain_describes_has_the_same_name_number_and_type():
    """Field by field, from CheckRequest and CheckResponse down (left-out fields listed: they stay unknown)."""
    left_out: set[str] = set()
    seen: set[str] = set()

    def compare(theirs, ours) -> None:
        if ours.full_name in seen:
            return
        seen.add(ours.full_name)
        assert theirs.full_name == ours.full_name
        for field in ours.fields:
            other = theirs.fields_by_number[field.number]
            assert (other.name, other.type, other.is_repeated) == (
                field.name,
                field.type,
                field.is_repeated,
            ), field.full_name
            assert (other.containing_oneof and other.containing_oneof.name) == (
                field.containing_oneof and field.containing_oneof.name
            )
            if field.enum_type is not None:
                for value in field.enum_type.values:
                    assert other.enum_type.values_by_name[value.name].number == value.number
            if field.message_type is not None:
                compare(other.message_type, field.message_type)
        left_out.update(f.full_name for f in theirs.fields if f.number not in ours.fields_by_number)

    compare(external_auth_pb2.CheckRequest.DESCRIPTOR, envoy_protos.CheckRequest.DESCRIPTOR)
    compare(external_auth_pb2.CheckResponse.DESCRIPTOR, envoy_protos.CheckResponse.DESCRIPTOR)
    assert "envoy.service.auth.v3.AttributeContext.HttpRequest.raw_body" not in left_out
    assert left_out <= {
        "envoy.config.core.v3.SocketAddress.network_namespace_filepath",
        "envoy.config.core.v3.Address.pipe",
        "envoy.config.core.v3.Address.envoy_internal_address",
        "envoy.service.auth.v3.AttributeContext.metadata_context",
        "envoy.service.auth.v3.AttributeContext.route_metadata_context",
        "envoy.service.auth.v3.OkHttpResponse.dynamic_metadata",
        "envoy.service.auth.v3.OkHttpResponse.query_parameters_to_set",
        "envoy.service.auth.v3.OkHttpResponse.query_parameters_to_remove",
        "envoy.service.auth.v3.CheckResponse.error_response",
    }
    assert wrappers_pb2 and struct_pb2  # the well-known types ours refer to are the standard ones


def test_the_check_service_works_where_envoys_protos_cannot_be_imported(tmp_path):
    """A fresh interpreter without the xds-protos folder on sys.path: Check answers a request built as bytes."""
    request = full_check_request()
    request.attributes.request.http.headers.clear()
    request.attributes.request.http.headers.update({"authorization": "Bearer t"})
    (tmp_path / "request.bin").write_bytes(request.SerializeToString())
    script = textwrap.dedent(f"""
        import asyncio, importlib.util, sys
        sys.path[:] = [p for p in sys.path if "xds-protos" not in p]
        assert importlib.util.find_spec("envoy") is None, "Envoy's protos are importable here"
        from chamberlain.gateways.proxy.contract import ProxyAnswer
        from chamberlain.server.grpc.envoy import AuthorizationService

        class Allow:
            async def authorize(self, request):
                assert request.headers["authorization"] == "Bearer t", request.headers
                return ProxyAnswer(200, upstream_headers={{"x-chamberlain-subject": request.path}}, decision_id="d")

        class State:
            class metrics:
                @staticmethod
                def observe_request(*args): pass

        service = AuthorizationService(State(), Allow())
        reply = asyncio.run(service.check(open({str(tmp_path / "request.bin")!r}, "rb").read(), None))
        sys.stdout.buffer.write(reply)
        assert "envoy" not in sys.modules
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    reply = external_auth_pb2.CheckResponse.FromString(proc.stdout)
    assert reply.status.code == code_pb2.OK
    assert [(o.header.key, o.header.value) for o in reply.ok_response.headers] == [
        ("x-chamberlain-subject", "/invoices/7/pay")
    ]
