"""Delegation in-process: the guards given a TokenService attenuate by the chain acting_for names, and record."""

from __future__ import annotations

import pytest

from chamberlain import PDP, Principal, Resource, acting_for
from chamberlain.delegation import TokenService, parse_config
from chamberlain.integrations import decide
from chamberlain.integrations.web import Forbidden, requires
from tests.delegation.support import PAYMENTS, IdentityProvider, form, policy_folder, settings

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

ALICE = Principal("alice", ["finance_clerk"])
PAYMENT = Resource("payment", "pay-1", {"amount": 800})
TWO_HOPS = {"actors": [{"id": "tool-agent"}, {"id": "planner-agent"}]}
THREE_HOPS = {"actors": [*TWO_HOPS["actors"], {"id": "helper", "roles": ["tool_agent"]}]}


IDP = IdentityProvider()


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> TokenService:
    tmp = tmp_path_factory.mktemp("embedded-delegation")
    config = parse_config(settings(tmp, IDP), state_dir=tmp / "state", base_url="http://unused.example")
    return TokenService(config, PDP.from_directory(policy_folder(tmp), audit=tmp / "decisions.db"))


def test_a_chamberlain_token_is_verified_and_attenuated_in_process(tokens: TokenService) -> None:
    person = IDP.token("alice", roles=["finance_clerk"], scope="payments:write payments:read")
    first = tokens.exchange(form(person, IDP.token("planner-agent"), "tool-agent"))
    second = tokens.exchange(form(first["access_token"], IDP.token("tool-agent"), PAYMENTS, "payments:write"))
    with acting_for(second["access_token"]):
        paid = decide.check(tokens, ALICE, PAYMENT, ["pay", "view"])
    with acting_for(first["access_token"]):  # a token for the tool agent, not for the payments service
        wrong_audience = decide.check(tokens, ALICE, PAYMENT, ["pay"])
    assert paid.is_allowed("pay") and paid[0].actor_chain == ("tool-agent", "planner-agent")
    assert decide.denied_by(paid, "view") == "scope"  # the token holds payments:write only
    assert decide.denied_by(wrong_audience, "pay") == "audience"


def test_a_token_service_attenuates_in_process(tokens: TokenService) -> None:
    with acting_for(delegation=TWO_HOPS, session_id="s-9"):
        allowed = decide.check(tokens, ALICE, PAYMENT, ["pay"])
    with acting_for(delegation=THREE_HOPS):
        denied = decide.check(tokens, ALICE, PAYMENT, ["pay"])
    assert allowed.is_allowed("pay") and allowed[0].actor_chain == ("tool-agent", "planner-agent")
    assert allowed[0].session_id == "s-9" and allowed.reason == ""
    assert not denied.is_allowed("pay")
    assert (
        decide.denied_by(denied, "pay")
        == "subject alice (resource.payment.vdefault rule 'no-more-than-two-hops')"
    )


def test_without_a_delegation_the_service_decides_as_its_pdp(tokens: TokenService) -> None:
    assert decide.check(tokens, ALICE, PAYMENT, ["pay"]).is_allowed("pay")


def test_requires_with_a_token_service(tokens: TokenService) -> None:
    @requires("payment", "pay", pdp=tokens, id=lambda pid: pid, attr=lambda amount: {"amount": amount})
    def pay(principal: Principal, pid: str, amount: int) -> str:
        return "paid"

    with acting_for(delegation=TWO_HOPS):
        assert pay(ALICE, "pay-1", 800) == "paid"
    with acting_for(delegation=THREE_HOPS), pytest.raises(Forbidden, match="no-more-than-two-hops"):
        pay(ALICE, "pay-1", 800)


def test_a_malformed_delegation_is_a_clear_error(tokens: TokenService) -> None:
    from chamberlain.engine.wire import RequestError

    with (
        acting_for(delegation={"actors": []}),
        pytest.raises(RequestError, match=r"auxData\.delegation\.actors"),
    ):
        decide.check(tokens, ALICE, PAYMENT, ["pay"])


def test_the_decisions_are_in_the_log(tokens: TokenService) -> None:
    from chamberlain.audit.storage.reader import Filter

    with acting_for(delegation=TWO_HOPS, session_id="s-log"):
        decide.check(tokens, ALICE, PAYMENT, ["pay"], point="sdk:test")
    log = tokens.pdp.log
    assert log is not None
    entries = log.read(lambda reader: reader.search(Filter(limit=1000)))
    mine = [e for e in entries if e.get("session_id") == "s-log"]
    assert [(e["action"], e["effect"], e["point"], e["actor_chain"]) for e in mine] == [
        ("pay", "EFFECT_ALLOW", "sdk:test", ["tool-agent", "planner-agent"])
    ]
