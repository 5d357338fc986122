"""Real parts for the proxy tests: the samples of docs/guides/proxies.md (with this run's ports), Debian's
nginx and caddy started on loopback, a small upstream that records what reaches it, `chamberlain serve`."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.docs.page_runner import BLOCK
from tests.support.cerbos_server import free_port

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "guides" / "proxies.md"
#: The addresses the page's samples use, replaced by this run's.
CHAMBERLAIN, UPSTREAM, NGINX, CADDY = "127.0.0.1:3592", "127.0.0.1:8080", "127.0.0.1:8000", "127.0.0.1:8001"


def sample(title: str) -> str:
    """The page's fenced block titled ``title``."""
    for _, found, body in BLOCK.findall(PAGE.read_text(encoding="utf-8")):
        if found == title:
            return body
    raise AssertionError(f"{PAGE} has no block titled {title!r}")


def require(binary: str) -> str:
    """The path of a Debian package's binary: skip without it, fail under CI=true."""
    found = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{binary} is required under CI (make test installs it with apt-get)")
        pytest.skip(f"{binary} is not installed (Debian: apt-get install -y {binary})")
    return found


class Upstream:
    """A plain HTTP server on loopback that answers 200 and records each request (method, path, headers)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                seen.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "body": body,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                    }
                )
                payload = b'{"upstream": true}'
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Upstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _wait_port(address: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 20) -> None:
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=0.5):
            return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"did not listen on {address}: {log.read_text() if log.exists() else ''}")
        time.sleep(0.05)


@contextlib.contextmanager
def _process(cmd: list[str], address: str, log: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        _wait_port(address, proc, log)
        yield f"http://{address}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ports(text: str, chamberlain: str, upstream: str, listen_from: str, listen_to: str) -> str:
    return text.replace(CHAMBERLAIN, chamberlain).replace(UPSTREAM, upstream).replace(listen_from, listen_to)


@contextlib.contextmanager
def nginx(tmp: Path, chamberlain: str, upstream: str, extra: str = "") -> Iterator[str]:
    """nginx with the page's server block (auth_request), on a free loopback port (``extra``: more of ``http``)."""
    binary = require("nginx")
    listen = f"127.0.0.1:{free_port()}"
    folder = tmp / "nginx"
    folder.mkdir()
    temps = " ".join(
        f"{k}_temp_path {folder}/{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = folder / "nginx.conf"
    conf.write_text(
        f"error_log {folder}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  {temps}\n"
        f"{_ports(sample('nginx.conf'), chamberlain, upstream, NGINX, listen)}{extra}}}\n"
    )
    cmd = [binary, "-p", str(folder), "-c", str(conf), "-g", f"daemon off; pid {folder}/nginx.pid;"]
    with _process(cmd, listen, folder / "error.log") as url:
        yield url


@contextlib.contextmanager
def caddy(tmp: Path, chamberlain: str, upstream: str) -> Iterator[str]:
    """caddy with the page's Caddyfile (forward_auth), on a free loopback port, its state in ``tmp``."""
    binary = require("caddy")
    listen = f"127.0.0.1:{free_port()}"
    folder = tmp / "caddy"
    folder.mkdir()
    conf = folder / "Caddyfile"
    conf.write_text(_ports(sample("Caddyfile"), chamberlain, upstream, CADDY, listen))
    env = {
        "HOME": str(folder),
        "XDG_DATA_HOME": str(folder / "data"),
        "XDG_CONFIG_HOME": str(folder / "config"),
    }
    cmd = [binary, "run", "--config", str(conf), "--adapter", "caddyfile"]
    with _process(cmd, listen, folder / "caddy.log", env) as url:
        yield url


def chamberlain_config(tmp: Path, delegation: dict[str, Any]) -> Path:
    """The page's chamberlain.yaml, with the token service of the delegation tests."""
    config = yaml.safe_load(sample("chamberlain.yaml"))
    config["chamberlain"]["delegation"] = delegation
    config["chamberlain"]["logLevel"] = "error"
    path = tmp / "chamberlain.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path
