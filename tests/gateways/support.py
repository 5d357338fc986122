"""Real parts for the MCP gateway tests: the gateway as a subprocess (``python -m chamberlain.gateways.mcp``),
real MCP servers from PyPI (mcp-server-time, mcp-server-git) and the fixture server, git repositories
made in tmp, the official ``mcp`` client, and the decision log read back with the audit CLI."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import yaml
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from chamberlain.audit.storage.reader import AuditReader, Filter
from chamberlain.store.db import open_database
from tests.support.cerbos_server import REPO_ROOT

PYTHON = sys.executable
CLI = str(Path(sys.executable).parent / "chamberlain")
FIXTURE = Path(__file__).with_name("fixture_server.py")
TIME_SERVER = [PYTHON, "-m", "mcp_server_time", "--local-timezone", "UTC"]
GATEWAY = [PYTHON, "-m", "chamberlain.gateways.mcp"]
AUDIENCE = "https://mcp.example/gateway"

#: The fixture server's policy: echo and sleep for developers, greeting and the public memo too.
FIXTURE_POLICY = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: fixture_server
  version: default
  rules:
    - name: everything-listed
      actions: ["tools/list::*"]
      effect: EFFECT_ALLOW
      roles: ["developer"]
    - name: harmless-tools
      actions:
        - "tools/call::echo"
        - "tools/call::sleep"
        - "tools/call::crash"
        - "tools/call::request_id"
        - "tools/call::sleepers"
        - "tools/call::ask_client"
        - "tools/call::spawn_child"
      effect: EFFECT_ALLOW
      roles: ["developer"]
    - name: friendly-prompts
      actions: ["prompts/get::greeting"]
      effect: EFFECT_ALLOW
      roles: ["developer"]
    - name: public-memos
      actions: ["resources/read::memo://public", "resources/read::memo://notes/public/*"]
      effect: EFFECT_ALLOW
      roles: ["developer"]
"""

#: An exchange rule for the tests (appended to the example's delegation policy in a copy): a coding
#: agent acts directly for a developer, toward this gateway only, with the scope its tools need.
CODER_EXCHANGE_RULE = f"""
    - name: coder-for-developers
      actions: ["exchange"]
      effect: EFFECT_ALLOW
      roles: ["coding_agent"]
      condition:
        match:
          all:
            of:
              - expr: R.attr.depth == 0
              - expr: has(R.attr.claims.roles) && "developer" in R.attr.claims.roles
      output:
        when:
          ruleActivated: '{{"audiences": ["{AUDIENCE}"], "scopes": ["mcp:tools"]}}'
"""


