"""The fast path of tools/call over stdio (chamberlain.gateways.mcp.fast), with the official client, the raw
wire and the fixture server: which calls take it (the server sees the gateway's own string ids) and which
go the SDK's way (the SDK's numeric ids), the same answers and denials on both, ids mapped back under
concurrency, an upstream that dies mid-call, cancellation, oversized lines, a lock made in the store
stopping the next call, and a budget spent exactly under concurrent calls."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import anyio
import pytest

from chamberlain.gateways.mcp.stdio import MAX_MESSAGE_BYTES
from chamberlain.sessions import SessionStore
from tests.gateways.support import (
    FIXTURE,
    PYTHON,
    RawGateway,
    audit,
    entries,
    policy_folder,
    session_of,
    stdio_gateway,
    text_of,
    write_config,
)

pytestmark = pytest.mark.anyio
UPSTREAM = {"name": "fx", "command": [PYTHON, str(FIXTURE)], "resourceKind": "fixture_server"}
DEVELOPER = {"id": "erin", "roles": ["developer"]}
VISITOR = {"id": "vic", "roles": ["visitor"]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _config(tmp_path, principal=DEVELOPER, **settings: Any):
    policy_folder(tmp_path)
    return write_config(tmp_path, [UPSTREAM], principal=principal, **settings)


def _fast(received: str) -> bool:
    """Whether the upstream received the call under the gateway's own id (the fast path)."""
    return received.startswith("chamberlain-")


async def _elicits(*_: Any) -> Any:
    raise AssertionError("the gateway asked nothing here")


def _without_ids(text: str) -> str:
    return re.sub(r"Decision \S+ ", "Decision <id> ", text)


async def test_calls_take_the_fast_path_unless_the_client_declared_elicitation(tmp_path):
    config = _config(tmp_path)
    db = f"sqlite:///{tmp_path / 'decisions.db'}"
    for mode, elicitation, fast in (
        ("auto", None, True),
        ("legacy", None, True),
        ("legacy", _elicits, False),
        ("auto", _elicits, False),  # 2026-07-28: declared in each request's envelope
    ):
        log = tmp_path / f"{mode}-{fast}.log"
        async with stdio_gateway(config, log, mode=mode, elicitation=elicitation) as client:
            result = await client.call_tool("request_id", {})
            assert not result.is_error, text_of(result)
            assert _fast(text_of(result)) is fast, (mode, text_of(result))
            echoed = await client.call_tool("echo", {"text": "hello"})
            assert text_of(echoed) == "hello" and not echoed.is_error
            assert echoed.structured_content == {"result": "hello"}
            # the gateway's serverInfo stamp on 2026-07-28 results, never the upstream's
            stamp = (echoed.meta or {}).get("io.modelcontextprotocol/serverInfo")
            assert stamp is None if mode == "legacy" else stamp["name"] == "chamberlain-mcp-gateway"
            # arguments that do not fit the schema: the same JSON-RPC error on both paths
            with pytest.raises(Exception, match="text"):
                await client.call_tool("echo", {"text": 3})
        recorded = entries(db, session_id=session_of(log))
        calls = [(e["mcp"]["name"], e["effect"]) for e in recorded if e["mcp"]["method"] == "tools/call"]
        assert calls == [("request_id", "EFFECT_ALLOW"), ("echo", "EFFECT_ALLOW")]  # decided once each


async def test_a_denial_reads_the_same_on_both_paths(tmp_path):
    config = _config(tmp_path, principal=VISITOR)
    texts = []
    for elicitation in (None, _elicits):
        async with stdio_gateway(
            config, tmp_path / "gw.log", mode="legacy", elicitation=elicitation
        ) as client:
            denied = await client.call_tool("echo", {"text": "hello"})
            assert denied.is_error
            texts.append(_without_ids(text_of(denied)))
    assert texts[0] == texts[1]
    assert "chamberlain denied tools/call::echo on fx for" in texts[0] and "no rule matched" in texts[0]


