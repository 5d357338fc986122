"""/_chamberlain/authz on a real server (uvicorn on loopback), asked as each proxy asks: Envoy's HTTP service
mode (the original request, its path after the prefix), nginx's X-Original-*, Caddy's and Traefik's
X-Forwarded-*; tokens, routes, bodies and the MCP headers; only ever 200, 401 or 403."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from chamberlain.audit import Filter
from tests.delegation.support import ISSUER, IdentityProvider
from tests.gateways.proxy.support import AUTHZ, ROUTES, chain_tokens, claims, policies, server
from tests.server.support import ThreadServer


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with server(tmp_path_factory.mktemp("proxy")) as (srv, idp):
        first, second = chain_tokens(srv.url, idp)
        yield srv, idp, first, second


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", **headers}


def test_envoy_http_mode_allows_with_the_upstream_headers_and_records_the_decision(env):
    srv, _, _, second = env
    # Envoy's authorization request: the original method, path_prefix + original path and query, Host.
    reply = httpx.post(
        f"{srv.url}{AUTHZ}/payments/p1/pay?amount=50", headers=bearer(second, host="api.example")
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-chamberlain-subject"] == "alice"
    assert reply.headers["x-chamberlain-actors"] == "tool-agent,planner-agent"
    decision = reply.headers["x-chamberlain-decision"]
    entries = srv.app.state.log.read(lambda r: r.search(Filter(resource_id="p1", action="pay", limit=1000)))
    [entry] = [e for e in entries if e.get("call_id", e.get("callId")) == decision]
    assert entry["point"] == "proxy:envoy-http", entry


def test_the_chain_is_attenuated_and_the_denial_explains_without_policy_internals(env):
    srv, _, _, second = env
    reply = httpx.post(f"{srv.url}{AUTHZ}/payments/p1/pay?amount=5000", headers=bearer(second))
    assert reply.status_code == 403
    body = reply.json()
    assert body["message"] == "chamberlain denied pay on payment p1 for alice via planner-agent > tool-agent"
    assert "policy" not in body and "rule" not in reply.text
    assert "x-chamberlain-subject" not in reply.headers


def test_a_query_parameter_a_route_reads_may_not_be_given_twice(env):
    """HTTP parameter pollution: chamberlain would decide on the first amount, and an upstream reading the
    last (Rails, PHP) or all of them (Express) would pay another one."""
    srv, _, _, second = env
    for query in ("amount=50&amount=5000", "amount=50&currency=EUR&currency=USD"):
        reply = httpx.post(f"{srv.url}{AUTHZ}/payments/p1/pay?{query}", headers=bearer(second))
        assert reply.status_code == 403, (query, reply.text)
        assert "is given more than once" in reply.json()["message"], reply.text
    # ';' separates parameters too in Rack 2 (Rails, which reads the last) and Perl's CGI.
    for query in ("amount=50&x=1;amount=5000", "amount=50&currency=EUR;currency=USD", "x=1;amount=50"):
        reply = httpx.post(f"{srv.url}{AUTHZ}/payments/p1/pay?{query}", headers=bearer(second))
        assert reply.status_code == 403, (query, reply.text)
        assert "is given more than once" in reply.json()["message"], reply.text
    tagged = httpx.post(f"{srv.url}{AUTHZ}/payments?tag=a&tag=b", json={"amount": 20}, headers=bearer(second))
    assert tagged.status_code == 200, tagged.text  # a parameter the route does not read may repeat


def test_a_query_parameter_a_route_reads_may_not_be_given_twice_in_another_case(env):
    """ASP.NET reads query names without regard to case, and binds the first value: ``?AMOUNT=5000&amount=50``
    was decided on amount 50 and paid 5000."""
    srv, _, _, second = env
    for query in ("AMOUNT=5000&amount=50", "amount=50&currency=EUR&Currency=USD"):
        reply = httpx.post(f"{srv.url}{AUTHZ}/payments/p1/pay?{query}", headers=bearer(second))
        assert reply.status_code == 403, (query, reply.text)
        assert "is given more than once" in reply.json()["message"], reply.text
    tagged = httpx.post(f"{srv.url}{AUTHZ}/payments?tag=a&TAG=b", json={"amount": 20}, headers=bearer(second))
    assert tagged.status_code == 200, tagged.text  # a parameter the route does not read may


def test_a_header_a_route_reads_may_not_be_given_twice(env):
    """Header pollution: chamberlain reads a repeated header as its values joined with ", ", which a DENY
    comparing one value does not match, while the upstream may read the first or the last."""
    srv, _, _, second = env
    url = f"{srv.url}{AUTHZ}/payments/p1/refund?amount=50"
    once = [("authorization", f"Bearer {second}"), ("x-channel", "web"), ("x-via", "app")]
    assert httpx.post(url, headers=once).status_code == 200
    for twice, named in ((("x-channel", "agent"), "x-channel"), (("x-via", "other"), "x-via")):
        reply = httpx.post(url, headers=[*once, twice])
        assert reply.status_code == 403, reply.text
        assert f"header '{named}' is given more than once" in reply.json()["message"], reply.text
    # CGI, WSGI and PHP read X_Channel as X-Channel: an underscore spelling is a second value for them.
    for spelt in (("x_channel", "agent"), ("x_via", "other")):
        reply = httpx.post(url, headers=[*once, spelt])
        assert reply.status_code == 403, (spelt, reply.text)
        assert "is given more than once" in reply.json()["message"], reply.text
    unread = httpx.post(url, headers=[*once, ("x-trace", "1"), ("x-trace", "2")])
    assert unread.status_code == 200, unread.text  # a header the route does not read may repeat
    nginx = bearer(second, **{"x-original-uri": "/payments/p1/refund?amount=50", "x-original-method": "POST"})
    via_nginx = httpx.post(f"{srv.url}{AUTHZ}", headers=[*nginx.items(), ("x-via", "a"), ("x-via", "b")])
    assert via_nginx.status_code == 403 and "'x-via' is given more than once" in via_nginx.text


def test_nginx_headers_are_believed_from_a_trusted_proxy(env):
    srv, _, _, second = env
    headers = bearer(second, **{"x-original-uri": "/payments/p1/pay?amount=10", "x-original-method": "POST"})
    assert httpx.get(f"{srv.url}{AUTHZ}", headers=headers).status_code == 200
    headers["x-original-uri"] = "/payments/p1/pay?amount=2000"
    assert httpx.get(f"{srv.url}{AUTHZ}", headers=headers).status_code == 403


@pytest.mark.parametrize("server_header", [{}, {"x-forwarded-server": "traefik-1"}])
def test_caddy_and_traefik_forwarded_headers(env, server_header):
    srv, _, _, second = env
    headers = bearer(
        second,
        **{
            "x-forwarded-uri": "/payments/p9/pay?amount=10",
            "x-forwarded-method": "POST",
            "x-forwarded-host": "api.example",
            **server_header,
        },
    )
    assert httpx.get(f"{srv.url}{AUTHZ}", headers=headers).status_code == 200


def test_forwarded_headers_from_an_untrusted_address_are_refused(tmp_path):
    with server(tmp_path, trustedProxies=["10.0.0.0/8"]) as (srv, idp):
        _, second = chain_tokens(srv.url, idp)
        headers = bearer(
            second, **{"x-original-uri": "/payments/p1/pay?amount=10", "x-original-method": "POST"}
        )
        reply = httpx.get(f"{srv.url}{AUTHZ}", headers=headers)
        assert reply.status_code == 403 and "trustedProxies" in reply.json()["message"]
        # The peer is the socket's: an X-Forwarded-For naming a trusted address changes nothing.
        reply = httpx.get(f"{srv.url}{AUTHZ}", headers={**headers, "x-forwarded-for": "10.1.2.3"})
        assert reply.status_code == 403 and "127.0.0.1" in reply.json()["message"]


@pytest.mark.parametrize(
    ("authorization", "error"),
    [
        (None, None),
        ("Basic YTpi", "invalid_request"),
        ("Bearer", "invalid_request"),
        ("Bearer a b", "invalid_request"),
        ("Bearer not-a-jwt", "invalid_token"),
        ("Bearer " + "x" * 20000, "invalid_request"),
        ("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.", "invalid_token"),
    ],
)
def test_missing_or_bad_tokens_are_401_with_a_challenge(env, authorization, error):
    srv = env[0]
    headers = {"authorization": authorization} if authorization else {}
    reply = httpx.post(f"{srv.url}{AUTHZ}/payments/p1/pay?amount=1", headers=headers)
    assert reply.status_code == 401
    challenge = reply.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="chamberlain"')
    assert (f'error="{error}"' in challenge) if error else ("error=" not in challenge)


def test_a_token_from_an_untrusted_issuer_or_forged_is_401(env):
    srv, idp, _, second = env
    assert httpx.get(f"{srv.url}{AUTHZ}/payments/p1", headers=bearer(idp.token("alice"))).status_code == 401
    head, body, sig = second.split(".")
    forged = f"{head}.{body}.{sig[::-1]}"
    assert httpx.get(f"{srv.url}{AUTHZ}/payments/p1", headers=bearer(forged)).status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/unmapped",
        "/payments/p1/refund",
        "/payments/p1/../p2/pay?amount=1",
        "/payments//pay?amount=1",
        "/payments/p1%2Fx/pay?amount=1",
        "/payments/p1/pay?amount=abc",
        "/payments/p1/pay",
        # Path parameters: Tomcat and Spring cut a segment at ';', so '..;' is a dot segment there and
        # 'p1;x' is p1 (chamberlain would decide on another resource than the one the upstream acts on).
        "/payments/..;/pay?amount=1",
        "/payments/p1;x=1/pay?amount=1",
        "/payments/p1%3Bx/pay?amount=1",
        # A fragment, which clients never send: Express's query parser cuts it off, chamberlain would not.
        "/payments/p1/pay?amount=1&currency=USD#",
        "/payments/p1/pay#?amount=1",
    ],
)
def test_unmapped_and_non_canonical_requests_are_403(env, path):
    srv, _, _, second = env
    # As nginx sends it ($request_uri, not normalized): a client library would remove the dot segments.
    headers = bearer(second, **{"x-original-uri": path, "x-original-method": "POST"})
    reply = httpx.get(f"{srv.url}{AUTHZ}", headers=headers)
    assert reply.status_code == 403, reply.text


def test_a_request_asking_the_upstream_for_another_method_is_403(env):
    """Method override: chamberlain decides POST ... pay, and an upstream honouring X-HTTP-Method-Override
    (Express's method-override, ASP.NET) or ``_method`` (Rails, Laravel) would act as DELETE."""
    srv, _, _, second = env
    url = f"{srv.url}{AUTHZ}/payments/p1/pay?amount=50"
    for header in ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"):
        reply = httpx.post(url, headers=bearer(second, **{header: "DELETE"}))
        assert reply.status_code == 403, (header, reply.text)
        assert f"header '{header.lower()}' asks for method 'DELETE'" in reply.json()["message"]
    for query in ("_method=DELETE", "_method=POST&_method=DELETE"):
        reply = httpx.post(f"{url}&{query}", headers=bearer(second))
        assert reply.status_code == 403, (query, reply.text)
        assert "query parameter '_method' asks for method" in reply.json()["message"]
    same = httpx.post(f"{url}&_method=post", headers=bearer(second, **{"X-HTTP-Method-Override": "POST"}))
    assert same.status_code == 200, same.text  # naming the method decided on changes nothing


def test_a_method_override_in_the_body_or_an_underscored_header_is_403(env):
    """An HTML form's ``_method`` travels in the body (Rails' Rack::MethodOverride reads only the form body, and
    Laravel either), and a WSGI or CGI server reads ``X_HTTP_Method_Override`` as ``X-HTTP-Method-Override``:
    chamberlain decided POST ... pay, and the upstream would act as DELETE."""
    srv, _, _, second = env
    url = f"{srv.url}{AUTHZ}/payments/p1/pay?amount=50"
    form = {"content-type": "application/x-www-form-urlencoded"}
    for body in (b"_method=DELETE", b"note=x&_method=delete"):
        reply = httpx.post(url, content=body, headers=bearer(second, **form))
        assert reply.status_code == 403, (body, reply.text)
        assert "body parameter '_method' asks for method" in reply.json()["message"], reply.text
    multipart = httpx.post(
        url, data={"_method": "DELETE"}, files={"f": ("a.txt", b"x")}, headers=bearer(second)
    )
    assert multipart.status_code == 403, multipart.text  # a form with a file: multipart/form-data
    assert "body parameter '_method' asks for method" in multipart.json()["message"], multipart.text
    for header in ("X_HTTP_Method_Override", "x_http_method", "X-Method_Override"):
        reply = httpx.post(url, headers=bearer(second, **{header: "DELETE"}))
        assert reply.status_code == 403, (header, reply.text)
        assert "asks for method 'DELETE'" in reply.json()["message"], reply.text
    same = httpx.post(url, content=b"_method=POST", headers=bearer(second, **form))
    assert same.status_code == 200, same.text


def test_a_route_reading_the_body_needs_all_of_it(env):
    srv, _, _, second = env
    url = f"{srv.url}{AUTHZ}/payments"
    assert httpx.post(url, json={"amount": 20}, headers=bearer(second)).status_code == 200
    assert httpx.post(url, headers=bearer(second)).status_code == 403  # no body sent
    partial = bearer(second, **{"x-envoy-auth-partial-body": "true"})
    assert httpx.post(url, json={"amount": 20}, headers=partial).status_code == 403
    big = b'{"amount": 20, "pad": "' + b"x" * 70000 + b'"}'  # over maxBodyBytes: a prefix only
    reply = httpx.post(url, content=big, headers=bearer(second, **{"content-type": "application/json"}))
    assert reply.status_code == 403 and "only part" in reply.json()["message"]
    assert httpx.post(url, content=b"{nope", headers=bearer(second)).status_code == 403


def test_a_body_key_a_route_reads_given_again_in_another_case_is_403(env):
    """ASP.NET's JSON defaults read property names without regard to case: ``{"amount": 20, "Amount": 5000}`` was
    decided on 20 while the service took 5000."""
    srv, _, _, second = env
    url = f"{srv.url}{AUTHZ}/payments"
    assert httpx.post(url, json={"amount": 20}, headers=bearer(second)).status_code == 200
    for body in (
        {"amount": 20, "Amount": 5000},
        {"Amount": 5000},
        {"amount": 20, "memo": {"to": "a", "TO": "b"}},
    ):
        reply = httpx.post(url, json=body, headers=bearer(second))
        assert reply.status_code == 403, (body, reply.text)
        assert "which differ only in case" in reply.json()["message"], reply.text


def test_an_mcp_resource_uri_not_in_normal_form_is_403(env):
    """ALLOW resources/read::memo://notes/public/*: the action's wildcard matches memo://notes/public/../secret,
    which the server resolves to the secret notes (the SDK's templates decode their parameters); a header-only
    proxy never sees which URIs the server lists, so every URI must be in canonical, RFC 3986 normal form."""
    srv, _, _, second = env
    url = f"{srv.url}{AUTHZ}/mcp"
    read = {"mcp-method": "resources/read"}
    assert (
        httpx.post(
            url, headers=bearer(second, **read, **{"mcp-name": "memo://notes/public/plan"})
        ).status_code
        == 200
    )
    for uri in (
        "memo://notes/public/../secret",
        "memo://notes/public/%2e%2e/secret",
        "memo://notes/public/..%2Fsecret",
        "memo://notes/public//secret",
        "memo://notes/public/%73ecret",
        "MEMO://notes/public/plan",
    ):
        reply = httpx.post(url, headers=bearer(second, **read, **{"mcp-name": uri}))
        assert reply.status_code == 403, (uri, reply.text)
        assert "the URI" in reply.json()["message"], reply.text


def test_mcp_headers_decide_a_tool_call_and_refuse_when_a_policy_reads_arguments(env):
    srv, _, first, second = env
    url = f"{srv.url}{AUTHZ}/mcp"
    call = {"mcp-method": "tools/call", "mcp-name": "search"}
    assert httpx.post(url, headers=bearer(second, **call)).status_code == 200
    reply = httpx.post(url, headers=bearer(second, **{**call, "mcp-name": "send_money"}))
    assert reply.status_code == 403 and "R.attr.arguments" in reply.json()["message"]
    assert httpx.post(url, headers=bearer(second, **{**call, "mcp-name": "delete_repo"})).status_code == 403
    assert httpx.post(url, headers=bearer(second)).status_code == 403  # no Mcp-Method on an MCP path
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "search", "arguments": {}},
    }
    assert (
        httpx.post(url, json=message, headers=bearer(second, **call)).status_code == 200
    )  # Envoy sent the body
    message["params"]["name"] = "send_money"  # headers that lie about the body
    reply = httpx.post(url, json=message, headers=bearer(second, **call))
    assert reply.status_code == 403 and "do not match" in reply.json()["message"]
    # A JSON-RPC batch (MCP 2025-03-26 servers run every call in it) whose headers name its harmless call.
    batch = [{**message, "params": {"name": "search", "arguments": {}}}, {**message, "id": 2}]
    reply = httpx.post(url, json=batch, headers=bearer(second, **call))
    assert reply.status_code == 403 and "not one JSON-RPC request" in reply.json()["message"], reply.text
    assert claims(first)["sid"] == claims(second)["sid"]


