"""The streamable HTTP downstream: identity from chamberlain delegation tokens (the real token service
under uvicorn issues them), RFC 9728 metadata, attenuated checks, and tokens that expire or are revoked."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from chamberlain import PDP
from chamberlain.delegation import TokenService, create_app, parse_config
from chamberlain.sessions import SessionStore
from tests.delegation.support import IDP, ISSUER, IdentityProvider, exchange, oauth_client, serve, settings
from tests.gateways.support import (
    AUDIENCE,
    TIME_SERVER,
    entries,
    git,
    git_upstream,
    http_client,
    http_gateway,
    jwks_file,
    make_repo,
    policy_folder,
    stdio_gateway,
    text_of,
    write_config,
)
from tests.support.cerbos_server import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore:EdDSA is deprecated")]
AGENTS = f"""\
agents:
  coder-1:
    issuer: {IDP}
    roles: [agent, coding_agent]
    attr: {{delegator: {{id: erin, roles: [developer]}}}}
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class World:
    """The token service, the gateway in front of mcp-server-time and mcp-server-git, and the IdP."""

    def __init__(self, tmp, idp, service, token_url, gateway_url, repo, revoked):
        self.tmp, self.idp, self.service, self.token_url = tmp, idp, service, token_url
        self.url, self.repo, self.revoked = gateway_url, repo, revoked
        self.db = f"sqlite:///{tmp / 'decisions.db'}"

    def token(self, lifetime: float = 600, sub: str = "erin") -> str:
        """A delegation token: ``coder-1`` acting for ``sub``, toward this gateway."""
        person = self.idp.token(sub, roles=["developer"], scope="mcp:tools", lifetime=lifetime)
        issued = exchange(
            oauth_client(),
            self.token_url,
            person,
            self.idp.token("coder-1"),
            audience=AUDIENCE,
            scope="mcp:tools",
        )
        return issued["access_token"]


@contextlib.contextmanager
def http_world(
    tmp, upstreams, downstream, principals=("erin",), *, gateway_settings=None, **auth
) -> Iterator[World]:
    """The real token service and a gateway over streamable HTTP (``downstream``: more keys) in front of
    ``upstreams``, accepting delegation tokens of ``coder-1`` for ``principals`` (``auth``: more keys;
    ``gateway_settings``: more top-level keys of the gateway's configuration)."""
    idp = IdentityProvider()
    folder = policy_folder(tmp)
    (tmp / "coder-agents.yaml").write_text(AGENTS)
    config = parse_config(
        settings(tmp, idp, agentsFile=str(tmp / "coder-agents.yaml")),
        state_dir=tmp / "state",
        base_url="http://unused.example",
    )
    service = TokenService(config, PDP.from_directory(folder))
    world_auth = {
        "issuer": ISSUER,
        "jwksFile": str(jwks_file(tmp, service.jwks())),
        "audiences": [AUDIENCE],
        "scopeMapping": {"mcp_server": {"*": "mcp:tools"}},
        "agentsFile": str(tmp / "coder-agents.yaml"),
        "principals": (
            principals
            if isinstance(principals, dict)
            else {name: {"roles": ["developer"]} for name in principals}
        ),
        **auth,
    }
    gateway = write_config(
        tmp,
        upstreams,
        downstream={"transport": "http", "listen": f"127.0.0.1:{free_port()}", **downstream},
        auth=world_auth,
        **(gateway_settings or {}),
    )
    with serve(create_app(service)) as token_url, http_gateway(gateway, tmp / "gateway.log") as url:
        world = World(tmp, idp, service, token_url, url, None, None)
        world.auth = world_auth
        yield world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mcp-http")
    repo = make_repo(tmp)
    revoked = tmp / "revoked.txt"
    upstreams = [{"name": "time", "command": TIME_SERVER}, git_upstream(repo)]
    with http_world(tmp, upstreams, {}, ("erin", "frank"), revocationFile=str(revoked)) as world:
        world.repo, world.revoked = repo, revoked
        yield world


def test_protected_resource_metadata_names_the_token_service(world):
    base = world.url.removesuffix("/mcp")
    metadata = httpx.get(f"{base}/.well-known/oauth-protected-resource/mcp", timeout=10).json()
    assert metadata["resource"] == world.url
    assert metadata["authorization_servers"] == [f"{ISSUER}/"] or metadata["authorization_servers"] == [
        ISSUER
    ]
    assert metadata["scopes_supported"] == ["mcp:tools"]


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (None, "invalid_request"),
        ("Bearer not-a-jwt", "invalid_token"),
        ("Basic ZXJpbjpwdw==", "invalid_request"),
    ],
)
def test_no_valid_token_no_request(world, header, error):
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if header:
        headers["Authorization"] = header
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    response = httpx.post(world.url, json=body, headers=headers, timeout=10)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert f'error="{error}"' in challenge and "resource_metadata=" in challenge
    assert "/.well-known/oauth-protected-resource/mcp" in challenge


