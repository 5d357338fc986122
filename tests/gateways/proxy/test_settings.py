"""chamberlain.gateway is validated key by key when the configuration loads; each problem names its key."""

from __future__ import annotations

import pytest

from chamberlain.gateways.proxy.settings import GatewayConfigError, parse_settings
from chamberlain.server.config import ConfigError, load_config


def problems(section):
    with pytest.raises(GatewayConfigError) as caught:
        parse_settings(section)
    return caught.value.problems


def test_defaults_leave_the_endpoint_off():
    settings = parse_settings({})
    assert not settings.enabled and settings.trusts("127.0.0.1") and not settings.trusts("10.0.0.1")


def test_a_route_is_compiled():
    route = parse_settings(
        {
            "routes": [
                {
                    "request": "POST /invoices/{id}/pay",
                    "kind": "invoice",
                    "id": "{id}",
                    "action": "pay",
                    "attr": {"amount": "body.amount", "big": {"cel": "request.body.amount > 10"}},
                }
            ]
        }
    ).routes[0]
    assert route.segments == ("invoices", "{id}", "pay") and route.reads_body


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"routes": [{"request": "pay /x", "kind": "k", "action": "a"}]},
            "routes[0].request: expected 'METHOD",
        ),
        ({"routes": [{"request": "GET x", "kind": "k", "action": "a"}]}, "routes[0].request"),
        ({"routes": [{"request": "GET /a/{id}/{id}", "kind": "k", "action": "a"}]}, "appears twice"),
        ({"routes": [{"request": "GET /a/x{id}", "kind": "k", "action": "a"}]}, "neither a literal"),
        ({"routes": [{"request": "GET /a", "action": "a"}]}, "routes[0].kind: expected"),
        ({"routes": [{"request": "GET /a", "kind": "k"}]}, "routes[0].action: expected"),
        ({"routes": [{"request": "GET /a", "kind": "k", "action": "{op}"}]}, "routes[0].action: {op} is not"),
        ({"routes": [{"request": "GET /a", "kind": "k", "action": "a", "attr": {"x": "path.id"}}]}, "attr.x"),
        (
            {"routes": [{"request": "GET /a", "kind": "k", "action": "a", "attr": {"x": "cookie.id"}}]},
            "attr.x",
        ),
        (
            {"routes": [{"request": "GET /a", "kind": "k", "action": "a", "attr": {"x": {"cel": "1 +"}}}]},
            "attr.x: CEL expression does not compile",
        ),
        (
            {"routes": [{"request": "GET /a", "kind": "k", "action": "a", "verb": 1}]},
            "routes[0]: unknown keys verb",
        ),
        ({"routes": "GET /a"}, "routes: expected a list"),
        ({"trustedProxies": ["nowhere"]}, "trustedProxies[0]"),
        ({"maxBodyBytes": -1}, "maxBodyBytes"),
        ({"denyBody": "verbose"}, "denyBody: expected explain or detailed"),
        ({"principal": {"rolesClaim": ""}}, "principal.rolesClaim"),
        ({"principal": {"defaultRoles": "user"}}, "principal.defaultRoles"),
        ({"principal": {"subjects": {"alice": {"roles": []}}}}, "principal.subjects.alice.roles"),
        ({"principal": {"subjects": {"alice": {"team": "x"}}}}, "principal.subjects.alice"),
        ({"principal": {"subjects": ["alice"]}}, "principal.subjects"),
        ({"principal": {"groups": "x"}}, "principal.groups: unknown key"),
        ({"principal": {"audiences": "api"}}, "principal.audiences"),
        ({"mcp": {"paths": ["mcp"]}}, "mcp.paths"),
        ({"upstreamHeaders": {"subject": "X Subject"}}, "upstreamHeaders.subject"),
        ({"realm": 'a"b'}, "realm"),
        ({"route": []}, "chamberlain.gateway.route: unknown key"),
    ],
)
def test_every_problem_names_its_key(section, message):
    found = problems(section)
    assert any(message in p for p in found), found
    assert all(p.startswith("chamberlain.gateway") for p in found)


def test_the_server_configuration_reports_gateway_problems(tmp_path):
    with pytest.raises(ConfigError, match=r"chamberlain\.gateway\.denyBody"):
        load_config(None, overrides={"chamberlain": {"gateway": {"denyBody": "all"}}}, env={})
