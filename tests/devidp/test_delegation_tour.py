"""docs/getting-started/delegation.md runs as written: its shell blocks, in order, in a fresh folder,
against a real `chamberlain serve` on a loopback port; the outputs the page shows are what they print."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.docs.page_runner import matches, wait_healthy
from tests.support.cerbos_server import REPO_ROOT, free_port

PAGE = REPO_ROOT / "docs" / "getting-started" / "delegation.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
ANY = "…"  # in an output the page shows: a value that differs from run to run


def _blocks(port: int) -> list[tuple[str, str]]:
    """The page's fenced blocks (language, text), the server's port replaced by ``port``."""
    text = PAGE.read_text(encoding="utf-8").replace("127.0.0.1:3592", f"127.0.0.1:{port}")
    return BLOCK.findall(text)


def _matches(expected: Any, actual: Any) -> bool:
    if expected == ANY:
        return True
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and expected.keys() == actual.keys()
            and all(_matches(v, actual[k]) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list) and len(expected) == len(actual) and all(map(_matches, expected, actual))
        )
    return expected == actual


def _check_output(language: str, shown: str, stdout: str, folder: Path) -> None:
    if language == "json":
        assert _matches(json.loads(shown), json.loads(stdout)), stdout
    elif language == "yaml":  # the config `init` wrote, as the page shows it
        written = yaml.safe_load((folder / ".chamberlain" / "dev-idp" / "chamberlain.yaml").read_text())
        page = yaml.safe_load(shown.replace("/path/to", str(folder)))
        assert written == page, written
    else:
        assert matches(shown, stdout), stdout


def test_the_delegation_tour_runs_as_written(tmp_path: Path) -> None:
    port = free_port()
    blocks = _blocks(port)
    shutil.copytree(REPO_ROOT / "examples" / "policies", tmp_path / "examples" / "policies")
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "chamberlain").exists(), "the chamberlain command is installed beside this Python"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAMBERLAIN__")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", NO_COLOR="1")
    commands = [body for language, body in blocks if language == "sh"]
    counted = [c for c in commands if not c.startswith(("chamberlain serve", "chamberlain token inspect"))]
    assert sum(len(re.findall(r"^(?:chamberlain|curl) ", c, re.MULTILINE)) for c in counted) == 5  # the title
    server: subprocess.Popen[bytes] | None = None
    log = tmp_path / "serve.log"
    try:
        for i, (language, body) in enumerate(blocks):
            if language != "sh":
                continue
            if body.startswith("chamberlain serve"):
                with log.open("wb") as out:
                    server = subprocess.Popen(
                        ["bash", "-c", f"exec {body.strip()} --http 127.0.0.1:{port}"],
                        cwd=tmp_path,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                wait_healthy(f"http://127.0.0.1:{port}", server, log)
                continue
            run = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", body],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert run.returncode == 0, f"{body}\n{run.stdout}\n{run.stderr}"
            following = blocks[i + 1] if i + 1 < len(blocks) else ("sh", "")
            if following[0] != "sh":
                _check_output(following[0], following[1], run.stdout, tmp_path)
        assert server is not None, "the page starts the server"
        assert (tmp_path / "delegated.jwt").read_text().count(".") == 2
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)


def test_the_cli_references_examples_run(tmp_path: Path, monkeypatch: Any) -> None:
    """The commands of docs/reference/cli.md#chamberlain-dev-idp (all but `serve`: test_serve_cli runs it)."""
    import shlex

    from typer.testing import CliRunner

    from chamberlain.cli import app

    section = (
        (REPO_ROOT / "docs" / "reference" / "cli.md")
        .read_text(encoding="utf-8")
        .split("## chamberlain dev idp")[1]
    )
    language, block = BLOCK.findall(section)[0]
    lines = [line for line in block.splitlines() if line.strip()]
    assert language == "sh" and lines[-1].startswith("chamberlain dev idp serve")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for line in lines[:-1]:
        argv = shlex.split(line, comments=True)
        assert argv[0] == "chamberlain"
        result = runner.invoke(app, argv[1:])
        assert result.exit_code == 0, f"{line}\n{result.output}"
    assert (tmp_path / "idp" / "signing-key.json").exists() and (tmp_path / "assistant.jwt").exists()
