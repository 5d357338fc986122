"""The gateway's configuration and command line: every problem named with its key, exit 2, no traceback."""

from __future__ import annotations

import subprocess

import pytest

from chamberlain.gateways.mcp.config import parse_config
from chamberlain.gateways.mcp.errors import GatewayConfigError
from tests.gateways.support import GATEWAY, TIME_SERVER, policy_folder
from tests.support.cerbos_server import REPO_ROOT


def test_defaults(tmp_path):
    config = parse_config(
        {
            "principal": {"id": "erin", "roles": ["developer"]},
            "upstreams": [{"name": "time", "command": TIME_SERVER}],
        },
        base_dir=tmp_path,
    )
    assert config.policies == tmp_path / "policies"
    assert config.forward_while_recording is False  # nothing is forwarded before its ALLOW is durable
    assert config.audit_db == f"sqlite:///{tmp_path / '.chamberlain' / 'decisions.db'}"
    assert (config.transport, config.tool_names, config.resource) == (
        "stdio",
        "auto",
        "http://127.0.0.1:8808/mcp",
    )
    upstream = config.upstreams[0]
    assert (upstream.resource_kind, upstream.call_timeout, upstream.connect_timeout) == (
        "mcp_server",
        60.0,
        30.0,
    )
    assert (config.read_header_timeout, config.read_timeout) == (10.0, 30.0)  # a slow client is cut off
    assert (config.max_sessions, config.max_sessions_per_caller) == (10_000, 32)  # one token cannot hold all


def test_every_problem_is_listed_with_its_key(tmp_path):
    with pytest.raises(GatewayConfigError) as caught:
        parse_config(
            {
                "toolNames": "sometimes",
                "downstream": {
                    "transport": "carrier-pigeon",
                    "listen": "nowhere",
                    "readHeaderTimeout": "0s",
                    "readTimeout": "soon",
                    "maxSessions": 0,
                    "maxSessionsPerCaller": "many",
                },
                "upstreams": [
                    {"name": "a b", "command": ["x"]},
                    {"name": "ok", "command": ["x"], "url": "http://h/mcp"},
                    {"name": "slow", "url": "ftp://h", "callTimeout": "soon", "colour": "red"},
                ],
                "auth": {"issuer": "https://chamberlain.example"},
                "audit": {"forwardWhileRecording": "yes"},
            },
            base_dir=tmp_path,
        )
    problems = "\n".join(caught.value.problems)
    for expected in (
        "toolNames: must be one of auto, prefixed, got 'sometimes'",
        "downstream.transport: must be one of stdio, http, got 'carrier-pigeon'",
        "downstream.listen: expected host:port",
        "downstream.readHeaderTimeout: must be longer than zero",
        "downstream.readTimeout: expected a duration such as 30s, 500ms or 1m, got 'soon'",
        "downstream.maxSessions: must be a positive integer, got 0",
        "downstream.maxSessionsPerCaller: must be a positive integer, got 'many'",
        "upstreams[0].name: required: letters, digits, _ and -",
        "upstreams[1]: set exactly one of command (a stdio server to spawn) and url",
        "upstreams[2].url: expected an http(s) URL, got 'ftp://h'",
        "upstreams[2].callTimeout: expected a duration",
        "upstreams[2].colour: unknown key",
        "auth: set exactly one of signingKeyFile",
        "audit.forwardWhileRecording: expected true or false, got 'yes'",
    ):
        assert expected in problems
    assert str(caught.value).startswith("invalid MCP gateway configuration:\n  - ")


def test_http_needs_auth_and_stdio_needs_someone(tmp_path):
    upstreams = [{"name": "time", "command": TIME_SERVER}]
    with pytest.raises(GatewayConfigError, match=r"auth: required with downstream\.transport http"):
        parse_config({"downstream": {"transport": "http"}, "upstreams": upstreams}, base_dir=tmp_path)
    with pytest.raises(GatewayConfigError, match="principal: required over stdio without a token"):
        parse_config({"upstreams": upstreams}, base_dir=tmp_path)


def _run(*args: str, cwd=REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GATEWAY, *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, cwd=cwd
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--principal", "erin", "--roles", "developer"], "upstreams: required"),
        (["--roles", "developer", "--", "x"], "--roles and --attr describe --principal"),
        (["--principal", "erin", "--name", "x"], "--name and --resource-kind describe the command after --"),
        (["--principal", "erin", "--attr", "nokey", "--", "x"], "--attr 'nokey': expected KEY=VALUE"),
        (["--config", "/no/such/gateway.yaml"], "cannot read the configuration /no/such/gateway.yaml"),
        (
            ["--principal", "erin", "--roles", "developer", "--policies", "/no/such/dir", "--", "x"],
            "policy directory /no/such/dir does not exist",
        ),
        # A principal needs a role, as in a Cerbos request (the server's message).
        (
            ["--principal", "erin", "--", "x"],
            "principal: validation error: principal.roles: value is required",
        ),
    ],
)
def test_command_line_mistakes(args, message):
    done = _run(*args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_an_upstream_that_cannot_start(tmp_path):
    policy_folder(tmp_path)
    done = _run(
        "--policies",
        str(tmp_path / "policies"),
        "--state-dir",
        str(tmp_path / "state"),
        "--principal",
        "erin",
        "--roles",
        "developer",
        "--",
        "/no/such/mcp-server",
        "--flag",
    )
    assert done.returncode == 2
    assert (
        "upstream 'mcp-server': could not connect: the command was not found: /no/such/mcp-server"
        in done.stderr
    )
    assert "Traceback" not in done.stderr
