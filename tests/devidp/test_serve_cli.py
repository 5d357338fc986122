"""`chamberlain dev idp serve` as a user runs it: a process on loopback that says it is not for production."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from chamberlain.cli import app
from tests.devidp.support import new_idp
from tests.support.cerbos_server import free_port

runner = CliRunner()


def test_serve_announces_itself_and_answers_discovery(tmp_path: Path) -> None:
    port = free_port()
    idp = new_idp(tmp_path, port=port)
    command = [
        sys.executable,
        "-c",
        "from chamberlain.cli import main; main()",
        "dev",
        "idp",
        "serve",
        "--dir",
        str(idp.directory),
    ]
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"}
    )
    try:
        banner = [process.stderr.readline() for _ in range(2)] if process.stderr else []
        assert "NOT FOR PRODUCTION" in banner[0], banner
        assert f"listening on http://127.0.0.1:{port}" in banner[1], banner
        deadline = time.monotonic() + 20
        # "listening" is printed once the socket listens: the first request may still wait a moment
        while True:
            try:
                meta = httpx.get(f"{idp.issuer}/.well-known/openid-configuration", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.05)
        assert meta.status_code == 200 and meta.json()["issuer"] == idp.issuer
        home = httpx.get(idp.issuer, timeout=5)
        assert "NOT FOR PRODUCTION" in home.text
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("address", ["0.0.0.0:3599", ":3599", "192.0.2.10:3599", "idp.example:3599"])
def test_addresses_beyond_loopback_are_refused_without_the_flag(tmp_path: Path, address: str) -> None:
    idp = new_idp(tmp_path)
    result = runner.invoke(app, ["dev", "idp", "serve", "--dir", str(idp.directory), "--http", address])
    assert result.exit_code == 2
    assert "is not a loopback address" in result.stderr and "--allow-non-loopback" in result.stderr


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        idp = new_idp(tmp_path, port=port)
        result = runner.invoke(app, ["dev", "idp", "serve", "--dir", str(idp.directory)])
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
