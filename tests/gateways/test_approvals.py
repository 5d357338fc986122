"""Human approval through the MCP gateway, with the official mcp SDK client and a real MCP server: a call a
rule holds for approval is refused with a result the model can read (who must approve, and that the same
call is to be retried), a person's approval lets exactly that call through once, and the requests and
decisions are in the gateway's database (where the server's approvers decide them)."""

from __future__ import annotations

import re

import pytest

from chamberlain.approvals import ApprovalStore, Decision
from tests.gateways.support import (
    FIXTURE,
    FIXTURE_POLICY,
    PYTHON,
    approve,
    policy_folder,
    stdio_gateway,
    text_of,
    write_config,
)

pytestmark = pytest.mark.anyio
UPSTREAM = {"name": "fx", "command": [PYTHON, str(FIXTURE)], "resourceKind": "fixture_server"}
DEVELOPER = {"id": "erin", "roles": ["developer"]}
PAYMENTS_NEED_APPROVAL = """\
    - name: payments-need-approval
      actions: ["tools/call::echo"]
      effect: EFFECT_DENY
      roles: ["developer"]
      condition:
        match:
          expr: R.attr.arguments.text.startsWith("pay")
      output:
        when:
          ruleActivated: '{"approval": {"approvers": ["finance_manager"], "reason": "a payment: " + R.attr.arguments.text}}'
"""
WAITING_ANY = re.compile(r"Waiting for approval (apr_[0-9A-Z]{26}) by ")
WAITING = re.compile(r"Waiting for approval (apr_[0-9A-Z]{26}) by finance_manager \(a payment: (pay \d+)\)")


async def test_an_approved_call_goes_through_once_and_only_that_call(tmp_path):
    folder = policy_folder(tmp_path)
    (folder / "resource_policies" / "fixture_server.yaml").write_text(FIXTURE_POLICY + PAYMENTS_NEED_APPROVAL)
    config = write_config(tmp_path, [UPSTREAM], principal=DEVELOPER)
    db = f"sqlite:///{tmp_path / 'decisions.db'}"
    async with stdio_gateway(config, tmp_path / "gateway.log") as client:
        assert not (await client.call_tool("echo", {"text": "hello"})).is_error  # no approval needed
        held = await client.call_tool("echo", {"text": "pay 100"})
        assert held.is_error and "the call was not made" in text_of(held)
        (approval_id, what) = WAITING.search(text_of(held)).groups()
        assert what == "pay 100" and "retry this same call once it is approved" in text_of(held)
        again = await client.call_tool("echo", {"text": "pay 100"})
        assert WAITING.search(text_of(again)).group(1) == approval_id  # the same request, not a second
        approve(db, approval_id)
        other = await client.call_tool("echo", {"text": "pay 999"})  # another amount: not approved
        assert other.is_error and WAITING.search(text_of(other)).group(1) != approval_id
        allowed = await client.call_tool("echo", {"text": "pay 100"})
        assert not allowed.is_error and "pay 100" in text_of(allowed)
        replay = await client.call_tool("echo", {"text": "pay 100"})  # used: a new request
        assert replay.is_error and WAITING.search(text_of(replay)).group(1) != approval_id
    store = ApprovalStore.open(db)
    try:
        used = store.get(approval_id)
    finally:
        store.close()
    assert (used.state, used.outcome) == ("USED", "SUCCEEDED")  # reported by the gateway after the call


