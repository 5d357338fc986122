"""Cerbos's gRPC API on `chamberlain serve`: the official SDK's gRPC clients, health, the decision log,
chamberlain's metadata extensions, TLS, and no port unless configured."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import grpc
import httpx
import pytest
from cerbos.engine.v1 import engine_pb2
from cerbos.request.v1 import request_pb2
from cerbos.response.v1 import response_pb2
from cerbos.sdk.grpc.client import AsyncCerbosClient, CerbosClient
from google.protobuf import json_format
from google.protobuf.struct_pb2 import Value
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chamberlain.server.config import ConfigError, load_config
from chamberlain.server.grpc.extensions import MAX_EXTENSION_BYTES, RESPONSE_KEY
from tests.server.certs import leaf
from tests.server.grpc.support import CHECK, PLAN, GrpcThreadServer, unary
from tests.server.support import ADMIN_AUTH, REPO, STORE, ThreadServer, admin_on, serve_process
from tests.server.test_tls import pki  # noqa: F401 - the fixture: a CA, server and client certificates
from tests.support.cerbos_server import free_port


def _values(attrs: dict[str, str]) -> dict[str, Value]:
    return {k: Value(string_value=v) for k, v in attrs.items()}


JOHN = engine_pb2.Principal(
    id="john",
    roles=["employee"],
    policy_version="20210210",
    attr=_values({"department": "marketing", "geography": "GB", "team": "design"}),
)
LEAVE = engine_pb2.Resource(
    id="XX125",
    kind="leave_request",
    policy_version="20210210",
    attr=_values({"department": "marketing", "geography": "GB", "owner": "john", "team": "design"}),
)
ENTRY = request_pb2.CheckResourcesRequest.ResourceEntry(resource=LEAVE, actions=["view:public", "approve"])
REQUEST = request_pb2.CheckResourcesRequest(request_id="g-1", principal=JOHN, resources=[ENTRY])


@pytest.fixture(scope="module")
def server():
    with GrpcThreadServer(STORE, {"server": admin_on()}) as s:
        yield s


@pytest.fixture
def channel(server):
    with grpc.insecure_channel(server.grpc_address) as ch:
        yield ch


def test_the_sdk_grpc_client_against_chamberlain_serve():
    """The official SDK's synchronous gRPC client against a `chamberlain serve` process."""
    port = free_port()
    with (
        serve_process("--policies", str(STORE), "--set", f"server.grpcListenAddr=127.0.0.1:{port}"),
        CerbosClient(f"127.0.0.1:{port}", timeout_secs=20) as client,
    ):
        assert client.server_info().version
        reply = client.check_resources(JOHN, [ENTRY], request_id="sdk-g")
        assert reply.request_id == "sdk-g" and reply.cerbos_call_id
        [result] = reply.results
        assert dict(result.actions) == {"view:public": 1, "approve": 2}  # EFFECT_ALLOW, EFFECT_DENY
        assert client.is_allowed("view:public", JOHN, LEAVE) and not client.is_allowed("approve", JOHN, LEAVE)
        plan_resource = engine_pb2.PlanResourcesInput.Resource(
            kind="leave_request", policy_version="20210210"
        )
        plan = client.plan_resources("approve", JOHN, plan_resource)
        assert plan.filter.kind == engine_pb2.PlanResourcesFilter.KIND_ALWAYS_DENIED
        plan = client.plan_resources("view", JOHN, plan_resource)
        assert plan.filter.kind == engine_pb2.PlanResourcesFilter.KIND_CONDITIONAL


def test_the_sdk_async_grpc_client(server):
    async def run() -> response_pb2.CheckResourcesResponse:
        async with AsyncCerbosClient(server.grpc_address, timeout_secs=20) as client:
            return await client.check_resources(JOHN, [ENTRY], request_id="async-g")

    reply = asyncio.run(run())
    assert reply.request_id == "async-g" and dict(reply.results[0].actions) == {
        "view:public": 1,
        "approve": 2,
    }


