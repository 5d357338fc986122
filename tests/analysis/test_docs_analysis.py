"""The samples of docs/concepts/analysis.md run: the Python sample prints what the page shows, and each
documented command runs (the log URL and output paths pointed at a temporary log and folder)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from chamberlain import PDP, Principal, Resource
from chamberlain.cli import app

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "concepts" / "analysis.md"
REFERENCE = ROOT / "docs" / "reference" / "cli.md"


def test_python_sample_prints_what_the_page_says() -> None:
    text = PAGE.read_text(encoding="utf-8")
    code, expected = re.search(r"```python\n(.*?)```\n\n```\n(.*?)```", text, re.DOTALL).groups()
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(PAGE), "exec"), {})
    finally:
        os.chdir(cwd)
    assert out.getvalue() == expected


def test_documented_commands_run(tmp_path: Path) -> None:
    db = tmp_path / "decisions.db"
    with PDP.from_directory(ROOT / "examples" / "policies", audit=db) as pdp:
        pdp.check(
            Principal("carol", ("finance_clerk",)),
            Resource("invoice", "i1", {"status": "APPROVED"}),
            ["view"],
        )
    commands = re.findall(r"^(chamberlain analyze .*)$", PAGE.read_text(encoding="utf-8"), re.MULTILINE)
    assert [c.split()[2] for c in commands] == ["access", "usage", "impact"]
    reference = re.findall(
        r"^(chamberlain analyze [^#]*?)\s*(?:#.*)?$", REFERENCE.read_text(encoding="utf-8"), re.MULTILINE
    )
    assert reference, "the CLI reference shows analyze"
    commands += reference
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for command in commands:
            args = shlex.split(command.replace("sqlite:///.chamberlain/decisions.db", f"sqlite:///{db}"))[1:]
            args = [str(ROOT / a) if a.startswith("examples/") else a for a in args]
            if "impact" in args:
                args[args.index("candidate/")] = str(ROOT / "examples" / "policies")
            result = runner.invoke(app, args)
            assert result.exit_code == 0, (command, result.output)
    finally:
        os.chdir(cwd)
    assert (tmp_path / "map.html").is_file()
    assert (tmp_path / "proposals" / "tests").is_dir()
