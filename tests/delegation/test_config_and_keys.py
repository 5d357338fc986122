"""Configuration (every problem named by its key) and signing keys (generation, rotation, JWKS)."""

from __future__ import annotations

import json
import re
import stat
import time
from pathlib import Path

import jwt as pyjwt
import pytest
from tests.delegation.support import ISSUER, IdentityProvider, example_pdp, form, settings

from chamberlain.delegation import (
    DEFAULTS,
    DelegationConfigError,
    SigningKeys,
    TokenService,
    Verifier,
    parse_config,
    rotate,
)
from chamberlain.delegation.keys import KEY_FILE_NAME


def parse(tmp: Path, **values: object):
    return parse_config(values, state_dir=tmp / "state", base_url="http://127.0.0.1:3592", base_dir=tmp)


def test_defaults(tmp_path: Path) -> None:
    config = parse_config(None, state_dir=tmp_path, base_url="http://127.0.0.1:3592/")
    assert config.issuer == "http://127.0.0.1:3592"
    assert config.audiences == ("http://127.0.0.1:3592",)
    assert (config.max_chain_depth, config.max_token_lifetime, config.signing_algorithm) == (
        3,
        900.0,
        "EdDSA",
    )
    assert config.signing_key_file == tmp_path / KEY_FILE_NAME
    assert config.trusted_issuers == () and config.leeway == 0.0
    assert set(DEFAULTS) == {
        "issuer",
        "trustedIssuers",
        "signingKeyFile",
        "signingAlgorithm",
        "maxChainDepth",
        "maxTokenLifetime",
        "scopeMapping",
        "agentsFile",
        "audiences",
        "acceptableTimeSkew",
    }


def test_every_problem_is_reported_with_its_key(tmp_path: Path) -> None:
    with pytest.raises(DelegationConfigError) as error:
        parse(
            tmp_path,
            issuer="ftp://x",
            maxChainDepth=0,
            maxTokenLifetime="soon",
            signingAlgorithm="HS256",
            scopeMapping={"payment": {"pay": "has space"}},
            audiences="x",
            agentsFile="missing.yaml",
            trustedIssuers=[
                {"issuer": "https://idp", "audience": "a"},
                {"issuer": "https://idp2", "jwksFile": "f", "jwksUri": "file:///f", "audience": "a"},
                {"issuer": "https://idp3", "jwksFile": "nope.json"},
                "oops",
                {"issuer": "https://idp4", "jwksUri": "https://idp4/jwks", "audience": "a"},
                {"issuer": "https://idp5", "jwksUri": "file:///f", "audience": "a", "extra": 1},
            ],
        )
    message = str(error.value)
    assert len(error.value.problems) == 13 and all(
        p.startswith("chamberlain.delegation.") for p in error.value.problems
    )
    for expected in (
        "chamberlain.delegation.issuer: expected an http(s) URL",
        "chamberlain.delegation.maxChainDepth: must be an integer from 1 to 16, got 0",
        "chamberlain.delegation.maxTokenLifetime: expected a duration such as 30s",
        "chamberlain.delegation.signingAlgorithm: must be one of EdDSA, ES256, got 'HS256'",
        "chamberlain.delegation.scopeMapping: payment.pay: 'has space' is not a scope",
        "chamberlain.delegation.audiences: expected a list of non-empty strings",
        "chamberlain.delegation.agentsFile: cannot read",
        "chamberlain.delegation.trustedIssuers[0]: set exactly one of jwksFile and jwksUri",
        "chamberlain.delegation.trustedIssuers[1]: set exactly one of jwksFile and jwksUri",
        "chamberlain.delegation.trustedIssuers[2].audience: required",
        "chamberlain.delegation.trustedIssuers[3]: expected a mapping",
        "chamberlain.delegation.trustedIssuers[4].jwksUri: not supported: remote JWKS (https://idp4/jwks)",
        "chamberlain.delegation.trustedIssuers[5]: unknown keys extra",
    ):
        assert expected in message, message


def test_unknown_keys_are_warnings(tmp_path: Path) -> None:
    assert parse(tmp_path, maxChainDeph=2).warnings == (
        "unknown configuration key 'chamberlain.delegation.maxChainDeph' is ignored",
    )


def test_jwks_files_and_file_uris(tmp_path: Path) -> None:
    idp = IdentityProvider()
    config = parse_config(settings(tmp_path, idp), state_dir=tmp_path, base_url="http://x")
    assert config.trusted(idp.issuer).keys.kids() == [idp.kid]
    uri = {"issuer": idp.issuer, "jwksUri": (tmp_path / "idp-jwks.json").as_uri(), "audience": ISSUER}
    assert parse(tmp_path, trustedIssuers=[uri]).trusted(idp.issuer).keys.kids() == [idp.kid]


