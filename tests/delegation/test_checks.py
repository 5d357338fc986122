"""Attenuated checks: the subject, every actor, the scope and the audience must all allow."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.delegation.conftest import World
from tests.delegation.support import AGENTS_YAML, ISSUER, PAYMENTS, exchange, oauth_client, settings

from chamberlain import PDP, Principal, Resource
from chamberlain.delegation import (
    DelegatedCheckError,
    TokenError,
    TokenService,
    check_resources,
    decide_check_resources,
    is_delegated,
    parse_config,
)
from chamberlain.engine import ActionEffect
from chamberlain.engine.wire import RequestError

ALICE = Principal("alice", ["finance_clerk"])
SMALL = Resource("payment", "pay-1", {"amount": 800})


@pytest.fixture(scope="module")
def tokens(world: World) -> dict[str, str]:
    first = exchange(
        oauth_client(), world.url, world.person(), world.agent("planner-agent"), audience="tool-agent"
    )
    second = exchange(
        oauth_client(),
        world.url,
        first["access_token"],
        world.agent("tool-agent"),
        audience=PAYMENTS,
        scope="payments:write",
    )
    return {"first": first["access_token"], "second": second["access_token"]}


def request(
    token: str | None = None, principal: str = "alice", amount: int = 800, **aux: Any
) -> dict[str, Any]:
    if token is not None:
        aux["jwt"] = {"token": token}
    return {
        "requestId": "r1",
        "principal": {"id": principal, "roles": ["finance_clerk"]},
        "resources": [
            {
                "actions": ["pay", "view"],
                "resource": {"kind": "payment", "id": "pay-1", "attr": {"amount": amount}},
            }
        ],
        "auxData": aux,
    }


def test_allowed_when_every_party_allows(world: World, tokens: dict[str, str]) -> None:
    result = world.service.check(ALICE, [(SMALL, ["pay"])], token=tokens["second"])
    assert result.is_allowed("pay")
    assert result.path == "alice -> planner-agent -> tool-agent"
    decision = result.outputs[0].decisions["pay"]
    assert [p.label for p in decision.parties] == [
        "subject alice",
        "actor 1 planner-agent",
        "actor 2 tool-agent",
    ]
    assert all(p.allowed for p in decision.parties)
    assert result.outputs[0].output.actor_chain == ("tool-agent", "planner-agent")


def test_a_principal_contradicting_the_token_is_rejected(world: World, tokens: dict[str, str]) -> None:
    with pytest.raises(
        DelegatedCheckError, match=r"principal\.id 'bob' contradicts the delegation token's sub 'alice'"
    ):
        check_resources(world.service, request(tokens["second"], principal="bob"))


def test_a_token_for_another_service_is_denied_by_audience(world: World, tokens: dict[str, str]) -> None:
    result = world.service.check(ALICE, [(SMALL, ["pay"])], token=tokens["first"])
    decision = result.outputs[0].decisions["pay"]
    assert (decision.allowed, decision.denied_by) == (False, "audience")
    assert (
        "audience: the token's aud ['tool-agent'] names this service (https://payments.example) -> did not hold"
        in (result.explanation())
    )


def test_an_action_outside_the_scopes_is_denied_by_scope(world: World, tokens: dict[str, str]) -> None:
    response = check_resources(world.service, request(tokens["second"]))
    assert response is not None
    assert response["results"][0]["actions"] == {"pay": "EFFECT_ALLOW", "view": "EFFECT_DENY"}
    assert response["delegation"]["results"][0]["actions"]["view"] == {
        "effect": "EFFECT_DENY",
        "deniedBy": "scope",
    }
    assert "explanation" not in response["delegation"]  # only with includeMeta


def test_the_registry_has_the_last_word_on_an_agents_roles(
    world: World, tokens: dict[str, str], tmp_path: Path
) -> None:
    """The token's act entry says tool_agent; the operator has since suspended the tool agent."""
    (tmp_path / "now.yaml").write_text(AGENTS_YAML.replace("roles: [tool_agent]", "roles: [suspended]"))
    overrides = {
        "agentsFile": str(tmp_path / "now.yaml"),
        "signingKeyFile": str(world.service.config.signing_key_file),
    }
    config = parse_config(settings(tmp_path, world.idp, **overrides), state_dir=tmp_path, base_url="http://x")
    result = TokenService(config, world.service.pdp).check(ALICE, [(SMALL, ["pay"])], token=tokens["second"])
    assert result.outputs[0].decisions["pay"].denied_by == (
        "actor 2 tool-agent (resource.payment.vdefault no rule matched)"
    )


def test_callers_without_tokens_name_the_actors(world: World) -> None:
    named = {"actors": [{"id": "tool-agent"}, {"id": "planner-agent"}]}
    response = check_resources(
        world.service, {**request(), "includeMeta": True, "auxData": {"delegation": named}}
    )
    assert response is not None
    assert response["results"][0]["actions"] == {"pay": "EFFECT_ALLOW", "view": "EFFECT_ALLOW"}
    assert response["delegation"]["source"] == "request"
    assert "actors named by the request, no token" in response["delegation"]["explanation"]


def test_no_more_than_two_hops_at_check_time(world: World) -> None:
    named = {
        "actors": [{"id": "tool-agent"}, {"id": "planner-agent"}, {"id": "helper", "roles": ["tool_agent"]}]
    }
    response = check_resources(world.service, {**request(), "auxData": {"delegation": named}})
    assert response is not None
    assert response["results"][0]["actions"] == {"pay": "EFFECT_DENY", "view": "EFFECT_DENY"}
    assert response["delegation"]["results"][0]["actions"]["pay"]["deniedBy"] == (
        "subject alice (resource.payment.vdefault rule 'no-more-than-two-hops')"
    )


