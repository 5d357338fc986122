"""Envoy (HTTP service mode) and Traefik are not packaged for Debian: their requests are built exactly as their
documentation defines them, from the samples of docs/guides/proxies.md, and sent to a real server."""

from __future__ import annotations

import httpx
import pytest
import yaml

from tests.delegation.support import IdentityProvider, settings
from tests.gateways.proxy.real_proxies import chamberlain_config, sample
from tests.gateways.proxy.support import chain_tokens, policies
from tests.server.support import ThreadServer


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("samples")
    idp = IdentityProvider()
    scopes = {"payment": {"pay": "payments:write", "*": "payments:read"}}
    config = chamberlain_config(tmp, settings(tmp, idp, scopeMapping=scopes))
    with ThreadServer(policies(tmp), config_file=config) as srv:
        yield srv, chain_tokens(srv.url, idp)[1]


def envoy_check(url: str, method: str, path: str, authorization: str, **extra: str) -> httpx.Response:
    """Envoy's authorization request in HTTP service mode (ext_authz docs, "HTTP service"): the original
    method; ``path_prefix`` followed by the original path and query; ``Host``; the headers
    ``allowed_headers`` lets through (Authorization always); ``Content-Length: 0`` without ``with_request_body``."""
    config = yaml.safe_load(sample("envoy-ext-authz.yaml"))["typed_config"]
    service = config["http_service"]
    assert config["failure_mode_allow"] is False
    patterns = service["authorization_request"]["allowed_headers"]["patterns"]
    original = {
        "authorization": authorization,
        "host": "payments.internal",
        "user-agent": "agent/1",
        "cookie": "secret=1",
        **extra,
    }
    allowed = {
        k: v
        for k, v in original.items()
        if k == "host" or any(p.get("exact") == k or k.startswith(p.get("prefix", "\0")) for p in patterns)
    }
    headers = {
        **allowed,
        "content-length": "0",
        "x-envoy-expected-rq-timeout-ms": "500",
        "x-forwarded-proto": "http",
        "x-request-id": "5b0b8d2e-0000-4000-8000-000000000001",
    }
    assert service["server_uri"]["uri"] == "http://127.0.0.1:3592"
    return httpx.request(method, f"{url}{service['path_prefix']}{path}", headers=headers, timeout=10)


def test_envoy_http_mode_allows_and_returns_the_allowed_upstream_headers(env):
    srv, token = env
    reply = envoy_check(srv.url, "POST", "/payments/p1/pay?amount=20", f"Bearer {token}")
    assert reply.status_code == 200
    patterns = yaml.safe_load(sample("envoy-ext-authz.yaml"))["typed_config"]["http_service"][
        "authorization_response"
    ]["allowed_upstream_headers"]["patterns"]
    upstream = {k for k in reply.headers if any(k.startswith(p["prefix"]) for p in patterns)}
    assert upstream == {
        "x-chamberlain-subject",
        "x-chamberlain-actors",
        "x-chamberlain-decision",
        "x-chamberlain-log-index",
    }


def test_envoy_http_mode_denials_are_returned_to_the_client(env):
    srv, token = env
    reply = envoy_check(srv.url, "POST", "/payments/p1/pay?amount=20000", f"Bearer {token}")
    assert reply.status_code == 403 and reply.json()["message"].startswith(
        "chamberlain denied pay on payment p1"
    )
    reply = envoy_check(srv.url, "POST", "/payments/p1/pay?amount=20", "Bearer broken")
    assert reply.status_code == 401 and reply.headers["www-authenticate"].startswith("Bearer ")


def test_traefik_forward_auth_request(env):
    srv, token = env
    config = yaml.safe_load(sample("traefik-dynamic.yaml"))["http"]["middlewares"]["chamberlain"][
        "forwardAuth"
    ]
    address = config["address"].replace("http://127.0.0.1:3592", srv.url)
    # Traefik's forwardAuth: the original headers plus X-Forwarded-Method, -Proto, -Host, -Uri, -For.
    headers = {
        "authorization": f"Bearer {token}",
        "x-forwarded-method": "POST",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "payments.example",
        "x-forwarded-uri": "/payments/p3/pay?amount=30",
        "x-forwarded-for": "203.0.113.9",
    }
    reply = httpx.get(address, headers=headers, timeout=10)
    assert reply.status_code == 200, reply.text
    assert {h.lower() for h in config["authResponseHeaders"]} <= set(reply.headers)
    headers["x-forwarded-uri"] = "/payments/p3/pay?amount=3000"
    assert httpx.get(address, headers=headers, timeout=10).status_code == 403