def test_health(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "cerbos.svc.v1.CerbosService"):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as raised:
        stub.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=10)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_grpc_checks_are_recorded_like_http_checks(server, channel):
    code, reply, _ = unary(
        channel,
        CHECK,
        request_pb2.CheckResourcesRequest(request_id="grpc-rec", principal=JOHN, resources=[ENTRY]),
        response_pb2.CheckResourcesResponse,
    )
    assert code == grpc.StatusCode.OK
    page = httpx.get(f"{server.url}/api/audit/entries", params={"limit": 1000}, auth=ADMIN_AUTH).json()
    mine = [e for e in page["entries"] if e["request_id"] == "grpc-rec"]
    assert [(e["action"], e["point"], e["call_id"]) for e in mine] == [
        ("view:public", "grpc:cerbos", reply["cerbosCallId"]),
        ("approve", "grpc:cerbos", reply["cerbosCallId"]),
    ]


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("x-chamberlain-session", "{not json", "not JSON"),
        ("x-chamberlain-delegation", "[" * 100 + "]" * 100, "not JSON"),
        ("x-chamberlain-approval", json.dumps("x" * MAX_EXTENSION_BYTES), "more than"),
    ],
)
def test_bad_extension_metadata_is_invalid_argument(channel, key, value, problem):
    code, details, _ = unary(channel, CHECK, REQUEST, metadata=[(key, value)])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and key in details and problem in details


def test_an_extension_sent_twice_is_refused(channel):
    metadata = [("x-chamberlain-session", '"s1"'), ("x-chamberlain-session", '"s2"')]
    code, details, _ = unary(channel, CHECK, REQUEST, metadata=metadata)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "more than once" in details


@pytest.mark.parametrize(
    ("key", "field", "value"),
    [
        ("x-chamberlain-session", "session", {"id": "s-1"}),
        ("x-chamberlain-approval", "approval", {"id": "a-1"}),
        ("x-chamberlain-delegation", "delegation", {"actors": [{"id": "agent-7", "roles": ["agent"]}]}),
    ],
)
def test_extensions_reach_the_check_as_the_http_auxdata_fields(server, channel, key, field, value):
    """A server without sessions, approvals or delegation answers them as the HTTP API answers auxData."""
    http = httpx.post(
        f"{server.url}/api/check/resources",
        timeout=10,
        json={**json_format.MessageToDict(REQUEST), "auxData": {field: value}},
    )
    code, answer, trailing = unary(
        channel, CHECK, REQUEST, response_pb2.CheckResourcesResponse, metadata=[(key, json.dumps(value))]
    )
    if http.status_code == 200:  # delegation: the chain decides (the agent may not view), the answer says so
        body = http.json()
        assert code == grpc.StatusCode.OK and answer["results"] == body["results"]
        assert body["results"][0]["actions"]["view:public"] == "EFFECT_DENY"
        added = json.loads(
            dict(trailing)[RESPONSE_KEY]
        )  # chamberlain's fields Cerbos's message has no place for
        assert added == {"delegation": body["delegation"]}
    else:
        assert code == grpc.StatusCode.INVALID_ARGUMENT and answer == http.json()["message"]


def test_no_grpc_port_unless_configured():
    with ThreadServer(STORE) as plain:
        assert plain.app.grpc is None and plain.config.grpc_listen is None


