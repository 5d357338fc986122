"""Identities from tokens are (issuer, subject) pairs: two trusted issuers, each with an "alice" and a
"tool-agent", over the real token endpoint on loopback (issue 12, "Identity across issuers")."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from tests.delegation.support import (
    EXAMPLES,
    ISSUER,
    PAYMENTS,
    IdentityProvider,
    OAuthError,
    exchange,
    oauth_client,
    serve,
)

from chamberlain import PDP, Principal, Resource
from chamberlain.delegation import DelegationConfigError, TokenService, create_app, parse_config

A, B = "https://idp-a.example", "https://idp-b.example"
AGENTS = f"""\
agents:
  planner-agent: {{issuer: {A}, roles: [planner_agent]}}
  tool-agent: {{issuer: {A}, roles: [tool_agent]}}
"""
# Agents may pay only for people of issuer A (a policy can tell the two alices apart).
PAYMENT = f"""\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: payment
  version: default
  rules:
    - name: finance-staff-pay
      actions: ["pay"]
      effect: EFFECT_ALLOW
      roles: ["finance_clerk"]
    - name: agents-for-staff-of-a
      actions: ["pay"]
      effect: EFFECT_ALLOW
      roles: ["planner_agent", "tool_agent"]
      condition:
        match:
          expr: request.aux_data.delegation.subject.iss == "{A}"
