"""Policy directories that cost without bound: alias bombs, /dev/zero, FIFOs, deep nesting, huge trees.

Each is refused with a clear error, before it is read where that matters. The dangerous ones run in a
subprocess with a timeout and an address-space limit, so a regression fails the test instead of taking
the machine down.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chamberlain.policy import PolicyError, load_directory
from chamberlain.policy.loader import DirectoryLimits

GOOD = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: doc
  version: default
  rules:
    - actions: ["view"]
      effect: EFFECT_ALLOW
      roles: ["user"]
"""
#: 9 levels of 9 references: about 387 million nodes once expanded (the issue's 581-byte file does the same).
BOMB = GOOD + "".join(
    f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 9) if i else ', '.join(['lol'] * 9)}]\n" for i in range(10)
)


def _bounded() -> None:
    limit = 1 << 30  # 1 GiB of address space
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def compile_in_subprocess(directory: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`chamberlain compile DIR --skip-tests` with 1 GiB of memory at most, killed after ``timeout``."""
    cli = str(Path(sys.executable).parent / "chamberlain")
    try:
        return subprocess.run(
            [cli, "compile", str(directory), "--skip-tests"],
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=_bounded,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"compile of {directory} did not finish within {timeout}s")


def folder(tmp_path: Path, **files: str) -> Path:
    directory = tmp_path / "policies"
    directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def test_an_alias_bomb_is_refused_quickly(tmp_path):
    directory = folder(tmp_path, **{"bomb.yaml": BOMB})
    assert len(BOMB.encode()) < 1000
    result = compile_in_subprocess(directory)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "bomb.yaml" in result.stderr and "aliases expand to more than" in result.stderr


def test_an_alias_that_contains_itself_is_refused(tmp_path):
    directory = folder(tmp_path, **{"loop.yaml": GOOD + "loop: &l [1, *l]\n"})
    with pytest.raises(PolicyError, match="refers to a node that contains it"):
        load_directory(directory)


def test_a_few_aliases_are_fine(tmp_path):
    text = textwrap.dedent("""\
        apiVersion: api.cerbos.dev/v1
        resourcePolicy:
          resource: doc
          version: default
          rules:
            - actions: &reads ["view", "list"]
              effect: EFFECT_ALLOW
              roles: &staff ["user", "admin"]
            - actions: *reads
              effect: EFFECT_ALLOW
              roles: ["auditor"]
        """)
    assert len(load_directory(folder(tmp_path, **{"doc.yaml": text}))) == 1


def test_a_symlink_to_dev_zero_is_refused_before_reading(tmp_path):
    directory = folder(tmp_path, **{"doc.yaml": GOOD})
    os.symlink("/dev/zero", directory / "zero.yaml")
    result = compile_in_subprocess(directory, timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "zero.yaml" in result.stderr and "not a regular file" in result.stderr


def test_a_fifo_is_refused_without_blocking(tmp_path):
    directory = folder(tmp_path, **{"doc.yaml": GOOD})
    os.mkfifo(directory / "pipe.yaml")
    result = compile_in_subprocess(directory, timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "pipe.yaml" in result.stderr and "not a regular file" in result.stderr


def test_an_oversized_file_is_refused_by_its_size(tmp_path):
    directory = folder(tmp_path, **{"doc.yaml": GOOD})
    with (directory / "huge.yaml").open("wb") as f:
        f.truncate(3 << 20)  # sparse: its size says 3 MiB
    with pytest.raises(PolicyError, match=r"huge.yaml.*3145728 bytes, over the 2 MiB limit"):
        load_directory(directory)


def test_deep_nesting_is_refused(tmp_path):
    directory = folder(tmp_path, **{"deep.yaml": GOOD + "deep: " + "[" * 600 + "]" * 600 + "\n"})
    with pytest.raises(PolicyError, match=r"deep.yaml.*nested more than 100 levels deep"):
        load_directory(directory)


def test_deep_block_nesting_is_refused(tmp_path):
    deep = "".join("  " * i + "- \n" for i in range(600)) + "  " * 600 + "- x\n"
    directory = folder(tmp_path, **{"deep.yaml": GOOD + "deep:\n" + textwrap.indent(deep, "  ")})
    with pytest.raises(PolicyError, match="nested more than 100 levels deep"):
        load_directory(directory)


def test_the_directory_total_and_file_count_are_bounded(tmp_path):
    directory = folder(tmp_path, **{f"doc{i}.yaml": GOOD.replace("doc", f"doc{i}") for i in range(5)})
    assert len(load_directory(directory)) == 5
    with pytest.raises(PolicyError, match="more than 4 policy files"):
        load_directory(directory, limits=DirectoryLimits(max_files=4))
    with pytest.raises(PolicyError, match="more than 500 bytes of policy files"):
        load_directory(directory, limits=DirectoryLimits(max_total_bytes=500))
