"""The token endpoint's protocol: RFC 8693 parameters, RFC 6749 §5.2 errors, RFC 8707 resources."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import jwt as pyjwt
import pytest
from tests.delegation.conftest import World
from tests.delegation.support import ACCESS, GRANT, PAYMENTS, OAuthError, exchange, oauth_client

JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


def post(world: World, form: dict[str, str] | list[tuple[str, str]]) -> httpx.Response:
    pairs = list(form.items()) if isinstance(form, dict) else form
    return httpx.post(
        f"{world.url}/oauth2/token",
        content=urlencode(pairs),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def base(world: World) -> list[tuple[str, str]]:
    return [
        ("grant_type", GRANT),
        ("subject_token", world.person()),
        ("subject_token_type", ACCESS),
        ("actor_token", world.agent("planner-agent")),
        ("actor_token_type", ACCESS),
    ]


@pytest.mark.parametrize(
    ("change", "error", "description"),
    [
        (
            {"grant_type": "client_credentials"},
            "unsupported_grant_type",
            "grant_type 'client_credentials' is not supported",
        ),
        ({"grant_type": ""}, "invalid_request", "parameter grant_type is required"),
        ({"subject_token": ""}, "invalid_request", "parameter subject_token is required"),
        (
            {"actor_token": ""},
            "invalid_request",
            "actor_token is required: chamberlain issues delegation tokens",
        ),
        (
            {"subject_token_type": "urn:ietf:params:oauth:token-type:saml2"},
            "invalid_request",
            "subject_token_type 'urn:ietf:params:oauth:token-type:saml2' is not supported",
        ),
        (
            {"actor_token_type": ""},
            "invalid_request",
            "parameter actor_token_type is required with actor_token",
        ),
        (
            {"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
            "invalid_request",
            "requested_token_type 'urn:ietf:params:oauth:token-type:refresh_token' is not supported",
        ),
        ({"resource": "payments"}, "invalid_target", "resource 'payments' is not an absolute URI"),
        ({"resource": "https://payments.example/#frag"}, "invalid_target", "without a fragment"),
        ({"subject_token": "not-a-jwt"}, "invalid_request", "subject_token: not a JWT"),
        ({"scope": 'payments:write pay"ments'}, "invalid_scope", "scope 'pay\"ments' is malformed"),
    ],
)
def test_malformed_requests(world: World, change: dict[str, str], error: str, description: str) -> None:
    form = dict(base(world), audience="tool-agent")
    form.update(change)
    response = post(world, form)
    assert response.status_code == 400
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == error, body
    assert description in body["error_description"]


def test_a_parameter_given_twice_is_refused(world: World) -> None:
    response = post(world, [*base(world), ("audience", "tool-agent"), ("scope", "a"), ("scope", "b")])
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "parameter scope is given more than once",
    }


def test_only_form_posts_are_accepted(world: World) -> None:
    as_json = httpx.post(f"{world.url}/oauth2/token", json=dict(base(world)))
    assert as_json.status_code == 400
    assert (
        as_json.json()["error_description"] == "the token request must be application/x-www-form-urlencoded"
    )
    as_get = httpx.get(f"{world.url}/oauth2/token")
    assert (as_get.status_code, as_get.headers["allow"]) == (405, "POST")
    assert httpx.post(f"{world.url}/.well-known/jwks.json").status_code == 405
    assert httpx.get(f"{world.url}/oauth2/other").status_code == 404


def test_a_huge_body_is_refused(world: World) -> None:
    response = post(world, {"grant_type": GRANT, "subject_token": "x" * 70_000})
    assert response.status_code == 400
    assert "larger than 65536 bytes" in response.json()["error_description"]


def test_resource_indicators_and_several_audiences(world: World) -> None:
    """RFC 8707 ``resource`` values are audiences too; several make ``aud`` a list."""
    form = [*base(world), ("audience", "tool-agent"), ("resource", PAYMENTS)]
    response = post(world, form)
    # the planner may address the tool agent only: the payments resource is refused as a target
    assert response.json()["error"] == "invalid_target"
    assert "'https://payments.example' is not granted" in response.json()["error_description"]
    first = exchange(
        oauth_client(), world.url, world.person(), world.agent("planner-agent"), audience="tool-agent"
    )
    second = exchange(
        oauth_client(), world.url, first["access_token"], world.agent("tool-agent"), resource=PAYMENTS
    )
    assert pyjwt.decode(second["access_token"], options={"verify_signature": False})["aud"] == PAYMENTS


def test_without_a_scope_the_intersection_is_issued(world: World) -> None:
    """No scope asked: the subject token's scopes that the policy grants (hr:read is not granted)."""
    token = exchange(
        oauth_client(),
        world.url,
        world.person(scope="hr:read payments:read"),
        world.agent("planner-agent"),
        audience="tool-agent",
    )
    assert token["scope"] == "payments:read"


def test_no_scope_left_is_invalid_scope(world: World) -> None:
    with pytest.raises(OAuthError) as refused:
        exchange(
            oauth_client(),
            world.url,
            world.person(scope="hr:read"),
            world.agent("planner-agent"),
            audience="tool-agent",
        )
    assert refused.value.error == "invalid_scope"
    assert "no scope left to delegate" in refused.value.description


def test_jwt_token_type_can_be_requested(world: World) -> None:
    token = exchange(
        oauth_client(),
        world.url,
        world.person(),
        world.agent("planner-agent"),
        audience="tool-agent",
        requested_token_type=JWT_TYPE,
    )
    assert token["issued_token_type"] == JWT_TYPE


def test_expiry_is_capped_by_the_tokens_and_the_configuration(world: World) -> None:
    short = exchange(
        oauth_client(),
        world.url,
        world.person(lifetime=30),
        world.agent("planner-agent"),
        audience="tool-agent",
    )
    long = exchange(
        oauth_client(),
        world.url,
        world.person(lifetime=86_400),
        world.agent("planner-agent", lifetime=86_400),
        audience="tool-agent",
    )
    short_actor = exchange(
        oauth_client(),
        world.url,
        world.person(),
        world.agent("planner-agent", lifetime=20),
        audience="tool-agent",
    )
    assert short["expires_in"] <= 30
    assert short_actor["expires_in"] <= 20
    assert long["expires_in"] == 15 * 60  # maxTokenLifetime's default