def test_a_revoked_session_is_denied(tmp_path):
    with server(tmp_path) as (srv, idp):
        _, second = chain_tokens(srv.url, idp)
        url = f"{srv.url}{AUTHZ}/payments/p1/pay?amount=10"
        assert httpx.post(url, headers=bearer(second)).status_code == 200
        srv.app.state.sessions.revoke(claims(second)["sid"], by="admin:carol", reason="kill switch")
        assert httpx.post(url, headers=bearer(second)).status_code == 403


def test_detailed_denials_name_the_policy(tmp_path):
    with server(tmp_path, denyBody="detailed") as (srv, idp):
        _, second = chain_tokens(srv.url, idp)
        reply = httpx.post(f"{srv.url}{AUTHZ}/payments/p1/pay?amount=5000", headers=bearer(second))
        assert reply.status_code == 403
        assert reply.json()["deniedBy"], reply.text


def key_set_server(
    tmp_path: Path, gateway: dict[str, Any], **resource_policies: str
) -> tuple[ThreadServer, IdentityProvider]:
    """A server deciding ``gateway``'s routes for people whose tokens an identity provider signs (a key set in
    ``auxData.jwt``), with the example policies and ``resource_policies`` (file stem -> YAML); and that provider."""
    idp = IdentityProvider()
    (tmp_path / "jwks.json").write_text(json.dumps(idp.jwks()))
    config = {
        "auxData": {"jwt": {"keySets": [{"id": "idp", "local": {"file": str(tmp_path / "jwks.json")}}]}},
        "chamberlain": {"gateway": gateway, "logLevel": "error"},
    }
    folder = policies(tmp_path)
    for stem, text in resource_policies.items():
        (folder / "resource_policies" / f"{stem}.yaml").write_text(text)
    return ThreadServer(folder, config), idp


