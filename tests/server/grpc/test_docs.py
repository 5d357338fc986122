"""docs/reference/grpc.md as written: its configuration loads and serves gRPC, its Python sample prints what the
page shows, and its Envoy configuration is a valid Envoy bootstrap (parsed with Envoy's own protos)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import yaml
from google.protobuf import json_format

from chamberlain.server.config import load_config
from tests.server.grpc.support import GrpcThreadServer, envoy_protos
from tests.server.support import REPO, STORE

envoy_protos()  # before Envoy's modules are imported

import envoy.extensions.filters.http.ext_authz.v3.ext_authz_pb2  # noqa: E402
import envoy.extensions.filters.http.router.v3.router_pb2  # noqa: E402
import envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2  # noqa: E402
import envoy.extensions.upstreams.http.v3.http_protocol_options_pb2  # noqa: E402
from envoy.config.bootstrap.v3 import bootstrap_pb2  # noqa: E402
from envoy.extensions.filters.http.ext_authz.v3.ext_authz_pb2 import ExtAuthz  # noqa: E402

PAGE = (REPO / "docs" / "reference" / "grpc.md").read_text()


def block(title: str) -> str:
    return re.search(
        rf'^```\w+ title="{re.escape(title)}"\n(.*?)^```$', PAGE, re.MULTILINE | re.DOTALL
    ).group(1)


def test_the_configuration_names_the_grpc_port(tmp_path):
    (tmp_path / "chamberlain.yaml").write_text(block("chamberlain.yaml"))
    config = load_config(tmp_path / "chamberlain.yaml", env={})
    assert config.grpc_listen == ("127.0.0.1", 3593) and not config.warnings


def test_the_python_sample_prints_what_the_page_shows():
    shown = re.search(r'title="check.py".*?```\n.*?```text\n(.*?)```', PAGE, re.DOTALL).group(1)
    with GrpcThreadServer(STORE) as server:
        proc = subprocess.run(
            [sys.executable, "-c", block("check.py")],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "CHAMBERLAIN_GRPC": server.grpc_address},
        )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == shown


def test_the_envoy_sample_is_a_valid_bootstrap_with_ext_authz_over_grpc(tmp_path):
    bootstrap = json_format.ParseDict(yaml.safe_load(block("envoy.yaml")), bootstrap_pb2.Bootstrap())
    [listener] = bootstrap.static_resources.listeners
    manager = envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2.HttpConnectionManager()
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    ext_authz = ExtAuthz()
    manager.http_filters[0].typed_config.Unpack(ext_authz)
    assert (
        ext_authz.grpc_service.envoy_grpc.cluster_name == "chamberlain" and not ext_authz.failure_mode_allow
    )
    assert (
        ext_authz.with_request_body.allow_partial_message
    )  # partial bodies are flagged, never decided whole
    [cluster] = [c for c in bootstrap.static_resources.clusters if c.name == "chamberlain"]
    port = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value
    (tmp_path / "chamberlain.yaml").write_text(block("chamberlain.yaml"))
    assert (
        port == load_config(tmp_path / "chamberlain.yaml", env={}).grpc_listen[1]
    )  # the port chamberlain serves
