"""The official JavaScript gRPC SDK (`@cerbos/grpc` from npm) against chamberlain's gRPC API, driven by a small
node script. Installed with npm into ``.cache/npm-grpc`` (git-ignored); skipped when npm is unavailable,
a failure under CI=true."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.server.grpc.support import GrpcThreadServer
from tests.server.support import REPO, STORE

PACKAGE = "@cerbos/grpc@0.27.0"
CACHE = REPO / ".cache" / "npm-grpc"
MODULE = CACHE / "node_modules" / "@cerbos" / "grpc" / "lib" / "index.js"
SCRIPT = Path(__file__).with_name("cerbos_grpc_client.mjs")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"@cerbos/grpc is required under CI: {reason}")
    pytest.skip(f"@cerbos/grpc unavailable: {reason}")


def _install() -> tuple[str, Path]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node and npm are needed")
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers install once
        if not MODULE.is_file():
            cmd = [npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", "--silent", PACKAGE]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            if proc.returncode != 0 or not MODULE.is_file():
                _unavailable(f"`{' '.join(cmd)}` failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return node, MODULE  # type: ignore[return-value]


def test_the_javascript_grpc_sdk():
    node, module = _install()
    with GrpcThreadServer(STORE) as server:
        proc = subprocess.run([node, str(SCRIPT), str(module), server.grpc_address],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["version"] and out["check"] == {"viewPublic": True, "approve": False}
    assert out["delegatedViewPublic"] is False  # the x-chamberlain-delegation header: the agent may not view
    assert out["planKind"] == "KIND_CONDITIONAL" and out["healthy"] == "SERVING"
    assert out["invalid"]["code"] == 3 and "principal.id" in out["invalid"]["details"]  # INVALID_ARGUMENT
