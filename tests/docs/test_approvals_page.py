"""docs/concepts/approvals.md runs as written (tests/docs/page_runner.py), in a fresh folder."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.docs.page_runner import PageRun

PAGE = Path(__file__).resolve().parents[2] / "docs" / "concepts" / "approvals.md"


def test_the_approvals_page_runs_as_written(tmp_path: Path) -> None:
    run = PageRun(PAGE, tmp_path)
    try:
        compared = run.run()
    finally:
        run.close()
    assert compared >= 1, "the page's outputs were compared"


def test_the_documented_configuration_is_every_key_with_its_default() -> None:
    from chamberlain.approvals.settings import parse_settings
    from chamberlain.server.config import DEFAULTS

    blocks = [yaml.safe_load(b) for b in re.findall(r"^```yaml\n(.*?)^```$", PAGE.read_text(), re.M | re.S)]
    (documented,) = [b for b in blocks if "chamberlain" in b]
    section = documented["chamberlain"]["approvals"]
    assert section == DEFAULTS["chamberlain"]["approvals"]
    assert parse_settings(section) == parse_settings(None)
