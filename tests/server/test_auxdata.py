"""auxData JWTs: verified against local key sets, claims reach CEL; forged/expired/unknown are 400s."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import yaml
from joserfc import jwt
from joserfc.jwk import ECKey

from chamberlain.server.auxdata import JWTVerifier
from chamberlain.server.config import ConfigError, load_config
from tests.server.support import AUXDATA, ThreadServer

KEYS = AUXDATA / "keys"
POLICY = {
    "apiVersion": "api.cerbos.dev/v1",
    "resourcePolicy": {
        "resource": "doc",
        "version": "default",
        "rules": [
            {
                "actions": ["read"],
                "effect": "EFFECT_ALLOW",
                "roles": ["user"],
                "condition": {"match": {"expr": 'request.aux_data.jwt.team == "blue"'}},
            },
            {
                "actions": ["named"],
                "effect": "EFFECT_ALLOW",
                "roles": ["user"],
                "condition": {"match": {"expr": 'request.aux_data.jwts.idp.claims.team == "blue"'}},
            },
        ],
    },
}


def sign(claims: dict, key_file: str = "signing_key.jwk", kid: str | None = None) -> str:
    key = ECKey.import_key(json.loads((KEYS / key_file).read_text()))
    header = {"alg": "ES384", "kid": kid or key.kid}
    return jwt.encode(header, claims, key, algorithms=["ES384"])


def request(aux: dict, action: str = "read") -> dict:
    return {
        "principal": {"id": "u", "roles": ["user"]},
        "auxData": aux,
        "resources": [{"actions": [action], "resource": {"kind": "doc", "id": "1"}}],
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    policies = tmp_path_factory.mktemp("policies")
    (policies / "doc.yaml").write_text(yaml.safe_dump(POLICY))
    key_sets = [
        {"id": "main", "local": {"file": str(KEYS / "verify_key.jwk")}},
        {"id": "other", "local": {"file": str(KEYS / "verify_key.jwk")}},
    ]
    with ThreadServer(policies, {"auxData": {"jwt": {"keySets": key_sets}}}) as srv:
        yield srv


def post(server, body) -> httpx.Response:
    return httpx.post(f"{server.url}/api/check/resources", json=body, timeout=10)


def test_verified_claims_reach_cel(server):
    token = sign({"team": "blue", "exp": int(time.time()) + 600})
    resp = post(server, request({"jwt": {"token": token, "keySetId": "main"}}))
    assert resp.status_code == 200
    assert resp.json()["results"][0]["actions"] == {"read": "EFFECT_ALLOW"}
    other = post(server, request({"jwt": {"token": sign({"team": "red"}), "keySetId": "main"}}))
    assert other.json()["results"][0]["actions"] == {"read": "EFFECT_DENY"}


def test_named_jwts_reach_cel(server):
    token = sign({"team": "blue"})
    resp = post(server, request({"jwts": {"idp": {"token": token, "keySetId": "other"}}}, "named"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["results"][0]["actions"] == {"named": "EFFECT_ALLOW"}


@pytest.mark.parametrize(
    ("aux", "needle"),
    [
        (
            {"jwt": {"token": sign({"team": "blue", "exp": int(time.time()) - 60}), "keySetId": "main"}},
            "expired",
        ),
        (
            {
                "jwt": {
                    "token": sign({"team": "blue", "nbf": int(time.time()) + 86400 * 365}),
                    "keySetId": "main",
                }
            },
            "not valid yet",
        ),
        (
            {"jwt": {"token": sign({"team": "blue"})[:-6] + "AAAAAA", "keySetId": "main"}},
            "failed to parse JWT",
        ),
        ({"jwt": {"token": sign({"team": "blue"}, kid="someone-else"), "keySetId": "main"}}, "no key"),
        ({"jwt": {"token": "not-a-jwt", "keySetId": "main"}}, "failed to parse JWT"),
        ({"jwt": {"token": sign({"team": "blue"}), "keySetId": "nope"}}, "keyset not found"),
        ({"jwt": {"token": sign({"team": "blue"})}}, "cannot determine keyset"),
        ({"jwts": {"idp": {"token": sign({"team": "blue", "exp": 1}), "keySetId": "main"}}}, "expired"),
    ],
    ids=[
        "expired",
        "not-yet-valid",
        "forged-signature",
        "unknown-kid",
        "garbage",
        "unknown-keyset",
        "ambiguous-keyset",
        "named-expired",
    ],
)
def test_bad_tokens_are_rejected(server, aux, needle):
    resp = post(server, request(aux))
    assert resp.status_code == 400
    body = resp.json()
    assert body["code"] == 3 and "invalid auxData" in body["message"] and needle in body["message"]


def test_forged_key_is_rejected(server, tmp_path):
    forged = ECKey.generate_key(
        "P-384", {"kid": "19LfZatEdg83YNc5r23guMJqrn4=", "alg": "ES384"}, private=True
    )
    token = jwt.encode({"alg": "ES384", "kid": forged.kid}, {"team": "blue"}, forged, algorithms=["ES384"])
    resp = post(server, request({"jwt": {"token": token, "keySetId": "main"}}))
    assert resp.status_code == 400 and "invalid auxData" in resp.json()["message"]


def test_alg_none_is_rejected(server):
    import base64

    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    token = f"{enc({'alg': 'none', 'kid': '19LfZatEdg83YNc5r23guMJqrn4='})}.{enc({'team': 'blue'})}."
    resp = post(server, request({"jwt": {"token": token, "keySetId": "main"}}))
    assert resp.status_code == 400


# -- key set loading, against Cerbos's auxdata conformance cases ----------------------------------------


def _cases():
    for path in sorted(AUXDATA.glob("*.yaml")):
        yield pytest.param(yaml.safe_load(path.read_text()), id=path.stem)


@pytest.mark.parametrize("case", list(_cases()))
def test_key_set_loading_matches_cerbos(case, tmp_path: Path):
    key_file = tmp_path / "keys"
    key_file.write_text(case["input"]["key"])
    ks = {"id": "ks", "local": {"file": str(key_file), "pem": case["input"].get("pem", False)}}
    config = load_config(None, overrides={"auxData": {"jwt": {"keySets": [ks]}}}, env={})
    want = case.get("wantErr") or case.get("wantLocalErr")
    if want:
        with pytest.raises(ConfigError) as exc:
            JWTVerifier(config)
        assert want.split(": ")[-1] in str(exc.value)
    else:
        assert JWTVerifier(config).key_sets["ks"].keys


def _signed_raw(payload: bytes) -> str:
    from joserfc import jws

    key = ECKey.import_key(json.loads((KEYS / "signing_key.jwk").read_text()))
    return jws.serialize_compact({"alg": "ES384", "kid": key.kid}, payload, key, algorithms=["ES384"])


def test_claims_with_duplicate_keys_are_refused(server):
    """A signed token saying team "red" and then team "blue": one reader sees red, another blue. Refused."""
    exp = int(time.time()) + 600
    token = _signed_raw(f'{{"team": "red", "exp": {exp}, "team": "blue"}}'.encode())
    reply = post(server, request({"jwt": {"token": token, "keySetId": "main"}}))
    assert reply.status_code == 400, reply.text
    assert 'duplicate field "team"' in reply.json()["message"]


def test_deeply_nested_claims_are_refused(server):
    exp = int(time.time()) + 600
    token = _signed_raw((f'{{"exp": {exp}, "x": ' + '{"a":' * 900 + "1" + "}" * 900 + "}").encode())
    reply = post(server, request({"jwt": {"token": token, "keySetId": "main"}}))
    assert reply.status_code == 400, reply.text
    assert "nested more than 64 levels deep" in reply.json()["message"]


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_a_date_of_thousands_of_digits_is_a_400(server, claim):
    """A signed token whose date is a decimal string of 5,000 digits: `int()` refused it past Python's
    4,300-digit limit with a ValueError nobody caught, and the server answered 500. A 400 naming the claim."""
    token = sign({"team": "blue", claim: "9" * 5000})
    resp = post(server, request({"jwt": {"token": token, "keySetId": "main"}}))
    assert resp.status_code == 400, resp.text[:300]
    assert claim in resp.json()["message"]
