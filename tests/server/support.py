"""Run chamberlain's server for real on loopback: in a thread (uvicorn) or as a `chamberlain serve` process."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import bcrypt
import httpx

from chamberlain.server.app import create_app
from chamberlain.server.config import load_config
from chamberlain.server.serve import uvicorn_server
from tests.support.cerbos_server import free_port

REPO = Path(__file__).resolve().parents[2]
STORE = REPO.parent / "shared" / "conformance" / "cerbos" / "store"
_ATTR = {"department": "marketing", "geography": "GB", "team": "design"}
#: A CheckResources request on STORE's leave_request policy: view:public is allowed, approve denied.
STORE_CHECK = {
    "requestId": "store-check",
    "principal": {"id": "john", "roles": ["employee"], "policyVersion": "20210210", "attr": _ATTR},
    "resources": [
        {
            "actions": ["view:public", "approve"],
            "resource": {
                "kind": "leave_request",
                "id": "XX125",
                "policyVersion": "20210210",
                "attr": {**_ATTR, "id": "XX125", "owner": "john", "status": "PENDING_APPROVAL"},
            },
        }
    ],
}
if not STORE.is_dir():
    STORE = Path("/work/shared/conformance/cerbos/store")
AUXDATA = STORE.parent / "auxdata"

#: The operator's admin credentials in tests (bcrypt's lowest cost: the tests are about behaviour, not cost).
ADMIN_AUTH = ("operator", "correct horse battery staple")
ADMIN_HASH = base64.b64encode(bcrypt.hashpw(ADMIN_AUTH[1].encode(), bcrypt.gensalt(4))).decode()


def admin_on(**admin: Any) -> dict[str, Any]:
    """Overrides (``server`` section) turning the admin API on with :data:`ADMIN_AUTH`."""
    return {
        "adminAPI": {
            "enabled": True,
            "adminCredentials": {"username": ADMIN_AUTH[0], "passwordHash": ADMIN_HASH},
            **admin,
        }
    }


def _wait_healthy(url: str, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Until ``url`` answers health (an https URL: until it accepts connections; the test's client has the CA)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"chamberlain serve exited with {proc.returncode}")
        if url.startswith("https://"):
            host, _, port = url.removeprefix("https://").rpartition(":")
            with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1):
                return
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/_cerbos/health", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"chamberlain not healthy at {url} after {timeout}s")


class ThreadServer:
    """uvicorn serving :class:`chamberlain.server.App` in a background thread."""

    def __init__(
        self, policy_dir: Path, overrides: Mapping[str, Any] | None = None, config_file: Path | None = None
    ):
        self.port = free_port()
        # Each server its own state folder (its decision log and signing key), removed on exit.
        self.state_dir = Path(tempfile.mkdtemp(prefix="chamberlain-state-"))
        config_overrides: dict[str, Any] = {
            "server": {"httpListenAddr": f"127.0.0.1:{self.port}"},
            "storage": {"disk": {"directory": str(policy_dir), "watchForChanges": False}},
            "chamberlain": {"logLevel": "warning", "stateDir": str(self.state_dir)},
        }
        for key, value in (overrides or {}).items():
            config_overrides[key] = {**config_overrides.get(key, {}), **value}
        self.config = load_config(config_file, overrides=config_overrides, env={})
        self.app = create_app(self.config)
        self.server = uvicorn_server(self.app, self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.config.tls is not None else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        _wait_healthy(self.url)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        shutil.rmtree(self.state_dir, ignore_errors=True)


@contextlib.contextmanager
def serve_process(
    *args: str, env: Mapping[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``chamberlain serve ARGS --http 127.0.0.1:<free port>`` as a process; yields it and its URL.

    Without ``--state-dir`` in ``args`` the process gets a temporary state folder of its own.
    """
    port = free_port()
    state: str | None = None
    if "--state-dir" not in args:
        state = tempfile.mkdtemp(prefix="chamberlain-state-")
        args = (*args, "--state-dir", state)
    cmd = [str(Path(sys.executable).parent / "chamberlain"), "serve", *args, "--http", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}, cwd=REPO
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc=proc)
        yield proc, url
    finally:
        stop(proc)
        if state is not None:
            shutil.rmtree(state, ignore_errors=True)


def raw_http(port: int, data: bytes, *, read_timeout: float = 5.0) -> bytes:
    """Send ``data`` on a fresh connection and return all the server sends back before closing."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        sock.sendall(data)
        return _read_all(sock)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM a server process and wait for it (killing it after 15 s)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