def test_a_grpc_address_in_use_stops_start_up(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cmd = [
            str(Path(sys.executable).parent / "chamberlain"),
            "serve",
            "--policies",
            str(STORE),
            "--state-dir",
            str(tmp_path),
            "--http",
            f"127.0.0.1:{free_port()}",
            "--set",
            f"server.grpcListenAddr=127.0.0.1:{port}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode != 0 and "server.grpcListenAddr" in proc.stderr + proc.stdout


def _tls_channel(server: GrpcThreadServer, directory: Path, client_cert: bool) -> grpc.Channel:
    pair = {}
    if client_cert:
        pair = {
            "private_key": (directory / "client.key").read_bytes(),
            "certificate_chain": (directory / "client.pem").read_bytes(),
        }
    creds = grpc.ssl_channel_credentials(root_certificates=(directory / "ca.pem").read_bytes(), **pair)
    return grpc.secure_channel(server.grpc_address, creds)


def test_tls_with_the_servers_certificate_and_client_certificates_required(pki):  # noqa: F811
    pki, _ = pki
    settings = {
        "cert": str(pki / "server.pem"),
        "key": str(pki / "server.key"),
        "caCert": str(pki / "ca.pem"),
    }
    with GrpcThreadServer(STORE, {"server": {"tls": settings}}) as server:
        with _tls_channel(server, pki, client_cert=True) as ch:
            code, reply, _ = unary(ch, CHECK, REQUEST, response_pb2.CheckResourcesResponse)
            assert code == grpc.StatusCode.OK and reply["requestId"] == "g-1"
        with _tls_channel(server, pki, client_cert=False) as ch:
            assert unary(ch, CHECK, REQUEST)[0] == grpc.StatusCode.UNAVAILABLE  # the handshake is refused
        with grpc.insecure_channel(server.grpc_address) as ch:
            assert unary(ch, CHECK, REQUEST)[0] == grpc.StatusCode.UNAVAILABLE


def test_grpc_calls_are_counted_in_the_metrics(server, channel):
    assert unary(channel, CHECK, REQUEST)[0] == grpc.StatusCode.OK
    assert unary(channel, CHECK, b"\xff")[0] == grpc.StatusCode.INTERNAL
    metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert 'chamberlain_http_requests_total{code="200",endpoint="grpc_check_resources"}' in metrics
    assert 'chamberlain_http_requests_total{code="500",endpoint="grpc_check_resources"}' in metrics
    assert 'chamberlain_decisions_total{effect="EFFECT_ALLOW",kind="leave_request"}' in metrics


def test_granian_with_a_grpc_port_is_refused():
    with pytest.raises(ConfigError, match=r"server\.grpcListenAddr"):
        load_config(
            None,
            overrides={
                "server": {"grpcListenAddr": "127.0.0.1:3593"},
                "chamberlain": {"httpServer": "granian"},
            },
            env={},
        )


def test_additions_too_large_for_metadata_are_replaced_by_a_note(channel):
    """gRPC clients refuse trailers over 8 KiB: the check is still answered, the note says where to read them."""
    request = request_pb2.CheckResourcesRequest(
        principal=JOHN,
        resources=[
            request_pb2.CheckResourcesRequest.ResourceEntry(
                resource=engine_pb2.Resource(
                    kind="leave_request", id=f"resource-number-{i}", policy_version="20210210"
                ),
                actions=[f"action-with-a-long-name-{j}" for j in range(5)],
            )
            for i in range(50)
        ],
    )
    delegation = {"actors": [{"id": "agent-7", "roles": ["agent"]}]}
    code, answer, trailing = unary(
        channel,
        CHECK,
        request,
        response_pb2.CheckResourcesResponse,
        metadata=[("x-chamberlain-delegation", json.dumps(delegation))],
    )
    assert code == grpc.StatusCode.OK and len(answer["results"]) == 50
    assert "over 8000" in json.loads(dict(trailing)[RESPONSE_KEY])["omitted"]


def _served_cn(port: int, ca_file: Path) -> str:
    """The common name of the certificate a new gRPC (HTTP/2 over TLS) connection is served."""
    context = ssl.create_default_context(cafile=str(ca_file))
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        return dict(x[0] for x in sock.getpeercert()["subject"])["commonName"]


def test_the_grpc_certificate_reloads_when_its_files_change(pki, tmp_path):  # noqa: F811
    directory, ca = pki
    for name in ("ca.pem", "server.pem", "server.key"):
        (tmp_path / name).write_bytes((directory / name).read_bytes())
    settings = {"cert": str(tmp_path / "server.pem"), "key": str(tmp_path / "server.key")}
    with GrpcThreadServer(STORE, {"server": {"tls": settings}}) as server:
        assert _served_cn(server.grpc_port, tmp_path / "ca.pem") == "pdp-1"
        leaf(ca, "pdp-2").write(tmp_path, "server")
        assert _served_cn(server.grpc_port, tmp_path / "ca.pem") == "pdp-2"  # checked at each handshake
        (tmp_path / "server.pem").write_text("not a certificate")  # broken: the last good one keeps serving
        assert _served_cn(server.grpc_port, tmp_path / "ca.pem") == "pdp-2"


def test_extensions_reach_plans_as_over_http(server, channel):
    plan = {
        "action": "view",
        "principal": json_format.MessageToDict(JOHN),
        "resource": {"kind": "leave_request", "policyVersion": "20210210"},
    }
    http = httpx.post(
        f"{server.url}/api/plan/resources", json={**plan, "auxData": {"session": {"id": "s-1"}}}, timeout=10
    )
    code, details, _ = unary(
        channel,
        PLAN,
        json_format.ParseDict(plan, request_pb2.PlanResourcesRequest()),
        metadata=[("x-chamberlain-session", json.dumps({"id": "s-1"}))],
    )
    assert (
        http.status_code == 400
        and code == grpc.StatusCode.INVALID_ARGUMENT
        and details == http.json()["message"]
    )
