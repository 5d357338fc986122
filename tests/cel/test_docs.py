"""The Python samples of docs/concepts/cel.md run (their ``assert`` lines state what they show)."""

from __future__ import annotations

import re

import pytest

from tests.support.cerbos_server import REPO_ROOT

PAGE = REPO_ROOT / "docs" / "concepts" / "cel.md"
SAMPLES = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)


def test_the_page_has_samples() -> None:
    assert len(SAMPLES) >= 2


@pytest.mark.parametrize("sample", SAMPLES, ids=[f"sample{i}" for i in range(len(SAMPLES))])
def test_sample_runs(sample: str) -> None:
    exec(compile(sample, str(PAGE), "exec"), {})
