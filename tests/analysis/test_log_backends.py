"""The analyses over logs written for real: by the HTTP server, and on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from chamberlain import PDP, Principal, Resource
from chamberlain.audit.log import LogOptions
from chamberlain.cli import app
from tests.analysis.support import INVOICE, POLICIES, candidate, without_clerk_view
from tests.audit.support import fresh_schema_url
from tests.server.support import ThreadServer

runner = CliRunner()


def test_impact_on_a_log_the_server_wrote(tmp_path: Path) -> None:
    with ThreadServer(POLICIES) as server:
        request = {
            "requestId": "r1",
            "principal": {"id": "carol", "roles": ["finance_clerk"]},
            "resources": [
                {"actions": ["view", "pay"], "resource": {"kind": "invoice", "id": f"i{i}", "attr": INVOICE}}
                for i in range(3)
            ],
        }
        response = httpx.post(f"{server.url}/api/check/resources", json=request, timeout=30)
        assert response.status_code == 200
        db = f"sqlite:///{server.config.decision_log.url.path}"
        result = runner.invoke(
            app,
            [
                "analyze",
                "impact",
                "--db",
                db,
                "--policies",
                str(without_clerk_view(candidate(tmp_path))),
                "--json",
            ],
        )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["replayed"] == 6
    assert sorted((c["resourceId"], c["action"], c["after"]) for c in data["changed"]) == [
        ("i0", "view", "EFFECT_DENY"),
        ("i1", "view", "EFFECT_DENY"),
        ("i2", "view", "EFFECT_DENY"),
    ]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from fresh_schema_url()


def test_usage_and_impact_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    options = LogOptions(
        key_file=tmp_path / "log.key"
    )  # its own key and head file, not the working directory's
    with PDP.from_directory(POLICIES, audit=postgres_url, audit_options=options) as pdp:
        for i in range(2):
            pdp.check(Principal("carol", ("finance_clerk",)), Resource("invoice", f"i{i}", INVOICE), ["view"])
    result = runner.invoke(
        app, ["analyze", "usage", "--db", postgres_url, "--policies", str(POLICIES), "--json"]
    )
    assert result.exit_code == 0, result.output
    carol = next(s for s in json.loads(result.output)["subjects"] if s["principal"] == "carol")
    assert next(g for g in carol["grants"] if g["action"] == "view")["uses"] == 2
    result = runner.invoke(
        app,
        [
            "analyze",
            "impact",
            "--db",
            postgres_url,
            "--policies",
            str(without_clerk_view(candidate(tmp_path))),
            "--json",
            "--fail-on-change",
        ],
    )
    assert result.exit_code == 1
    assert [c["after"] for c in json.loads(result.output)["changed"]] == ["EFFECT_DENY", "EFFECT_DENY"]
