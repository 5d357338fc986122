"""The in-process token service's guards honour the session a token belongs to, as the server does: a
revoked (or suspended, expired, locked) session stops the agent's next check, and its budgets are charged."""

from __future__ import annotations

from pathlib import Path

import pytest

from chamberlain import PDP, Principal, Resource, acting_for
from chamberlain.delegation import TokenService, check_resources, parse_config
from chamberlain.engine.wire import RequestError
from chamberlain.integrations import decide
from chamberlain.sessions.exchange import ExchangeSessions
from chamberlain.sessions.settings import SessionSpec, parse_settings
from tests.delegation.support import PAYMENTS, IdentityProvider, form, policy_folder, settings

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

ALICE = Principal("alice", ["finance_clerk"])
PAYMENT = Resource("payment", "pay-1", {"amount": 800})
IDP = IdentityProvider()


def service(tmp: Path, budgets: list[dict] | None = None) -> TokenService:
    config = parse_config(settings(tmp, IDP), state_dir=tmp / "state", base_url="http://unused.example")
    pdp = PDP.from_directory(policy_folder(tmp), sessions=f"sqlite:///{tmp / 'state.db'}")
    tokens = TokenService(config, pdp)
    assert pdp.sessions is not None
    tokens.sessions = ExchangeSessions(
        pdp.sessions.store, parse_settings({"defaults": {"budgets": budgets or []}})
    )
    return tokens


def token_for_payments(tokens: TokenService) -> str:
    person = IDP.token("alice", roles=["finance_clerk"], scope="payments:write payments:read")
    first = tokens.exchange(form(person, IDP.token("planner-agent"), "tool-agent"))
    second = tokens.exchange(form(first["access_token"], IDP.token("tool-agent"), PAYMENTS, "payments:write"))
    return str(second["access_token"])


def sid_of(tokens: TokenService, token: str) -> str:
    return tokens.verify(token, audience=PAYMENTS).sid


def test_a_revoked_sessions_token_is_denied_in_process(tmp_path: Path) -> None:
    tokens = service(tmp_path)
    token = token_for_payments(tokens)
    with acting_for(token):
        assert decide.check(tokens, ALICE, PAYMENT, ["pay"]).is_allowed("pay")
    assert tokens.pdp.sessions is not None
    tokens.pdp.sessions.store.revoke(sid_of(tokens, token), by="admin:carol", reason="runaway agent")
    with acting_for(token):
        denied = decide.check(tokens, ALICE, PAYMENT, ["pay"])
    assert not denied.is_allowed("pay")
    assert denied[0].actions["pay"].policy == "chamberlain.session#state"


def test_a_sessions_budget_is_charged_in_process(tmp_path: Path) -> None:
    budget = {
        "name": "payments",
        "kind": "payment",
        "actions": ["pay"],
        "limit": 1000,
        "cost": "R.attr.amount",
    }
    tokens = service(tmp_path, [budget])
    token = token_for_payments(tokens)
    with acting_for(token):
        first = decide.check(tokens, ALICE, PAYMENT, ["pay"])
        second = decide.check(tokens, ALICE, PAYMENT, ["pay"])
    assert first.is_allowed("pay")
    assert not second.is_allowed("pay")  # 800 + 800 is over the session's 1000
    assert second[0].actions["pay"].policy == "chamberlain.session#budget:payments"


def test_a_session_id_other_than_the_tokens_is_refused_in_process(tmp_path: Path) -> None:
    tokens = service(tmp_path)
    token = token_for_payments(tokens)
    assert tokens.pdp.sessions is not None
    spec = SessionSpec("alice", "planner-agent", ("planner-agent",), 3600.0, 900.0, (), (), {})
    other = tokens.pdp.sessions.store.open_session(spec, by="test")
    with (
        acting_for(token, session_id=other.id),
        pytest.raises(RequestError, match="but the token belongs to session"),
    ):
        decide.check(tokens, ALICE, PAYMENT, ["pay"])


def test_check_resources_decides_in_the_tokens_session(tmp_path: Path) -> None:
    """``chamberlain.delegation.check_resources(service, request)``, the embedded form of the server's
    delegated check, joins the token's session too."""
    tokens = service(tmp_path)
    token = token_for_payments(tokens)
    request = {
        "requestId": "r-1",
        "principal": {"id": "alice", "roles": ["finance_clerk"]},
        "resources": [
            {"resource": {"kind": "payment", "id": "pay-1", "attr": {"amount": 800}}, "actions": ["pay"]}
        ],
        "auxData": {"jwt": {"token": token}},
    }
    assert check_resources(tokens, request)["results"][0]["actions"]["pay"] == "EFFECT_ALLOW"
    assert tokens.pdp.sessions is not None
    tokens.pdp.sessions.store.revoke(sid_of(tokens, token), by="admin:carol", reason="runaway agent")
    assert check_resources(tokens, request)["results"][0]["actions"]["pay"] == "EFFECT_DENY"