async def test_concurrent_calls_get_their_own_answers(tmp_path):
    gateway = RawGateway(_config(tmp_path), tmp_path / "gw.log")
    try:
        gateway.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        ids: list[Any] = [
            *range(1000, 1010),
            *(f"s-{i}" for i in range(10)),
            "chamberlain-1",
            "chamberlain-2",
        ]
        for request_id in ids:
            call = {"name": "echo", "arguments": {"text": f"for {request_id}"}}
            gateway.send({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": call})
        answers = [gateway.receive() for _ in ids]
        assert sorted(map(str, (a["id"] for a in answers))) == sorted(map(str, ids))
        for answer in answers:
            assert answer["result"]["content"][0]["text"] == f"for {answer['id']}", answer
        assert {type(a["id"]) for a in answers} == {int, str}
        received = gateway.call("request_id", {})
        assert _fast(received["result"]["content"][0]["text"])
    finally:
        assert gateway.close() == 0


async def test_lone_and_concurrent_calls_are_each_recorded_once_in_one_verified_chain(tmp_path):
    """A lone call's entry is written on the gateway's event loop, concurrent calls' by the log's writer thread
    (one group commit): mixed, every call is in the log once and the chain verifies."""
    db = f"sqlite:///{tmp_path / 'decisions.db'}"
    gateway = RawGateway(_config(tmp_path), tmp_path / "gw.log")
    try:
        gateway.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        texts = []
        for burst in range(3):
            lone = f"lone {burst}"
            assert gateway.call("echo", {"text": lone})["result"]["content"][0]["text"] == lone
            texts.append(lone)
            together = [f"burst {burst}.{i}" for i in range(8)]
            for i, text in enumerate(together):
                call = {"name": "echo", "arguments": {"text": text}}
                gateway.send(
                    {"jsonrpc": "2.0", "id": 100 * burst + i, "method": "tools/call", "params": call}
                )
            answers = [gateway.receive() for _ in together]
            assert sorted(a["result"]["content"][0]["text"] for a in answers) == together
            texts += together
    finally:
        assert gateway.close() == 0
    calls = [e for e in entries(db) if e["mcp"]["method"] == "tools/call"]
    assert len(calls) == len(texts) == 27
    assert len({e["call_id"] for e in calls}) == 27
    assert all(e["effect"] == "EFFECT_ALLOW" for e in calls)
    verified = audit("verify", "--db", db)
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def test_an_upstream_that_dies_mid_call_fails_that_call_only(tmp_path):
    gateway = RawGateway(_config(tmp_path), tmp_path / "gw.log")
    try:
        gateway.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        crashed = gateway.call("crash", {})
        assert crashed["error"]["code"] == -32000, crashed
        assert "the connection closed" in crashed["error"]["message"]
        for _ in range(200):  # reconnected in the background
            answer = gateway.call("echo", {"text": "again"})
            if "result" in answer:
                break
            threading.Event().wait(0.05)
        assert answer["result"]["content"][0]["text"] == "again"
    finally:
        assert gateway.close() == 0


async def test_a_cancelled_call_is_never_answered(tmp_path):
    gateway = RawGateway(_config(tmp_path), tmp_path / "gw.log")
    try:
        gateway.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        gateway.send(
            {
                "jsonrpc": "2.0",
                "id": "slow",
                "method": "tools/call",
                "params": {"name": "sleep", "arguments": {"seconds": 30}},
            }
        )
        threading.Event().wait(0.5)  # forwarded by now
        gateway.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "slow"}})
        answer = gateway.call("echo", {"text": "next"})  # the next answer is the echo's, not the sleep's
        assert answer["result"]["content"][0]["text"] == "next"
    finally:
        assert gateway.close() == 0


