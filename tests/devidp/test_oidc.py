"""`chamberlain dev idp serve`'s provider on a real loopback server: Authlib's OAuth 2 client runs the
authorization code flow with PKCE, PyJWT verifies every token against the served JWKS, and each attack
on the flow is refused."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt as pyjwt
import pytest
import yaml

from chamberlain.devidp import MARKER, MARKER_CLAIM, DevIdp
from chamberlain.devidp.flows import s256
from chamberlain.devidp.oidc import CSRF_COOKIE, create_app
from tests.delegation.support import OAuth2Client, OAuthError, serve
from tests.devidp.support import CLIENT_ID, REDIRECT, LoginForm, log_in, new_idp, open_login
from tests.support.cerbos_server import free_port

SECOND_CLIENT = "second-app"


@dataclass
class Provider:
    idp: DevIdp
    url: str
    app: Any

    def client(self) -> OAuth2Client:
        """A public client with PKCE S256, as the example-app of idp.yaml."""
        return OAuth2Client(
            client_id=CLIENT_ID,
            redirect_uri=REDIRECT,
            scope="openid profile",
            code_challenge_method="S256",
            token_endpoint_auth_method="none",
            timeout=10,
        )

    def authorize_url(self, verifier: str, **params: str) -> str:
        url, _ = self.client().create_authorization_url(
            f"{self.url}/authorize", code_verifier=verifier, state=params.pop("state", "st-1"), **params
        )
        return url

    def code(self, verifier: str, person: str = "alice", **params: str) -> str:
        """Log ``person`` in through the login page; the redirect URL back to the client."""
        with httpx.Client(timeout=10) as browser:
            form = open_login(browser, self.authorize_url(verifier, **params))
            answer = log_in(browser, self.url, form, person)
        assert answer.status_code == 303, answer.text
        return answer.headers["location"]

    def token_request(self, **data: str) -> httpx.Response:
        return httpx.post(f"{self.url}/token", data=data, timeout=10)


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    port = free_port()
    folder = new_idp(tmp_path_factory.mktemp("oidc"), port=port).directory
    settings = yaml.safe_load((folder / "idp.yaml").read_text())
    settings["clients"].append({"clientId": SECOND_CLIENT, "redirectUris": [REDIRECT]})
    (folder / "idp.yaml").write_text(yaml.safe_dump(settings))
    idp = DevIdp.load(folder)
    app = create_app(idp)
    with serve(app, port) as url:
        assert url == idp.issuer  # served where its issuer says
        yield Provider(idp, url, app)


def _verified(provider: Provider, token: str, audience: str) -> dict[str, Any]:
    """PyJWT verifies with the key the served JWKS names (fetched over HTTP by PyJWKClient)."""
    discovery = httpx.get(f"{provider.url}/.well-known/openid-configuration").json()
    key = pyjwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(token)
    return pyjwt.decode(
        token,
        key.key,
        algorithms=discovery["id_token_signing_alg_values_supported"],
        audience=audience,
        issuer=discovery["issuer"],
    )


def test_discovery_names_the_endpoints_and_pkce(provider: Provider) -> None:
    meta = httpx.get(f"{provider.url}/.well-known/openid-configuration").json()
    assert meta["issuer"] == provider.url and meta["authorization_endpoint"] == f"{provider.url}/authorize"
    assert meta["code_challenge_methods_supported"] == ["S256"] and meta["response_types_supported"] == [
        "code"
    ]
    assert meta["token_endpoint_auth_methods_supported"] == ["none"]
    keys = httpx.get(meta["jwks_uri"]).json()["keys"]
    assert keys and all("d" not in k for k in keys)


def test_the_authorization_code_flow_with_pkce(provider: Provider) -> None:
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(8)
    client = provider.client()
    back = provider.code(verifier, nonce=nonce)
    query = parse_qs(urlsplit(back).query)
    assert back.startswith(REDIRECT + "?") and query["state"] == ["st-1"] and query["iss"] == [provider.url]
    tokens = client.fetch_token(f"{provider.url}/token", authorization_response=back, code_verifier=verifier)
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "openid profile"
    id_token = _verified(provider, tokens["id_token"], audience=CLIENT_ID)
    assert (
        id_token["sub"] == "alice" and id_token["nonce"] == nonce and id_token["roles"] == ["finance_clerk"]
    )
    assert id_token["name"] == "Alice" and id_token[MARKER_CLAIM] == MARKER and id_token["azp"] == CLIENT_ID
    access = _verified(provider, tokens["access_token"], audience="chamberlain")
    assert (
        access["sub"] == "alice" and access["roles"] == ["finance_clerk"] and access["client_id"] == CLIENT_ID
    )
    assert "scope" not in access  # OIDC scopes are not API scopes: they would bound a delegation exchange
    info = httpx.get(
        f"{provider.url}/userinfo", headers={"authorization": f"Bearer {tokens['access_token']}"}
    )
    assert (
        info.status_code == 200
        and info.json()["sub"] == "alice"
        and info.json()["roles"] == ["finance_clerk"]
    )


def test_a_wrong_verifier_is_refused_and_spends_the_code(provider: Provider) -> None:
    verifier = secrets.token_urlsafe(48)
    back = provider.code(verifier)
    with pytest.raises(OAuthError) as refused:
        provider.client().fetch_token(
            f"{provider.url}/token", authorization_response=back, code_verifier=secrets.token_urlsafe(48)
        )
    assert (
        refused.value.error == "invalid_grant"
        and "does not match the code_challenge" in refused.value.description
    )
    with pytest.raises(OAuthError) as again:  # the right verifier now: the code is spent
        provider.client().fetch_token(
            f"{provider.url}/token", authorization_response=back, code_verifier=verifier
        )
    assert again.value.error == "invalid_grant" and "already used" in again.value.description


def _redeem(provider: Provider, back: str, verifier: str, **overrides: str) -> httpx.Response:
    code = parse_qs(urlsplit(back).query)["code"][0]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID,
        "code_verifier": verifier,
        **overrides,
    }
    return provider.token_request(**{k: v for k, v in data.items() if v})


def test_a_replayed_code_is_refused(provider: Provider) -> None:
    verifier = secrets.token_urlsafe(48)
    back = provider.code(verifier)
    assert _redeem(provider, back, verifier).status_code == 200
    replay = _redeem(provider, back, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert "already used" in replay.json()["error_description"]
    assert replay.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("overrides", "error", "says"),
    [
        ({"redirect_uri": "http://127.0.0.1:8000/other"}, "invalid_grant", "redirect_uri does not match"),
        ({"code_verifier": ""}, "invalid_grant", "code_verifier is required"),
        ({"code_verifier": "short"}, "invalid_grant", "43 to 128 characters"),
        ({"client_id": "intruder"}, "invalid_client", "unknown client_id"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type", "authorization_code"),
        ({"code": "forged-code"}, "invalid_grant", "unknown or expired"),
    ],
)
def test_token_requests_that_do_not_match_the_code_are_refused(
    provider: Provider, overrides: dict[str, str], error: str, says: str
) -> None:
    verifier = secrets.token_urlsafe(48)
    answer = _redeem(provider, provider.code(verifier), verifier, **overrides)
    assert answer.status_code in (400, 401) and answer.json()["error"] == error
    assert says in answer.json()["error_description"]


def test_a_code_for_another_client_is_refused(provider: Provider) -> None:
    verifier = secrets.token_urlsafe(48)
    answer = _redeem(provider, provider.code(verifier), verifier, client_id=SECOND_CLIENT)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert "issued to another client" in answer.json()["error_description"]


def test_client_secrets_are_refused(provider: Provider) -> None:
    verifier = secrets.token_urlsafe(48)
    code = parse_qs(urlsplit(provider.code(verifier)).query)["code"][0]
    answer = httpx.post(
        f"{provider.url}/token",
        auth=(CLIENT_ID, "secret"),
        timeout=10,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
    )
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


def _authorize(provider: Provider, **params: str) -> httpx.Response:
    base = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "st-9",
        "code_challenge": s256(secrets.token_urlsafe(48)),
        "code_challenge_method": "S256",
    }
    query = {k: v for k, v in {**base, **params}.items() if v is not None}
    return httpx.get(f"{provider.url}/authorize?{urlencode(query)}", timeout=10)


def _error_redirect(answer: httpx.Response) -> dict[str, list[str]]:
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?") and "code=" not in location
    return parse_qs(urlsplit(location).query)


@pytest.mark.parametrize(
    ("params", "error", "says"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request", "PKCE is required"),
        ({"code_challenge_method": "plain"}, "invalid_request", "must be S256"),
        ({"code_challenge_method": None}, "invalid_request", "must be S256"),
        ({"code_challenge": "abc"}, "invalid_request", "not an S256 challenge"),
        ({"response_type": "token"}, "unsupported_response_type", "only response_type=code"),
        ({"scope": "profile"}, "invalid_scope", "must include openid"),
        ({"scope": "openid admin"}, "invalid_scope", "unknown scope 'admin'"),
        ({"prompt": "none"}, "login_required", "always shows its login page"),
        ({"request": "eyJ..."}, "request_not_supported", "not supported"),
        ({"nonce": "n" * 5000}, "invalid_request", "longer than 2048"),
    ],
)
def test_bad_authorization_requests_go_back_to_the_client_with_the_error(
    provider: Provider, params: dict[str, Any], error: str, says: str
) -> None:
    query = _error_redirect(_authorize(provider, **params))
    assert query["error"] == [error] and says in query["error_description"][0]
    assert query["state"] == ["st-9"] and query["iss"] == [provider.url]


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"client_id": "intruder"}, 400, "unknown client_id"),
        ({"client_id": None}, 400, "client_id is required"),
        ({"redirect_uri": "https://attacker.example/cb"}, 400, "is not registered"),
        ({"redirect_uri": REDIRECT + "/../evil"}, 400, "is not registered"),
        ({"redirect_uri": None}, 400, "redirect_uri is required"),
        ({"state": "s" * 5000}, 400, "longer than 2048"),
    ],
)
def test_requests_with_an_unknown_client_or_redirect_are_shown_never_redirected(
    provider: Provider, params: dict[str, Any], status: int, says: str
) -> None:
    answer = _authorize(provider, **params)
    assert answer.status_code == status and "location" not in answer.headers
    assert says in answer.text and "NOT FOR PRODUCTION" in answer.text


def test_repeated_and_oversized_parameters_are_refused(provider: Provider) -> None:
    url = f"{provider.url}/authorize?client_id={CLIENT_ID}&client_id=other&redirect_uri={REDIRECT}"
    repeated = httpx.get(url, timeout=10)
    assert repeated.status_code == 400 and "given more than once" in repeated.text
    huge = httpx.get(f"{provider.url}/authorize?client_id={CLIENT_ID}&pad={'x' * 9000}", timeout=10)
    assert huge.status_code == 414 and "location" not in huge.headers
    many = httpx.get(f"{provider.url}/authorize?" + "&".join(f"p{i}=1" for i in range(40)), timeout=10)
    assert many.status_code == 400 and "more than 32" in many.text
    body = provider.token_request(grant_type="authorization_code", code="c" * 20000)
    assert body.status_code == 413 and body.json()["error"] == "invalid_request"
    streamed = httpx.post(
        f"{provider.url}/token",
        content=iter([b"a=" + b"b" * 10000, b"c" * 10000]),
        headers={"content-type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert streamed.status_code == 413  # no Content-Length: counted while read
    wrong_type = httpx.post(f"{provider.url}/token", json={"grant_type": "authorization_code"}, timeout=10)
    assert wrong_type.status_code == 400 and "x-www-form-urlencoded" in wrong_type.json()["error_description"]


def test_the_login_form_is_protected_against_csrf(provider: Provider) -> None:
    verifier = secrets.token_urlsafe(48)
    with httpx.Client(timeout=10) as browser:
        form = open_login(browser, provider.authorize_url(verifier))
        cookie = browser.cookies[CSRF_COOKIE]
        assert form.hidden["csrf"] == cookie and form.action == "/login"
        wrong = log_in(browser, provider.url, form, "alice", csrf=secrets.token_urlsafe(32))
        cross_site = browser.post(
            f"{provider.url}/login",
            data={**form.hidden, "person": "alice"},
            headers={"origin": "https://attacker.example"},
            follow_redirects=False,
        )
        forged_login = log_in(browser, provider.url, form, "alice", login="not-a-login-page")
        for refused in (wrong, cross_site, forged_login):
            assert refused.status_code == 403 and "location" not in refused.headers
            assert "CSRF" in refused.text
        browser.cookies.clear()
        no_cookie = log_in(browser, provider.url, form, "alice")
        assert no_cookie.status_code == 403
        browser.cookies.set(CSRF_COOKIE, cookie)
        # the page is still good after the refusals (they did not spend it)
        accepted = log_in(browser, provider.url, form, "alice")
        assert accepted.status_code == 303 and "code=" in accepted.headers["location"]
        reused = log_in(browser, provider.url, form, "bob")  # a login page is used once
        assert reused.status_code == 403


def test_the_login_page_lists_the_people_escaped_and_cannot_be_framed(provider: Provider) -> None:
    with httpx.Client(timeout=10) as browser:
        page = browser.get(provider.authorize_url(secrets.token_urlsafe(48)))
    assert [value for name, value in LoginForm(page.text).buttons if name == "person"] == list(
        provider.idp.identities.people
    )
    assert (
        page.headers["x-frame-options"] == "DENY"
        and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    )
    assert (
        "samesite=lax" in page.headers["set-cookie"].lower()
        and "httponly" in page.headers["set-cookie"].lower()
    )


def test_cancel_and_an_unknown_person(provider: Provider) -> None:
    with httpx.Client(timeout=10) as browser:
        form = open_login(browser, provider.authorize_url(secrets.token_urlsafe(48)))
        stranger = log_in(browser, provider.url, form, "mallory")
        assert stranger.status_code == 400 and "not a person" in stranger.text
        cancelled = browser.post(
            f"{provider.url}/login",
            data={**form.hidden, "cancel": "1"},
            headers={"origin": provider.url},
            follow_redirects=False,
        )
    assert parse_qs(urlsplit(cancelled.headers["location"]).query)["error"] == ["access_denied"]


def test_userinfo_needs_a_valid_token(provider: Provider) -> None:
    assert httpx.get(f"{provider.url}/userinfo").status_code == 401
    other = new_idp(Path(provider.idp.directory).parent / "other", port=int(provider.url.rsplit(":", 1)[1]))
    forged = other.access_token("alice").token  # same issuer name, another key
    answer = httpx.get(f"{provider.url}/userinfo", headers={"authorization": f"Bearer {forged}"})
    assert answer.status_code == 401 and "unknown kid" in answer.json()["error_description"]
    header = {"alg": "EdDSA", "kid": "ключ"}  # a kid the error message repeats, that no header can carry
    odd = (
        ".".join(
            base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
            for part in (header, {"iss": provider.url, "sub": "alice", "exp": 2**31})
        )
        + ".c2ln"
    )
    answer = httpx.get(f"{provider.url}/userinfo", headers={"authorization": f"Bearer {odd}"})
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"
    id_token = provider.idp.id_token(provider.idp.person("alice"), client_id=CLIENT_ID, auth_time=0).token
    assert (
        httpx.get(f"{provider.url}/userinfo", headers={"authorization": f"Bearer {id_token}"}).status_code
        == 401
    )


def test_expired_codes_and_full_stores(tmp_path: Path) -> None:
    port = free_port()
    idp = new_idp(tmp_path, port=port)
    now = [1_000_000.0]
    app = create_app(idp, clock=lambda: now[0])
    with serve(app, port) as url:
        provider = Provider(idp, url, app)
        verifier = secrets.token_urlsafe(48)
        back = provider.code(verifier)
        now[0] += 61  # codes live 60 s
        late = _redeem(provider, back, verifier)
        assert late.json()["error"] == "invalid_grant" and "expired" in late.json()["error_description"]
        with httpx.Client(timeout=10) as browser:
            open_login(browser, provider.authorize_url(verifier))  # one login page pending (for 10 minutes)
            app.state.provider.logins.limit = 1
            full = browser.get(provider.authorize_url(verifier))
            assert full.status_code == 503 and "too many logins in progress" in full.text
            now[0] += 601  # the pending page expired: room again
            open_login(browser, provider.authorize_url(verifier))
