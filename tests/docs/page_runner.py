"""Run a documentation page as written: its files are written, its console blocks run command by command
and its Python blocks run, in a fresh folder, each output compared with what the page shows.

- a fenced block with ``title="path"`` is a file the reader writes;
- in a ``console`` block, ``$ command`` lines run in a shell (``chamberlain`` is this checkout's); the lines
  after one are its output; a command ending in `` &`` starts a server, waited for on its ``--http`` address;
- a ``python`` block runs with the given interpreter (this one by default; its folder is first on PATH); a ``text`` block right after it is its output;
- ``…`` in a shown output stands for a value that differs from run to run;
- the default port 3592 is replaced by a free one.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.cerbos_server import free_port

BLOCK = re.compile(r'^```(\w+)(?: title="([^"]+)")?\n(.*?)^```$', re.MULTILINE | re.DOTALL)
ANY = "…"


def matches(shown: str, actual: str) -> bool:
    """Whether ``actual`` is ``shown``, line for line, with ``…`` matching anything."""
    lines = [line.rstrip() for line in actual.strip().splitlines()]
    patterns = [".*?".join(map(re.escape, line.rstrip().split(ANY))) for line in shown.strip().splitlines()]
    return len(lines) == len(patterns) and all(
        re.fullmatch(p, line) for p, line in zip(patterns, lines, strict=True)
    )


def wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    """Wait until the chamberlain server at ``url`` answers its health check (failing with its log)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/_cerbos/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


class PageRun:
    """One run of a page in ``folder``; ``close`` stops the servers it started."""

    def __init__(self, page: Path, folder: Path, python: Path = Path(sys.executable)):
        self.python = python
        self.port = free_port()
        self.text = page.read_text(encoding="utf-8").replace("127.0.0.1:3592", f"127.0.0.1:{self.port}")
        self.folder = folder
        bin_dir = str(python.parent)
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "NO_COLOR": "1",
        }
        self.servers: list[subprocess.Popen[bytes]] = []

    def run(self) -> int:
        """Run every block in order; returns how many outputs were compared."""
        compared = 0
        blocks = BLOCK.findall(self.text)
        for index, (language, title, body) in enumerate(blocks):
            if title:
                target = self.folder / title
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(body)
            elif language == "console":
                compared += self._console(body)
            elif language == "python":
                out = self._shell([str(self.python), "-c", body])
                following = blocks[index + 1] if index + 1 < len(blocks) else None
                if following is not None and following[0] == "text":
                    assert matches(following[2], out), f"python block printed:\n{out}"
                    compared += 1
        return compared

    def _console(self, body: str) -> int:
        compared = 0
        chunks = re.split(r"^\$ ", body, flags=re.MULTILINE)[1:]
        for chunk in chunks:
            command, _, shown = chunk.partition("\n")
            if command.endswith(" &"):
                self._start(command[:-2])
                continue
            out = self._shell(command)
            if shown.strip():
                assert matches(shown, out), f"$ {command}\nprinted:\n{out}"
                compared += 1
        return compared

    def _shell(self, command: str | list[str]) -> str:
        done = subprocess.run(
            command,
            shell=isinstance(command, str),
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def _start(self, command: str) -> None:
        log = (self.folder / f"server-{len(self.servers)}.log").open("wb")
        server = subprocess.Popen(
            shlex.split(command),
            cwd=self.folder,
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        self.servers.append(server)
        address = re.search(r"--http\s+(\S+)", command)
        assert address is not None, f"a server command names its --http address: {command}"
        wait_healthy(f"http://{address.group(1)}", server, Path(log.name))

    def close(self) -> None:
        for server in self.servers:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=60)
