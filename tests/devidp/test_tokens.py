"""`chamberlain dev idp token`: tokens chamberlain's token exchange accepts, verified independently with PyJWT."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from typer.testing import CliRunner

from chamberlain import PDP
from chamberlain.cli import app
from chamberlain.delegation import ExchangeError, TokenService
from chamberlain.devidp import KID_PREFIX, MARKER, MARKER_CLAIM, DevIdp
from chamberlain.server.config import load_config
from tests.delegation.support import EXAMPLES, form
from tests.devidp.support import new_idp

runner = CliRunner()
INVOICES = "https://invoices.example"


def _claims(idp: DevIdp, token: str, audience: str = "chamberlain") -> dict[str, Any]:
    """Verified by PyJWT with the JWKS file `init` wrote (not by the code that signed it)."""
    keys = pyjwt.PyJWKSet.from_dict(json.loads((idp.directory / "jwks.json").read_text()))
    header = pyjwt.get_unverified_header(token)
    assert header["kid"].startswith(KID_PREFIX)
    return pyjwt.decode(
        token,
        keys[header["kid"]].key,
        algorithms=["EdDSA", "ES256"],
        audience=audience,
        issuer=idp.issuer,
        options={"require": ["exp", "iat", "sub", "jti"]},
    )


def _mint(idp: DevIdp, *args: str) -> str:
    result = runner.invoke(app, ["dev", "idp", "token", *args, "--dir", str(idp.directory)])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


@pytest.fixture
def idp(tmp_path: Path) -> DevIdp:
    return new_idp(tmp_path)


def test_a_persons_token_carries_roles_attributes_and_the_marker(idp: DevIdp) -> None:
    claims = _claims(idp, _mint(idp, "alice"))
    assert claims["sub"] == "alice" and claims["roles"] == ["finance_clerk"]
    assert claims["department"] == "finance" and claims["email"] == "alice@example.com"
    assert claims[MARKER_CLAIM] == MARKER and claims["exp"] - claims["iat"] == 15 * 60
    assert "act" not in claims and "scope" not in claims and "may_act" not in claims


def test_options_shape_the_token(idp: DevIdp) -> None:
    token = _mint(
        idp,
        "alice",
        "--roles",
        "finance_manager, auditor",
        "--attr",
        "level=3",
        "--attr",
        "team=ap",
        "--audience",
        "https://other.example",
        "--ttl",
        "2m",
        "--sid",
        "s-1",
        "--scope",
        "invoice:view",
        "--may-act",
        "invoice-assistant",
    )
    claims = _claims(idp, token, audience="https://other.example")
    assert (
        claims["roles"] == ["finance_manager", "auditor"] and claims["level"] == 3 and claims["team"] == "ap"
    )
    assert (
        claims["exp"] - claims["iat"] == 120 and claims["sid"] == "s-1" and claims["scope"] == "invoice:view"
    )
    assert claims["may_act"] == {"sub": "invoice-assistant", "iss": idp.issuer}


def test_an_agents_token_is_an_actor_token(idp: DevIdp) -> None:
    claims = _claims(idp, _mint(idp, "planner-agent", "--agent"))
    assert claims["sub"] == claims["client_id"] == "planner-agent" and claims["roles"] == ["planner_agent"]
    assert "act" not in claims and claims[MARKER_CLAIM] == MARKER


def test_es256_tokens_verify_too(tmp_path: Path) -> None:
    idp = new_idp(tmp_path, algorithm="ES256")
    token = _mint(idp, "bob")
    assert pyjwt.get_unverified_header(token)["alg"] == "ES256"
    assert _claims(idp, token)["roles"] == ["finance_manager"]


def test_out_writes_a_private_file(idp: DevIdp, tmp_path: Path) -> None:
    out = tmp_path / "alice.jwt"
    result = runner.invoke(
        app, ["dev", "idp", "token", "alice", "--dir", str(idp.directory), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and "NOT FOR PRODUCTION" in result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert _claims(idp, out.read_text().strip())["sub"] == "alice"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mallory"], "'mallory' is not a person of"),
        (["mallory", "--agent"], "'mallory' is not an agent of"),
        (["alice", "--agent"], "'alice' is a person"),
        (["planner-agent"], "'planner-agent' is an agent"),
        (["alice", "--attr", "sub=bob"], "sub is a claim the dev IdP sets itself"),
        (["alice", "--attr", "novalue"], "expected NAME=VALUE"),
        (["alice", "--ttl", "25h"], "from 1s to 24h"),
        (["alice", "--ttl", "soon"], "--ttl: expected a duration"),
        (["planner-agent", "--agent", "--may-act", "tool-agent"], "may_act belongs in a person's token"),
        (["alice", "--audience", "x" * 3000], "audience: expected printable text"),
    ],
)
def test_bad_requests_are_refused_with_the_reason(idp: DevIdp, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["dev", "idp", "token", *args, "--dir", str(idp.directory)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr


def test_someone_not_in_the_file_gets_a_token_with_explicit_roles(idp: DevIdp) -> None:
    assert _claims(idp, _mint(idp, "mallory", "--roles", "visitor"))["roles"] == ["visitor"]


@dataclass
class Chamberlain:
    service: TokenService
    idp: DevIdp

    def exchange(self, subject: str, actor: str, audience: str = INVOICES) -> dict[str, Any]:
        return self.service.exchange(form(subject, actor, audience))


@pytest.fixture
def chamberlain(idp: DevIdp, tmp_path: Path) -> Iterator[Chamberlain]:
    """The token service as `chamberlain serve --config <the generated config>` builds it."""
    config = load_config(
        idp.directory / "chamberlain.yaml",
        env={},
        overrides={"chamberlain": {"stateDir": str(tmp_path / "state")}},
    )
    assert config.delegation is not None
    yield Chamberlain(TokenService(config.delegation, PDP.from_directory(EXAMPLES / "policies")), idp)


def test_chamberlain_exchanges_the_dev_idps_tokens(chamberlain: Chamberlain) -> None:
    idp = chamberlain.idp
    answer = chamberlain.exchange(
        idp.access_token("alice").token, idp.access_token("invoice-assistant", agent=True).token
    )
    token = chamberlain.service.verifier.verify(answer["access_token"], audience=INVOICES)
    assert token.subject == "alice" and token.chain.ids == ("invoice-assistant",)
    assert set(token.scopes) == {"invoice:view", "invoice:pay"}
    assert token.chain.actors[0].issuer == idp.issuer and token.chain.actors[0].roles == (
        "invoice_assistant",
    )


def test_the_exchange_policy_still_decides(chamberlain: Chamberlain) -> None:
    idp = chamberlain.idp
    with pytest.raises(ExchangeError, match="may not act for 'dave'"):
        chamberlain.exchange(
            idp.access_token("dave").token, idp.access_token("invoice-assistant", agent=True).token
        )
    with pytest.raises(ExchangeError, match=re.escape("audience 'https://payments.example' is not granted")):
        chamberlain.exchange(
            idp.access_token("alice").token,
            idp.access_token("invoice-assistant", agent=True).token,
            audience="https://payments.example",
        )


def test_may_act_is_honoured(chamberlain: Chamberlain) -> None:
    idp = chamberlain.idp
    alice = idp.access_token("alice", may_act=["planner-agent"]).token
    with pytest.raises(ExchangeError, match="not named by the subject token's may_act"):
        chamberlain.exchange(alice, idp.access_token("invoice-assistant", agent=True).token)


def test_tokens_of_the_wrong_audience_or_another_key_are_refused(
    chamberlain: Chamberlain, tmp_path: Path
) -> None:
    idp = chamberlain.idp
    agent = idp.access_token("invoice-assistant", agent=True).token
    with pytest.raises(ExchangeError, match="does not name chamberlain"):
        chamberlain.exchange(idp.access_token("alice", audience="https://elsewhere.example").token, agent)
    impostor = new_idp(
        tmp_path / "impostor", port=int(idp.issuer.rsplit(":", 1)[1])
    )  # same issuer, other key
    with pytest.raises(ExchangeError, match="unknown kid"):
        chamberlain.exchange(impostor.access_token("alice").token, agent)
