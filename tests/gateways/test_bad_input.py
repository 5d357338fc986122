"""Bad input and failing parts: malformed JSON-RPC, unknown tools, arguments of the wrong shape, an
upstream that dies or hangs, an agent that goes away mid-call, a decision log that cannot write.
Each gets a clear JSON-RPC error (or a denial), and nothing is forwarded without a recorded decision."""

from __future__ import annotations

import sqlite3
import time

import pytest

from tests.gateways.support import FIXTURE, PYTHON, RawGateway, entries, policy_folder, write_config

FIXTURE_UPSTREAM = {
    "name": "fx",
    "command": [PYTHON, str(FIXTURE)],
    "resourceKind": "fixture_server",
    "callTimeout": "1s",
}
DEVELOPER = {"id": "erin", "roles": ["developer"]}


@pytest.fixture
def gateway(tmp_path):
    policy_folder(tmp_path)
    config = write_config(tmp_path, [FIXTURE_UPSTREAM], principal=DEVELOPER)
    raw = RawGateway(config, tmp_path / "gateway.log")
    yield raw, f"sqlite:///{tmp_path / 'decisions.db'}"
    raw.close()


def _calls(db: str) -> list[tuple[str, str]]:
    return [(e["mcp"]["name"], e["effect"]) for e in entries(db) if e["mcp"]["method"] == "tools/call"]


def test_malformed_json_rpc_gets_json_rpc_errors(gateway):
    raw, db = gateway
    raw.send("this is not json")
    assert raw.receive()["error"]["code"] == -32700
    raw.send('{"jsonrpc": "2.0", "id": 41}')
    answer = raw.receive()
    assert answer["id"] == 41 and answer["error"]["code"] == -32600 and "method" in answer["error"]["message"]
    assert raw.request({"method": "no/such/method"})["error"]["code"] == -32601
    for params, problem in [
        (
            {"name": "echo", "arguments": "oops"},
            "params.arguments must be an object of the tool's arguments, got a string",
        ),
        ({"arguments": {}}, "params.name must be the tool's name, got nothing"),
        ({"name": 7}, "params.name must be the tool's name, got a number"),
    ]:
        error = raw.request({"method": "tools/call", "params": params})["error"]
        assert error["code"] == -32602 and problem in error["message"]
    assert raw.call("echo", {"text": "still serving"})["result"]["content"][0]["text"] == "still serving"
    assert _calls(db) == [("echo", "EFFECT_ALLOW")]  # only the call that was decided


def test_unknown_tools_and_arguments_that_do_not_fit_the_schema(gateway):
    raw, db = gateway
    unknown = raw.call("rm_rf", {})["error"]
    assert unknown["code"] == -32602 and unknown["message"] == (
        "unknown tool 'rm_rf': the gateway's tools are ask_client, crash, echo, request_id, sleep, sleepers, "
        "spawn_child"
    )
    wrong = raw.call("echo", {"text": 5})["error"]
    assert wrong["code"] == -32602
    assert wrong["message"] == (
        "the arguments of tool 'echo' do not match its input schema: at arguments.text: 5 is not of type 'string'"
    )
    missing = raw.call("echo", {})["error"]
    assert "'text' is a required property" in missing["message"]
    assert _calls(db) == []  # nothing decided, nothing forwarded


def test_an_upstream_that_hangs_or_dies(gateway):
    raw, db = gateway
    hung = raw.call("sleep", {"seconds": 30})["error"]
    assert hung == {"code": -32001, "message": "upstream 'fx': no answer within callTimeout (1s)"}
    assert raw.call("echo", {"text": "after the hang"})["result"]["isError"] is False

    died = raw.call("crash", {})["error"]
    assert died["code"] == -32000 and "the connection closed" in died["message"]
    for _ in range(100):  # the gateway reconnects in the background; until then calls say so
        answer = raw.call("echo", {"text": "back"})
        if "result" in answer:
            break
        assert answer["error"]["code"] == -32000 and "not available" in answer["error"]["message"]
        time.sleep(0.1)
    assert answer["result"]["content"][0]["text"] == "back"
    decided = _calls(db)
    assert ("sleep", "EFFECT_ALLOW") in decided and ("crash", "EFFECT_ALLOW") in decided


def test_an_agent_that_goes_away_mid_call(gateway):
    raw, db = gateway
    raw.send(
        {
            "jsonrpc": "2.0",
            "id": 9,
            "method": "tools/call",
            "params": {"name": "sleep", "arguments": {"seconds": 0.9}},
        }
    )
    while not _calls(db):  # decided and recorded (forwarded meanwhile; answered once durable)
        time.sleep(0.02)
    assert raw.close() == 0  # the gateway winds down cleanly
    assert _calls(db) == [("sleep", "EFFECT_ALLOW")]
    assert "Traceback" not in raw.log.read_text()