def test_a_token_from_auxdata_key_sets_names_the_principal_and_its_roles(tmp_path):
    server, idp = key_set_server(tmp_path, {"routes": ROUTES, "principal": {"audiences": [ISSUER]}})
    with server as srv:
        url = f"{srv.url}{AUTHZ}/payments/p1/pay?amount=5000"  # staff pay up to 10000 themselves
        # A client's own X-Chamberlain-* headers: Envoy (allowed_upstream_headers) replaces only the headers the
        # answer carries, so chamberlain's are always there, empty when there is nothing to say (no agent acts).
        spoofed = {"x-chamberlain-actors": "trusted-agent", "x-chamberlain-log-index": "7"}
        reply = httpx.post(url, headers=bearer(idp.token("bob", roles=["finance_clerk"]), **spoofed))
        assert reply.status_code == 200 and reply.headers["x-chamberlain-subject"] == "bob"
        assert reply.headers["x-chamberlain-actors"] == ""
        assert reply.headers["x-chamberlain-log-index"].isdigit()
        assert httpx.post(url, headers=bearer(idp.token("bob", roles=["intern"]))).status_code == 403
        assert httpx.post(url, headers=bearer(idp.token("bob"))).status_code == 401  # no roles, no default
        assert (
            httpx.post(
                url, headers=bearer(idp.token("bob", roles=["finance_clerk"], lifetime=-60))
            ).status_code
            == 401
        )
        assert (
            httpx.post(
                url, headers=bearer(IdentityProvider().token("bob", roles=["finance_clerk"]))
            ).status_code
            == 401
        )


