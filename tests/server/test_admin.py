"""The admin surface over real HTTP: off by default, basic auth and people's JWTs, authorization by the
admin policies (recorded in the decision log), paging, and what each endpoint does with garbage."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pytest

from chamberlain.server import admin as contract
from chamberlain.server.config import ConfigError, load_config
from tests.delegation.support import IdentityProvider
from tests.server.support import ADMIN_AUTH, ADMIN_HASH, ThreadServer, admin_on, raw_http

AUDIENCE = "https://chamberlain.example"
CHECK = {
    "requestId": "r",
    "principal": {"id": "alice", "roles": ["user"]},
    "resources": [{"actions": ["view"], "resource": {"kind": "document", "id": "d1"}}],
}
ENTRIES = "/api/audit/entries"
POLICY = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  version: default
  resource: document
  rules:
    - actions: [view]
      effect: EFFECT_ALLOW
      roles: [user]
"""


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("admin") / "policies"
    folder.mkdir()
    (folder / "document.yaml").write_text(POLICY)
    return folder


@pytest.fixture(scope="module")
def idp() -> IdentityProvider:
    return IdentityProvider("https://people.example")


def trusting(tmp: Path, *idps: IdentityProvider) -> dict[str, Any]:
    """``chamberlain.delegation`` trusting ``idps`` (people's tokens name AUDIENCE)."""
    issuers = []
    for i, idp in enumerate(idps):
        (tmp / f"jwks-{i}.json").write_text(json.dumps(idp.jwks()))
        issuers.append({"issuer": idp.issuer, "jwksFile": str(tmp / f"jwks-{i}.json"), "audience": AUDIENCE})
    return {"issuer": AUDIENCE, "trustedIssuers": issuers}


@pytest.fixture(scope="module")
def routes() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(contract, "ROUTE_MODULES", [*contract.ROUTE_MODULES, "tests.server.admin_routes"])
        yield


@pytest.fixture(scope="module")
def server(policies: Path, idp: IdentityProvider, routes: None, tmp_path_factory) -> Iterator[ThreadServer]:
    tmp = tmp_path_factory.mktemp("admin-server")
    overrides = {
        "server": admin_on(),
        "chamberlain": {"delegation": trusting(tmp, idp), "admin": {"maxFailedLogins": 1000}},
    }
    with ThreadServer(policies, overrides) as s:
        yield s