async def test_an_approved_call_its_session_refuses_keeps_its_approval(tmp_path):
    """The budget is spent when the approved call comes: it is refused, not made, and the approval stands."""
    folder = policy_folder(tmp_path)
    (folder / "resource_policies" / "fixture_server.yaml").write_text(FIXTURE_POLICY + PAYMENTS_NEED_APPROVAL)
    echoes = {"name": "echoes", "kind": "fixture_server", "actions": ["tools/call::echo"], "limit": 1}
    config = write_config(
        tmp_path, [UPSTREAM], principal=DEVELOPER, sessions={"defaults": {"budgets": [echoes]}}
    )
    db = f"sqlite:///{tmp_path / 'decisions.db'}"
    async with stdio_gateway(config, tmp_path / "gateway.log") as client:
        held = await client.call_tool("echo", {"text": "pay 100"})
        (approval_id, _) = WAITING.search(text_of(held)).groups()
        approve(db, approval_id)
        assert not (await client.call_tool("echo", {"text": "hello"})).is_error  # spends the budget
        refused = await client.call_tool("echo", {"text": "pay 100"})
        assert refused.is_error and "budget 'echoes'" in text_of(refused), text_of(refused)
    store = ApprovalStore.open(db)
    try:
        kept = store.get(approval_id)
    finally:
        store.close()
    assert (kept.state, kept.outcome) == ("APPROVED", "")


async def test_approvals_need_sessions(tmp_path):
    from chamberlain.gateways.mcp.config import parse_config
    from chamberlain.gateways.mcp.errors import GatewayConfigError

    policy_folder(tmp_path)
    base = {"policies": str(tmp_path / "policies"), "upstreams": [UPSTREAM], "principal": DEVELOPER}
    with pytest.raises(GatewayConfigError, match="approvals: approvals need sessions"):
        parse_config(
            {**base, "sessions": {"enabled": False}, "approvals": {"enabled": True}}, base_dir=tmp_path
        )
    with pytest.raises(GatewayConfigError, match=r"approvals\.requestLimit\.max"):
        parse_config({**base, "approvals": {"requestLimit": {"max": 0}}}, base_dir=tmp_path)
    assert parse_config(base, base_dir=tmp_path).approvals is not None  # on with sessions, as on the server
    with pytest.raises(GatewayConfigError, match=r"approvals\.holdFor: at most 300s"):
        parse_config({**base, "approvals": {"holdFor": "10m"}}, base_dir=tmp_path)
    assert parse_config({**base, "approvals": {"holdFor": "2m"}}, base_dir=tmp_path).approval_hold == 120.0


async def _decide_soon(db: str, seconds: float, verdict: str = "APPROVE") -> None:
    import anyio

    await anyio.sleep(seconds)
    store = ApprovalStore.open(db)
    try:
        (pending,) = store.list("PENDING")[0]
        decision = Decision("bob (https://idp)", verdict, 0, "no", "bob", "https://idp")
        await anyio.to_thread.run_sync(lambda: store.decide(pending.id, decision, lambda _a: ""))
    finally:
        store.close()


async def test_a_held_call_goes_through_when_approved_while_it_waits(tmp_path):
    import anyio

    folder = policy_folder(tmp_path)
    (folder / "resource_policies" / "fixture_server.yaml").write_text(FIXTURE_POLICY + PAYMENTS_NEED_APPROVAL)
    config = write_config(tmp_path, [UPSTREAM], principal=DEVELOPER, approvals={"holdFor": "30s"})
    db = f"sqlite:///{tmp_path / 'decisions.db'}"
    async with stdio_gateway(config, tmp_path / "gateway.log") as client, anyio.create_task_group() as tg:
        tg.start_soon(_decide_soon, db, 1.0)
        result = await client.call_tool("echo", {"text": "pay 300"})  # held until bob approves
    assert not result.is_error and "pay 300" in text_of(result)


async def test_a_held_call_not_decided_in_time_keeps_its_waiting_answer(tmp_path):
    folder = policy_folder(tmp_path)
    (folder / "resource_policies" / "fixture_server.yaml").write_text(FIXTURE_POLICY + PAYMENTS_NEED_APPROVAL)
    config = write_config(tmp_path, [UPSTREAM], principal=DEVELOPER, approvals={"holdFor": "1s"})
    async with stdio_gateway(config, tmp_path / "gateway.log") as client:
        result = await client.call_tool("echo", {"text": "pay 400"})  # nobody decides within a second
    assert result.is_error and WAITING.search(text_of(result))


