"""The getting-started pages run as written (tests/docs/page_runner.py), in a fresh folder each."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.page_runner import PageRun

PAGES = Path(__file__).resolve().parents[2] / "docs" / "getting-started"


@pytest.mark.parametrize("name", ["first-check.md"])
def test_the_page_runs_as_written(name: str, tmp_path: Path) -> None:
    run = PageRun(PAGES / name, tmp_path)
    try:
        compared = run.run()
    finally:
        run.close()
    assert compared >= 3, "the page's outputs were compared"
