"""chamberlain's server with its gRPC API on loopback, and raw calls to it (messages in, status and messages out)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from chamberlain.engine.wire import json_number
from tests.server.support import REPO, ThreadServer
from tests.support.cerbos_server import free_port


class GrpcThreadServer(ThreadServer):
    """:class:`ThreadServer` with ``server.grpcListenAddr`` on a free loopback port (``grpc_port``)."""

    def __init__(self, policy_dir: Path, overrides: Mapping[str, Any] | None = None, **kwargs: Any):
        self.grpc_port = free_port()
        merged = dict(overrides or {})
        merged["server"] = {**merged.get("server", {}), "grpcListenAddr": f"127.0.0.1:{self.grpc_port}"}
        super().__init__(policy_dir, merged, **kwargs)

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


def unary(
    channel: grpc.Channel,
    method: str,
    request: bytes | Message,
    response_type: type[Message] | None = None,
    metadata: Sequence[tuple[str, str]] = (),
) -> tuple[grpc.StatusCode, Any, Any]:
    """Call ``/service/Method`` with ``request``: ``(code, response as JSON or details, trailing metadata)``."""
    call = channel.unary_unary(method)  # bytes in, bytes out
    data = request if isinstance(request, bytes) else request.SerializeToString()
    try:
        reply, outcome = call.with_call(data, metadata=metadata or None, timeout=20)
    except grpc.RpcError as exc:
        return exc.code(), exc.details(), exc.trailing_metadata()
    if response_type is None:
        return outcome.code(), reply, outcome.trailing_metadata()
    message = response_type.FromString(reply)
    return outcome.code(), json_number(json_format.MessageToDict(message)), outcome.trailing_metadata()


CHECK = "/cerbos.svc.v1.CerbosService/CheckResources"
PLAN = "/cerbos.svc.v1.CerbosService/PlanResources"
SERVER_INFO = "/cerbos.svc.v1.CerbosService/ServerInfo"


def npm_installed(package: str, folder: str, relative: str) -> Path:
    """``relative`` inside the npm ``package`` installed into ``.cache/<folder>`` (git-ignored), installing it once;
    skipped when npm cannot provide it, a failure under CI=true."""
    import pytest

    def unavailable(reason: str) -> None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{package} is required under CI: {reason}")
        pytest.skip(f"{package} unavailable: {reason}")

    npm = shutil.which("npm")
    if npm is None:
        unavailable("npm is not installed")
    cache = REPO / ".cache" / folder
    target = cache / "node_modules" / relative
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers install once
        if not target.is_file():
            cmd = [
                str(npm),
                "install",
                "--prefix",
                str(cache),
                "--no-audit",
                "--no-fund",
                "--silent",
                package,
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            if proc.returncode != 0 or not target.is_file():
                unavailable(f"`{' '.join(cmd)}` failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return target


XDS_PROTOS = "xds-protos==1.85.0"


def envoy_protos() -> None:
    """Envoy's protos (xds-protos), installed once into ``.cache/xds-protos`` without the opentelemetry modules it
    bundles (older than opentelemetry-proto's, which the decision log's OTLP export needs) and put on
    ``sys.path`` after site-packages. Skips the module when pip cannot install it; a failure under CI=true."""
    import pytest

    target = REPO / ".cache" / "xds-protos"
    marker = target / "envoy" / "service" / "auth" / "v3" / "external_auth_pb2.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".xds-protos.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.is_file():
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--target",
                str(target),
                XDS_PROTOS,
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            shutil.rmtree(target / "opentelemetry", ignore_errors=True)
            if proc.returncode != 0 or not marker.is_file():
                reason = f"`{' '.join(cmd)}` failed: {proc.stderr.strip()[-500:]}"
                if os.environ.get("CI", "").lower() == "true":
                    pytest.fail(f"Envoy's protos are required under CI: {reason}")
                pytest.skip(f"Envoy's protos unavailable: {reason}", allow_module_level=True)
    if str(target) not in sys.path:
        sys.path.append(str(target))
