"""Envoy's ext_authz over gRPC: ``envoy.service.auth.v3.Authorization/Check`` with the CheckRequests Envoy sends
(built from the xds protos as Envoy's documentation defines them), decided by a real proxy authorizer.

Until the server's own authorizer (``ServerState.proxy``) is configured from ``chamberlain.gateway.routes``,
the servicer is driven by a small authorizer implementing the contract: its rules are the test's.
"""

from __future__ import annotations

import asyncio
import threading

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import code_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chamberlain.gateways.proxy.contract import ProxyAnswer, ProxyRequest
from tests.server.grpc.support import GrpcThreadServer, envoy_protos, unary
from tests.server.support import STORE

envoy_protos()  # before Envoy's modules are imported

from envoy.config.core.v3 import address_pb2, base_pb2  # noqa: E402
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2  # noqa: E402

CHECK = "/envoy.service.auth.v3.Authorization/Check"


class InvoiceAuthorizer:
    """GET /invoices/{id} for ``Bearer good``; 401 without credentials; a partial body is never decided."""

    def __init__(self) -> None:
        self.seen: list[ProxyRequest] = []

    async def authorize(self, request: ProxyRequest) -> ProxyAnswer:
        self.seen.append(request)
        auth = request.headers.get("authorization")
        if auth is None:
            return ProxyAnswer(
                401, client_headers={"www-authenticate": 'Bearer realm="invoices"'}, body=b"no credentials\n"
            )
        if request.body_truncated:
            return ProxyAnswer(403, body=b"partial body\n", decision_id="d-partial")
        if request.path.startswith("/boom"):
            raise RuntimeError("the authorizer broke")
        if auth == "Bearer good" and request.method == "GET" and request.path.startswith("/invoices/"):
            return ProxyAnswer(
                200,
                upstream_headers={"x-chamberlain-subject": "alice", "x-chamberlain-decision": "d-1"},
                decision_id="d-1",
                log_index=41,
            )
        return ProxyAnswer(403, body=b"denied\n", decision_id="d-2", log_index=42)


@pytest.fixture(scope="module")
def envoy():
    authorizer = InvoiceAuthorizer()
    server = GrpcThreadServer(STORE)
    server.app.state.proxy = authorizer  # type: ignore[attr-defined]
    with server, grpc.insecure_channel(server.grpc_address) as channel:
        yield channel, authorizer


def check_request(
    method: str,
    path: str,
    headers: dict[str, str],
    *,
    body: bytes | None = None,
    size: int = -1,
    partial: bool | None = None,
    raw_headers: bool = False,
) -> external_auth_pb2.CheckRequest:
    """A CheckRequest as Envoy builds it (docs: ext_authz filter, AttributeContext): the pseudo-headers in
    the header map, the path with its query, the body only with ``with_request_body`` (and then
    ``x-envoy-auth-partial-body``), ``raw_body`` with ``pack_as_bytes``, ``header_map`` with ``encode_raw_headers``."""
    all_headers = {
        ":authority": "api.example",
        ":method": method,
        ":path": path,
        ":scheme": "https",
        **headers,
    }
    if partial is not None:
        all_headers["x-envoy-auth-partial-body"] = "true" if partial else "false"
    http = attribute_context_pb2.AttributeContext.HttpRequest(
        id="4398046511104",
        method=method,
        path=path,
        host="api.example",
        scheme="https",
        protocol="HTTP/1.1",
        size=size if size >= 0 else (len(body) if body is not None else 0),
    )
    if raw_headers:
        http.header_map.headers.extend(
            base_pb2.HeaderValue(key=k, raw_value=v.encode()) for k, v in all_headers.items()
        )
    else:
        http.headers.update(all_headers)
    if body is not None:
        http.raw_body = body
    peer = address_pb2.Address(socket_address=address_pb2.SocketAddress(address="10.1.2.3", port_value=51234))
    attributes = attribute_context_pb2.AttributeContext(
        source=attribute_context_pb2.AttributeContext.Peer(address=peer),
        destination=attribute_context_pb2.AttributeContext.Peer(
            address=address_pb2.Address(
                socket_address=address_pb2.SocketAddress(address="10.0.0.1", port_value=8000)
            )
        ),
        request=attribute_context_pb2.AttributeContext.Request(http=http),
    )
    return external_auth_pb2.CheckRequest(attributes=attributes)


def ask(channel: grpc.Channel, request: external_auth_pb2.CheckRequest) -> external_auth_pb2.CheckResponse:
    code, reply, _ = unary(channel, CHECK, request)
    assert code == grpc.StatusCode.OK
    return external_auth_pb2.CheckResponse.FromString(reply)


def _headers(options) -> dict[str, str]:
    return {o.header.key: o.header.value for o in options}


