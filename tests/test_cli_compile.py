"""``chamberlain compile``: --test-filter, --verbose, and colour on a terminal only."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chamberlain.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "policies"
ESC = "\x1b["


def _compile(*args: str, env: dict[str, str] | None = None):
    clean = {"NO_COLOR": "", "FORCE_COLOR": "", **(env or {})}
    return CliRunner().invoke(app, ["compile", str(EXAMPLES), *args], env=clean)


def test_a_filter_runs_only_what_it_names_and_counts_only_that():
    everything = _compile()
    filtered = _compile("--test-filter", "suite=InvoiceTestSuite;principal=alice", "-v")
    assert everything.exit_code == filtered.exit_code == 0, filtered.output
    assert "InvoiceTestSuite [PASSED]" in filtered.output
    assert "DelegationTestSuite" not in filtered.output  # a suite the filter leaves out is not listed
    passes = [line for line in filtered.output.splitlines() if line.startswith("  PASS ")]
    assert passes and all(" / alice / " in line for line in passes)
    assert filtered.output.splitlines()[-1] == f"PASSED: {len(passes)} tests ({len(passes)} passed)"
    assert everything.output.splitlines()[-1] != filtered.output.splitlines()[-1]


def test_verbose_lists_every_check_and_the_default_only_failures():
    quiet = _compile("--test-filter", "action=approve")
    loud = _compile("--test-filter", "action=approve", "--verbose")
    assert not any(line.startswith("  PASS") for line in quiet.output.splitlines())
    approves = [line for line in loud.output.splitlines() if line.startswith("  PASS")]
    assert approves and all(line.endswith(" / approve") for line in approves)


def test_a_bad_filter_is_a_usage_error():
    result = _compile("--test-filter", "colour=red")
    assert result.exit_code == 2
    assert "error: --test-filter: unknown filter dimension 'colour'" in result.output


@pytest.mark.parametrize(
    ("env", "coloured"),
    [({}, False), ({"FORCE_COLOR": "1"}, True), ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False)],
    ids=["piped", "FORCE_COLOR", "NO_COLOR wins"],
)
def test_colour_when_piped_follows_the_environment(env, coloured):
    result = _compile("--test-filter", "suite=InvoiceTestSuite", env=env)
    assert result.exit_code == 0
    assert (ESC in result.output) is coloured
    assert "PASSED" in result.output


def _on_a_terminal(env: dict[str, str]) -> str:
    """What ``chamberlain compile`` prints when its standard output is a terminal."""
    leader, follower = pty.openpty()
    command = [
        sys.executable,
        "-m",
        "chamberlain",
        "compile",
        str(EXAMPLES),
        "--test-filter",
        "suite=InvoiceTestSuite",
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")} | {
        "TERM": "xterm",
        **env,
    }
    with subprocess.Popen(command, stdout=follower, stderr=subprocess.DEVNULL, env=env) as proc:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closes when the command exits
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_unless_no_color():
    assert ESC in _on_a_terminal({})
    plain = _on_a_terminal({"NO_COLOR": "1"})
    assert ESC not in plain
    assert "InvoiceTestSuite [PASSED]" in plain


def test_the_filter_sample_in_the_cli_reference_is_what_compile_prints():
    import re
    import shlex

    page = (EXAMPLES.parents[1] / "docs/reference/cli.md").read_text()
    sample = re.search(
        r"```console\n\$ chamberlain compile (examples/policies --test-filter .*?)\n(.*?)```", page, re.S
    )
    assert sample is not None
    args = shlex.split(sample.group(1))
    result = CliRunner().invoke(app, ["compile", str(EXAMPLES), *args[1:]], env={"NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert result.output == sample.group(2)


def _chamberlain_script() -> str:
    return str(Path(sys.executable).with_name("chamberlain"))


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_script_for_the_named_shell(shell):
    done = subprocess.run(
        [_chamberlain_script(), "completion", shell], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "_CHAMBERLAIN_COMPLETE" in done.stdout and f"complete_{shell}" in done.stdout


def test_completion_names_the_shells_it_knows():
    result = CliRunner().invoke(app, ["completion", "tcsh"])
    assert result.exit_code == 2
    assert (
        "error: no completion for shell 'tcsh': use one of bash, zsh, fish, powershell, pwsh" in result.output
    )


def test_completion_completes_commands_and_subcommands():
    def complete(words: str, index: int) -> list[str]:
        env = {
            **os.environ,
            "_CHAMBERLAIN_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(index),
        }
        done = subprocess.run([_chamberlain_script()], capture_output=True, text=True, timeout=60, env=env)
        return done.stdout.split()

    assert complete("chamberlain compi", 1) == ["compile"]
    assert set(complete("chamberlain audit s", 2)) == {"show", "search"}
    assert "--test-filter" in complete("chamberlain compile --test-f", 2)


#: An SGR sequence that sets a colour (foreground or background), not bold or italics.
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|4[0-8]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")


@pytest.mark.parametrize(
    ("argv", "marker"),
    [
        (["analyze", "access", "--policies", str(EXAMPLES), "--sensitive", "invoice:pay"], "invoice"),
        (["compile", str(EXAMPLES), "--test-filter", "action=approve"], "PASSED"),
    ],
    ids=["analyze (rich)", "compile"],
)
def test_every_colouring_command_follows_the_same_rule(argv, marker):
    """Piped: no escape codes at all; FORCE_COLOR: colour; NO_COLOR wins over FORCE_COLOR."""
    piped = CliRunner().invoke(app, argv, env={"NO_COLOR": "", "FORCE_COLOR": ""})
    forced = CliRunner().invoke(app, argv, env={"NO_COLOR": "", "FORCE_COLOR": "1"})
    both = CliRunner().invoke(app, argv, env={"NO_COLOR": "1", "FORCE_COLOR": "1"})
    assert piped.exit_code == forced.exit_code == both.exit_code == 0, piped.output
    assert marker in piped.output and ESC not in piped.output
    assert COLOUR.search(forced.output)
    assert not COLOUR.search(both.output)
