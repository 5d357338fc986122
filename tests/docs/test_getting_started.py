"""The getting-started pages run as written (tests/docs/page_runner.py), in a fresh folder each."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.page_runner import PageRun

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "docs" / "getting-started"


@pytest.mark.parametrize("name", ["first-check.md"])
def test_the_page_runs_as_written(name: str, tmp_path: Path) -> None:
    run = PageRun(PAGES / name, tmp_path)
    try:
        compared = run.run()
    finally:
        run.close()
    assert compared >= 3, "the page's outputs were compared"


EMBEDDED_CHECK = """
from pathlib import Path
from chamberlain import PDP, Principal, Resource
Path("policies").mkdir()
Path("policies/doc.yaml").write_text(
    "apiVersion: api.cerbos.dev/v1\\nresourcePolicy:\\n  resource: doc\\n  version: default\\n"
    "  rules:\\n    - actions: [view]\\n      effect: EFFECT_ALLOW\\n      roles: [user]\\n"
)
pdp = PDP.from_directory("policies", audit="sqlite:///decisions.db")
print(pdp.is_allowed(Principal("alice", ["user"]), Resource("doc", "1"), "view"),
      pdp.is_allowed(Principal("alice", ["user"]), Resource("doc", "1"), "edit"))
pdp.close()
"""


def test_a_fresh_install_without_make_runs_the_getting_started_pages(tmp_path: Path) -> None:
    """install.md's `pip install`s into a new virtual environment (from a copy of the sources, so the
    checkout gets no build folder). First without extras: the embedded engine decides and writes its
    decision log, and `chamberlain serve`/`mcp-proxy` name the extra to install. Then install.md's
    `pip install '.[server,mcp]'` and first-check.md and first-agent.md (which installs mcp-server-time
    from PyPI into it) with that environment's chamberlain and Python."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "pip"), "install", "-q"]
    done = subprocess.run([*pip, str(source)], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr
    _core_only(venv, tmp_path / "core")
    done = subprocess.run([*pip, f"{source}[server,mcp]"], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "work"
    folder.mkdir()
    run = PageRun(PAGES / "first-check.md", folder, python=venv / "bin" / "python")
    try:
        assert run.run() >= 3
    finally:
        run.close()
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "examples").symlink_to(ROOT / "examples")  # the page runs from the repository's root
    run = PageRun(PAGES / "first-agent.md", agent, python=venv / "bin" / "python")
    try:
        assert run.run() == 4
    finally:
        run.close()


def _core_only(venv: Path, folder: Path) -> None:
    """`pip install chamberlain` without extras: none of theirs is installed, the embedded check works,
    and the commands that need an extra say which one (exit code 2), without a traceback."""
    folder.mkdir()
    python = str(venv / "bin" / "python")
    probe = "import importlib.util as u; print([m for m in ('uvicorn', 'starlette', 'mcp', 'psycopg', 'httpx') if u.find_spec(m)])"
    assert subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=60).stdout == "[]\n"
    done = subprocess.run(
        [python, "-c", EMBEDDED_CHECK], cwd=folder, capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "True False\n", "")
    assert (folder / "decisions.db").stat().st_size > 0
    chamberlain = str(venv / "bin" / "chamberlain")
    compiled = subprocess.run(
        [chamberlain, "compile", "policies"], cwd=folder, capture_output=True, text=True, timeout=120
    )
    assert compiled.returncode == 0, compiled.stderr
    for command, extra in (
        (["serve", "--policies", "policies"], "server"),
        (["mcp-proxy", "--policies", "policies", "--principal", "a", "--", "true"], "mcp"),
    ):
        done = subprocess.run(
            [chamberlain, *command],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 2, done.stderr
        assert f"pip install 'chamberlain[{extra}]'" in done.stderr
        assert "Traceback" not in done.stderr and done.stderr.startswith(
            f"error: chamberlain {command[0]} needs"
        )
