"""Fixtures: a decision log URL per backend (SQLite file, PostgreSQL schema)."""

from __future__ import annotations

import pytest

from tests.audit.support import DERIVED, DOCUMENT, fresh_schema_url


@pytest.fixture
def policies(tmp_path):
    """A policy folder: a derived role, a resource policy with conditions and an output."""
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "derived.yaml").write_text(DERIVED)
    (folder / "document.yaml").write_text(DOCUMENT)
    return folder


@pytest.fixture
def pg_url():
    yield from fresh_schema_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def log_url(request, tmp_path):
    """The same test on both stores."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'decisions.db'}"
    else:
        yield from fresh_schema_url()
