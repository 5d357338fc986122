"""A YAML mistake is reported where it starts (the quote or bracket left open), not where the parser
gave up, which can be lines below or the end of the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from chamberlain.cli import app

HEAD = "apiVersion: api.cerbos.dev/v1\nresourcePolicy:\n  version: default\n"
RULE = '  rules:\n    - actions: ["view"]\n      effect: EFFECT_ALLOW\n      roles: ["user"]\n'

CASES = {
    # an unclosed double quote swallows the lines below it until the next quote
    "unclosed double quote": (HEAD + '  resource: "doc\n' + RULE, 4, 13, "a quoted string starts here"),
    # an unclosed single quote runs to the end of the file
    "unclosed single quote": (HEAD + "  resource: 'doc\n" + RULE, 4, 13, "add its closing quote"),
    "unclosed bracket": (
        HEAD
        + '  resource: doc\n  rules:\n    - actions: ["view"\n      effect: EFFECT_ALLOW\n      roles: [user]\n',
        6,
        16,
        "the '[' opened here is not closed by line 7",
    ),
    "unclosed brace": (
        HEAD
        + "  resource: doc\n  rules:\n    - actions: {view: 1\n      effect: EFFECT_ALLOW\n      roles: [user]\n",
        6,
        16,
        "the '{' opened here is not closed",
    ),
    "bad indent": (
        HEAD
        + "  resource: doc\n  rules:\n    - actions: [view]\n      effect: EFFECT_ALLOW\n     roles: [user]\n",
        8,
        6,
        "did not find expected '-' indicator",
    ),
    "a key indented too far": (
        HEAD + "  resource: doc\n    rules: []\n",
        5,
        10,
        "mapping values are not allowed",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_compile_points_at_the_start_of_the_problem(tmp_path: Path, name: str):
    text, line, column, words = CASES[name]
    (tmp_path / "policy.yaml").write_text(text)
    result = CliRunner().invoke(app, ["compile", str(tmp_path)])
    assert result.exit_code == 2
    assert f"policy.yaml:{line}:{column}: invalid YAML: " in result.output, result.output
    assert words in result.output


def test_a_well_closed_multiline_quote_is_not_blamed(tmp_path: Path):
    """A quoted string over two lines that is closed properly is not the problem: the error stays put."""
    text = HEAD + '  resource: "doc\n    ument"\n  rules: [\n'
    (tmp_path / "policy.yaml").write_text(text)
    result = CliRunner().invoke(app, ["compile", str(tmp_path)])
    assert result.exit_code == 2
    assert "policy.yaml:4:" not in result.output, result.output
