"""Real parts for the delegation tests: an identity provider minting RS256 tokens with PyJWT, the
example policies in one folder, ASGI apps served by uvicorn on loopback, Authlib's OAuth 2 client."""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import authlib.deprecate  # noqa: F401  (installs Authlib's "always" warning filter first, so ours wins)
import jwt as pyjwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.support.cerbos_server import REPO_ROOT, free_port

from chamberlain import PDP

with warnings.catch_warnings():  # Authlib prefers httpx2 and says so; httpx is what we have
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import OAuth2Client, OAuthError  # noqa: F401

IDP = "https://idp.example"
ISSUER = "https://chamberlain.example"
PAYMENTS = "https://payments.example"
GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
EXAMPLES = REPO_ROOT / "examples"
AGENTS_YAML = """\
agents:
  planner-agent: {issuer: https://idp.example, roles: [planner_agent], attr: {team: finance}}
  tool-agent: {issuer: https://idp.example, roles: [tool_agent]}
"""


class IdentityProvider:
    """A trusted issuer: an RSA key, its JWKS, and tokens signed with PyJWT (independently of joserfc)."""

    def __init__(self, issuer: str = IDP, kid: str | None = None):
        self.issuer = issuer
        self.kid = kid or uuid.uuid4().hex[:12]
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def token(
        self,
        sub: str,
        *,
        aud: str | list[str] = ISSUER,
        lifetime: float = 600,
        headers: dict | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        body = {"iss": self.issuer, "sub": sub, "aud": aud, "iat": now, "exp": now + int(lifetime), **claims}
        return pyjwt.encode(body, self.key, algorithm="RS256", headers={"kid": self.kid, **(headers or {})})


def policy_folder(tmp: Path) -> Path:
    """examples/policies (the exchange policy) and examples/delegation (payments) in one folder."""
    folder = tmp / "policies"
    shutil.copytree(EXAMPLES / "policies", folder)
    shutil.copytree(EXAMPLES / "delegation" / "resource_policies", folder / "delegation_example")
    return folder


def settings(tmp: Path, idp: IdentityProvider, **overrides: Any) -> dict[str, Any]:
    """A ``chamberlain.delegation`` mapping trusting ``idp`` (its JWKS written to a file)."""
    (tmp / "idp-jwks.json").write_text(json.dumps(idp.jwks()))
    (tmp / "agents.yaml").write_text(AGENTS_YAML)
    return {
        "issuer": ISSUER,
        "trustedIssuers": [
            {"issuer": idp.issuer, "jwksFile": str(tmp / "idp-jwks.json"), "audience": ISSUER}
        ],
        "agentsFile": str(tmp / "agents.yaml"),
        "audiences": [PAYMENTS],
        "scopeMapping": {"payment": {"pay": "payments:write", "*": "payments:read"}},
        **overrides,
    }


def example_pdp(tmp: Path) -> PDP:
    return PDP.from_directory(policy_folder(tmp))


@contextlib.contextmanager
def serve(app: Any, port: int | None = None) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on loopback (``port``, else a free one); yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="auto", log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def exchange(
    client: OAuth2Client, url: str, subject_token: str, actor_token: str, **params: Any
) -> dict[str, Any]:
    """An RFC 8693 exchange through Authlib's client; raises ``OAuthError`` when refused."""
    return dict(
        client.fetch_token(
            f"{url}/oauth2/token",
            grant_type=GRANT,
            subject_token=subject_token,
            subject_token_type=ACCESS,
            actor_token=actor_token,
            actor_token_type=ACCESS,
            **params,
        )
    )


def form(subject_token: str, actor_token: str, audience: str, scope: str = "") -> dict[str, list[str]]:
    """The parameters of an exchange, as ``TokenService.exchange`` takes them (in process)."""
    params = {
        "grant_type": [GRANT],
        "subject_token": [subject_token],
        "subject_token_type": [ACCESS],
        "actor_token": [actor_token],
        "actor_token_type": [ACCESS],
        "audience": [audience],
    }
    return {**params, "scope": [scope]} if scope else params


def oauth_client() -> OAuth2Client:
    """Authlib's OAuth 2 client over httpx, without client authentication (the actor token is the credential)."""
    return OAuth2Client(token_endpoint_auth_method="none", timeout=10)