async def test_a_held_call_denied_while_it_waits_says_so(tmp_path):
    import anyio

    folder = policy_folder(tmp_path)
    (folder / "resource_policies" / "fixture_server.yaml").write_text(FIXTURE_POLICY + PAYMENTS_NEED_APPROVAL)
    config = write_config(tmp_path, [UPSTREAM], principal=DEVELOPER, approvals={"holdFor": "30s"})
    db = f"sqlite:///{tmp_path / 'decisions.db'}"
    async with stdio_gateway(config, tmp_path / "gateway.log") as client, anyio.create_task_group() as tg:
        tg.start_soon(_decide_soon, db, 1.0, "DENY")
        result = await client.call_tool("echo", {"text": "pay 500"})
    assert result.is_error and re.search(
        r"Approval apr_[0-9A-Z]{26} is DENIED: the call was not made", text_of(result)
    )
    assert not WAITING.search(text_of(result))


CONSENT = """\
    - name: transfers-need-the-user
      actions: ["tools/call::echo"]
      effect: EFFECT_DENY
      roles: ["developer"]
      condition:
        match:
          expr: R.attr.arguments.text.startsWith("transfer")
      output:
        when:
          ruleActivated: '{"approval": {"approvers": ["$subject"], "reason": "a transfer"}}'
"""


async def test_elicitation_tells_the_user_and_opens_the_console_for_their_own_consent(tmp_path):
    import mcp_types as types

    folder = policy_folder(tmp_path)
    (folder / "resource_policies" / "fixture_server.yaml").write_text(
        FIXTURE_POLICY + PAYMENTS_NEED_APPROVAL + CONSENT
    )
    console = "https://chamberlain.example/console"
    config = write_config(tmp_path, [UPSTREAM], principal=DEVELOPER, approvals={"consoleURL": console})
    asked: list[types.ElicitRequestParams] = []

    async def answer(_context: object, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params)
        return types.ElicitResult(action="accept")

    db = f"sqlite:///{tmp_path / 'decisions.db'}"
    async with stdio_gateway(config, tmp_path / "gateway.log", mode="legacy", elicitation=answer) as client:
        held = await client.call_tool("echo", {"text": "pay 100"})  # managers approve: the user is told
        consent = await client.call_tool("echo", {"text": "transfer 50"})  # the user's own consent
    assert held.is_error and consent.is_error  # an accepted elicitation approves nothing
    told, opened = asked
    assert isinstance(told, types.ElicitRequestFormParams) and "by finance_manager" in told.message
    assert isinstance(opened, types.ElicitRequestURLParams)
    approval_id = WAITING_ANY.search(text_of(consent)).group(1)
    assert opened.url == f"{console}/approvals#{approval_id}" and opened.elicitation_id == approval_id
    store = ApprovalStore.open(db)
    try:
        assert store.get(approval_id).state == "PENDING"
    finally:
        store.close()


async def test_a_2026_client_is_told_through_input_required_and_its_retry_is_decided_as_usual(tmp_path):
    import mcp_types as types

    folder = policy_folder(tmp_path)
    (folder / "resource_policies" / "fixture_server.yaml").write_text(
        FIXTURE_POLICY + PAYMENTS_NEED_APPROVAL + CONSENT
    )
    console = "https://chamberlain.example/console"
    config = write_config(tmp_path, [UPSTREAM], principal=DEVELOPER, approvals={"consoleURL": console})
    asked: list[types.ElicitRequestParams] = []

    async def answer(_context: object, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params)
        return types.ElicitResult(action="accept")

    async with stdio_gateway(config, tmp_path / "gateway.log", elicitation=answer) as client:  # 2026-07-28
        consent = await client.call_tool("echo", {"text": "transfer 70"})
    (opened,) = asked
    assert isinstance(opened, types.ElicitRequestURLParams) and opened.url.startswith(
        f"{console}/approvals#apr_"
    )
    approval_id = WAITING_ANY.search(text_of(consent)).group(1)
    assert (
        consent.is_error and opened.url == f"{console}/approvals#{approval_id}"
    )  # 2026-07-28 has no elicitationId
    assert "by the person the agent acts for" in opened.message