@pytest.mark.parametrize("audiences", [[], [ISSUER]])
def test_key_sets_without_audiences_are_warned_of_at_start(tmp_path, caplog, audiences):
    """A key-set token's aud is not checked without principal.audiences (as in Cerbos): a token the people's
    IdP issued for any other service is then taken here; the operator is told at start."""
    (tmp_path / "jwks.json").write_text(json.dumps(IdentityProvider().jwks()))
    config = {
        "auxData": {"jwt": {"keySets": [{"id": "idp", "local": {"file": str(tmp_path / "jwks.json")}}]}},
        "chamberlain": {"gateway": {"routes": ROUTES, "principal": {"audiences": audiences}}},
    }
    with (
        caplog.at_level(logging.WARNING, logger="chamberlain.gateways.proxy"),
        ThreadServer(policies(tmp_path), config),
    ):
        warned = [r.getMessage() for r in caplog.records if "principal.audiences is empty" in r.getMessage()]
    assert len(warned) == (0 if audiences else 1)


def test_a_key_set_token_with_an_act_claim_is_401(tmp_path):
    """An identity provider's own token exchange names the agent in ``act``: taking such a token's sub as the
    principal let the agent pay 5,000 as bob, where agents acting for staff may pay up to 1,000."""
    server, idp = key_set_server(tmp_path, {"routes": ROUTES})
    with server as srv:
        url = f"{srv.url}{AUTHZ}/payments/p1/pay?amount=5000"
        delegated = idp.token("bob", roles=["finance_clerk"], act={"sub": "planner-agent"})
        reply = httpx.post(url, headers=bearer(delegated))
        assert reply.status_code == 401, reply.text
        assert "act claim" in reply.headers["www-authenticate"], reply.headers
        assert httpx.post(url, headers=bearer(idp.token("bob", roles=["finance_clerk"]))).status_code == 200


