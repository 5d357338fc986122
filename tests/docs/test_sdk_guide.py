"""The samples of docs/guides/sdk.md run, in order, and print what the page says they print (against a
``chamberlain`` server started on loopback in place of the page's ``http://127.0.0.1:3592``)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys

from tests.server.support import ThreadServer
from tests.support.cerbos_server import REPO_ROOT

PAGE = REPO_ROOT / "docs" / "guides" / "sdk.md"


def _blocks() -> list[tuple[str, str]]:
    """(python code, the output block right after it, or "") for each python block of the page."""
    text = PAGE.read_text(encoding="utf-8")
    return [
        (m.group(1), m.group(2) or "")
        for m in re.finditer(r"```python\n(.*?)```\n(?:\n```\n(.*?)```)?", text, re.DOTALL)
    ]


def test_samples_run_and_print_what_the_page_says() -> None:
    blocks = _blocks()
    assert len(blocks) == 7
    namespace: dict = {}
    cwd, path = os.getcwd(), list(sys.path)
    os.chdir(REPO_ROOT)
    try:
        with ThreadServer(REPO_ROOT / "examples" / "policies") as server:
            for code, expected in blocks:
                out = io.StringIO()
                with contextlib.redirect_stdout(out):
                    exec(
                        compile(code.replace("http://127.0.0.1:3592", server.url), str(PAGE), "exec"),
                        namespace,
                    )
                assert out.getvalue() == expected, code
    finally:
        os.chdir(cwd)
        sys.path[:] = path
        namespace["client"].close()
