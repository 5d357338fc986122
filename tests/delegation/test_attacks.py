"""Every attack of the issue, over HTTP through Authlib: refused with the RFC error and logged."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from joserfc import jwt as jose_jwt
from joserfc.jwk import OctKey
from tests.delegation.conftest import World
from tests.delegation.support import (
    PAYMENTS,
    IdentityProvider,
    OAuthError,
    exchange,
    form,
    oauth_client,
    serve,
    settings,
)

from chamberlain.delegation import TokenService, create_app, parse_config

Case = Callable[[World], tuple[str, str, dict[str, Any]]]


def first_hop(world: World, **claims: Any) -> str:
    """alice -> planner-agent, for the tool agent."""
    return exchange(
        oauth_client(), world.url, world.person(**claims), world.agent("planner-agent"), audience="tool-agent"
    )["access_token"]


def second_hop(world: World) -> str:
    return exchange(
        oauth_client(),
        world.url,
        first_hop(world),
        world.agent("tool-agent"),
        audience=PAYMENTS,
        scope="payments:write",
    )["access_token"]


def alg_none(world: World) -> tuple[str, str, dict[str, Any]]:
    claims = pyjwt.decode(world.person(), options={"verify_signature": False})
    return (
        pyjwt.encode(claims, None, algorithm="none"),
        world.agent("planner-agent"),
        {"audience": "tool-agent"},
    )


def hs256_with_public_key(world: World) -> tuple[str, str, dict[str, Any]]:
    """The IdP's public key (as published) used as an HMAC secret, under the IdP's kid."""
    claims = pyjwt.decode(world.person(), options={"verify_signature": False})
    secret = OctKey.import_key(json.dumps(world.idp.jwks()["keys"][0]).encode())
    forged = jose_jwt.encode({"alg": "HS256", "kid": world.idp.kid}, claims, secret, algorithms=["HS256"])
    return forged, world.agent("planner-agent"), {"audience": "tool-agent"}


def tampered(world: World) -> tuple[str, str, dict[str, Any]]:
    """A chamberlain token whose payload was edited to hold more scope, signature kept."""
    header, payload, signature = first_hop(world).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "payments:write payments:admin"
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{edited}.{signature}", world.agent("tool-agent"), {"audience": PAYMENTS}


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"a": value}
    return value


def duplicate_subject(world: World) -> tuple[str, str, dict[str, Any]]:
    """A subject token (correctly signed by the IdP) naming two subjects: one reader would see alice, another root."""
    now = int(time.time())
    payload = (
        f'{{"iss": "{world.idp.issuer}", "sub": "alice", "aud": "https://chamberlain.example", "iat": {now}, '
        f'"exp": {now + 600}, "roles": ["finance_clerk"], "scope": "payments:write", "sub": "root"}}'
    )
    token = pyjwt.api_jws.encode(
        payload.encode(), world.idp.key, algorithm="RS256", headers={"kid": world.idp.kid, "typ": "JWT"}
    )
    return token, world.agent("planner-agent"), {"audience": "tool-agent"}


def alg_not_a_string(world: World) -> tuple[str, str, dict[str, Any]]:
    """A header whose alg is a list (validly signed by the IdP): before, an unhashable value in a set
    lookup, a 500 from the token endpoint (and from every other place verifying a JWT)."""
    _, payload, _ = world.person().split(".")
    edited = base64.urlsafe_b64encode(
        json.dumps({"alg": ["RS256"], "kid": world.idp.kid, "typ": "JWT"}).encode()
    ).rstrip(b"=")
    signing_input = edited + b"." + payload.encode()
    signature = base64.urlsafe_b64encode(
        world.idp.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    ).rstrip(b"=")
    return (
        (signing_input + b"." + signature).decode(),
        world.agent("planner-agent"),
        {"audience": "tool-agent"},
    )


ATTACKS: dict[str, tuple[Case, str, str]] = {
    "alg not a string": (alg_not_a_string, "invalid_request", "alg ['RS256'] is not accepted"),
    "deeply nested claims": (
        lambda w: (w.person(extra=nested(900)), w.agent("planner-agent"), {"audience": "tool-agent"}),
        "invalid_request",
        "subject_token: not a JWT: its payload is nested more than 64 levels deep",
    ),
    "duplicate claims": (
        duplicate_subject,
        "invalid_request",
        'subject_token: not a JWT: its payload has a duplicate field "sub"',
    ),
    "alg none": (alg_none, "invalid_request", "alg 'none' is not accepted"),
    "HS256 signed with the public key": (
        hs256_with_public_key,
        "invalid_request",
        "alg 'HS256' is not accepted",
    ),
    "expired subject token": (
        lambda w: (w.person(lifetime=-60), w.agent("planner-agent"), {"audience": "tool-agent"}),
        "invalid_request",
        "subject_token: expired: claim exp",
    ),
    "not-yet-valid subject token": (
        lambda w: (
            w.person(nbf=int(time.time()) + 600),
            w.agent("planner-agent"),
            {"audience": "tool-agent"},
        ),
        "invalid_request",
        "subject_token: not yet valid: claim nbf",
    ),
    "expired actor token": (
        lambda w: (w.person(), w.agent("planner-agent", lifetime=-60), {"audience": "tool-agent"}),
        "invalid_request",
        "actor_token: expired: claim exp",
    ),
    "wrong issuer": (
        lambda w: (
            IdentityProvider("https://evil.example").token("alice"),
            w.agent("planner-agent"),
            {"audience": "tool-agent"},
        ),
        "invalid_request",
        "issuer 'https://evil.example' (claim iss) is not trusted",
    ),
    "trusted issuer's name, another key": (
        lambda w: (
            IdentityProvider(kid=w.idp.kid).token("alice"),
            w.agent("planner-agent"),
            {"audience": "tool-agent"},
        ),
        "invalid_request",
        "the signature does not verify",
    ),
    "wrong audience": (
        lambda w: (w.person(aud="https://crm.example"), w.agent("planner-agent"), {"audience": "tool-agent"}),
        "invalid_request",
        "claim aud ['https://crm.example'] does not name https://chamberlain.example",
    ),
    "unknown kid": (
        lambda w: (
            w.person(headers={"kid": "no-such-key"}),
            w.agent("planner-agent"),
            {"audience": "tool-agent"},
        ),
        "invalid_request",
        "unknown kid 'no-such-key'",
    ),
    "tampered payload": (tampered, "invalid_request", "the signature does not verify"),
    "a critical header extension": (
        lambda w: (
            w.person(headers={"kid": w.idp.kid, "crit": ["exp-policy"], "exp-policy": "lenient"}),
            w.agent("planner-agent"),
            {"audience": "tool-agent"},
        ),
        "invalid_request",
        "names extensions chamberlain does not support",
    ),
    "scope escalation beyond the subject token": (
        lambda w: (first_hop(w), w.agent("tool-agent"), {"audience": PAYMENTS, "scope": "payments:admin"}),
        "invalid_scope",
        "'payments:admin' (not in the subject token)",
    ),
    "scope escalation beyond the policy": (
        lambda w: (
            w.person(scope="payments:write hr:read"),
            w.agent("planner-agent"),
            {"audience": "tool-agent", "scope": "hr:read"},
        ),
        "invalid_scope",
        "'hr:read' (not granted by resource.delegation.vdefault#planner-for-finance-staff)",
    ),
    "scope escalation beyond a person's scp string": (
        lambda w: (
            w.idp.token("alice", roles=["finance_clerk"], scp="payments:read"),
            w.agent("planner-agent"),
            {"audience": "tool-agent", "scope": "payments:write"},
        ),
        "invalid_scope",
        "'payments:write' (not in the subject token)",
    ),
    "a person's scp that is not a string or a list of strings": (
        lambda w: (
            w.idp.token("alice", roles=["finance_clerk"], scp=["payments:read", 5]),
            w.agent("planner-agent"),
            {"audience": "tool-agent"},
        ),
        "invalid_request",
        "subject_token: claim scp is not a string or a list of strings",
    ),
    "audience escalation": (
        lambda w: (w.person(), w.agent("planner-agent"), {"audience": PAYMENTS}),
        "invalid_target",
        "audience 'https://payments.example' is not granted to actor 'planner-agent'",
    ),
    "chain deeper than the policy allows": (
        lambda w: (
            second_hop(w),
            w.agent(PAYMENTS, roles=["tool_agent"]),
            {"audience": "https://ledger.example"},
        ),
        "invalid_request",
        "rule 'no-more-than-two-hops'",
    ),
    "actor that may_act does not name": (
        lambda w: (
            w.person(may_act={"sub": "other-agent"}),
            w.agent("planner-agent"),
            {"audience": "tool-agent"},
        ),
        "invalid_request",
        "actor 'planner-agent' (iss https://idp.example) is not named by the subject token's may_act",
    ),
    "replay of a subject token meant for another party": (
        lambda w: (first_hop(w), w.agent("rogue-agent", roles=["tool_agent"]), {"audience": PAYMENTS}),
        "invalid_request",
        "does not name rogue-agent: it was issued to another party",
    ),
    "replay of the final token as a subject token": (
        lambda w: (second_hop(w), w.agent("tool-agent"), {"audience": PAYMENTS}),
        "invalid_request",
        "does not name tool-agent: it was issued to another party",
    ),
    "a chamberlain token as the actor token": (
        lambda w: (w.person(), first_hop(w), {"audience": "tool-agent"}),
        "invalid_request",
        "a chamberlain delegation token cannot be an actor token",
    ),
    "an agent the policy does not know": (
        lambda w: (w.person(), w.agent("rogue-agent", roles=["agent"]), {"audience": "tool-agent"}),
        "invalid_request",
        "the exchange policy refused: actor 'rogue-agent' (roles agent) may not act for 'alice'",
    ),
    "an agent without roles": (
        lambda w: (w.person(), w.agent("nobody"), {"audience": "tool-agent"}),
        "invalid_request",
        "actor 'nobody' has no roles",
    ),
    "no audience": (
        lambda w: (w.person(), w.agent("planner-agent"), {}),
        "invalid_request",
        "audience or resource is required",
    ),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_is_refused_and_logged(world: World, name: str, caplog: pytest.LogCaptureFixture) -> None:
    make, error, description = ATTACKS[name]
    subject, actor, params = make(world)
    caplog.set_level(logging.INFO, logger="chamberlain.delegation")
    with pytest.raises(OAuthError) as refused:
        exchange(oauth_client(), world.url, subject, actor, **params)
    assert refused.value.error == error
    assert description in refused.value.description
    logged = [r for r in caplog.records if r.getMessage() == "token exchange refused"]
    assert [(r.error, r.description) for r in logged][-1] == (error, refused.value.description)


def test_the_configured_max_chain_depth_is_enforced(world: World, tmp_path: Any) -> None:
    config = parse_config(
        settings(tmp_path, world.idp, maxChainDepth=1), state_dir=tmp_path, base_url="http://x"
    )
    with serve(create_app(TokenService(config, world.service.pdp))) as url:
        token = exchange(
            oauth_client(), url, world.person(), world.agent("planner-agent"), audience="tool-agent"
        )
        with pytest.raises(OAuthError) as refused:
            exchange(oauth_client(), url, token["access_token"], world.agent("tool-agent"), audience=PAYMENTS)
    assert refused.value.error == "invalid_request"
    assert refused.value.description == (
        "the delegation chain would be 2 actors deep (planner-agent -> tool-agent); maxChainDepth is 1"
    )


def test_an_actor_that_may_act_names_is_accepted(world: World) -> None:
    person = world.person(may_act={"sub": "planner-agent", "iss": world.idp.issuer})
    token = exchange(oauth_client(), world.url, person, world.agent("planner-agent"), audience="tool-agent")
    assert world.service.verify(token["access_token"], audience="tool-agent").chain.ids == ("planner-agent",)


def test_a_person_scp_string_bounds_the_scopes_delegated(world: World) -> None:
    """Microsoft Entra ID writes a person's scopes as ``scp: "a b"``: read as no scopes at all, the exchange
    delegated every scope the policy grants (payments:write to a person who had only payments:read)."""
    person = world.idp.token("alice", roles=["finance_clerk"], scp="payments:read")
    token = exchange(oauth_client(), world.url, person, world.agent("planner-agent"), audience="tool-agent")
    assert token["scope"] == "payments:read"


def test_an_expired_chamberlain_token_cannot_be_exchanged(world: World) -> None:
    """A chamberlain token that has expired (issued by a service whose clock ran an hour behind)."""
    past = TokenService(world.service.config, world.service.pdp, clock=lambda: time.time() - 3600)
    an_hour_ago = int(time.time()) - 3600
    person = world.idp.token(
        "alice", roles=["finance_clerk"], scope="payments:write", lifetime=3700, iat=an_hour_ago
    )
    planner = world.idp.token("planner-agent", lifetime=3700, iat=an_hour_ago)
    stale = past.exchange(form(person, planner, "tool-agent"))
    with pytest.raises(OAuthError) as refused:
        exchange(
            oauth_client(), world.url, stale["access_token"], world.agent("tool-agent"), audience=PAYMENTS
        )
    assert refused.value.error == "invalid_request"
    assert "subject_token: expired: claim exp" in refused.value.description