"""


@dataclass
class Two:
    a: IdentityProvider
    b: IdentityProvider
    service: TokenService
    url: str

    def person(self, idp: IdentityProvider, sub: str = "alice") -> str:
        return idp.token(sub, roles=["finance_clerk"], scope="payments:write payments:read")

    def chain(self, person: str, tool: IdentityProvider) -> dict[str, Any]:
        """person -> A's planner-agent -> ``tool``'s tool-agent (payments)."""
        first = exchange(
            oauth_client(), self.url, person, self.a.token("planner-agent"), audience="tool-agent"
        )
        return exchange(
            oauth_client(),
            self.url,
            first["access_token"],
            tool.token("tool-agent", roles=["tool_agent"]),
            audience=PAYMENTS,
            scope="payments:write",
        )


def _settings(tmp: Path, *idps: IdentityProvider, agents: str = AGENTS) -> dict[str, Any]:
    issuers = []
    for idp in idps:
        path = tmp / f"{idp.kid}.json"
        path.write_text(json.dumps(idp.jwks()))
        issuers.append({"issuer": idp.issuer, "jwksFile": str(path), "audience": ISSUER})
    (tmp / "agents.yaml").write_text(agents)
    return {
        "issuer": ISSUER,
        "trustedIssuers": issuers,
        "agentsFile": str(tmp / "agents.yaml"),
        "audiences": [PAYMENTS],
        "scopeMapping": {"payment": {"pay": "payments:write"}},
    }


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Two]:
    tmp = tmp_path_factory.mktemp("issuers")
    folder = tmp / "policies"
    shutil.copytree(EXAMPLES / "policies", folder)
    (folder / "payment.yaml").write_text(PAYMENT)
    a, b = IdentityProvider(A), IdentityProvider(B)
    service = TokenService(
        parse_config(_settings(tmp, a, b), state_dir=tmp / "state", base_url=ISSUER),
        PDP.from_directory(folder),
    )
    with serve(create_app(service)) as url:
        yield Two(a, b, service, url)


def _claims(token: str) -> dict[str, Any]:
    return pyjwt.decode(token, options={"verify_signature": False})


def test_issued_tokens_record_whose_subject_they_act_for(two: Two) -> None:
    for idp in (two.a, two.b):
        token = two.chain(two.person(idp), two.a)["access_token"]
        assert _claims(token)["sub_id"] == {"format": "iss_sub", "iss": idp.issuer, "sub": "alice"}
        assert two.service.verify(token).subject_issuer == idp.issuer


def test_issuer_bs_alice_does_not_act_as_issuer_as_alice(two: Two) -> None:
    pay = Resource("payment", "p-1", {"amount": 100})
    alice = Principal("alice", roles=["finance_clerk"])  # a Cerbos principal id: no issuer, matches either
    decided = {}
    for idp in (two.a, two.b):
        token = two.chain(two.person(idp), two.a)["access_token"]
        result = two.service.check(alice, [(pay, ["pay"])], token=token)
        decided[idp.issuer] = result.is_allowed("pay")
    assert decided == {A: True, B: False}


def test_a_token_issued_to_as_agent_is_refused_from_bs_agent_of_the_same_name(two: Two) -> None:
    first = exchange(
        oauth_client(), two.url, two.person(two.a), two.a.token("planner-agent"), audience="tool-agent"
    )
    with pytest.raises(OAuthError) as refused:
        exchange(
            oauth_client(),
            two.url,
            first["access_token"],
            two.b.token("tool-agent", roles=["tool_agent"]),
            audience=PAYMENTS,
            scope="payments:write",
        )
    assert refused.value.error == "invalid_request"
    assert f"it was issued to 'tool-agent' of {A}, not to 'tool-agent' of {B}" in refused.value.description
    assert _claims(first["access_token"])["may_act"] == {"sub": "tool-agent", "iss": A}
    second = exchange(
        oauth_client(),
        two.url,
        first["access_token"],
        two.a.token("tool-agent"),
        audience=PAYMENTS,
        scope="payments:write",
    )
    actors = _claims(second["access_token"])["act"]
    assert (actors["sub"], actors["iss"], actors["act"]["sub"], actors["act"]["iss"]) == (
        "tool-agent",
        A,
        "planner-agent",
        A,
    )


def test_with_two_issuers_every_registered_agent_names_its_issuer(tmp_path: Path) -> None:
    a, b = IdentityProvider(A), IdentityProvider(B)
    with pytest.raises(DelegationConfigError) as refused:
        parse_config(
            _settings(tmp_path, a, b, agents="agents:\n  tool-agent: {roles: [tool_agent]}\n"),
            state_dir=tmp_path,
            base_url=ISSUER,
        )
    assert "every agent entry must name its issuer" in str(refused.value) and "tool-agent" in str(
        refused.value
    )
    parse_config(
        _settings(tmp_path, a, agents="agents:\n  tool-agent: {roles: [tool_agent]}\n"),
        state_dir=tmp_path,
        base_url=ISSUER,
    )  # one issuer: an entry without one is unambiguous


def test_a_bare_id_matches_either_issuers_subject_and_pairs_match_exactly() -> None:
    from chamberlain.delegation import Identity, same_party

    assert same_party(Identity("alice"), Identity("alice", A)) and same_party(
        Identity("alice", B), Identity("alice")
    )
    assert not same_party(Identity("alice", A), Identity("alice", B))
    assert not same_party(Identity("alice"), Identity("bob", A))


def test_a_may_act_without_iss_names_an_agent_of_the_subject_tokens_issuer(two: Two) -> None:
    """``may_act: {"sub": "planner-agent"}`` in issuer A's token names A's planner-agent (an identifier is
    its issuer's): issuer B's planner-agent, another party that took the same name, is refused. It was
    accepted, its issuer taken from the actor token itself."""
    person = two.a.token(
        "alice", roles=["finance_clerk"], scope="payments:write", may_act={"sub": "planner-agent"}
    )
    with pytest.raises(OAuthError) as refused:
        exchange(
            oauth_client(),
            two.url,
            person,
            two.b.token("planner-agent", roles=["planner_agent"]),
            audience="tool-agent",
        )
    assert refused.value.error == "invalid_request"
    assert "is not named by the subject token's may_act claim" in refused.value.description
    issued = exchange(oauth_client(), two.url, person, two.a.token("planner-agent"), audience="tool-agent")
    assert _claims(issued["access_token"])["act"]["iss"] == A
    named = two.a.token("alice", roles=["finance_clerk"], may_act={"sub": "planner-agent", "iss": B})
    exchange(  # a may_act naming issuer B's agent is B's agent's to use
        oauth_client(),
        two.url,
        named,
        two.b.token("planner-agent", roles=["planner_agent"]),
        audience="tool-agent",
    )