def test_the_people_of_chamberlain_s_own_tokens_take_their_roles_from_the_subjects(tmp_path):
    """An exchanged token names no roles: the person's roles come from principal.subjects, by subject."""
    principal = {"subjects": {"alice": {"roles": ["finance_clerk"], "attr": {"department": "finance"}}}}
    with server(tmp_path, principal=principal) as (srv, idp):
        url = f"{srv.url}{AUTHZ}/payments/p1/pay?amount=10"
        _, alices = chain_tokens(srv.url, idp)
        assert httpx.post(url, headers=bearer(alices)).status_code == 200
        _, carols = chain_tokens(srv.url, idp, person="carol")
        refused = httpx.post(url, headers=bearer(carols))
        assert refused.status_code == 401
        assert "neither chamberlain.gateway.principal.subjects nor defaultRoles give any" in refused.text


def test_a_subject_pinned_to_an_issuer_is_not_another_issuers_namesake(tmp_path):
    """Two identity providers' key sets: partner's "bob" is not the bob principal.subjects gives the
    finance_clerk role to (pinned to the people's IdP with ``issuer``); without the pin both would be."""
    people, partner = IdentityProvider(), IdentityProvider("https://partner.example")
    keys = {"keys": people.jwks()["keys"] + partner.jwks()["keys"]}
    (tmp_path / "jwks.json").write_text(json.dumps(keys))
    subjects = {"bob": {"roles": ["finance_clerk"], "issuer": people.issuer}}
    config = {
        "auxData": {"jwt": {"keySets": [{"id": "idp", "local": {"file": str(tmp_path / "jwks.json")}}]}},
        "chamberlain": {
            "gateway": {"routes": ROUTES, "principal": {"audiences": [ISSUER], "subjects": subjects}}
        },
    }
    with ThreadServer(policies(tmp_path), config) as srv:
        url = f"{srv.url}{AUTHZ}/payments/p1/pay?amount=5000"
        assert httpx.post(url, headers=bearer(people.token("bob"))).status_code == 200
        namesake = httpx.post(url, headers=bearer(partner.token("bob")))
        assert namesake.status_code == 401, namesake.text  # no roles of its own, none configured for it


