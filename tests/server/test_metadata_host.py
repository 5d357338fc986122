"""Metadata documents name the server by its configured URL: a client's Host or X-Forwarded-* headers are never
reflected into them (a poisoned cache or a phishing link would otherwise point clients elsewhere)."""

from __future__ import annotations

import httpx
import pytest

from tests.server.support import STORE, ThreadServer

HOSTILE = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}


@pytest.fixture(scope="module")
def server():
    with ThreadServer(
        STORE,
        {
            "chamberlain": {
                "publicURL": "https://pdp.example.com:8443",
            }
        },
    ) as srv:
        yield srv


def test_authzen_metadata_uses_the_configured_url(server):
    meta = httpx.get(f"{server.url}/.well-known/authzen-configuration", headers=HOSTILE).json()
    assert meta == {
        "policy_decision_point": "https://pdp.example.com:8443",
        "access_evaluation_endpoint": "https://pdp.example.com:8443/access/v1/evaluation",
        "access_evaluations_endpoint": "https://pdp.example.com:8443/access/v1/evaluations",
    }


def test_oauth_metadata_uses_the_configured_issuer(server):
    meta = httpx.get(f"{server.url}/.well-known/oauth-authorization-server", headers=HOSTILE).json()
    assert meta["issuer"] == "https://pdp.example.com:8443"
    assert meta["token_endpoint"] == "https://pdp.example.com:8443/oauth2/token"
    assert meta["jwks_uri"] == "https://pdp.example.com:8443/.well-known/jwks.json"
    assert "evil" not in str(meta)


def test_default_public_url_is_the_listen_address():
    with ThreadServer(STORE) as srv:
        meta = httpx.get(f"{srv.url}/.well-known/authzen-configuration", headers=HOSTILE).json()
    assert meta["policy_decision_point"] == srv.url


def test_public_url_is_validated():
    from chamberlain.server.config import ConfigError, load_config

    for bad in ("pdp.example.com", "ftp://x", "https://x/path?q=1", "https://x#f"):
        with pytest.raises(ConfigError, match=r"chamberlain\.publicURL"):
            load_config(None, overrides={"chamberlain": {"publicURL": bad}}, env={})