def policy_folder(tmp: Path) -> Path:
    """The example policies, the fixture server's policy, and the coding agent's exchange rule."""
    folder = tmp / "policies"
    shutil.copytree(REPO_ROOT / "examples" / "policies", folder, ignore=shutil.ignore_patterns("tests"))
    (folder / "resource_policies" / "fixture_server.yaml").write_text(FIXTURE_POLICY)
    delegation = folder / "resource_policies" / "delegation.yaml"
    delegation.write_text(delegation.read_text() + CODER_EXCHANGE_RULE)
    return folder


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def make_repo(tmp: Path) -> Path:
    """A repository on ``main`` with one commit and a staged change, ready to be committed."""
    repo = tmp / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    git(repo, "config", "user.email", "erin@example.com")
    git(repo, "config", "user.name", "Erin")
    (repo / "README.md").write_text("payments\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "first")
    (repo / "login.py").write_text("def login():\n    return True\n")
    git(repo, "add", "login.py")
    return repo


def git_upstream(repo: Path, **extra: Any) -> dict[str, Any]:
    """mcp-server-git confined to ``repo``, the branch read from its HEAD at every check."""
    return {
        "name": "git",
        "command": [PYTHON, "-m", "mcp_server_git", "--repository", str(repo)],
        "attributes": {"projectRoot": str(repo)},
        "fileAttributes": {"branch": {"path": str(repo / ".git" / "HEAD"), "match": r"ref: refs/heads/(.+)"}},
        **extra,
    }


def write_config(
    tmp: Path, upstreams: list[dict[str, Any]], *, name: str = "gateway.yaml", **settings: Any
) -> Path:
    """A gateway configuration file ``name`` in ``tmp`` (policies and decision log there too)."""
    config = {
        "policies": str(tmp / "policies"),
        "audit": {"db": f"sqlite:///{tmp / 'decisions.db'}"},
        "upstreams": upstreams,
        **settings,
    }
    path = tmp / name
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.asynccontextmanager
async def stdio_gateway(
    config: Path, log: Path, *, mode: str = "auto", elicitation: Any = None, cache: Any = None
) -> AsyncIterator[Client]:
    """The official client, talking to the gateway it spawns over stdio (its stderr into ``log``);
    ``elicitation``: the client's elicitation callback (the client then declares the capability);
    ``cache``: the client's response cache (a ``CacheConfig``; None: the SDK's default)."""
    # The SDK passes only a few variables on: keep PYTHONPATH, so the gateway runs the code under test.
    path = {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else None
    params = StdioServerParameters(
        command=PYTHON, args=[*GATEWAY[1:], "--config", str(config)], cwd=str(REPO_ROOT), env=path
    )
    with log.open("a") as errlog:
        async with Client(
            stdio_client(params, errlog=errlog),
            mode=mode,
            read_timeout_seconds=60,
            elicitation_callback=elicitation,
            **({"cache": cache} if cache is not None else {}),
        ) as client:
            yield client


def session_of(log: Path) -> str:
    """The MCP session id a stdio gateway printed at start."""
    for line in log.read_text().splitlines():
        if "chamberlain mcp-proxy: session " in line:
            return line.rsplit(" ", 1)[1]
    raise AssertionError(f"the gateway printed no session id:\n{log.read_text()}")


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def entries(db: str, **filters: Any) -> list[dict[str, Any]]:
    """The gateway's decisions in the decision log (read-only, as the audit CLI reads them); the log also
    holds the agents' session transitions (session:open, ...), which are not MCP requests."""
    database = open_database(db, create=False, readonly=True)
    try:
        return [e for e in AuditReader(database).search(Filter(limit=10_000, **filters)) if "mcp" in e]
    finally:
        database.close()


def audit(*args: str) -> subprocess.CompletedProcess[str]:
    """``chamberlain audit ...`` as a process."""
    return subprocess.run([CLI, "audit", *args], capture_output=True, text=True, timeout=60)


@contextlib.contextmanager
def http_gateway(config: Path, log: Path) -> Iterator[str]:
    """The gateway serving streamable HTTP as a subprocess; yields its MCP endpoint URL."""
    with log.open("a") as errlog:
        process = subprocess.Popen(
            [*GATEWAY, "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=errlog,
            stderr=errlog,
            cwd=REPO_ROOT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            text = log.read_text()
            if found := re.search(r"listening on (http://[^\s\"]+)", text):  # a text or a JSON log line
                yield found.group(1)
                return
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the gateway did not start:\n{text}")
            time.sleep(0.05)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.asynccontextmanager
async def http_client(url: str, token: str, mcp_sessions: list[str] | None = None) -> AsyncIterator[Client]:
    """The official client over streamable HTTP, presenting ``token`` as its bearer token; the MCP session
    ids the server hands out (``Mcp-Session-Id``) are appended to ``mcp_sessions``."""

    async def remember(response: Any) -> None:
        if mcp_sessions is not None and "mcp-session-id" in response.headers:
            mcp_sessions.append(response.headers["mcp-session-id"])

    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx2.Timeout(30, read=60),
        event_hooks={"response": [remember]},
    )
    async with http, Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
        yield client


def approve(db: str, approval_id: str) -> None:
    """Approve ``approval_id`` in the gateway's store as bob, a finance manager of ``https://idp``."""
    from chamberlain.approvals.model import Decision
    from chamberlain.approvals.store import ApprovalStore

    store = ApprovalStore.open(db)
    try:
        store.decide(
            approval_id,
            Decision("bob (https://idp)", "APPROVE", 0, "ok", "bob", "https://idp"),
            lambda _a: "",
        )
    finally:
        store.close()


def jwks_file(tmp: Path, jwks: dict[str, Any]) -> Path:
    path = tmp / "chamberlain-jwks.json"
    path.write_text(json.dumps(jwks))
    return path


class RawGateway:
    """The gateway over stdio spoken to line by line, for what the official client would never send."""

    def __init__(self, config: Path, log: Path):
        self.log = log
        self._buffer = b""
        with log.open("a") as errlog:
            self.process = subprocess.Popen(
                [*GATEWAY, "--config", str(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errlog,
                cwd=REPO_ROOT,
            )
        self.request(
            {
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "raw", "version": "1"},
                },
            }
        )
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        self._next = 100

    def send(self, message: Any) -> None:
        line = message if isinstance(message, str) else json.dumps(message)
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def receive(self, timeout: float = 30) -> dict[str, Any]:
        """The next line the gateway wrote (read from the fd: answers written together arrive together)."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise AssertionError(f"no answer within {timeout}s:\n{self.log.read_text()}")
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise AssertionError(f"the gateway closed stdout:\n{self.log.read_text()}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a request (``id`` and ``jsonrpc`` added) and return its answer."""
        self._next = getattr(self, "_next", 0) + 1
        self.send({"jsonrpc": "2.0", "id": self._next, **message})
        answer = self.receive()
        assert answer.get("id") == self._next, answer
        return answer

    def call(self, tool: str, arguments: Any) -> dict[str, Any]:
        return self.request({"method": "tools/call", "params": {"name": tool, "arguments": arguments}})

    def close(self, timeout: float = 30) -> int:
        """Close stdin (the agent goes away) and return the exit code."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            return self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