REPO_POLICY = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: repo
  version: default
  rules:
    - name: maintainers-do-anything
      actions: ["*"]
      effect: EFFECT_ALLOW
      roles: ["maintainer"]
    - name: but-never-delete
      actions: ["delete", "purge*"]
      effect: EFFECT_DENY
      roles: ["*"]
"""


def test_an_action_made_from_a_path_parameter_that_an_upstream_reads_as_another_is_403(tmp_path):
    """``action: "{op}"`` with ALLOW * and DENY delete: ``Delete`` (Express and ASP.NET route without regard to
    case), ``delete%20`` (an upstream trimming its input) and a fullwidth ``%EF%BD%84elete`` (one normalising Unicode)
    were each allowed as an action no rule denies, while the upstream deletes."""
    routes = [{"request": "POST /repos/{repo}/{op}", "kind": "repo", "id": "{repo}", "action": "{op}"}]
    server, idp = key_set_server(
        tmp_path, {"routes": routes, "principal": {"audiences": [ISSUER]}}, repo=REPO_POLICY
    )
    with server as srv:
        token = bearer(idp.token("mia", roles=["maintainer"]))
        assert httpx.post(f"{srv.url}{AUTHZ}/repos/r1/archive", headers=token).status_code == 200
        assert httpx.post(f"{srv.url}{AUTHZ}/repos/r1/delete", headers=token).status_code == 403
        assert httpx.post(f"{srv.url}{AUTHZ}/repos/r1/%64elete", headers=token).status_code == 403  # decoded
        for op, why in [
            ("Delete", "differs only in case from action 'delete'"),
            ("DELETE", "differs only in case from action 'delete'"),
            ("PurgeAll", "differs only in case from action 'purge*'"),
            ("delete%20", "has surrounding spaces"),
            ("%20delete", "has surrounding spaces"),
            ("%EF%BD%84elete", "is not in Unicode normal form NFKC ('delete')"),
            ("%2564elete", "a double percent-encoding"),  # delete to a server that decodes twice
        ]:
            reply = httpx.post(f"{srv.url}{AUTHZ}/repos/r1/{op}", headers=token)
            assert reply.status_code == 403, (op, reply.text)
            assert why in reply.json()["message"], (op, reply.text)
        # A value holding another parameter's name is filled in as it is, not read as that parameter.
        reply = httpx.post(f"{srv.url}{AUTHZ}/repos/%7Bop%7D/archive", headers=token)
        assert reply.status_code == 200, reply.text
        found = srv.app.state.log.read(lambda r: r.search(Filter(resource_id="{op}", limit=10)))
        assert [e["call_id"] for e in found] == [reply.headers["x-chamberlain-decision"]], found


TRANSFER_POLICY = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: transfer
  version: default
  rules:
    - name: payroll-account-only
      actions: ["send"]
      effect: EFFECT_ALLOW
      roles: ["finance_clerk"]
      condition:
        match:
          expr: R.attr.to == 9007199254740992
"""


