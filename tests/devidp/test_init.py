"""`chamberlain dev idp init`: the files, idempotency, --force, validation, and a config `serve` accepts."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from chamberlain.cli import app
from chamberlain.delegation.keys import read_key_file
from chamberlain.devidp import KID_PREFIX, DevIdp, DevIdpError, init_directory
from chamberlain.server.config import load_config

runner = CliRunner()
FILES = ("idp.yaml", "identities.yaml", "signing-key.json", "jwks.json", "chamberlain.yaml")


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in FILES}


def test_init_writes_every_file_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "idp"
    first = runner.invoke(app, ["dev", "idp", "init", str(folder)])
    assert first.exit_code == 0, first.output
    assert "NOT FOR PRODUCTION" in first.output
    assert stat.S_IMODE((folder / "signing-key.json").stat().st_mode) == 0o600
    before = _snapshot(folder)
    second = runner.invoke(app, ["dev", "idp", "init", str(folder)])
    assert second.exit_code == 0, second.output
    assert "signing-key.json: kept" in second.output and "chamberlain.yaml: up to date" in second.output
    assert _snapshot(folder) == before


def test_the_key_is_marked_and_the_jwks_holds_its_public_part_only(tmp_path: Path) -> None:
    init_directory(tmp_path / "idp")
    idp = DevIdp.load(tmp_path / "idp")
    [key] = read_key_file(tmp_path / "idp" / "signing-key.json")
    assert key.kid.startswith(KID_PREFIX) and key.alg == "EdDSA"
    published = json.loads((tmp_path / "idp" / "jwks.json").read_text())
    assert published == idp.jwks()
    assert [k["kid"] for k in published["keys"]] == [key.kid] and "d" not in published["keys"][0]


def test_force_replaces_the_key_and_nothing_else_is_overwritten(tmp_path: Path) -> None:
    folder = tmp_path / "idp"
    init_directory(folder)
    (folder / "identities.yaml").write_text("people:\n  zoe: {roles: [auditor]}\n")
    old = read_key_file(folder / "signing-key.json")[0].kid
    init_directory(folder, force=True)
    new = read_key_file(folder / "signing-key.json")[0].kid
    assert new != old and new.startswith(KID_PREFIX)
    assert json.loads((folder / "jwks.json").read_text())["keys"][0]["kid"] == new
    assert (folder / "identities.yaml").read_text() == "people:\n  zoe: {roles: [auditor]}\n"


def test_es256_and_an_algorithm_change_needs_force(tmp_path: Path) -> None:
    folder = tmp_path / "idp"
    init_directory(folder, algorithm="ES256")
    assert read_key_file(folder / "signing-key.json")[0].alg == "ES256"
    refused = runner.invoke(app, ["dev", "idp", "init", str(folder), "--algorithm", "EdDSA"])
    assert refused.exit_code == 2 and "holds an ES256 key: pass --force" in refused.output
    assert (
        runner.invoke(app, ["dev", "idp", "init", str(folder), "--algorithm", "EdDSA", "--force"]).exit_code
        == 0
    )
    assert read_key_file(folder / "signing-key.json")[0].alg == "EdDSA"


def test_an_issuer_other_than_the_one_written_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "idp"
    init_directory(folder, issuer="http://127.0.0.1:4000")
    with pytest.raises(
        DevIdpError, match=re.escape("names issuer http://127.0.0.1:4000, not http://127.0.0.1:5000")
    ):
        init_directory(folder, issuer="http://127.0.0.1:5000")
    with pytest.raises(DevIdpError, match="--issuer: expected an http"):
        init_directory(tmp_path / "other", issuer="ftp://idp")


def test_serve_accepts_the_generated_config_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "idp"
    init_directory(folder, issuer="http://127.0.0.1:4100")
    monkeypatch.chdir(tmp_path)  # the config's paths are absolute: any folder works
    config = load_config(folder / "chamberlain.yaml", env={})
    assert list(config.warnings) == []
    delegation = config.delegation
    assert delegation is not None
    trusted = delegation.trusted("http://127.0.0.1:4100")
    assert trusted is not None and trusted.audience == "chamberlain"
    assert trusted.keys.kids() == [read_key_file(folder / "signing-key.json")[0].kid]
    agent = delegation.agents.lookup("invoice-assistant", "http://127.0.0.1:4100")
    assert agent is not None and agent.roles == ("invoice_assistant",)
    assert delegation.audiences == ("https://invoices.example",)
    assert "NOT FOR PRODUCTION" in (folder / "chamberlain.yaml").read_text()


BAD_IDENTITIES = """\
people:
  alice: {roles: [finance_clerk], attr: {sub: bob}}
  bob: {roles: finance_manager}
  carol: {roles: [x], team: a}
  planner-agent: {roles: [x]}
agents:
  planner-agent: {roles: [planner_agent]}
  tool-agent: {roles: []}
"""


def test_every_problem_of_the_identities_file_is_reported_together(tmp_path: Path) -> None:
    folder = tmp_path / "idp"
    init_directory(folder)
    (folder / "identities.yaml").write_text(BAD_IDENTITIES)
    with pytest.raises(DevIdpError) as caught:
        DevIdp.load(folder)
    message = str(caught.value)
    for expected in (
        "people.alice.attr.sub: sub is a claim the dev IdP sets itself",
        "people.bob.roles: expected a list of role names",
        "people.carol: unknown keys team",
        "agents.tool-agent.roles: expected a non-empty list",
        "planner-agent is listed both as a person and as an agent",
    ):
        assert expected in message, message


def test_every_problem_of_the_settings_is_reported_together(tmp_path: Path) -> None:
    folder = tmp_path / "idp"
    init_directory(folder)
    (folder / "idp.yaml").write_text(
        yaml.safe_dump(
            {
                "issuer": "http://idp.example/?x=1",
                "audience": "",
                "tokenLifetime": "48h",
                "colour": "red",
                "clients": [
                    {"clientId": "a", "redirectUris": ["http://app/cb#frag"]},
                    {"clientId": "a", "redirectUris": ["x"]},
                ],
            }
        )
    )
    with pytest.raises(DevIdpError) as caught:
        DevIdp.load(folder)
    message = str(caught.value)
    for expected in (
        "unknown key 'colour'",
        "issuer: an issuer has no query",
        "audience: expected a non-empty",
        "tokenLifetime: at most 24h",
        "redirect URI has no fragment",
        "clients[1].redirectUris[0]",
    ):
        assert expected in message, message


def test_a_directory_that_was_never_initialised_says_what_to_run(tmp_path: Path) -> None:
    result = runner.invoke(app, ["dev", "idp", "token", "alice", "--dir", str(tmp_path / "nothing")])
    assert result.exit_code == 2
    assert "is not a dev IdP directory" in result.output and "chamberlain dev idp init" in result.output


def test_help_says_not_for_production_everywhere() -> None:
    for args in (
        ["dev"],
        ["dev", "idp"],
        ["dev", "idp", "init"],
        ["dev", "idp", "token"],
        ["dev", "idp", "serve"],
    ):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, result.output
        assert "NOT FOR PRODUCTION" in " ".join(result.output.split()), args
