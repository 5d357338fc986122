"""Pytest fixtures around the real Cerbos (import them into a test module, or list this module in
``pytest_plugins`` of a root conftest): the binary, and servers shared by the whole session."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.cerbos_server import CerbosServer, ServerFactory, require_cerbos


@pytest.fixture(scope="session")
def cerbos_binary() -> Path:
    """The Cerbos binary; skips (fails under ``CI=true``) when it cannot be installed."""
    return require_cerbos()


@pytest.fixture(scope="session")
def cerbos_servers(cerbos_binary: Path) -> Iterator[ServerFactory]:
    """``cerbos_servers(policy_dir, engine={...}, schema_enforcement=...)``: a running server, one per
    distinct configuration for the whole session, all stopped at its end."""
    running: dict[str, CerbosServer] = {}

    def get(
        policy_dir: Path, engine: Mapping[str, Any] | None = None, schema_enforcement: str = "none"
    ) -> CerbosServer:
        key = json.dumps([str(Path(policy_dir).resolve()), engine or {}, schema_enforcement], sort_keys=True)
        if key not in running:
            server = CerbosServer(cerbos_binary, Path(policy_dir), dict(engine or {}), schema_enforcement)
            running[key] = server.start()
        return running[key]

    yield get
    for server in running.values():
        server.stop()