@pytest.mark.parametrize("overlap", [False, True], ids=["durable-then-forward", "forward-while-recording"])
def test_a_decision_log_that_cannot_write_denies(tmp_path, overlap):
    """By default the call is denied before anything is forwarded; with audit.forwardWhileRecording the
    tool runs while the entry is written and its result is withheld: the agent gets the same denial."""
    policy_folder(tmp_path)
    config = write_config(
        tmp_path,
        [FIXTURE_UPSTREAM],
        principal=DEVELOPER,
        audit={
            "db": f"sqlite:///{tmp_path / 'decisions.db'}",
            "writeTimeout": "1s",
            "forwardWhileRecording": overlap,
        },
    )
    raw = RawGateway(config, tmp_path / "gateway.log")
    try:
        assert raw.call("echo", {"text": "logged"})["result"]["isError"] is False
        blocker = sqlite3.connect(tmp_path / "decisions.db", timeout=1)
        blocker.execute("BEGIN EXCLUSIVE")  # another process holds the database past the busy timeout
        try:
            denied = raw.call("echo", {"text": "not logged"})["result"]
        finally:
            blocker.rollback()
            blocker.close()
        assert denied["isError"] is True
        text = denied["content"][0]["text"]
        assert "Denied because decision log unavailable, every action denied" in text
        assert raw.call("echo", {"text": "logged again"})["result"]["isError"] is False
    finally:
        raw.close()
    logged = [
        e for e in entries(f"sqlite:///{tmp_path / 'decisions.db'}") if e["mcp"]["method"] == "tools/call"
    ]
    assert (
        len(logged) == 2
    )  # the second call's decision could not be recorded: denied (or its result withheld)


def test_deep_duplicate_and_oversized_messages_get_errors_and_the_gateway_keeps_serving(gateway):
    """A 10,000-deep line used to end the gateway (RecursionError); duplicate keys let the last one win; a line
    of any length was read into memory. Each now gets a JSON-RPC error, and the next call is served."""
    raw, db = gateway
    raw.send(
        '{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": '
        + '{"a":' * 10_000
        + "1"
        + "}" * 10_000
        + "}"
    )
    deep = raw.receive()
    assert deep["error"]["code"] == -32700 and "nested more than 64 levels deep" in deep["error"]["message"]
    raw.send(
        '{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "name": "crash", '
        '"arguments": {"text": "x"}}}'
    )
    duplicate = raw.receive()
    assert duplicate["error"]["code"] == -32700 and 'duplicate field "name"' in duplicate["error"]["message"]
    raw.send('{"jsonrpc": "2.0", "id": 3, "method": "ping", "params": {"pad": "' + "x" * (5 << 20) + '"}}')
    huge = raw.receive()
    assert huge["error"]["code"] == -32600 and "larger than 4194304 bytes" in huge["error"]["message"]
    assert raw.call("echo", {"text": "still serving"})["result"]["content"][0]["text"] == "still serving"
    assert _calls(db) == [("echo", "EFFECT_ALLOW")]
    assert "Traceback" not in raw.log.read_text()


#: A payments server (the SDK's MCPServer) whose transfer reads its account as the exact integer sent.
BANK_SERVER = """\
from mcp.server.mcpserver import MCPServer

server = MCPServer("bank")


@server.tool(name="transfer", description="Sends an amount to an account")
def transfer(account: int, amount: int) -> str:
    return f"sent {amount} to account {account}"


server.run()
"""
BANK_POLICY = """\
apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: bank
  version: default
  rules:
    - name: payroll-account-only
      actions: ["tools/call::transfer"]
      effect: EFFECT_ALLOW
      roles: ["developer"]
      condition:
        match:
          expr: R.attr.arguments.account == 9007199254740992
"""


def test_an_integer_policies_would_read_as_another_number_is_refused(tmp_path):
    """Policies read numbers as doubles (as Cerbos does): account 9007199254740993 (2^53 + 1) reads as
    9007199254740992, the one account the policy allows, while the server reads the integer sent and pays
    another account. Such an integer is refused before it is decided; the allowed account is still paid. So are
    two keys differing only in case (``account`` and ``Account``), of which a lenient server may take either."""
    policy_folder(tmp_path)
    (tmp_path / "policies" / "resource_policies" / "bank.yaml").write_text(BANK_POLICY)
    (tmp_path / "bank.py").write_text(BANK_SERVER)
    upstream = {"name": "bank", "command": [PYTHON, str(tmp_path / "bank.py")], "resourceKind": "bank"}
    raw = RawGateway(write_config(tmp_path, [upstream], principal=DEVELOPER), tmp_path / "gateway.log")
    try:
        paid = raw.call("transfer", {"account": 2**53, "amount": 5})["result"]
        assert paid["content"][0]["text"] == f"sent 5 to account {2**53}"
        for arguments, where in [
            ({"account": 2**53 + 1, "amount": 5}, "arguments.account is 9007199254740993"),
            ({"account": 2**53, "amount": -(2**60) - 1}, f"arguments.amount is {-(2**60) - 1}"),
        ]:
            error = raw.call("transfer", arguments)["error"]
            assert error["code"] == -32602, error
            assert error["message"].startswith(f"the arguments of tool 'transfer' are refused: {where},"), (
                error
            )
            assert "another number than the one decided on" in error["message"]
        # Keys that differ only in case: a server reading names without regard to case may take either.
        error = raw.call("transfer", {"account": 2**53, "Account": 1, "amount": 5})["error"]
        assert error["code"] == -32602, error
        assert "arguments holds keys 'account' and 'Account', which differ only in case" in error["message"]
    finally:
        raw.close()
    calls = _calls(f"sqlite:///{tmp_path / 'decisions.db'}")
    assert calls == [("transfer", "EFFECT_ALLOW")]  # the refused calls were neither decided nor forwarded