def _sleepers(gateway: RawGateway, until: Any) -> dict[str, list[str]]:
    """What the fixture server's ``sleepers`` tool says, asked until ``until(it)`` holds (at most 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        seen = gateway.call("sleepers", {})["result"]["structuredContent"]
        if until(seen) or time.monotonic() > deadline:
            return seen
        time.sleep(0.05)


async def test_a_client_cancelling_a_fast_call_cancels_it_upstream(tmp_path):
    gateway = RawGateway(_config(tmp_path), tmp_path / "gw.log")
    try:
        gateway.send(
            {
                "jsonrpc": "2.0",
                "id": "slow",
                "method": "tools/call",
                "params": {"name": "sleep", "arguments": {"seconds": 60}},
            }
        )
        running = _sleepers(gateway, lambda seen: seen["sleeping"])["sleeping"]
        assert len(running) == 1 and _fast(running[0]), running  # relayed under the gateway's own id
        gateway.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "slow"}})
        seen = _sleepers(gateway, lambda seen: seen["cancelled"])
        # the upstream was told (the courtesy cancel names the id it knows the call by) and stopped sleeping;
        # every answer read meanwhile was a sleepers call's: the cancelled call is never answered
        assert seen == {"sleeping": [], "cancelled": running}
    finally:
        assert gateway.close() == 0


async def test_a_fast_call_that_times_out_is_cancelled_upstream(tmp_path):
    policy_folder(tmp_path)
    config = write_config(tmp_path, [{**UPSTREAM, "callTimeout": "1s"}], principal=DEVELOPER)
    gateway = RawGateway(config, tmp_path / "gw.log")
    try:
        answer = gateway.call("sleep", {"seconds": 60})
        assert answer["error"]["code"] == -32001, answer
        assert "no answer within callTimeout (1s)" in answer["error"]["message"]
        seen = _sleepers(gateway, lambda seen: seen["cancelled"])
        assert not seen["sleeping"] and len(seen["cancelled"]) == 1 and _fast(seen["cancelled"][0]), seen
    finally:
        assert gateway.close() == 0


async def test_an_upstream_asking_the_client_mid_call_gets_its_answer_on_both_paths(tmp_path):
    # a legacy upstream session: the only kind in which a server may send requests of its own
    policy_folder(tmp_path)
    legacy = {**UPSTREAM, "command": [PYTHON, str(FIXTURE), "legacy"]}
    config = write_config(tmp_path, [legacy], principal=DEVELOPER)
    answers = {}
    for mode, elicitation in (("legacy", None), ("legacy", _elicits)):  # the fast path, then the SDK's
        async with stdio_gateway(config, tmp_path / "gw.log", mode=mode, elicitation=elicitation) as client:
            slow = None
            async with anyio.create_task_group() as tg:

                async def sleeping() -> None:
                    nonlocal slow
                    slow = await client.call_tool("sleep", {"seconds": 0.5})

                tg.start_soon(sleeping)  # another call in flight meanwhile
                result = await client.call_tool("ask_client", {})
            assert not result.is_error and slow is not None and not slow.is_error, (text_of(result), slow)
            said, _, told = text_of(result).partition("; ")
            answers[elicitation is None] = told
            assert _fast(said.removeprefix("pinged under ")) is (elicitation is None), said
    # the upstream's ping was answered, its roots/list too (the gateway has no roots to give: refused alike)
    assert answers[True] == answers[False] == "roots refused: List roots not supported", answers


async def test_an_oversized_line_is_refused_and_the_next_call_served(tmp_path):
    gateway = RawGateway(_config(tmp_path), tmp_path / "gw.log")
    try:
        gateway.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        big = {"name": "echo", "arguments": {"text": "x" * (MAX_MESSAGE_BYTES + 10)}}
        gateway.send({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": big})
        refused = gateway.receive()
        assert refused["error"]["code"] == -32600 and "larger than" in refused["error"]["message"]
        answer = gateway.call("request_id", {})
        assert _fast(answer["result"]["content"][0]["text"])
    finally:
        assert gateway.close() == 0


async def test_a_tools_call_that_is_not_json_rpc_is_treated_as_the_sdk_treats_it(tmp_path):
    gateway = RawGateway(_config(tmp_path), tmp_path / "gw.log")
    call = {"method": "tools/call", "params": {"name": "request_id", "arguments": {}}}
    try:
        for envelope in ({"jsonrpc": "1.0", "id": 5}, {"jsonrpc": "2.0", "id": 6, "params": ["request_id"]}):
            gateway.send({**call, **envelope})
            refused = gateway.receive()
            assert refused["id"] == envelope["id"] and refused["error"]["code"] == -32600, (envelope, refused)
        for odd_id in (1.5, True):  # not a request id: the SDK reads a notification, answered by nobody
            gateway.send({**call, "jsonrpc": "2.0", "id": odd_id})
        answer = gateway.call("request_id", {})  # the next line is its answer: nothing else was
        assert _fast(answer["result"]["content"][0]["text"])
    finally:
        assert gateway.close() == 0


async def test_a_lock_made_in_the_store_stops_the_next_fast_call(tmp_path):
    config = _config(tmp_path)
    log = tmp_path / "gw.log"
    async with stdio_gateway(config, log) as client:
        assert _fast(text_of(await client.call_tool("request_id", {})))
        store = SessionStore.open(f"sqlite:///{tmp_path / 'decisions.db'}")
        try:
            store.add_lock("tool", "echo", by="admin:carol", reason="under review")
        finally:
            store.close()
        refused = await client.call_tool("echo", {"text": "locked"})
    assert refused.is_error
    assert "tool 'echo' is locked" in text_of(refused) and "under review" in text_of(refused)
    assert session_of(log).startswith("ses_")


async def test_a_budget_is_spent_exactly_by_concurrent_calls(tmp_path):
    budget = {"name": "echoes", "kind": "fixture_server", "actions": ["tools/call::echo"], "limit": 10}
    gateway = RawGateway(_config(tmp_path, sessions={"defaults": {"budgets": [budget]}}), tmp_path / "gw.log")
    try:
        gateway.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        for i in range(25):
            call = {"name": "echo", "arguments": {"text": f"call {i}"}}
            gateway.send({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": call})
        answers = [gateway.receive() for _ in range(25)]
    finally:
        assert gateway.close() == 0
    allowed = [a for a in answers if not a["result"].get("isError")]
    refused = [a for a in answers if a["result"].get("isError")]
    assert len(allowed) == 10 and len(refused) == 15
    assert all("budget 'echoes'" in a["result"]["content"][0]["text"] for a in refused)
    assert all(a["result"]["content"][0]["text"] == f"call {a['id']}" for a in allowed)