def test_an_allowed_request_adds_upstream_headers_and_dynamic_metadata(envoy):
    channel, authorizer = envoy
    reply = ask(channel, check_request("GET", "/invoices/7?expand=lines", {"authorization": "Bearer good"}))
    assert reply.status.code == code_pb2.OK and reply.WhichOneof("http_response") == "ok_response"
    assert _headers(reply.ok_response.headers) == {
        "x-chamberlain-subject": "alice",
        "x-chamberlain-decision": "d-1",
    }
    overwrite = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD  # the client cannot smuggle its own
    assert {o.append_action for o in reply.ok_response.headers} == {overwrite}
    assert json_format.MessageToDict(reply.dynamic_metadata) == {"decisionId": "d-1", "logIndex": 41}
    seen = authorizer.seen[-1]
    assert (seen.method, seen.path, seen.query, seen.host, seen.proxy, seen.peer) == (
        "GET",
        "/invoices/7",
        "expand=lines",
        "api.example",
        "envoy-grpc",
        "10.1.2.3",
    )
    assert seen.headers == {"authorization": "Bearer good"} and seen.body is None and not seen.body_truncated


def test_a_denied_request_gets_envoy_a_403_with_the_body(envoy):
    channel, _ = envoy
    reply = ask(channel, check_request("POST", "/invoices/7/pay", {"authorization": "Bearer good"}))
    assert reply.status.code == code_pb2.PERMISSION_DENIED
    assert reply.denied_response.status.code == 403 and reply.denied_response.body == "denied\n"
    assert json_format.MessageToDict(reply.dynamic_metadata) == {"decisionId": "d-2", "logIndex": 42}


def test_no_credentials_is_401_with_a_challenge(envoy):
    channel, _ = envoy
    reply = ask(channel, check_request("GET", "/invoices/7", {}))
    assert reply.status.code == code_pb2.UNAUTHENTICATED and reply.denied_response.status.code == 401
    assert _headers(reply.denied_response.headers) == {"www-authenticate": 'Bearer realm="invoices"'}


def test_the_body_when_envoy_sends_it_and_a_partial_body(envoy):
    channel, authorizer = envoy
    ask(
        channel,
        check_request(
            "GET", "/invoices/7", {"authorization": "Bearer good"}, body=b'{"a": 1}', partial=False
        ),
    )
    seen = authorizer.seen[-1]
    assert (
        seen.body == b'{"a": 1}'
        and not seen.body_truncated
        and "x-envoy-auth-partial-body" not in seen.headers
    )
    reply = ask(
        channel,
        check_request(
            "GET", "/invoices/7", {"authorization": "Bearer good"}, body=b'{"a"', size=900, partial=True
        ),
    )
    assert authorizer.seen[-1].body_truncated and reply.denied_response.status.code == 403
    ask(
        channel, check_request("GET", "/invoices/7", {"authorization": "Bearer good"}, body=b'{"a"', size=900)
    )
    assert authorizer.seen[-1].body_truncated  # shorter than the request's size, whatever the header says


def test_raw_headers_joined_and_lowercased(envoy):
    channel, authorizer = envoy
    request = check_request(
        "GET", "/invoices/7", {"Authorization": "Bearer good", "x-tag": "a"}, raw_headers=True
    )
    request.attributes.request.http.header_map.headers.add(key="x-tag", raw_value=b"b")
    assert ask(channel, request).status.code == code_pb2.OK
    assert authorizer.seen[-1].headers == {"authorization": "Bearer good", "x-tag": "a,b"}


def test_an_authorizer_failure_is_a_denial(envoy):
    channel, _ = envoy
    reply = ask(channel, check_request("GET", "/boom", {"authorization": "Bearer good"}))
    assert reply.status.code == code_pb2.PERMISSION_DENIED and reply.denied_response.status.code == 403


def test_malformed_check_request_is_an_error_envoy_denies_on(envoy):
    channel, _ = envoy
    assert unary(channel, CHECK, b"\x0a\x05ab")[0] == grpc.StatusCode.INTERNAL


def test_health_names_the_authorization_service(envoy):
    channel, _ = envoy
    reply = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="envoy.service.auth.v3.Authorization"), timeout=10
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_no_authorization_service_without_gateway_routes():
    with GrpcThreadServer(STORE) as server, grpc.insecure_channel(server.grpc_address) as channel:
        request = check_request("GET", "/invoices/7", {"authorization": "Bearer good"})
        assert unary(channel, CHECK, request)[0] == grpc.StatusCode.UNIMPLEMENTED


class SlowAuthorizer:
    """Allows, after the test has seen the call arrive and started stopping the server."""

    def __init__(self) -> None:
        self.entered = threading.Event()

    async def authorize(self, request: ProxyRequest) -> ProxyAnswer:
        self.entered.set()
        await asyncio.sleep(0.5)  # the server is asked to stop meanwhile
        return ProxyAnswer(200, decision_id="d-slow")


