"""docs/reference/commands.md is what the CLI says about itself: regenerate it with `make cli-docs`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from chamberlain.cli import app
from chamberlain.clidoc import render

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "reference" / "commands.md"


def test_the_committed_command_reference_is_the_generated_one():
    assert PAGE.read_text() == render(app), "docs/reference/commands.md is stale: run `make cli-docs`"


def test_the_reference_lists_every_command_and_option():
    page = PAGE.read_text()
    for title in ("`chamberlain compile`", "`chamberlain audit show`", "`chamberlain dev idp token`"):
        assert title in page
    assert "| `--test-filter` | `FILTER` |" in page
    assert "<bool>" not in page and "{directory}" not in page


def test_the_generator_does_not_depend_on_the_terminal_or_environment():
    env = {**os.environ, "COLUMNS": "40", "NO_COLOR": "1", "CHAMBERLAIN_AUDIT_DB": "sqlite:///elsewhere.db"}
    done = subprocess.run(
        [sys.executable, "-m", "chamberlain.clidoc"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == PAGE.read_text()
