"""``serve`` logs: JSON lines when piped, text on a terminal or by flag, and "listening" only once the
port is bound (a connection made the moment the line appears succeeds; a port taken never logs it)."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from chamberlain.server.logs import resolve_format
from tests.server.support import STORE, stop
from tests.support.cerbos_server import free_port

CHAMBERLAIN = str(Path(sys.executable).parent / "chamberlain")


def _serve(port: int, *extra: str, **popen) -> subprocess.Popen[bytes]:
    state = tempfile.mkdtemp(prefix="chamberlain-state-")
    cmd = [
        CHAMBERLAIN,
        "serve",
        "--policies",
        str(STORE),
        "--http",
        f"127.0.0.1:{port}",
        "--state-dir",
        state,
        *extra,
    ]
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env, **popen)


def _lines_until(read_fd: int, proc: subprocess.Popen[bytes], marker: str, timeout: float = 60) -> list[str]:
    """Lines read from ``read_fd`` up to the first holding ``marker`` (or to the end of output)."""
    buffer, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([read_fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(read_fd, 65536)
            except OSError:  # a terminal closes when the process exits
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            if marker.encode() in buffer:
                break
        elif proc.poll() is not None:
            break
    return buffer.decode(errors="replace").splitlines()


def test_listening_is_logged_once_the_port_accepts_connections_as_a_json_line():
    port = free_port()
    proc = _serve(port, stderr=subprocess.PIPE)
    try:
        lines = _lines_until(proc.stderr.fileno(), proc, "chamberlain listening")
        listening = [line for line in lines if "chamberlain listening" in line]
        assert listening, lines
        # the line is out: the port must take a connection now, with no retry
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        entry = json.loads(listening[0])
        assert entry["msg"] == "chamberlain listening"
        assert entry["url"] == f"http://127.0.0.1:{port}"
        assert all(json.loads(line) for line in lines)  # piped: every line is JSON
    finally:
        stop(proc)


def test_a_port_already_taken_is_never_announced():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = _serve(port, stderr=subprocess.PIPE)
        try:
            _, err = proc.communicate(timeout=60)
        finally:
            stop(proc)
    text = err.decode()
    assert proc.returncode != 0
    assert "address already in use" in text.lower(), text
    assert "listening" not in text


def _on_a_terminal(*extra: str) -> list[str]:
    leader, follower = pty.openpty()
    port = free_port()
    proc = _serve(port, *extra, stderr=follower)
    os.close(follower)
    try:
        return _lines_until(leader, proc, "chamberlain listening")
    finally:
        stop(proc)
        os.close(leader)


def test_on_a_terminal_the_lines_are_for_people():
    lines = _on_a_terminal()
    listening = [line for line in lines if "chamberlain listening" in line]
    assert listening, lines
    assert listening[0].startswith("INFO    chamberlain.server: chamberlain listening url=http://127.0.0.1:")
    assert not any(line.startswith("{") for line in lines)


def test_log_format_json_wins_on_a_terminal():
    lines = _on_a_terminal("--log-format", "json")
    assert any(
        json.loads(line).get("msg") == "chamberlain listening" for line in lines if line.startswith("{")
    )


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("fmt", "tty", "want"),
    [("auto", True, "text"), ("auto", False, "json"), ("json", True, "json"), ("text", False, "text")],
)
def test_auto_is_text_on_a_terminal_and_json_otherwise(fmt, tty, want):
    assert resolve_format(fmt, _Stream(tty)) == want