def test_an_actor_without_roles_is_denied(world: World) -> None:
    named = {"actors": [{"id": "stranger"}]}
    response = check_resources(world.service, {**request(), "auxData": {"delegation": named}})
    assert response is not None
    assert response["delegation"]["results"][0]["actions"]["pay"]["deniedBy"] == (
        "actor 1 stranger (no roles: none in its act entry or the agents registry)"
    )


@pytest.mark.parametrize(
    ("delegation", "field"),
    [
        ({"actors": []}, "auxData.delegation.actors"),
        ({"actors": [{"roles": ["x"]}]}, "auxData.delegation.actors[0]"),
        ({"actors": [{"id": "a", "roles": "x"}]}, "auxData.delegation.actors[0].roles"),
        ({"actors": [{"id": "a"}], "extra": 1}, "auxData.delegation"),
        ({"actors": [{"id": "a"}], "scopes": "x"}, "auxData.delegation.scopes"),
    ],
)
def test_a_malformed_actor_list_names_the_field(world: World, delegation: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestError) as error:
        check_resources(world.service, {**request(), "auxData": {"delegation": delegation}})
    assert error.value.field == field


def test_token_and_named_actors_together_are_refused(world: World, tokens: dict[str, str]) -> None:
    with pytest.raises(RequestError, match="not both"):
        check_resources(world.service, request(tokens["second"], delegation={"actors": [{"id": "a"}]}))


def test_a_tampered_token_in_a_check_is_an_error(world: World, tokens: dict[str, str]) -> None:
    header, payload, signature = tokens["second"].split(".")
    with pytest.raises(TokenError, match=r"auxData\.jwt\.token: the signature does not verify"):
        check_resources(world.service, request(f"{header}.{payload}.{signature[::-1]}"))


def test_requests_without_delegation_are_left_to_the_plain_pdp(world: World) -> None:
    foreign = world.idp.token("alice")
    assert check_resources(world.service, request(foreign)) is None
    assert check_resources(world.service, request()) is None
    assert not is_delegated(request(foreign), ISSUER)
    assert is_delegated(request(delegation={"actors": []}), ISSUER)


PROBE = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: probe
  version: default
  rules:
    - actions: ["look"]
      effect: EFFECT_ALLOW
      roles: ["*"]
      output:
        when:
          ruleActivated: 'has(request.aux_data.delegation) ? request.aux_data.delegation : "none"'
"""


def test_the_cel_variable_holds_the_chain(world: World, tokens: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "probe.yaml").write_text(PROBE)
    pdp = PDP.from_directory(tmp_path)
    probe = Resource("probe", "p")
    service = TokenService(world.service.config, pdp)
    result = service.check(ALICE, [(probe, ["look"])], token=tokens["second"])
    seen = {o.val["depth"] if isinstance(o.val, dict) else o.val for o in result.outputs[0].output.outputs}
    assert seen == {2}  # the subject and both actors saw the same chain
    value = result.outputs[0].output.outputs[0].val
    assert value["subject"] == {
        "id": "alice",
        "iss": world.idp.issuer,
        "roles": ["finance_clerk"],
        "attr": {},
    }
    assert [a["id"] for a in value["actors"]] == ["tool-agent", "planner-agent"]
    assert value["actors"][1]["attr"] == {"team": "finance"}
    assert (value["scopes"], value["audience"], value["issuer"], value["source"]) == (
        ["payments:write"],
        [PAYMENTS],
        ISSUER,
        "token",
    )
    plain = pdp.check(ALICE, probe, ["look"])
    assert json.dumps(plain[0].outputs[0].val) == '"none"'


CLAIMS_PROBE = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: probe
  version: default
  rules:
    - actions: ["look"]
      effect: EFFECT_ALLOW
      roles: ["*"]
      condition:
        match:
          all:
            of:
              - expr: '"https://payments.example" in request.aux_data.jwt.aud'
              - expr: timestamp(request.aux_data.jwt.exp) > now()
              - expr: timestamp(request.aux_data.jwt.iat) <= now()
      output:
        when:
          ruleActivated: request.aux_data.jwt.exp
"""


def test_conditions_read_a_delegation_tokens_claims_as_cerbos_hands_them_over(
    world: World, tokens: dict[str, str], tmp_path: Path
) -> None:
    """aud a list and the dates RFC 3339 strings, as for a token in auxData.jwt (a policy written for Cerbos
    reads both alike)."""
    (tmp_path / "probe.yaml").write_text(CLAIMS_PROBE)
    service = TokenService(world.service.config, PDP.from_directory(tmp_path))
    result = service.check(ALICE, [(Resource("probe", "p"), ["look"])], token=tokens["second"])
    outputs = result.outputs[0].output.outputs
    assert len(outputs) == 3, outputs  # the rule activated for the subject and both actors: conditions held
    for output in outputs:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", output.val), output


def test_decided_inputs_carry_the_chain_for_the_decision_log(world: World, tokens: dict[str, str]) -> None:
    decided = decide_check_resources(world.service, request(tokens["second"]))
    assert decided is not None
    assert [(i.principal.id, i.actor_chain) for i in decided.inputs] == [
        ("alice", ("tool-agent", "planner-agent"))
    ]
    assert decided.response()["results"][0]["actions"]["pay"] == "EFFECT_ALLOW"
    # a log that could not record the check denies everything: the response follows the outputs given
    denied = [replace(o, actions={a: ActionEffect() for a in o.actions}) for o in decided.outputs]
    response = decided.response(denied)
    assert response["results"][0]["actions"] == {"pay": "EFFECT_DENY", "view": "EFFECT_DENY"}
    assert response["delegation"]["results"][0]["actions"]["pay"]["effect"] == "EFFECT_DENY"
