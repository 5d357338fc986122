"""How many MCP sessions the streamable HTTP downstream keeps open, per credential and in all.

The SDK bounds the sessions of all callers together (10,000) and closes idle ones after
``downstream.sessionIdleTimeout`` (30 minutes): without a bound per credential, one token holder
could open them all and lock every other caller out for half an hour. The gateway runs here with
``maxSessionsPerCaller: 2`` and ``maxSessions: 4``, behind the real token service; sessions are
opened with plain ``initialize`` requests, as any client sends them.
"""

from __future__ import annotations

import asyncio

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.gateways.support import TIME_SERVER
from tests.gateways.test_http import http_world

pytestmark = [pytest.mark.filterwarnings("ignore:EdDSA is deprecated")]
PEOPLE = ("erin", "frank", "gina")
HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "session-limits", "version": "1"},
    },
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mcp-http-limits")
    limits = {"maxSessionsPerCaller": 2, "maxSessions": 4}
    with http_world(tmp, [{"name": "time", "command": TIME_SERVER}], limits, PEOPLE) as world:
        world.tokens = {name: world.token(sub=name) for name in PEOPLE}
        yield world


def _open(world, person: str) -> httpx.Response:
    headers = {**HEADERS, "Authorization": f"Bearer {world.tokens[person]}"}
    return httpx.post(world.url, json=INITIALIZE, headers=headers, timeout=15)


def _close(world, person: str, session: str) -> int:
    headers = {**HEADERS, "Authorization": f"Bearer {world.tokens[person]}", "Mcp-Session-Id": session}
    return httpx.delete(world.url, headers=headers, timeout=15).status_code


@pytest.fixture
def opened(world):
    """Sessions a test opened (person, id), all ended afterwards so the next test starts from none."""
    sessions: list[tuple[str, str]] = []
    yield sessions
    for person, session in sessions:
        assert _close(world, person, session) in (200, 204)


def _opened(world, person: str, sessions: list[tuple[str, str]]) -> None:
    response = _open(world, person)
    assert response.status_code == 200, response.text
    sessions.append((person, response.headers["mcp-session-id"]))


def test_one_credential_holds_at_most_its_limit_and_others_are_not_held_up(world, opened):
    _opened(world, "erin", opened)
    _opened(world, "erin", opened)
    refused = _open(world, "erin")
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert "already holds 2 open MCP sessions (downstream.maxSessionsPerCaller)" in error["message"]
    assert "mcp-session-id" not in refused.headers
    _opened(world, "frank", opened)  # another person's agent is not held up by erin's
    # Ending one of erin's sessions gives erin room for another.
    person, session = opened.pop(0)
    assert _close(world, person, session) in (200, 204)
    _opened(world, "erin", opened)


def test_opening_requests_that_race_are_counted_one_by_one(world, opened):
    async def race() -> list[httpx.Response]:
        headers = {**HEADERS, "Authorization": f"Bearer {world.tokens['gina']}"}
        async with httpx.AsyncClient(timeout=15) as client:
            return await asyncio.gather(
                *(client.post(world.url, json=INITIALIZE, headers=headers) for _ in range(8))
            )

    answers = asyncio.run(race())
    admitted = [r for r in answers if r.status_code == 200]
    opened.extend(("gina", r.headers["mcp-session-id"]) for r in admitted)
    assert len(admitted) == 2, [r.status_code for r in answers]
    assert {r.status_code for r in answers} - {200} <= {429, 503}


def test_a_caller_at_its_limit_still_makes_sessionless_requests(world, opened):
    """A 2026-07-28 client opens no session: the limit on sessions does not stop its calls."""
    _opened(world, "erin", opened)
    _opened(world, "erin", opened)
    assert _open(world, "erin").status_code == 429

    async def sessionless() -> list[str]:
        headers = {"Authorization": f"Bearer {world.tokens['erin']}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            Client(streamable_http_client(world.url, http_client=http), mode="2026-07-28") as client,
        ):
            return [tool.name for tool in (await client.list_tools()).tools]

    assert "get_current_time" in asyncio.run(sessionless())


def test_all_callers_together_stop_at_max_sessions(world, opened):
    for person in ("erin", "erin", "frank", "frank"):
        _opened(world, person, opened)
    refused = _open(world, "gina")  # gina holds none, but the gateway holds its 4
    assert refused.status_code == 503 and "Too many open sessions" in refused.text
