"""Agent sessions through the MCP gateway, with the official mcp SDK client and a real MCP server: a budget
on tools/call::<tool> stops the eleventh call, a session revoked on the server stops the next call of a
stdio gateway on the same store, a locked agent gets no session (and so no call) until it is unlocked."""

from __future__ import annotations

import anyio
import pytest

from chamberlain.sessions import SessionStore
from tests.gateways.support import (
    FIXTURE,
    PYTHON,
    policy_folder,
    session_of,
    stdio_gateway,
    text_of,
    write_config,
)
from tests.server.support import ThreadServer

pytestmark = pytest.mark.anyio
UPSTREAM = {"name": "fx", "command": [PYTHON, str(FIXTURE)], "resourceKind": "fixture_server"}
DEVELOPER = {"id": "erin", "roles": ["developer"]}
ECHOES = {"name": "echoes", "kind": "fixture_server", "actions": ["tools/call::echo"], "limit": 10}


async def test_a_budget_on_a_tool_stops_the_eleventh_call(tmp_path):
    policy_folder(tmp_path)
    config = write_config(
        tmp_path, [UPSTREAM], principal=DEVELOPER, sessions={"defaults": {"budgets": [ECHOES]}}
    )
    log = tmp_path / "gateway.log"
    async with stdio_gateway(config, log) as client:
        for _ in range(3):  # listing tools is a preview: it spends nothing
            assert "echo" in {t.name for t in (await client.list_tools()).tools}
        for i in range(10):
            assert not (await client.call_tool("echo", {"text": f"call {i}"})).is_error
        refused = await client.call_tool("echo", {"text": "one too many"})
        session = session_of(log)
    assert refused.is_error
    assert (
        f"budget 'echoes' of session {session} would be exceeded: used 10 of 10, this action costs 1"
        in text_of(refused)
    )
    assert "the call was not made" in text_of(refused)


@pytest.fixture
def server(tmp_path):
    with ThreadServer(policy_folder(tmp_path)) as running:
        yield running


def _gateway_config(tmp_path, server):
    """A stdio gateway with its own decision log, its sessions in the server's database."""
    url = str(server.config.sessions_url)
    return write_config(
        tmp_path,
        [UPSTREAM],
        name="gw.yaml",
        principal=DEVELOPER,
        audit={"db": f"sqlite:///{tmp_path / 'gateway-decisions.db'}"},
        sessions={"db": url},
    )


async def test_a_session_revoked_on_the_server_stops_the_next_call(tmp_path, server):
    log = tmp_path / "gateway.log"
    async with stdio_gateway(_gateway_config(tmp_path, server), log) as client:
        assert not (await client.call_tool("echo", {"text": "before"})).is_error
        session = session_of(log)
        assert session.startswith("ses_")
        server.app.state.sessions.revoke(session, by="admin:carol", reason="runaway agent")
        refused = await client.call_tool("echo", {"text": "after"})
    assert refused.is_error
    assert f"session {session} is REVOKED by admin:carol (runaway agent)" in text_of(refused)


async def test_a_locked_agent_gets_no_session_until_unlocked(tmp_path, server):
    store = SessionStore.open(server.config.sessions_url)
    lock = store.add_lock("agent", "erin", by="admin:carol", reason="under review")
    log = tmp_path / "gateway.log"
    try:
        async with stdio_gateway(_gateway_config(tmp_path, server), log) as client:
            refused = await client.call_tool("echo", {"text": "locked"})
            assert refused.is_error
            assert "no session could be opened for 'erin': agent 'erin' is locked" in text_of(refused)
            assert "under review" in text_of(refused)
            store.remove_lock(lock.id, by="admin:carol")
            assert not (await client.call_tool("echo", {"text": "unlocked"})).is_error
    finally:
        store.close()


async def test_a_call_in_flight_when_its_session_is_revoked_has_its_result_withheld(tmp_path, server):
    """The kill switch stops what is in flight too: the tool has run, but the agent revoked meanwhile does not get
    its result (a read of secrets, say), and is told why; the next call is refused as before."""
    log = tmp_path / "gateway.log"
    async with stdio_gateway(_gateway_config(tmp_path, server), log) as client:
        session = session_of(log)
        async with anyio.create_task_group() as tasks:
            results = []

            async def call() -> None:
                results.append(await client.call_tool("sleep", {"seconds": 1.5}))

            tasks.start_soon(call)
            await anyio.sleep(0.5)
            server.app.state.sessions.revoke(session, by="admin:carol", reason="runaway agent")
        (withheld,) = results
        after = await client.call_tool("echo", {"text": "after"})
    assert withheld.is_error, text_of(withheld)
    assert "withheld the result of tools/call::sleep" in text_of(withheld)
    assert f"session {session} is REVOKED by admin:carol (runaway agent)" in text_of(withheld)
    assert "slept" not in text_of(withheld)
    assert after.is_error and "REVOKED" in text_of(after)
