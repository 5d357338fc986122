"""ToolGuard itself: plain functions guarded, embedded or through a Client, and its bad input."""

from __future__ import annotations

import asyncio
import socket

import pytest

from chamberlain import PDP, AsyncClient, Client, Principal, Retry, acting_for
from chamberlain.integrations.tools import ToolDenied, ToolGuard
from tests.integrations.agents.support import support_tools
from tests.server.support import ThreadServer


@pytest.fixture(scope="module")
def server():
    with ThreadServer(support_tools().POLICIES) as running:
        yield running


def test_a_wrapped_function_runs_only_when_allowed() -> None:
    s = support_tools()
    guard = ToolGuard(PDP.from_directory(s.POLICIES), s.AGENT, server="billing")
    refund = guard.wrap(s.refund)
    assert refund("A-1", amount=10) == "refunded 10 on A-1"
    denied = refund("A-1", 1000)
    assert denied.startswith("chamberlain denied the call to tool 'refund'") and "small-refunds" in denied
    assert guard.wrap(s.delete_customer)("cu-1").startswith("chamberlain denied")
    assert s.RAN == [("refund", {"order_id": "A-1", "amount": 10})]
    assert refund.__name__ == "refund" and refund.__doc__ == s.refund.__doc__


def test_async_functions_and_raising() -> None:
    s = support_tools()
    guard = ToolGuard(PDP.from_directory(s.POLICIES), s.AGENT, server="billing", on_deny="raise")

    async def lookup_order(order_id: str) -> str:
        return s.lookup_order(order_id)

    assert asyncio.run(guard.wrap(lookup_order)("A-2")) == "order A-2: delivered, 120.00 EUR"
    with pytest.raises(ToolDenied) as denied:
        guard.wrap(s.refund)("A-1", 500)
    assert denied.value.decision.outputs == [
        {"approval": "required", "reason": "refunds over 100 need a person"}
    ]


def test_arguments_that_do_not_serialise_are_denied() -> None:
    s = support_tools()
    guard = ToolGuard(PDP.from_directory(s.POLICIES), s.AGENT, server="billing")
    answer = guard.wrap(s.lookup_order)(object())
    assert "do not serialise to JSON" in answer and "object" in answer and s.RAN == []


def test_the_same_decisions_through_a_client(server: ThreadServer) -> None:
    s = support_tools()
    embedded = ToolGuard(PDP.from_directory(s.POLICIES), s.AGENT, server="billing")
    with Client(server.url) as client:
        remote = ToolGuard(client, s.AGENT, server="billing")
        for tool, arguments in [
            ("refund", {"order_id": "A", "amount": 5}),
            ("refund", {"order_id": "A", "amount": 500}),
            ("lookup_order", {"order_id": "A"}),
            ("delete_customer", {"customer_id": "c"}),
        ]:
            mine, theirs = embedded.check(tool, arguments), remote.check(tool, arguments)
            assert (mine.allowed, mine.outputs) == (theirs.allowed, theirs.outputs)
        names = ["lookup_order", "refund", "delete_customer"]
        assert remote.visible(names) == embedded.visible(names) == ["lookup_order", "refund"]

    async def through_async() -> bool:
        async with AsyncClient(server.url) as client:
            return (
                await ToolGuard(client, s.AGENT, server="billing").check_async("refund", {"amount": 5})
            ).allowed

    assert asyncio.run(through_async())


def test_a_pdp_that_is_down_denies_every_call_saying_why() -> None:
    s = support_tools()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with Client(f"http://127.0.0.1:{port}", retry=Retry(attempts=1)) as client:
        answer = ToolGuard(client, s.AGENT, server="billing").wrap(s.lookup_order)("A-1")
    assert "unreachable" in answer and s.RAN == []


def test_an_embedded_pdp_refuses_delegation_it_cannot_verify() -> None:
    s = support_tools()
    guard = ToolGuard(PDP.from_directory(s.POLICIES), s.AGENT, server="billing")
    with acting_for("a-token"):
        decision = guard.check("lookup_order", {"order_id": "A"})
    assert not decision.allowed and "does not verify delegation tokens" in decision.message


