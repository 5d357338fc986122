"""chamberlain.console: defaults, every key validated with its name, the OIDC issuer must be trusted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from chamberlain.console import settings
from chamberlain.server.config import ConfigError, load_config
from tests.server.support import ThreadServer, admin_on


def config(tmp_path: Path, console: dict[str, Any], **chamberlain: Any) -> Any:
    return load_config(
        overrides={"chamberlain": {"stateDir": str(tmp_path), "console": console, **chamberlain}}, env={}
    )


def test_defaults(tmp_path: Path) -> None:
    found = config(tmp_path, {}).console
    assert found.enabled and found.session_ttl == 8 * 3600 and found.live_interval == 2.0
    assert found.oidc_client_id == "chamberlain-console" and found.playground_timeout == 2.0


@pytest.mark.parametrize(
    ("console", "message"),
    [
        ({"sessionTTL": "10s"}, "chamberlain.console.sessionTTL: must be between 60s"),
        ({"maxLogins": 0}, "chamberlain.console.maxLogins: must be an integer between 1"),
        ({"secureCookies": "sometimes"}, "chamberlain.console.secureCookies: expected auto, true or false"),
        ({"oidc": {"scopes": "profile"}}, "chamberlain.console.oidc.scopes: must hold openid"),
        ({"playground": {"timeout": "1m"}}, "chamberlain.console.playground.timeout: must be between"),
        (
            {"oidc": {"issuer": "https://elsewhere.example"}},
            "is not one of chamberlain.delegation.trustedIssuers",
        ),
        ({"colour": "blue"}, "chamberlain.console.colour"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, console: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        config(tmp_path, console)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"server": admin_on(), "chamberlain": {"console": {"enabled": False}}}],
    ids=["admin-API-off", "console-off"],
)
def test_without_the_admin_surface_or_when_disabled_there_is_no_console(
    tmp_path: Path, overrides: Any
) -> None:
    (tmp_path / "policies").mkdir()
    with ThreadServer(tmp_path / "policies", overrides) as server:
        assert server.app.console is None
        for path in ("/console/login", "/console/sessions", "/console/static/console.js"):
            assert httpx.get(server.url + path).status_code == 404


def test_with_the_admin_surface_the_console_answers_its_login_page(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    with ThreadServer(tmp_path / "policies", {"server": admin_on()}) as server:
        page = httpx.get(server.url + "/console/login")
        assert page.status_code == 200 and 'name="password"' in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        cookie = page.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
        assert httpx.get(server.url + "/_cerbos/health").status_code == 200


def test_the_docs_page_documents_every_key_with_its_default(tmp_path: Path) -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "concepts" / "console.md").read_text()
    block = page.split("```yaml\n", 1)[1].split("```", 1)[0]
    documented = yaml.safe_load(block)["chamberlain"]["console"]
    assert documented == settings.DEFAULTS
    assert config(tmp_path, documented).console == config(tmp_path, {}).console
