"""Console logins: a forged or altered cookie is refused, logins expire and end at logout, memory is bounded;
the playground's PDP is bounded and answers errors in words."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import httpx

from chamberlain.console.logins import Logins, same_token
from chamberlain.console.playground import EXAMPLE_POLICY, EXAMPLE_REQUEST, evaluate
from chamberlain.server.admin import Caller

OPERATOR = Caller("operator", ("admin",))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_cookie_names_its_login_until_it_expires_or_logs_out() -> None:
    clock = Clock()
    logins = Logins(ttl=60, limit=10, clock=clock)
    login, cookie = logins.open(OPERATOR)
    assert logins.find(cookie) == login
    login_id, _, signature = cookie.partition(".")
    assert logins.find(f"{login_id}.{'0' * len(signature)}") is None  # altered signature
    assert logins.find(login_id) is None and logins.find("") is None and logins.find("x" * 500) is None
    assert Logins(ttl=60, limit=10, clock=clock).find(cookie) is None  # another process's key
    clock.now += 61
    assert logins.find(cookie) is None
    second, cookie = logins.open(OPERATOR)
    logins.close(second)
    assert logins.find(cookie) is None


def test_a_persons_login_ends_with_their_token_and_memory_is_bounded() -> None:
    clock = Clock()
    logins = Logins(ttl=3600, limit=2, clock=clock)
    login, _ = logins.open(OPERATOR, not_after=clock.now + 5)
    assert login.expires_at == clock.now + 5
    first = logins.open(OPERATOR)[1]
    logins.open(OPERATOR)
    logins.open(OPERATOR)
    assert logins.find(first) is None  # the oldest was dropped


def test_csrf_tokens_compare_only_when_both_are_there() -> None:
    assert same_token("abc", "abc") and not same_token("abc", "abd") and not same_token("", "")


def test_the_playground_decides_and_says_what_is_wrong() -> None:
    answer, error = evaluate(EXAMPLE_POLICY, EXAMPLE_REQUEST, 1.0, 64)
    assert error == "" and answer is not None
    assert answer["results"][0]["actions"] == {"view": "EFFECT_DENY", "pay": "EFFECT_ALLOW"}
    assert "invalid JSON" in evaluate(EXAMPLE_POLICY, "{", 1.0, 64)[1]
    assert evaluate("", EXAMPLE_REQUEST, 1.0, 64)[1].startswith("policy:")
    assert evaluate("apiVersion: [", EXAMPLE_REQUEST, 1.0, 64)[0] is None
    assert "nested more than 64 levels" in evaluate(EXAMPLE_POLICY, "[" * 100 + "]" * 100, 1.0, 64)[1]
    assert "principal" in evaluate(EXAMPLE_POLICY, '{"principal": 1}', 1.0, 64)[1]


def test_an_identity_provider_refusal_shows_its_words_only_for_this_browsers_login(stack) -> None:
    """Anyone could link to /console/oidc/callback?error=x&error_description=<any text> and the console's
    login page said "The identity provider refused: <that text>" (phishing on the console's origin:
    "call this number", "your password expired, go to ..."). The words are shown only when ``state``
    names a login this browser started; the refusal ends that login."""
    phish = "Your password expired: sign in at https://evil.example/reset"
    forged = httpx.get(
        f"{stack.url}/console/oidc/callback",
        params={"error": "access_denied", "error_description": phish},
        timeout=30,
    )
    assert forged.status_code == 401
    assert "evil.example" not in forged.text and "refused" in forged.text
    with httpx.Client(base_url=stack.url, timeout=30) as browser:
        started = browser.get("/console/oidc/start")
        assert started.status_code == 303
        state = dict(parse_qsl(urlsplit(started.headers["location"]).query))["state"]
        refused = browser.get(
            "/console/oidc/callback",
            params={"error": "access_denied", "error_description": "the person said no", "state": state},
        )
        assert refused.status_code == 401 and "the person said no" in refused.text
        again = browser.get(
            "/console/oidc/callback",
            params={"error": "access_denied", "error_description": "the person said no", "state": state},
        )
        assert "the person said no" not in again.text  # that login is over