def test_an_async_client_in_sync_code_is_a_clear_error() -> None:
    s = support_tools()
    guard = ToolGuard(AsyncClient("http://127.0.0.1:1"), s.AGENT)
    with pytest.raises(TypeError, match=r"use chamberlain\.Client here"):
        guard.check("lookup_order", {})


def test_a_request_the_pdp_refuses_is_a_denial_not_a_crash(server: ThreadServer) -> None:
    """A principal without roles is invalid to the server: the agent's run goes on, the call does not."""
    s = support_tools()
    with Client(server.url) as client:
        # built unvalidated (the constructor refuses it with the server's message), so the server sees it
        guard = ToolGuard(client, Principal.prevalidated("nobody", []), server="billing")
        answer = guard.wrap(s.lookup_order)("A-1")
        assert guard.visible(["lookup_order"]) == []
    assert "no decision could be made (the PDP refused the request" in answer and s.RAN == []


REFUNDS_UP_TO_100 = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: mcp_server
  version: default
  rules:
    - name: refunds
      actions: ["tools/call::refund"]
      effect: EFFECT_ALLOW
      roles: ["support_agent"]
    - name: never-over-100
      actions: ["tools/call::refund"]
      effect: EFFECT_DENY
      roles: ["*"]
      condition:
        match:
          expr: R.attr.arguments.amount > 100
"""


@pytest.mark.parametrize("amount", [float("inf"), float("nan"), [1.0, float("-inf")]])
def test_arguments_that_are_not_finite_numbers_are_denied(tmp_path, amount) -> None:
    """``json.loads`` (how agent frameworks read a model's tool arguments) reads ``{"amount": Infinity}``;
    orjson wrote inf as null, so the policy decided on ``amount: null`` (the guarding DENY's condition
    failed and was skipped, as Cerbos skips it) and the refund ran with an infinite amount."""
    s = support_tools()
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "refunds.yaml").write_text(REFUNDS_UP_TO_100)
    guard = ToolGuard(PDP.from_directory(folder), s.AGENT, server="billing")
    assert guard.wrap(s.refund)("A-1", amount=50) == "refunded 50 on A-1"
    answer = guard.wrap(s.refund)("A-1", amount=amount)
    assert answer.startswith("chamberlain denied the call to tool 'refund'"), answer
    assert "a number JSON cannot hold" in answer
    assert s.RAN == [("refund", {"order_id": "A-1", "amount": 50})]


ONE_ACCOUNT = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: mcp_server
  version: default
  rules:
    - name: the-house-account
      actions: ["tools/call::transfer"]
      effect: EFFECT_ALLOW
      roles: ["support_agent"]
      condition:
        match:
          expr: R.attr.arguments.account == 9007199254740992
    - name: not-mallory
      actions: ["tools/call::pay"]
      effect: EFFECT_ALLOW
      roles: ["support_agent"]
      condition:
        match:
          expr: R.attr.arguments.to != "mallory"
"""


def test_arguments_the_policy_would_read_otherwise_are_denied(tmp_path) -> None:
    """As the MCP gateway refuses them, so one policy governs a tool however it is reached: policies read every
    number as a double, so account 9007199254740993 was decided as 9007199254740992 and the transfer ran to
    the neighbouring account; and two keys differing only in case (``to``/``To``) reach a service reading
    names without regard to case as the one not decided on."""
    s = support_tools()
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "accounts.yaml").write_text(ONE_ACCOUNT)
    guard = ToolGuard(PDP.from_directory(folder), s.AGENT, server="billing")
    assert guard.check("transfer", {"account": 9007199254740992}).allowed
    neighbour = guard.check("transfer", {"account": 9007199254740993})
    assert not neighbour.allowed and "an integer beyond ±2^53" in neighbour.message, neighbour
    nested = guard.check("transfer", {"account": 9007199254740992, "memo": [{"ref": -(2**60)}]})
    assert not nested.allowed and "arguments.memo[0].ref" in nested.message, nested
    twins = guard.check("pay", {"to": "bob", "To": "mallory"})
    assert not twins.allowed and "differ only in case" in twins.message, twins
    assert guard.check("pay", {"to": "bob"}).allowed