def test_a_body_number_policies_would_read_as_another_is_403(tmp_path):
    """Policies read numbers as doubles (as Cerbos does): ``{"to": 9007199254740993}`` was decided as the one
    account the policy allows, 9007199254740992, and the service, reading the integer, paid its neighbour."""
    routes = [
        {
            "request": "POST /transfers",
            "kind": "transfer",
            "id": "new",
            "action": "send",
            "attr": {"to": "body.to"},
        },
        {
            "request": "PUT /transfers",
            "kind": "transfer",
            "id": "new",
            "action": "send",
            "attr": {"to": {"cel": "request.body.to"}},
        },
    ]
    server, idp = key_set_server(
        tmp_path, {"routes": routes, "principal": {"audiences": [ISSUER]}}, transfer=TRANSFER_POLICY
    )
    with server as srv:
        token = bearer(idp.token("bob", roles=["finance_clerk"]), **{"content-type": "application/json"})
        for method in ("POST", "PUT"):
            url = f"{srv.url}{AUTHZ}/transfers"
            allowed = httpx.request(method, url, content=b'{"to": 9007199254740992}', headers=token)
            assert allowed.status_code == 200, allowed.text
            for body, where in [
                (b'{"to": 9007199254740993}', "body.to is 9007199254740993"),
                # Beyond 2^64 the JSON parser reads a double; the service still reads the integer written.
                (b'{"to": 18446744073709551617}', "body.to is 1.8446744073709552e+19"),
                (
                    b'{"to": 9007199254740992, "memo": [-9007199254740993]}',
                    "body.memo[0] is -9007199254740993",
                ),
            ]:
                reply = httpx.request(method, url, content=body, headers=token)
                if method == "POST" and b"memo" in body:
                    assert reply.status_code == 200, reply.text  # a number the route does not read
                    continue
                assert reply.status_code == 403, (method, body, reply.text)
                assert reply.json()["message"].startswith(f"{where}, an integer beyond ±2^53"), reply.text


