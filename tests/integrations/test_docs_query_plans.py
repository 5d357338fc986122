"""The samples of docs/concepts/query-plans.md run, and print what the page says they print."""

from __future__ import annotations

import contextlib
import io
import os
import re

from tests.support.cerbos_server import REPO_ROOT

PAGE = REPO_ROOT / "docs" / "concepts" / "query-plans.md"


def _blocks() -> list[tuple[str, str]]:
    """(python code, the output block right after it, or "") for each python block of the page."""
    text = PAGE.read_text(encoding="utf-8")
    found = []
    for match in re.finditer(r"```python\n(.*?)```\n(?:\n```\n(.*?)```)?", text, re.DOTALL):
        found.append((match.group(1), match.group(2) or ""))
    return found


def test_samples_run_and_print_what_the_page_says() -> None:
    blocks = _blocks()
    assert len(blocks) == 3
    namespace: dict = {}
    cwd = os.getcwd()
    os.chdir(REPO_ROOT)
    try:
        for code, expected in blocks:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(code, str(PAGE), "exec"), namespace)
            if expected:
                assert out.getvalue() == expected, code
    finally:
        os.chdir(cwd)
    assert namespace["query"].whereclause is not None
