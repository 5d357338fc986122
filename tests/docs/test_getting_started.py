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


def test_a_fresh_install_without_make_runs_the_getting_started_pages(tmp_path: Path) -> None:
    """install.md's `pip install .` into a new virtual environment (from a copy of the sources, so the
    checkout gets no build folder), then first-check.md and first-agent.md (which installs
    mcp-server-time from PyPI into it) with that environment's chamberlain and Python."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(source)], capture_output=True,
                          text=True, timeout=1200)  # fmt: skip
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