def test_a_path_matching_an_earlier_route_only_when_case_is_ignored_is_403(tmp_path):
    """``POST /payments/{id}/pay`` decides pay; a later, broader route decides view. ``/payments/p1/PAY`` (or
    ``Pay%20``) missed the first route and was allowed as a view, while Express and ASP.NET, routing without
    regard to case, ran the payment."""
    routes = [
        {"request": "POST /payments/{id}/pay", "kind": "payment", "id": "{id}", "action": "pay"},
        {"request": "POST /{section}/{id}/{what}", "kind": "repo", "id": "{id}", "action": "view"},
    ]
    server, idp = key_set_server(
        tmp_path, {"routes": routes, "principal": {"audiences": [ISSUER]}}, repo=REPO_POLICY
    )
    with server as srv:
        token = bearer(idp.token("mia", roles=["maintainer"]))  # may view anything, pay nothing
        assert httpx.post(f"{srv.url}{AUTHZ}/docs/d1/history", headers=token).status_code == 200
        assert httpx.post(f"{srv.url}{AUTHZ}/payments/p1/pay", headers=token).status_code == 403
        for path in (
            "/payments/p1/PAY",
            "/Payments/p1/pay",
            "/payments/p1/pay%20",
            "/payments/p1/%EF%BD%90ay",
        ):
            reply = httpx.post(f"{srv.url}{AUTHZ}{path}", headers=token)
            assert reply.status_code == 403, (path, reply.text)
            assert "matches route POST /payments/{id}/pay only when case" in reply.json()["message"], (
                reply.text
            )


def test_a_parameter_a_route_reads_given_in_both_the_query_and_the_body_is_403(env):
    """Rails' params (the body wins), PHP's $_REQUEST and Flask's request.values merge the query and the body:
    chamberlain decided ``?amount=50`` while the service read ``amount=5000`` from the body."""
    srv, _, _, second = env
    url = f"{srv.url}{AUTHZ}/payments/p1/pay?amount=50"
    form = {"content-type": "application/x-www-form-urlencoded"}
    for body, headers in [
        (b"amount=5000", form),
        (b'{"amount": 5000}', {"content-type": "application/json"}),
        (b"note=x&amount=5000", {**form, "x-envoy-auth-partial-body": "true"}),
    ]:
        reply = httpx.post(url, content=body, headers=bearer(second, **headers))
        assert reply.status_code == 403, (body, reply.text)
        assert "parameter 'amount' is given both in the query and in the body" in reply.json()["message"]
    assert httpx.post(url, content=b"note=x", headers=bearer(second, **form)).status_code == 200
    # The other way round: a route reading the body, the same name in the query.
    reply = httpx.post(f"{srv.url}{AUTHZ}/payments?amount=5000", json={"amount": 20}, headers=bearer(second))
    assert reply.status_code == 403 and "given both in the query and in the body" in reply.json()["message"]
    assert (
        httpx.post(f"{srv.url}{AUTHZ}/payments?x=1", json={"amount": 20}, headers=bearer(second)).status_code
        == 200
    )


MCP_DENY_POLICY = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: mcp_server
  version: default
  rules:
    - name: every-tool
      actions: ["tools/call::*"]
      effect: EFFECT_ALLOW
      roles: ["maintainer"]
    - name: but-never-delete
      actions: ["tools/call::delete_repo"]
      effect: EFFECT_DENY
      roles: ["*"]
"""


def test_an_mcp_name_a_lenient_server_reads_as_a_denied_tool_is_403(tmp_path):
    """Behind a header-only proxy chamberlain never sees the server's own tool names: ``Mcp-Name: Delete_Repo``
    was decided as a tool no DENY names and allowed by ``tools/call::*``, while a server matching names without
    regard to case ran delete_repo."""
    gateway = {"routes": ROUTES, "mcp": {"paths": ["/mcp"]}, "principal": {"audiences": [ISSUER]}}
    server, idp = key_set_server(tmp_path, gateway, mcp_server=MCP_DENY_POLICY)
    with server as srv:
        token = idp.token("mia", roles=["maintainer"])

        def call(name: str) -> httpx.Response:
            headers = bearer(token, **{"mcp-method": "tools/call", "mcp-name": name})
            return httpx.post(f"{srv.url}{AUTHZ}/mcp", headers=headers)

        assert call("search").status_code == 200
        assert call("delete_repo").status_code == 403
        for name, why in [
            ("Delete_Repo", "differs only in case from 'tools/call::delete_repo'"),
            ("DELETE_REPO", "differs only in case"),
        ]:
            reply = call(name)
            assert reply.status_code == 403, (name, reply.text)
            assert why in reply.json()["message"], (name, reply.text)
