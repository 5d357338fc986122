"""docs/concepts/sessions.md runs as written (tests/docs/page_runner.py), in a fresh folder."""

from __future__ import annotations

from pathlib import Path

from tests.docs.page_runner import PageRun

PAGE = Path(__file__).resolve().parents[2] / "docs" / "concepts" / "sessions.md"


def test_the_sessions_page_runs_as_written(tmp_path: Path) -> None:
    run = PageRun(PAGE, tmp_path)
    try:
        compared = run.run()
    finally:
        run.close()
    assert compared >= 6, "the page's outputs were compared"


def _yaml_blocks() -> list[dict]:
    import re

    import yaml

    return [
        yaml.safe_load(body) for body in re.findall(r"^```yaml\n(.*?)^```$", PAGE.read_text(), re.M | re.S)
    ]


def test_the_documented_configuration_is_every_key_with_its_default() -> None:
    from chamberlain.server.config import DEFAULTS
    from chamberlain.sessions.settings import parse_settings

    (documented,) = [b for b in _yaml_blocks() if "enabled" in b.get("chamberlain", {}).get("sessions", {})]
    section = documented["chamberlain"]["sessions"]
    assert section == DEFAULTS["chamberlain"]["sessions"]
    assert parse_settings(section) == parse_settings(None)


def test_the_documented_standing_budget_parses() -> None:
    from chamberlain.sessions.settings import parse_settings

    (documented,) = [
        b
        for b in _yaml_blocks()
        if "standingBudgets" in b.get("chamberlain", {}).get("sessions", {})
        and "enabled" not in b["chamberlain"]["sessions"]
    ]
    (budget,) = parse_settings(documented["chamberlain"]["sessions"]).standing_budgets
    assert (budget.name, budget.per, budget.period, budget.budget.limit) == (
        "daily-payments",
        "agent",
        86400.0,
        5000,
    )


def test_the_documented_gateway_sessions_section_parses(tmp_path: Path) -> None:
    from chamberlain.gateways.mcp.config import parse_config

    (documented,) = [b for b in _yaml_blocks() if "sessions" in b]
    config = parse_config(
        {
            "principal": {"id": "erin", "roles": ["developer"]},
            "upstreams": [{"name": "fx", "command": ["true"]}],
            **documented,
        },
        base_dir=tmp_path,
    )
    assert config.sessions is not None and config.sessions.budgets[0].actions == ("tools/call::send_email",)
    assert config.sessions_db == config.audit_db