def test_a_call_in_flight_finishes_when_the_server_stops():
    authorizer = SlowAuthorizer()
    server = GrpcThreadServer(STORE)
    server.app.state.proxy = authorizer  # type: ignore[attr-defined]
    with server, grpc.insecure_channel(server.grpc_address) as channel:
        request = check_request("GET", "/invoices/7", {"authorization": "Bearer good"})
        pending = channel.unary_unary(CHECK).future(request.SerializeToString(), timeout=30)
        assert authorizer.entered.wait(timeout=20)
        server.__exit__(None, None, None)  # stop now, the call still in flight
        reply = external_auth_pb2.CheckResponse.FromString(pending.result())
        assert (
            reply.status.code == code_pb2.OK
            and reply.dynamic_metadata.fields["decisionId"].string_value == "d-slow"
        )
        assert unary(channel, CHECK, request)[0] == grpc.StatusCode.UNAVAILABLE  # and then no new calls


def test_end_to_end_through_the_servers_own_proxy_authorizer(tmp_path):
    """chamberlain.gateway.routes configured: Envoy's Check decided by ServerState.proxy over the delegation
    chain, recorded in the decision log under proxy:envoy-grpc, the entry named in the dynamic metadata."""
    from chamberlain.audit import Filter
    from tests.delegation.support import IdentityProvider
    from tests.gateways.proxy.support import chain_tokens, overrides, policies

    idp = IdentityProvider()
    with (
        GrpcThreadServer(policies(tmp_path), overrides(tmp_path, idp)) as server,
        grpc.insecure_channel(server.grpc_address) as channel,
    ):
        assert server.app.state.proxy is not None
        _, second = chain_tokens(server.url, idp)
        auth = {"authorization": f"Bearer {second}"}
        reply = ask(channel, check_request("POST", "/payments/p1/pay?amount=50", auth))
        assert reply.status.code == code_pb2.OK, reply
        assert _headers(reply.ok_response.headers)["x-chamberlain-subject"] == "alice"
        decision = reply.dynamic_metadata.fields["decisionId"].string_value
        entries = server.app.state.log.read(
            lambda r: r.search(Filter(resource_id="p1", action="pay", limit=1000))
        )
        ours = [e for e in entries if e["call_id"] == decision]
        assert [e["point"] for e in ours] == ["proxy:envoy-grpc"]
        assert (
            reply.dynamic_metadata.fields["logIndex"].number_value == ours[0]["seq"]
        )  # numbered before the answer
        denied = ask(channel, check_request("POST", "/payments/p1/pay?amount=5000", auth))
        assert denied.status.code == code_pb2.PERMISSION_DENIED and denied.denied_response.status.code == 403
        assert denied.dynamic_metadata.fields["logIndex"].number_value > ours[0]["seq"]
        unmapped = ask(channel, check_request("GET", "/nowhere", auth))
        assert unmapped.denied_response.status.code in (401, 403)


def test_a_header_a_route_reads_given_twice_in_raw_headers_is_refused(tmp_path):
    """Header pollution through Envoy with ``encode_raw_headers``: each value arrives apart, and chamberlain
    joined them into one ("web,agent") without counting the header as repeated, so a route reading it was
    decided on a value no upstream reads (it reads the first or the last), as the HTTP endpoint refuses."""
    from tests.delegation.support import IdentityProvider
    from tests.gateways.proxy.support import chain_tokens, overrides, policies

    idp = IdentityProvider()
    with (
        GrpcThreadServer(policies(tmp_path), overrides(tmp_path, idp)) as server,
        grpc.insecure_channel(server.grpc_address) as channel,
    ):
        _, second = chain_tokens(server.url, idp)
        headers = {"authorization": f"Bearer {second}", "x-channel": "web", "x-via": "app"}
        once = check_request("POST", "/payments/p1/refund?amount=50", headers, raw_headers=True)
        assert ask(channel, once).status.code == code_pb2.OK
        for name, value in (("x-channel", b"agent"), ("X-Via", b"other")):
            twice = check_request("POST", "/payments/p1/refund?amount=50", headers, raw_headers=True)
            twice.attributes.request.http.header_map.headers.add(key=name, raw_value=value)
            reply = ask(channel, twice)
            assert reply.status.code == code_pb2.PERMISSION_DENIED, reply
            assert f"header '{name.lower()}' is given more than once" in reply.denied_response.body


def test_a_partial_body_header_of_any_value_but_false_is_partial(envoy):
    channel, authorizer = envoy
    request = check_request("POST", "/invoices/7", {"authorization": "Bearer good"}, body=b"{}")
    request.attributes.request.http.header_map.headers.add(key="x-envoy-auth-partial-body", raw_value=b"true")
    request.attributes.request.http.header_map.headers.add(
        key="x-envoy-auth-partial-body", raw_value=b"false"
    )
    assert ask(channel, request).status.code == code_pb2.PERMISSION_DENIED
    assert authorizer.seen[-1].body_truncated