def test_a_token_for_another_audience_is_refused(world):
    claims = dict(world.service.verify(world.token(), audience=AUDIENCE).claims)
    elsewhere = world.service.keys.sign({**claims, "aud": "https://elsewhere.example"})
    raw = _post(world.url, elsewhere)
    assert (
        raw.status_code == 401
        and "does not name https://mcp.example/gateway" in raw.headers["www-authenticate"]
    )


def test_a_person_the_gateway_does_not_know_is_refused(world):
    raw = _post(world.url, world.token(sub="mallory"))
    assert raw.status_code == 401 and "not in auth.principals" in raw.headers["www-authenticate"]


def test_a_person_pinned_to_an_issuer_is_not_another_issuers_namesake(tmp_path):
    """auth.principals[erin].issuer: a token whose erin another trusted issuer vouched for (its sub_id) is
    not the erin the gateway knows (with several trusted issuers, two issuers' "erin" are two people)."""
    pinned = {"erin": {"roles": ["developer"], "issuer": IDP}}
    with http_world(tmp_path, [{"name": "time", "command": TIME_SERVER}], {}, principals=pinned) as w:
        claims = dict(w.service.verify(w.token(), audience=AUDIENCE).claims)
        assert claims["sub_id"]["iss"] == IDP
        namesake = {**claims, "sub_id": {**claims["sub_id"], "iss": "https://partner.example"}}
        raw = _post(w.url, w.service.keys.sign(namesake))
        assert raw.status_code == 401 and "vouched for by" in raw.headers["www-authenticate"], raw.text
        assert _post(w.url, w.token()).status_code != 401


async def test_delegated_session_then_revocation_stops_the_next_call(world):
    token = world.token()
    head = git(world.repo, "rev-parse", "HEAD")
    async with http_client(world.url, token) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "git_commit" in names and "git_reset" not in names  # the agent may not see git_reset
        result = await client.call_tool("get_current_time", {"timezone": "Asia/Tokyo"})
        assert not result.is_error and "Asia/Tokyo" in text_of(result)
        denied = await client.call_tool("git_commit", {"repo_path": str(world.repo), "message": "hotfix"})
        assert denied.is_error
        assert "erin via coder-1" in text_of(denied) and "no-commits-to-protected-branches" in text_of(denied)
        assert git(world.repo, "rev-parse", "HEAD") == head

        jti = world.service.verify(token, audience=AUDIENCE).jti
        before = len(entries(world.db))
        world.revoked.write_text(f"# revoked by the test\n{jti}\n")
        with pytest.raises(MCPError, match="error response"):  # the SDK's rendering of the 401
            await client.call_tool("get_current_time", {"timezone": "UTC"})
        assert len(entries(world.db)) == before  # refused at the door: no decision, nothing forwarded
    raw = _post(world.url, token)
    assert raw.status_code == 401 and f"token {jti} is revoked" in raw.headers["www-authenticate"]

    recorded = [e for e in entries(world.db, principal="erin") if e["mcp"]["method"] == "tools/call"]
    session = recorded[0]["session_id"]  # the token's chamberlain session, not the protocol's Mcp-Session-Id
    assert session.startswith("ses_") and all(e["session_id"] == session for e in recorded[-2:])
    assert recorded[-1]["actor_chain"] == ["coder-1"] and recorded[-1]["effect"] == "EFFECT_DENY"
    assert recorded[-1]["basis"]["rule"] == "no-commits-to-protected-branches"


async def test_an_expired_token_stops_the_next_call(world):
    token = world.token(lifetime=10)  # long enough for the first call on a loaded machine
    async with http_client(world.url, token) as client:
        assert not (await client.call_tool("get_current_time", {"timezone": "UTC"})).is_error
        exp = world.service.verify(token, audience=AUDIENCE).expires_at
        time.sleep(max(0.0, exp - time.time()) + 0.2)  # wait for the expiry (no timing is asserted)
        with pytest.raises(MCPError, match="error response"):  # the SDK's rendering of the 401
            await client.call_tool("get_current_time", {"timezone": "UTC"})
    raw = _post(world.url, token)
    assert raw.status_code == 401 and "expired" in raw.headers["www-authenticate"]


async def test_another_persons_token_cannot_use_the_session(world):
    mcp_sessions: list[str] = []
    async with http_client(world.url, world.token(), mcp_sessions) as client:
        await client.list_tools()
        session_id = mcp_sessions[-1]  # the MCP protocol's session (the SDK's), bound to erin
        assert _post(world.url, world.token(), session_id).status_code == 200  # erin again: her session
        assert (
            _post(world.url, world.token(sub="frank"), session_id).status_code == 404
        )  # as if it did not exist
        assert not (await client.call_tool("get_current_time", {"timezone": "UTC"})).is_error