def person(idp: IdentityProvider, sub: str, roles: list[str], **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {idp.token(sub, aud=AUDIENCE, roles=roles, **claims)}"}


def entries(
    server: ThreadServer, headers: dict[str, str] | None = None, **params: Any
) -> list[dict[str, Any]]:
    """Every entry matching ``params``, page after page (as the operator, or with ``headers``)."""
    found, cursor = [], None
    while True:
        page = httpx.get(
            server.url + ENTRIES,
            params={**params, **({"cursor": cursor} if cursor else {})},
            headers=headers,
            auth=None if headers else ADMIN_AUTH,
        ).json()
        found += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def test_off_by_default_every_admin_path_is_404_saying_how_to_turn_it_on(policies, routes):
    with ThreadServer(policies) as s:
        for method, path in (
            ("GET", ENTRIES),
            ("POST", "/api/test/entries/7/erase"),
            ("GET", "/api/test/whoami"),
        ):
            reply = httpx.request(method, s.url + path, auth=ADMIN_AUTH)
            assert reply.status_code == 404
            assert "the admin API is disabled: set server.adminAPI.enabled: true" in reply.json()["message"]
        assert httpx.get(s.url + "/api/audit/head").status_code == 200  # public while the log API is on


def test_enabled_without_credentials_or_issuers_refuses_to_start():
    with pytest.raises(ConfigError) as refused:
        load_config(None, overrides={"server": {"adminAPI": {"enabled": True}}}, env={})
    assert "server.adminAPI.enabled is true but nobody can sign in" in str(refused.value)
    assert "chamberlain has no default credentials" in str(refused.value)


@pytest.mark.parametrize(
    ("credentials", "needle"),
    [
        ({"username": "op"}, "username and passwordHash go together"),
        ({"username": "op", "passwordHash": "not base64!"}, "passwordHash: not base64"),
        ({"username": "op", "passwordHash": base64.b64encode(b"plain").decode()}, "is not a bcrypt hash"),
        ({"username": "a:b", "passwordHash": ADMIN_HASH}, "no ':'"),
    ],
)
def test_bad_credentials_are_named(credentials, needle):
    with pytest.raises(ConfigError) as refused:
        load_config(
            None,
            overrides={"server": {"adminAPI": {"enabled": True, "adminCredentials": credentials}}},
            env={},
        )
    assert "server.adminAPI.adminCredentials" in str(refused.value) and needle in str(refused.value)


def test_the_operator_signs_in_with_basic_auth(server):
    reply = httpx.get(server.url + "/api/test/whoami?x=1", auth=ADMIN_AUTH)
    assert reply.status_code == 200
    assert reply.json() == {
        "id": "operator",
        "issuer": None,
        "roles": ["admin"],
        "via": "basic",
        "query": "x=1",
    }


def _basic(text: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(text).decode()}


def test_refused_sign_ins_are_401_saying_why(server, idp):
    other = IdentityProvider("https://evil.example", kid=idp.kid)
    claims = {"iss": idp.issuer, "sub": "mallory", "aud": AUDIENCE, "exp": 4102444800, "roles": ["admin"]}
    cases = {
        "no header": ({}, "authentication required"),
        "wrong password": (_basic(b"operator:guess"), "wrong username or password"),
        "wrong username": (_basic(b"root:" + ADMIN_AUTH[1].encode()), "wrong username or password"),
        "not base64": ({"Authorization": "Basic %%%"}, "malformed basic credentials"),
        "no colon": (_basic(b"operator"), "malformed basic credentials"),
        "huge basic": (_basic(b"operator:" + b"x" * 5000), "longer than 1024 bytes"),
        "over 72 bytes": (_basic(b"operator:" + b"y" * 100), "wrong username or password"),
        "unknown scheme": ({"Authorization": "Digest abc"}, "unsupported authorization scheme 'Digest'"),
        "wrong issuer": ({"Authorization": f"Bearer {other.token('alice', aud=AUDIENCE)}"}, "is not trusted"),
        "expired": (person(idp, "alice", ["admin"], lifetime=-60), "expired: claim exp"),
        "alg none": (
            {"Authorization": "Bearer " + pyjwt.encode(claims, None, algorithm="none")},
            "alg 'none' is not accepted",
        ),
        "wrong audience": (
            {"Authorization": f"Bearer {idp.token('alice', aud='https://else.example')}"},
            "does not name https://chamberlain.example",
        ),
        "garbage token": ({"Authorization": "Bearer a.b"}, "not a JWT"),
    }
    for name, (headers, needle) in cases.items():
        reply = httpx.get(server.url + "/api/test/whoami", headers=headers)
        assert reply.status_code == 401, name
        assert reply.json()["code"] == 16 and needle in reply.json()["message"], (name, reply.json())
        assert reply.headers["www-authenticate"].startswith("Basic realm=")


def test_two_authorization_headers_are_refused(server):
    basic = "Basic " + base64.b64encode(":".join(ADMIN_AUTH).encode()).decode()
    request = (
        f"GET /api/test/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: {basic}\r\n"
        f"Authorization: Bearer x\r\nConnection: close\r\n\r\n"
    ).encode()
    reply = raw_http(server.port, request)
    assert reply.startswith(b"HTTP/1.1 401") and b"two Authorization headers" in reply


def test_a_header_past_the_limit_is_431(server):
    request = (
        f"GET /api/test/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {'A' * 70000}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    assert raw_http(server.port, request).startswith(b"HTTP/1.1 431")


def test_people_sign_in_with_their_issuers_token(server, idp):
    reply = httpx.get(server.url + "/api/test/whoami", headers=person(idp, "bob", ["auditor"]))
    assert reply.json() == {
        "id": "bob",
        "issuer": idp.issuer,
        "roles": ["auditor"],
        "via": "jwt",
        "query": "",
    }


def test_an_auditor_may_read_but_not_erase(server, idp):
    auditor = person(idp, "carol", ["auditor"])
    assert httpx.get(server.url + ENTRIES, headers=auditor).status_code == 200
    denied = httpx.post(server.url + "/api/test/entries/42/erase", headers=auditor)
    assert denied.status_code == 403 and denied.json()["code"] == 7
    assert denied.json()["message"] == (
        "admin API: 'carol' (https://people.example) with roles [auditor] may not audit:erase on chamberlain:audit: "
        "no rule allowed it (policy resource.chamberlain_audit.vdefault)"
    )
    nobody = httpx.get(server.url + ENTRIES, headers=person(idp, "dave", []))
    assert nobody.status_code == 403 and "with roles [none] may not audit:read" in nobody.json()["message"]
    erased = httpx.post(server.url + "/api/test/entries/42/erase", content=b"why", auth=ADMIN_AUTH)
    assert erased.status_code == 202 and erased.json() == {"erased": "42", "body_bytes": 3}


def test_every_admin_call_is_a_decision_in_the_log(server, idp):
    httpx.get(server.url + "/api/test/whoami", headers=person(idp, "erin", ["auditor"], team="audit"))
    httpx.post(server.url + "/api/test/entries/e-9/erase", headers=person(idp, "erin", ["auditor"]))
    recorded = [e for e in entries(server, principal="erin") if e["point"] == "admin"]
    assert [(e["action"], e["effect"], e["resource"]["kind"], e["resource"]["id"]) for e in recorded] == [
        ("audit:read", "EFFECT_ALLOW", "chamberlain:audit", "test_whoami"),
        ("audit:erase", "EFFECT_DENY", "chamberlain:audit", "e-9"),
    ]
    assert all(e["principal"]["roles"] == ["auditor"] for e in recorded)
    mine = [e for e in entries(server, principal="operator") if e["point"] == "admin"]
    assert mine and all(e["principal"]["roles"] == ["admin"] for e in mine)


def test_paging_walks_every_entry_exactly_once(server):
    for i in range(23):
        httpx.post(server.url + "/api/check/resources", json={**CHECK, "requestId": f"walk-{i}"})
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(server.url + ENTRIES, params=params, auth=ADMIN_AUTH).json()
        assert len(page["entries"]) <= 5
        seen += [e["seq"] for e in page["entries"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(len(seen))) and pages > 5  # every entry once, in order, none skipped
    walked = {e["request_id"] for e in entries(server, resource_kind="document")}
    assert {f"walk-{i}" for i in range(23)} <= walked


def test_a_page_stops_before_the_response_byte_limit(policies, routes):
    overrides = {"server": admin_on(), "chamberlain": {"admin": {"maxResponseBytes": 1}}}
    with ThreadServer(policies, overrides) as s:
        for i in range(3):
            httpx.post(s.url + "/api/check/resources", json={**CHECK, "requestId": f"b-{i}"})
        page = httpx.get(s.url + ENTRIES, params={"limit": 100}, auth=ADMIN_AUTH).json()
        assert len(page["entries"]) == 1 and page["next_cursor"]  # at least one, however small the bound
        assert len(entries(s, resource_kind="document")) == 3


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        (f"{ENTRIES}?after=9223372036854775808", "unknown query parameter 'after'"),
        (f"{ENTRIES}?limit=1001", "'limit' must be an integer from 1 to 1000, got 1001"),
        (f"{ENTRIES}?limit=-1", "'limit' must be an integer from 1 to 1000, got -1"),
        (f"{ENTRIES}?limit=99999999999999999999999", "'limit' must be an integer"),
        (f"{ENTRIES}?limit=%EF%BC%91", "'limit' must be an integer"),  # a full-width digit
        (f"{ENTRIES}?cursor=garbage", "'cursor' is not a cursor this listing gave"),
        (f"{ENTRIES}?cursor=eyJ2IjoxLCJhZnRlciI6LTV9", "'cursor' is not a cursor"),  # {"v":1,"after":-5}
        (f"{ENTRIES}?since=yesterday", "not an RFC 3339 time"),
        (f"{ENTRIES}?%ff=1", "invalid query string"),
        ("/api/audit/proof/inclusion?index=9223372036854775808", "'index' must be an integer from 0 to"),
        ("/api/audit/proof/inclusion?index=0&tree_size=-3", "'tree_size' must be an integer from 0 to"),
        ("/api/audit/proof/consistency?first=1&second=99999999999999999999", "'second' must be an integer"),
        ("/api/audit/proof/consistency?first=-1", "'first' must be an integer from 0"),
    ],
)
def test_out_of_range_parameters_are_400(server, path, needle):
    reply = httpx.get(server.url + path, auth=ADMIN_AUTH)
    assert reply.status_code == 400 and needle in reply.json()["message"], reply.text


def test_garbage_is_answered_without_a_5xx(server):
    assert httpx.put(server.url + ENTRIES, auth=ADMIN_AUTH).status_code == 405
    assert httpx.get(server.url + "/api/test/entries/x/erase", auth=ADMIN_AUTH).headers["allow"] == "POST"
    assert httpx.post(server.url + f"/api/test/entries/{'i' * 300}/erase", auth=ADMIN_AUTH).status_code == 404
    assert httpx.post(server.url + "/api/test/entries//erase", auth=ADMIN_AUTH).status_code == 404
    big = httpx.post(server.url + "/api/test/entries/1/erase", content=b"x" * (5 << 20), auth=ADMIN_AUTH)
    assert big.status_code == 413
    unauthenticated_big = httpx.post(server.url + "/api/test/entries/1/erase", content=b"x" * (5 << 20))
    assert unauthenticated_big.status_code == 401  # refused before the body is read
    broken = httpx.get(server.url + "/api/test/broken", auth=ADMIN_AUTH)
    assert broken.status_code == 500 and "internal error (call id" in broken.json()["message"]


def test_public_head_and_proofs_need_no_credentials(server):
    httpx.post(server.url + "/api/check/resources", json=CHECK)
    head = httpx.get(server.url + "/api/audit/head")
    assert head.status_code == 200 and head.json()["tree_size"] >= 1
    assert httpx.get(server.url + "/api/audit/proof/inclusion", params={"index": 0}).status_code == 200
    assert httpx.get(server.url + ENTRIES).status_code == 401


def _metric(server: ThreadServer, via: str, result: str) -> float:
    for line in httpx.get(server.url + "/metrics").text.splitlines():
        if line.startswith(f'chamberlain_admin_authentications_total{{result="{result}",via="{via}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_verified_credentials_are_cached_and_failures_counted(server):
    before = (_metric(server, "basic", "cached"), _metric(server, "basic", "failed"))
    httpx.get(server.url + "/api/test/whoami", auth=ADMIN_AUTH)
    httpx.get(server.url + "/api/test/whoami", auth=ADMIN_AUTH)
    httpx.get(server.url + "/api/test/whoami", auth=("operator", "nope"))
    httpx.get(server.url + "/api/test/whoami", auth=("operator", "nope"))
    after = (_metric(server, "basic", "cached"), _metric(server, "basic", "failed"))
    assert after[0] >= before[0] + 2 and after[1] == before[1] + 2  # failures are never cached


def test_an_admin_audience_keeps_the_token_a_person_hands_an_agent_out_of_the_admin_surface(
    policies, idp, routes, tmp_path
):
    delegation = trusting(tmp_path, idp)
    delegation["trustedIssuers"][0]["adminAudience"] = "https://admin.chamberlain.example"
    overrides = {"server": admin_on(), "chamberlain": {"delegation": delegation}}
    with ThreadServer(policies, overrides) as s:
        handed = person(idp, "alice", ["admin"])  # for the token exchange: it names AUDIENCE
        reply = httpx.get(s.url + "/api/test/whoami", headers=handed)
        assert reply.status_code == 401 and "does not name https://admin.chamberlain.example" in reply.text
        signed_in = idp.token("alice", aud="https://admin.chamberlain.example", roles=["admin"])
        reply = httpx.get(s.url + "/api/test/whoami", headers={"Authorization": f"Bearer {signed_in}"})
        assert reply.status_code == 200 and reply.json()["id"] == "alice"


def test_an_admin_audience_must_differ_from_the_audience(policies, idp, tmp_path):
    delegation = trusting(tmp_path, idp)
    delegation["trustedIssuers"][0]["adminAudience"] = AUDIENCE
    with pytest.raises(
        Exception, match=r"trustedIssuers\[0\]\.adminAudience: expected an audience other than"
    ):
        ThreadServer(policies, {"server": admin_on(), "chamberlain": {"delegation": delegation}})


def test_approvals_with_people_signing_in_with_the_token_they_hand_agents_are_warned_about(
    policies, idp, tmp_path
):
    delegation = trusting(tmp_path, idp)
    base = {
        "storage": {"disk": {"directory": str(policies)}},
        "server": admin_on(),
        "chamberlain": {"stateDir": str(tmp_path / "state"), "delegation": delegation},
    }
    shared = [w for w in load_config(overrides=base).warnings if "has no adminAudience" in w]
    assert len(shared) == 1 and idp.issuer in shared[0] and "decide the approvals" in shared[0]
    delegation["trustedIssuers"][0]["adminAudience"] = "https://admin.chamberlain.example"
    assert not [w for w in load_config(overrides=base).warnings if "adminAudience" in w]
    del delegation["trustedIssuers"][0]["adminAudience"]
    base["chamberlain"]["approvals"] = {"enabled": False}
    assert not [w for w in load_config(overrides=base).warnings if "adminAudience" in w]


def test_repeated_failures_are_rate_limited_per_client(policies):
    with ThreadServer(
        policies, {"server": admin_on(), "chamberlain": {"admin": {"maxFailedLogins": 3}}}
    ) as s:
        assert httpx.get(s.url + ENTRIES, auth=ADMIN_AUTH).status_code == 200  # now cached
        codes = [httpx.get(s.url + ENTRIES, auth=("operator", f"guess-{i}")).status_code for i in range(5)]
        assert codes == [401, 401, 401, 429, 429]
        limited = httpx.get(s.url + ENTRIES, auth=("operator", "guess"))
        assert (
            "too many failed sign-ins" in limited.json()["message"]
            and int(limited.headers["retry-after"]) >= 1
        )
        # Until the minute has passed, even the right (and cached) credential: otherwise a guesser at this
        # address would keep guessing at the cache's speed, told apart by 200 from 429.
        assert httpx.get(s.url + ENTRIES, auth=ADMIN_AUTH).status_code == 429


def test_a_configured_admin_policy_folder_replaces_the_shipped_one(policies, idp, tmp_path, routes):
    folder = tmp_path / "admin-policies"
    folder.mkdir()
    (folder / "audit.yaml").write_text("""\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  version: default
  resource: "chamberlain:audit"
  rules:
    - name: support-reads-entries
      actions: ["audit:read"]
      effect: EFFECT_ALLOW
      roles: [support]
    - name: locked-entries-stay
      actions: ["audit:erase"]
      effect: EFFECT_DENY
      roles: ["*"]
      condition: {match: {expr: R.id == "locked"}}
    - name: the-operator-erases
      actions: ["audit:erase"]
      effect: EFFECT_ALLOW
      roles: ["*"]
      condition: {match: {expr: P.attr.via == "basic" && P.attr.issuer == ""}}
""")
    overrides = {
        "server": admin_on(),
        "chamberlain": {"delegation": trusting(tmp_path, idp), "admin": {"policies": str(folder)}},
    }
    with ThreadServer(policies, overrides) as s:
        assert httpx.get(s.url + ENTRIES, headers=person(idp, "sam", ["support"])).status_code == 200
        assert httpx.get(s.url + ENTRIES, headers=person(idp, "amy", ["auditor"])).status_code == 403
        assert httpx.post(s.url + "/api/test/entries/1/erase", auth=ADMIN_AUTH).status_code == 202
        locked = httpx.post(s.url + "/api/test/entries/locked/erase", auth=ADMIN_AUTH)
        assert locked.status_code == 403 and locked.json()["message"].endswith(
            "denied by policy resource.chamberlain_audit.vdefault rule 'locked-entries-stay'"
        )
        # a person's claims cannot pass for the operator's sign-in: via and issuer are set by the server
        forged = person(idp, "sam", ["support"], via="basic", issuer="")
        assert httpx.post(s.url + "/api/test/entries/2/erase", headers=forged).status_code == 403
        [entry] = entries(s, person(idp, "sam", ["support"]), principal="sam", action="audit:erase")
        assert entry["principal"]["attr"] == {"via": "jwt", "issuer": idp.issuer}  # what the condition read


def test_the_admin_policies_stay_out_of_the_users_folder(server):
    kinds = set(server.app.state.pdp.policies.by_key)
    assert kinds and not any("chamberlain_" in k for k in kinds)


def test_a_broken_admin_policy_folder_stops_start_up(policies, tmp_path):
    from chamberlain.errors import Error
    from chamberlain.server.app import create_app

    (tmp_path / "admin").mkdir()
    (tmp_path / "admin" / "audit.yaml").write_text("resourcePolicy: [not, a, policy\n")
    config = load_config(
        None,
        overrides={
            "server": admin_on(),
            "storage": {"disk": {"directory": str(policies), "watchForChanges": False}},
            "chamberlain": {
                "stateDir": str(tmp_path / "state"),
                "admin": {"policies": str(tmp_path / "admin")},
            },
        },
        env={},
    )
    with pytest.raises(Error) as refused:
        create_app(config)
    assert "audit.yaml" in str(refused.value)


def test_each_admin_endpoint_has_its_own_metrics(server):
    httpx.get(server.url + "/api/test/whoami", auth=ADMIN_AUTH)
    httpx.post(server.url + "/api/test/entries/3/erase", headers={"Authorization": "Bearer x.y.z"})
    text = httpx.get(server.url + "/metrics").text
    assert 'chamberlain_http_requests_total{code="200",endpoint="test_whoami"}' in text
    assert 'chamberlain_http_requests_total{code="401",endpoint="test_erase"}' in text


def test_failed_logins_are_forgotten_after_a_minute_and_kept_in_bounded_memory():
    from chamberlain.server.admin.auth import TRACKED_CLIENTS, FailedLogins

    now = [1000.0]
    failures = FailedLogins(2, lambda: now[0])
    failures.add("10.0.0.1")
    failures.add("10.0.0.1")
    assert failures.retry_after("10.0.0.1") == 60.0 and failures.retry_after("10.0.0.2") == 0.0
    now[0] += 61
    assert failures.retry_after("10.0.0.1") == 0.0
    for i in range(TRACKED_CLIENTS + 50):
        failures.retry_after(f"asking-{i}")  # asking stores nothing
        failures.add(f"failing-{i}")
    assert len(failures._seen) == TRACKED_CLIENTS
