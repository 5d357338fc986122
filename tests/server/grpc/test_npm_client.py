"""The official JavaScript gRPC SDK (`@cerbos/grpc` from npm) against chamberlain's gRPC API, driven by a small
node script. Installed with npm into ``.cache/npm-grpc`` (git-ignored); skipped when npm is unavailable,
a failure under CI=true."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.server.grpc.support import GrpcThreadServer, npm_installed
from tests.server.support import STORE

SCRIPT = Path(__file__).with_name("cerbos_grpc_client.mjs")


def test_the_javascript_grpc_sdk():
    node = shutil.which("node")
    module = npm_installed("@cerbos/grpc@0.27.0", "npm-grpc", "@cerbos/grpc/lib/index.js")
    if node is None:
        pytest.fail("node is not installed, but npm is")
    with GrpcThreadServer(STORE) as server:
        proc = subprocess.run(
            [node, str(SCRIPT), str(module), server.grpc_address], capture_output=True, text=True, timeout=120
        )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["version"] and out["check"] == {"viewPublic": True, "approve": False}
    assert out["delegatedViewPublic"] is False  # the x-chamberlain-delegation header: the agent may not view
    assert out["planKind"] == "KIND_CONDITIONAL" and out["healthy"] == "SERVING"
    assert out["invalid"]["code"] == 3 and "principal.id" in out["invalid"]["details"]  # INVALID_ARGUMENT
