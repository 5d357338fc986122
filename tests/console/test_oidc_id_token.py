"""The console's OpenID login checks the ID token: this issuer's, for the console's client, carrying the
nonce of this very login and naming the person the access token names.

The dev IdP runs on loopback; a test may rewrite its token answers on the way (as a hostile relay or a
confused provider would) with ID tokens it signs itself, so every refusal is about a validly signed token.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import yaml

from chamberlain.console.oidc import LoginFailed, OidcLogin
from chamberlain.console.settings import ConsoleConfig
from chamberlain.delegation.config import parse_config
from chamberlain.devidp import DevIdp
from chamberlain.devidp.oidc import create_app
from chamberlain.server.admin.settings import AdminConfig
from tests.delegation.support import serve
from tests.devidp.support import log_in, new_idp, open_login
from tests.support.cerbos_server import free_port

CLIENT = "chamberlain-console"
REDIRECT = "http://127.0.0.1:9/console/oidc/callback"
Tamper = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Relay:
    """The dev IdP's ASGI app, with its /token answers passed through ``tamper`` when one is set."""

    app: Any
    tamper: Tamper | None = field(default=None)
    openid_for_plain_oauth: bool = False  # add openid to requests without it (the dev IdP needs it)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.openid_for_plain_oauth and scope.get("path") == "/authorize":
            query = parse_qs(scope["query_string"].decode())
            query["scope"] = [query["scope"][0] + " openid"]
            scope = {**scope, "query_string": urlencode(query, doseq=True).encode()}
        tamper = self.tamper
        if tamper is None or scope.get("path") != "/token":
            await self.app(scope, receive, send)
            return
        parts: list[bytes] = []
        start: dict[str, Any] = {}

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                parts.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = json.dumps(tamper(json.loads(b"".join(parts)))).encode()
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


@dataclass
class World:
    idp: DevIdp
    relay: Relay
    tmp: Path
    nonce: str = ""  # the nonce of the login under way, as its authorization request sent it

    def login(self, scopes: str = "openid profile") -> OidcLogin:
        delegation = parse_config(
            {
                "trustedIssuers": [
                    {"issuer": self.idp.issuer, "audience": "chamberlain", "jwksFile": "jwks.json"}
                ]
            },
            state_dir=self.tmp,
            base_url="http://127.0.0.1:9",
            base_dir=self.idp.directory,
        )
        settings = ConsoleConfig(oidc_issuer=self.idp.issuer, oidc_client_id=CLIENT, oidc_scopes=scopes)
        return OidcLogin(settings, delegation, AdminConfig(enabled=True), REDIRECT)

    def complete(self, oidc: OidcLogin, person: str = "alice") -> Any:
        """Start a login, log ``person`` in at the IdP's page, complete it (blocking)."""
        url = oidc.start("browser-1", "/console/")
        self.nonce = parse_qs(urlsplit(url).query)["nonce"][0]
        with httpx.Client(timeout=10) as browser:
            answer = log_in(browser, self.idp.issuer, open_login(browser, url), person)
        assert answer.status_code == 303, answer.text
        query = parse_qs(urlsplit(answer.headers["location"]).query)
        return oidc.complete(query["state"][0], query["code"][0], "browser-1")

    def id_token(self, person: str, nonce: str, client_id: str = CLIENT) -> str:
        return self.idp.id_token(
            self.idp.person(person), client_id=client_id, nonce=nonce, auth_time=int(time.time())
        ).token


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("oidc-id-token")
    port = free_port()
    folder = new_idp(tmp, port=port).directory
    settings = yaml.safe_load((folder / "idp.yaml").read_text())
    settings["clients"].append({"clientId": CLIENT, "redirectUris": [REDIRECT]})
    (folder / "idp.yaml").write_text(yaml.safe_dump(settings))
    idp = DevIdp.load(folder)
    relay = Relay(create_app(idp))
    with serve(relay, port):
        yield World(idp, relay, tmp)


@pytest.fixture
def relay(world: World) -> Iterator[Relay]:
    yield world.relay
    world.relay.tamper = None
    world.relay.openid_for_plain_oauth = False


def test_a_login_with_the_id_token_of_this_request_completes(world: World, relay: Relay) -> None:
    seen: list[dict[str, Any]] = []
    relay.tamper = lambda body: seen.append(body) or body
    caller, expires, next_path = world.complete(world.login())
    assert (caller.id, caller.via, next_path) == ("alice", "jwt", "/console/")
    assert expires > time.time()
    assert seen and "id_token" in seen[0]  # the IdP answered with one, and it was checked


def test_an_id_token_from_another_login_is_refused(world: World, relay: Relay) -> None:
    relay.tamper = lambda body: {**body, "id_token": world.id_token("alice", "the-nonce-of-another-login")}
    with pytest.raises(LoginFailed, match="nonce is not this login's"):
        world.complete(world.login())


def test_an_id_token_without_a_nonce_is_refused(world: World, relay: Relay) -> None:
    relay.tamper = lambda body: {**body, "id_token": world.id_token("alice", "")}
    with pytest.raises(LoginFailed, match="nonce"):
        world.complete(world.login())


def test_an_id_token_naming_another_person_is_refused(world: World, relay: Relay) -> None:
    relay.tamper = lambda body: {**body, "id_token": world.id_token("bob", world.nonce)}
    with pytest.raises(LoginFailed, match="another person"):
        world.complete(world.login())


def test_an_id_token_for_another_client_is_refused(world: World, relay: Relay) -> None:
    relay.tamper = lambda body: {
        **body,
        "id_token": world.id_token("alice", world.nonce, "other-app"),
    }
    with pytest.raises(LoginFailed, match=r"claim aud \['other-app'\] does not name chamberlain-console"):
        world.complete(world.login())


def test_a_tampered_id_token_is_refused(world: World, relay: Relay) -> None:
    def tamper(body: dict[str, Any]) -> dict[str, Any]:
        header, payload, signature = body["id_token"].split(".")
        return {**body, "id_token": f"{header}.{payload}.{signature[:-4]}AAAA"}

    relay.tamper = tamper
    with pytest.raises(LoginFailed, match="signature does not verify"):
        world.complete(world.login())


def test_an_openid_answer_without_an_id_token_is_refused(world: World, relay: Relay) -> None:
    relay.tamper = lambda body: {k: v for k, v in body.items() if k != "id_token"}
    with pytest.raises(LoginFailed, match="no id_token in the answer to an openid request"):
        world.complete(world.login())


def test_without_the_openid_scope_the_access_token_alone_logs_in(world: World, relay: Relay) -> None:
    """A plain OAuth 2 login (no openid asked for): no ID token is expected, the access token names the person."""
    relay.openid_for_plain_oauth = True
    relay.tamper = lambda body: {k: v for k, v in body.items() if k != "id_token"}
    caller, _expires, _next = world.complete(world.login(scopes="profile"))
    assert caller.id == "alice"