async def test_a_2026_request_naming_another_callers_session_is_not_logged_in_it(tmp_path):
    """Without agent sessions the MCP session labels the decisions. The SDK refuses frank's 2025 requests in
    erin's session (404), but routes a 2026-07-28 request without looking at its Mcp-Session-Id: frank's calls
    naming erin's session were logged as made in it."""
    upstreams = [{"name": "time", "command": TIME_SERVER}]
    no_sessions = {"sessions": {"enabled": False}}
    with http_world(tmp_path, upstreams, {}, ("erin", "frank"), gateway_settings=no_sessions) as world:
        mcp_sessions: list[str] = []
        async with http_client(world.url, world.token(), mcp_sessions) as client:
            assert not (await client.call_tool("get_current_time", {"timezone": "UTC"})).is_error
            erins = mcp_sessions[-1]
            assert _post(world.url, world.token(sub="frank"), erins).status_code == 404
            headers = {"Authorization": f"Bearer {world.token(sub='frank')}", "Mcp-Session-Id": erins}
            async with (
                httpx2.AsyncClient(headers=headers, timeout=30) as http,
                Client(streamable_http_client(world.url, http_client=http), mode="2026-07-28") as frank,
            ):
                assert not (await frank.call_tool("get_current_time", {"timezone": "UTC"})).is_error
    calls = [
        e for e in entries(f"sqlite:///{tmp_path / 'decisions.db'}") if e["mcp"]["method"] == "tools/call"
    ]
    assert sorted(e["principal"]["id"] for e in calls) == ["erin", "frank"]
    for entry in calls:
        assert (entry["session_id"] == erins) == (entry["principal"]["id"] == "erin"), entry


def _post(url: str, token: str, session: str = "") -> httpx.Response:
    """One raw JSON-RPC request (``tools/list``) with a bearer token, optionally in an MCP session."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    }
    if session:
        headers["Mcp-Session-Id"] = session
    return httpx.post(
        url, json={"jsonrpc": "2.0", "id": 7, "method": "tools/list"}, headers=headers, timeout=10
    )


async def test_a_stdio_gateway_with_a_token_file(world):
    token_file = world.tmp / "agent-token.jwt"
    token_file.write_text(world.token())
    config = write_config(
        world.tmp,
        [{"name": "time", "command": TIME_SERVER}],
        name="stdio-token.yaml",
        auth={**world.auth, "revocationFile": str(world.tmp / "stdio-revoked.txt")},
        tokenFile=str(token_file),
    )
    async with stdio_gateway(config, world.tmp / "stdio-token.log") as client:
        allowed = await client.call_tool("get_current_time", {"timezone": "UTC"})
        assert not allowed.is_error, text_of(allowed)
        jti = world.service.verify(token_file.read_text(), audience=AUDIENCE).jti
        (world.tmp / "stdio-revoked.txt").write_text(f"{jti}\n")
        refused = await client.call_tool("get_current_time", {"timezone": "UTC"})
        assert refused.is_error
        assert (
            f"could not establish who is calling, so the call was not made: tokenFile {token_file}: token {jti} is revoked"
            in (text_of(refused))
        )
        token_file.write_text(world.token())  # a new token: the next call goes through
        assert not (await client.call_tool("get_current_time", {"timezone": "UTC"})).is_error


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (
            b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": '
            + b'{"a":' * 300
            + b"1"
            + b"}" * 300
            + b"}",
            400,
            "nested more than 64 levels deep",
        ),
        (
            b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "method": "initialize"}',
            400,
            'duplicate field "method"',
        ),
        (
            b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"pad": "'
            + b"x" * (5 << 20)
            + b'"}}',
            413,
            "larger than 4194304 bytes",
        ),
    ],
    ids=["deep", "duplicate", "oversized"],
)
def test_messages_over_http_are_read_within_bounds(world, body, status, needle):
    headers = {
        "Authorization": f"Bearer {world.token()}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2025-11-25",
    }
    response = httpx.post(world.url, content=body, headers=headers, timeout=30)
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]["message"]


async def test_a_tokens_revoked_session_stays_revoked_in_a_restarted_gateway(world):
    """A token without a chamberlain ``sid`` gets a session of its own: revoked, it stays revoked for that token
    in another gateway process on the same store (a restart, or a second replica), which would otherwise open
    the token a fresh session, its budgets new, and the kill switch undone."""
    token_file = world.tmp / "restart-token.jwt"
    token_file.write_text(world.token())
    config = write_config(
        world.tmp,
        [{"name": "time", "command": TIME_SERVER}],
        name="restart.yaml",
        auth=world.auth,
        tokenFile=str(token_file),
    )
    store = SessionStore.open(world.db)

    def active() -> set[str]:
        return {s.id for s in store.list("ACTIVE", agent="coder-1", limit=1000)[0]}

    try:
        before = active()
        async with stdio_gateway(config, world.tmp / "restart-1.log") as client:
            allowed = await client.call_tool("get_current_time", {"timezone": "UTC"})
            assert not allowed.is_error, text_of(allowed)
        (session,) = active() - before
        store.revoke(session, by="admin:carol", reason="runaway agent")
        async with stdio_gateway(config, world.tmp / "restart-2.log") as client:
            refused = await client.call_tool("get_current_time", {"timezone": "UTC"})
        assert refused.is_error, text_of(refused)
        assert f"session {session} is REVOKED by admin:carol (runaway agent)" in text_of(refused)
        assert active() == before - {session}
    finally:
        store.close()
