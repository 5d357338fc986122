"""Every command's --help reads as a command-line user expects: no Python type names, no braces."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from chamberlain.cli import app

#: typer's own placeholders: ``<bool>``, ``<list[str]>``, ``<int range>``, ``{directory}``.
PYTHON_PLACEHOLDER = re.compile(r"<[a-z][a-z_\[\], |]*>|\{[a-z_]+\}")


def _commands(command, path=()):
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_the_walk_reaches_nested_commands():
    paths = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "compile", "audit show", "dev idp token", "session lock"} <= paths
    assert len(paths) > 40


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=lambda p: " ".join(p) or "root")
def test_help_has_no_python_placeholders(path):
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    assert PYTHON_PLACEHOLDER.findall(result.output) == []


def test_help_uses_upper_case_placeholders():
    out = CliRunner().invoke(app, ["compile", "--help"], env={"COLUMNS": "200"}).output
    assert "compile [OPTIONS] DIRECTORY" in out
    assert re.search(r"--tests\s+PATH", out)
    assert re.search(r"--output\s+-o\s+TEXT", out)
    assert not re.search(r"--skip-tests\s+--no-skip-tests\s+\S+\s+Only", out)  # a flag takes no value


def test_a_docstrings_later_paragraphs_flow():
    out = CliRunner().invoke(app, ["compile", "--help"], env={"COLUMNS": "200"}).output
    assert "a test whose principal or resource breaks its schema" in out
    assert "``" not in out
