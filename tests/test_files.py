"""Every file chamberlain reads is read within bounds: regular files only, the size checked before reading.

The CLI cases run as processes with a timeout and 1 GiB of address space at most, so a regression (a FIFO
that blocks, /dev/zero read to the end, an alias bomb walked) fails the test instead of hurting the machine.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from chamberlain.files import FileRefused, read_bounded, read_text_bounded
from chamberlain.safeyaml import MAX_DEPTH, YAMLRefused, graph_problem, load
from tests.policy.test_hostile_files import BOMB

CLI = str(Path(sys.executable).parent / "chamberlain")
POLICIES = str(Path(__file__).resolve().parents[1] / "examples" / "policies")


def test_read_bounded_refuses_what_is_not_a_small_regular_file(tmp_path):
    (tmp_path / "ok.txt").write_bytes(b"12345")
    assert read_bounded(tmp_path / "ok.txt", 5) == b"12345"
    with pytest.raises(FileRefused, match="the file is 5 bytes, over the 4 bytes limit"):
        read_bounded(tmp_path / "ok.txt", 4)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(FileRefused, match=r"not a regular file \(a FIFO\)"):
        read_bounded(tmp_path / "fifo", 100)
    with pytest.raises(FileRefused, match=r"not a regular file \(a character device\)"):
        read_bounded("/dev/zero", 100)
    os.symlink(tmp_path / "ok.txt", tmp_path / "link.txt")  # links to regular files are followed
    assert read_text_bounded(tmp_path / "link.txt", 10) == "12345"
    with pytest.raises(FileRefused, match="cannot read the key: No such file"):
        read_bounded(tmp_path / "missing", 10, "key")


def test_safe_yaml_refuses_bombs_loops_and_depth():
    with pytest.raises(YAMLRefused, match="aliases expand to more than"):
        load(BOMB)
    with pytest.raises(YAMLRefused, match="refers to a node that contains it"):
        load("a: &a [1, *a]")
    with pytest.raises(YAMLRefused, match="nested more than 100 levels deep"):
        load("[" * 200 + "]" * 200)
    assert load("a: &x [1, 2]\nb: *x\n") == {"a": [1, 2], "b": [1, 2]}


def _slow_graph_problem(root: yaml.Node):
    """graph_problem without its fast path for plain trees: the full pass alone."""
    import chamberlain.safeyaml as safeyaml

    original = safeyaml._plain_tree
    safeyaml._plain_tree = lambda _root: False
    try:
        return safeyaml.graph_problem(root)
    finally:
        safeyaml._plain_tree = original


@pytest.mark.parametrize(
    "text",
    [
        "[" * MAX_DEPTH + "]" * MAX_DEPTH,  # exactly the limit: fine
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),  # one more: refused
        "a: {b: [" * 60 + "]}" * 60,  # too deep through mappings
        "a: &s x\nb: *s\n",  # a shared scalar: not a tree, fine
        "a: &a [1, *a]",  # a loop
        "k: &k [[1], [2]]\nl: [*k, *k]\n",  # a shared list
        "a: 1\nb: [x, {c: d}]\n",  # a plain tree
    ],
)
def test_the_plain_tree_fast_path_answers_as_the_full_pass_does(text):
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    fast, slow = graph_problem(root), _slow_graph_problem(root)
    assert (fast is None) == (slow is None)
    if fast is not None and slow is not None:
        assert fast[0] is slow[0] and fast[1] == slow[1]  # the same node at fault, the same message


def _bounded() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [CLI, *args],
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=_bounded,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"chamberlain {' '.join(args)} did not finish within 60s")


COMMANDS = {
    "check-request": (["check", "--policies", POLICIES, "--request", "{}"], "cannot read request"),
    "serve-config": (["serve", "--policies", POLICIES, "--config", "{}"], "configuration file"),
    "cel-activation": (["cel", "1 + 1", "--activation", "{}"], "cannot read activation"),
    "audit-trusted-head": (
        ["audit", "verify", "--db", "sqlite:///{dir}/none.db", "--trusted-head", "{}"],
        "trusted head",
    ),
}
CASES = [
    (name, kind)
    for name in COMMANDS
    for kind in ("fifo", "zero", "bomb")
    if not (kind == "bomb" and name in ("cel-activation", "audit-trusted-head"))
]  # JSON / a note, not YAML


@pytest.mark.parametrize(("name", "kind"), CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_cli_inputs_are_read_within_bounds(tmp_path, name, kind):
    command, needle = COMMANDS[name]
    path = tmp_path / f"input-{kind}.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        os.symlink("/dev/zero", path)
    else:
        path.write_text(BOMB)
    result = _run(*(a.replace("{dir}", str(tmp_path)).replace("{}", str(path)) for a in command))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert needle in output and "Traceback" not in output, output
    if kind != "bomb":
        assert "not a regular file" in output, output


def test_command_line_values_are_read_within_bounds():
    """--set values are YAML: a bad one is an error message (it was a traceback), deep nesting is refused."""
    bad = _run("serve", "--policies", POLICIES, "--set", "engine.globals=[unclosed")
    assert (
        bad.returncode == 2 and "--set 'engine.globals=[unclosed': the value is not valid YAML" in bad.stderr
    )
    deep = _run("serve", "--policies", POLICIES, "--set", "engine.globals=" + "[" * 200 + "]" * 200)
    assert deep.returncode == 2 and "nested more than 100 levels deep" in deep.stderr, deep.stderr
    assert "Traceback" not in bad.stderr + deep.stderr