def test_key_sets_with_symmetric_or_kid_less_keys_are_refused(tmp_path: Path) -> None:
    (tmp_path / "oct.json").write_text(json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]}))
    (tmp_path / "nokid.json").write_text(json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA"}]}))
    for name, problem in (
        ("oct.json", "symmetric keys (kty oct) are not accepted"),
        ("nokid.json", "every key needs a kid"),
    ):
        entry = {"issuer": "https://idp", "jwksFile": name, "audience": "a"}
        with pytest.raises(DelegationConfigError, match=re.escape(problem)):
            parse(tmp_path, trustedIssuers=[entry])


def test_chamberlains_own_issuer_cannot_be_a_trusted_one(tmp_path: Path) -> None:
    idp = IdentityProvider(issuer=ISSUER)
    with pytest.raises(DelegationConfigError, match="is chamberlain's own issuer"):
        parse_config(settings(tmp_path, idp), state_dir=tmp_path, base_url="http://x")


def test_a_key_is_generated_once_private_to_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "state" / KEY_FILE_NAME
    keys = SigningKeys(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SigningKeys(path).current.kid == keys.current.kid  # read back, not generated again
    assert keys.current.kid == keys.current.key.thumbprint()


def test_es256_keys_sign_tokens_pyjwt_verifies(tmp_path: Path) -> None:
    keys = SigningKeys(tmp_path / "k.json", "ES256")
    now = int(time.time())
    token = keys.sign({"iss": ISSUER, "sub": "alice", "aud": "svc", "exp": now + 60, "iat": now})
    jwk = pyjwt.PyJWK(keys.jwks()["keys"][0])
    assert pyjwt.decode(token, jwk.key, algorithms=["ES256"], audience="svc")["sub"] == "alice"
    with pytest.raises(DelegationConfigError, match="the current key is ES256 but signingAlgorithm is EdDSA"):
        SigningKeys(tmp_path / "k.json", "EdDSA")


def test_rotation_keeps_the_old_key_published_until_its_tokens_expire(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    keys = SigningKeys(path)
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": "svc",
        "client_id": "a",
        "jti": "j",
        "exp": now + 60,
        "iat": now,
    }
    old_token = keys.sign(claims)
    old_kid = keys.current.kid
    new = rotate(path, "EdDSA", publish_for=120, now=now)
    reloaded = SigningKeys(path)
    assert reloaded.current.kid == new.kid != old_kid
    assert [k.kid for k in reloaded.published(now)] == [new.kid, old_kid]
    assert [k.kid for k in reloaded.published(now + 121)] == [new.kid]
    verifier = Verifier(ISSUER, reloaded)
    assert verifier.verify(old_token, audience="svc").kid == old_kid  # still verifies after the rotation
    assert pyjwt.get_unverified_header(reloaded.sign(claims))["kid"] == new.kid
    rotate(path, "EdDSA", publish_for=120, now=now + 500)  # the first key's time is over: dropped
    assert len(json.loads(path.read_text())["keys"]) == 2


def test_a_broken_key_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text('{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA", "kid": "k", "alg": "EdDSA"}]}')
    with pytest.raises(
        DelegationConfigError, match=r"keys\[0\] \(kid k\): not a (valid JWK|private EdDSA key)"
    ):
        SigningKeys(path)
    path.write_text("not json")
    with pytest.raises(DelegationConfigError, match=f"signingKeyFile {path}: not JSON"):
        SigningKeys(path)


def test_an_es256_service_issues_es256_tokens(tmp_path: Path) -> None:
    idp = IdentityProvider()
    config = parse_config(
        settings(tmp_path, idp, signingAlgorithm="ES256"), state_dir=tmp_path, base_url="http://x"
    )
    service = TokenService(config, example_pdp(tmp_path))
    person = idp.token("alice", roles=["finance_clerk"], scope="payments:read")
    token = service.exchange(form(person, idp.token("planner-agent"), "tool-agent"))["access_token"]
    [jwk] = service.jwks()["keys"]
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("EC", "P-256", "ES256")
    claims = pyjwt.decode(
        token, pyjwt.PyJWK(jwk).key, algorithms=["ES256"], audience="tool-agent", issuer=ISSUER
    )
    assert (claims["sub"], claims["act"]["sub"], claims["scope"]) == (
        "alice",
        "planner-agent",
        "payments:read",
    )
