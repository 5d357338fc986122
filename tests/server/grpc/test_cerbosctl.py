"""``cerbosctl audit`` (npm ``@cerbos/cerbosctl-linux-x64``) reads chamberlain's decision log over gRPC
(``CerbosAdminService.ListAuditLogEntries``), authenticated and authorized like ``GET /api/audit/entries``."""

from __future__ import annotations

import json
import platform
import re
import shlex
import subprocess

import grpc
import pytest
from cerbos.response.v1 import response_pb2

from tests.server.grpc.support import CHECK, GrpcThreadServer, npm_installed, unary
from tests.server.grpc.test_cerbos_service import JOHN, REQUEST
from tests.server.support import ADMIN_AUTH, REPO, STORE, admin_on

LIST = "/cerbos.svc.v1.CerbosAdminService/ListAuditLogEntries"


@pytest.fixture(scope="module")
def cerbosctl():
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "amd64"):
        pytest.skip("the cerbosctl npm package used here is for linux-x64")
    return npm_installed(
        "@cerbos/cerbosctl-linux-x64@0.55.0", "cerbosctl", "@cerbos/cerbosctl-linux-x64/cerbosctl-linux-x64"
    )


@pytest.fixture(scope="module")
def server():
    with GrpcThreadServer(STORE, {"server": admin_on()}) as s:
        yield s


def ctl(cerbosctl, server, *args: str, password: str = ADMIN_AUTH[1]) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(cerbosctl),
        f"--server={server.grpc_address}",
        f"--username={ADMIN_AUTH[0]}",
        f"--password={password}",
        "--plaintext",
        "audit",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_cerbosctl_lists_a_grpc_check_as_one_cerbos_decision_entry(cerbosctl, server):
    with grpc.insecure_channel(server.grpc_address) as channel:
        code, reply, _ = unary(channel, CHECK, REQUEST, response_pb2.CheckResourcesResponse)
    assert code == grpc.StatusCode.OK
    for window in ("--tail=5", "--since=1h"):
        proc = ctl(cerbosctl, server, "--kind=decision", window, "--raw")
        assert proc.returncode == 0, proc.stderr
        entries = {e["callId"]: e for e in map(json.loads, proc.stdout.splitlines())}
        mine = entries[reply["cerbosCallId"]]
        [given] = mine["checkResources"]["inputs"]
        assert given["principal"]["id"] == JOHN.id and given["actions"] == ["view:public", "approve"]
        [decided] = mine["checkResources"]["outputs"]
        assert {a: v["effect"] for a, v in decided["actions"].items()} == {
            "view:public": "EFFECT_ALLOW",
            "approve": "EFFECT_DENY",
        }
        assert mine["metadata"]["chamberlain-point"]["values"] == ["grpc:cerbos"]


def test_wrong_credentials_are_unauthenticated(cerbosctl, server):
    proc = ctl(cerbosctl, server, "--kind=decision", "--tail=5", "--raw", password="wrong")
    assert proc.returncode != 0 and "Unauthenticated" in proc.stderr


def test_access_logs_are_refused_with_a_reason(cerbosctl, server):
    proc = ctl(cerbosctl, server, "--kind=access", "--tail=5", "--raw")
    assert proc.returncode != 0 and "decision log only" in proc.stderr


def test_no_admin_service_without_the_admin_api():
    with GrpcThreadServer(STORE) as server, grpc.insecure_channel(server.grpc_address) as channel:
        assert unary(channel, LIST, b"\x08\x02\x10\x05")[0] == grpc.StatusCode.UNIMPLEMENTED


def test_the_documented_command(cerbosctl, server):
    page = (REPO / "docs" / "reference" / "grpc.md").read_text()
    [command] = re.findall(r"```sh\n(cerbosctl .*?)```", page, re.DOTALL)
    args = shlex.split(command.replace("\\\n", " "))
    args = [
        str(cerbosctl),
        *(
            a.replace("127.0.0.1:3593", server.grpc_address).replace("=...", f"={ADMIN_AUTH[1]}")
            for a in args[1:]
        ),
    ]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert all(json.loads(line)["callId"] for line in proc.stdout.splitlines())
