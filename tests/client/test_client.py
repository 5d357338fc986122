"""``chamberlain.Client``: failing closed with the reason, retries, what it sends, delegation end to end."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest

from chamberlain import (
    AsyncClient,
    Client,
    InvalidRequest,
    PDPUnavailable,
    Principal,
    Resource,
    Retry,
    acting_for,
)
from chamberlain.client import NotSupported, RejectedRequest
from chamberlain.client.wire import UNAVAILABLE_POLICY
from chamberlain.engine import AuxData
from tests.client.scripted import ScriptedPDP, allow_all
from tests.delegation.support import IdentityProvider, policy_folder, settings
from tests.server.support import ThreadServer

ALICE = Principal("alice", ["finance_clerk"])
INVOICE = Resource("invoice", "inv-1", {"amount": 100})
QUICK = Retry(attempts=3, backoff=0.001, max_backoff=0.002)
REQUEST = {
    "principal": {"id": "alice", "roles": ["r"]},
    "resources": [{"resource": {"kind": "invoice", "id": "inv-1"}, "actions": ["pay"]}],
}


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_pdp_is_a_deny_with_the_reason_logged(caplog: pytest.LogCaptureFixture) -> None:
    with Client(f"http://127.0.0.1:{closed_port()}", retry=QUICK) as client, caplog.at_level(logging.WARNING):
        assert client.is_allowed(ALICE, INVOICE, "pay") is False
        result = client.check(ALICE, INVOICE, ["pay", "view"])
    assert not result.is_allowed("pay") and not result.is_allowed("view")
    assert "unreachable (ConnectError" in result.reason
    assert result[0].actions["pay"].policy == UNAVAILABLE_POLICY
    assert result[0].outputs[0].val == {"error": result.reason}
    assert result.denied_by("pay") == result.reason
    assert "unreachable" in result.explanation()
    assert repr(result).startswith(
        "RemoteCheckResult([CheckOutput('inv-1': pay=DENY"
    ) and "unreachable" in repr(result)
    assert any(
        "denying, no decision" in r.getMessage() and "unreachable" in r.getMessage() for r in caplog.records
    )


def test_raise_on_error_raises_instead_of_denying() -> None:
    client = Client(f"http://127.0.0.1:{closed_port()}", retry=QUICK, raise_on_error=True)
    with client, pytest.raises(PDPUnavailable, match="unreachable"):
        client.is_allowed(ALICE, INVOICE, "pay")


def test_the_json_api_answers_deny_with_the_reason() -> None:
    with Client(f"http://127.0.0.1:{closed_port()}", retry=QUICK) as client:
        answer = client.check_resources(REQUEST)
    assert answer["results"][0]["actions"] == {"pay": "EFFECT_DENY"}
    assert "unreachable" in answer["chamberlain"]["error"]


def test_a_503_is_retried_then_decided() -> None:
    with ScriptedPDP((503, {"code": 14, "message": "starting"}), (200, None)) as pdp:
        pdp.script[-1] = (200, allow_all(REQUEST))
        with Client(pdp.url, retry=QUICK) as client:
            assert client.check_resources(REQUEST)["results"][0]["actions"] == {"pay": "EFFECT_ALLOW"}
    assert len(pdp.received) == 2


def test_retries_stop_after_the_attempts_and_deny() -> None:
    with (
        ScriptedPDP((503, {"code": 14, "message": "NOT_SERVING"})) as pdp,
        Client(pdp.url, retry=QUICK) as client,
    ):
        result = client.check(ALICE, INVOICE, ["pay"])
    assert len(pdp.received) == 3
    assert not result.is_allowed("pay") and "HTTP 503: NOT_SERVING" in result.reason


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (500, {"code": 13, "message": "boom"}, "HTTP 500: boom"),
        (200, b"not json", "invalid JSON"),
        (200, {"results": []}, "cannot be read"),
        (200, [1, 2], "not an object"),
    ],
)
def test_an_answer_that_is_not_a_decision_is_a_deny_without_retry(
    status: int, body: object, expected: str
) -> None:
    with ScriptedPDP((status, body)) as pdp, Client(pdp.url, retry=QUICK) as client:
        result = client.check(ALICE, INVOICE, ["pay"])
    assert not result.is_allowed("pay") and expected in result.reason
    assert len(pdp.received) == 1


def test_an_action_the_answer_leaves_out_is_denied() -> None:
    with (
        ScriptedPDP((200, {"results": [{"resource": {"id": "inv-1"}, "actions": {}}]})) as pdp,
        Client(pdp.url) as client,
    ):
        assert client.is_allowed(ALICE, INVOICE, "pay") is False


def test_a_request_the_pdp_refuses_raises_as_the_embedded_pdp_does() -> None:
    with ThreadServer(policy_folder_examples()) as server, Client(server.url) as client:
        # The constructor refuses it with the server's message; one built unvalidated reaches the server.
        with pytest.raises(InvalidRequest, match=r"^validation error: principal\.roles: value is required$"):
            Principal("alice", [])
        with pytest.raises(RejectedRequest, match=r"principal\.roles"):
            client.check(Principal.prevalidated("alice", []), INVOICE, ["pay"])


def policy_folder_examples() -> Path:
    from tests.support.cerbos_server import REPO_ROOT

    return REPO_ROOT / "examples" / "policies"


def test_acting_for_sends_the_token_session_and_approval() -> None:
    with ScriptedPDP((200, None)) as pdp, Client(pdp.url) as client:
        pdp.script[0] = (200, allow_all(REQUEST))
        client.check(ALICE, INVOICE, ["pay"])
        with acting_for("tok-1", session_id="s-1"):
            with acting_for(approval_id="ap-1"):
                client.check(ALICE, INVOICE, ["pay"])
            client.check(ALICE, INVOICE, ["pay"], session_id="s-2")
        client.check(ALICE, INVOICE, ["pay"], aux_data={"jwt": {"token": "t", "keySetId": "k"}})
    plain, inner, own_session, caller_aux = (r.get("auxData") for r in pdp.received)
    assert plain is None  # nothing extra unless there is something to say: real Cerbos accepts the request
    assert inner == {"jwt": {"token": "tok-1"}, "session": {"id": "s-1"}, "approval": {"id": "ap-1"}}
    assert own_session == {"jwt": {"token": "tok-1"}, "session": {"id": "s-2"}}
    assert caller_aux == {"jwt": {"token": "t", "keySetId": "k"}}


def test_acting_for_is_per_task() -> None:
    """Concurrent tasks each see their own delegation."""
    seen: dict[str, object] = {}

    async def task(name: str) -> None:
        with acting_for(delegation={"actors": [{"id": name}]}):
            await asyncio.sleep(0.01)
            from chamberlain.client import current

            seen[name] = current().delegation

    async def both() -> None:
        await asyncio.gather(task("a"), task("b"))

    asyncio.run(both())
    assert seen == {"a": {"actors": [{"id": "a"}]}, "b": {"actors": [{"id": "b"}]}}


def test_what_only_an_embedded_pdp_can_do_is_refused_clearly() -> None:
    with Client("http://127.0.0.1:1") as client:
        with pytest.raises(NotSupported, match="decoded claims"):
            client.check(ALICE, INVOICE, ["pay"], aux_data=AuxData(jwt={"sub": "alice"}))
        with pytest.raises(NotSupported, match="actor_chain"):
            client.check(ALICE, INVOICE, ["pay"], actor_chain=["agent"])
        with pytest.raises(TypeError, match="unexpected keyword argument 'sesion_id'"):
            client.check(ALICE, INVOICE, ["pay"], sesion_id="typo")
    with pytest.raises(ValueError, match="http:// or https://"):
        Client("127.0.0.1:3592")


@pytest.fixture(scope="module")
def delegating_server(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("client-delegation")
    overrides = {"chamberlain": {"delegation": settings(tmp, IdentityProvider())}}
    with ThreadServer(policy_folder(tmp), overrides) as server:
        yield server


PAYMENT = Resource("payment", "pay-1", {"amount": 800})
TWO_HOPS = {"actors": [{"id": "tool-agent"}, {"id": "planner-agent"}]}
THREE_HOPS = {"actors": [*TWO_HOPS["actors"], {"id": "helper", "roles": ["tool_agent"]}]}


def test_delegation_is_attenuated_by_the_server(delegating_server: ThreadServer) -> None:
    with Client(delegating_server.url) as client:
        with acting_for(delegation=TWO_HOPS):
            assert client.is_allowed(ALICE, PAYMENT, "pay")
        with acting_for(delegation=THREE_HOPS):
            result = client.check(ALICE, PAYMENT, ["pay"])
    assert not result.is_allowed("pay")
    assert result.denied_by("pay") == "subject alice (resource.payment.vdefault rule 'no-more-than-two-hops')"


def test_the_async_client_fails_closed_and_carries_delegation(delegating_server: ThreadServer) -> None:
    async def run() -> tuple[bool, bool]:
        async with (
            AsyncClient(delegating_server.url) as client,
            AsyncClient(f"http://127.0.0.1:{closed_port()}", retry=QUICK) as down,
        ):
            with acting_for(delegation=THREE_HOPS):
                return await client.is_allowed(ALICE, PAYMENT, "pay"), await down.is_allowed(
                    ALICE, PAYMENT, "pay"
                )

    assert asyncio.run(run()) == (False, False)


def test_an_answer_over_the_size_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from chamberlain.client import client as client_module
    from chamberlain.client import transport

    monkeypatch.setattr(client_module, "MAX_RESPONSE_BYTES", 100)
    monkeypatch.setattr(transport, "MAX_RESPONSE_BYTES", 100)
    with ScriptedPDP((200, {"results": [], "padding": "x" * 1000})) as pdp, Client(pdp.url) as client:
        result = client.check(ALICE, INVOICE, ["pay"])
    assert not result.is_allowed("pay") and "answered more than 100 bytes" in result.reason


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        (  # the results reordered: the second resource's ALLOW would decide the first
            [
                {"resource": {"id": "inv-2", "kind": "invoice"}, "actions": {"pay": "EFFECT_ALLOW"}},
                {"resource": {"id": "inv-1", "kind": "invoice"}, "actions": {"pay": "EFFECT_DENY"}},
            ],
            "results[0] is for resource id 'inv-2', not 'inv-1' as asked",
        ),
        (  # an answer about another kind of resource with the same id
            [
                {"resource": {"id": "inv-1", "kind": "receipt"}, "actions": {"pay": "EFFECT_ALLOW"}},
                {"resource": {"id": "inv-2", "kind": "invoice"}, "actions": {"pay": "EFFECT_ALLOW"}},
            ],
            "results[0] is for resource kind 'receipt', not 'invoice' as asked",
        ),
        (  # a result naming no resource cannot be matched
            [{"actions": {"pay": "EFFECT_ALLOW"}}, {"actions": {"pay": "EFFECT_ALLOW"}}],
            "results[0] names no resource id",
        ),
    ],
)
def test_an_answer_for_another_resource_is_a_deny(results: list[object], expected: str) -> None:
    """Results are matched to resources by position; one naming another resource decides nothing."""
    with ScriptedPDP((200, {"results": results})) as pdp, Client(pdp.url, retry=QUICK) as client:
        result = client.check(ALICE, [INVOICE, Resource("invoice", "inv-2")], ["pay"])
    assert not result.is_allowed("pay", 0) and not result.is_allowed("pay", 1)
    assert expected in result.reason


GUARDED = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: invoice
  version: default
  rules:
    - name: clerks-pay
      actions: ["pay"]
      effect: EFFECT_ALLOW
      roles: ["finance_clerk"]
    - name: never-over-1000
      actions: ["pay"]
      effect: EFFECT_DENY
      roles: ["*"]
      condition:
        match:
          expr: R.attr.amount > 1000
"""


@pytest.mark.parametrize("amount", [float("inf"), float("nan")])
def test_a_number_json_cannot_hold_is_never_sent_as_null(tmp_path: Path, amount: float) -> None:
    """orjson writes inf and nan as null: the embedded PDP denies pay of an infinite amount, the server was
    asked about ``amount: null``, the guarding DENY's condition failed and was skipped, and it allowed."""
    from chamberlain import PDP, RequestError

    (tmp_path / "invoice.yaml").write_text(GUARDED)
    huge = Resource("invoice", "inv-1", {"amount": amount})
    if amount == float("inf"):
        assert PDP.from_directory(tmp_path).is_allowed(ALICE, huge, "pay") is False
    with ThreadServer(tmp_path) as server, Client(server.url, retry=QUICK) as client:
        assert client.is_allowed(ALICE, Resource("invoice", "inv-1", {"amount": 10}), "pay") is True
        with pytest.raises(
            RequestError, match=r"resources\[0\]\.resource\.attr\.amount: .* JSON cannot hold"
        ):
            client.is_allowed(ALICE, huge, "pay")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {"action": "view", "resourceKind": "invoice", "filter": {"kind": "KIND_ALWAYS_ALLOWED"}},
            "the plan is for actions ['view'], not ['delete']",
        ),
        (
            {"action": "delete", "resourceKind": "receipt", "filter": {"kind": "KIND_ALWAYS_ALLOWED"}},
            "the plan is for resource kind 'receipt', not 'invoice'",
        ),
        (
            {"action": "delete", "resourceKind": "invoice", "filter": {"kind": "KIND_CONDITIONAL"}},
            "the plan is conditional and has no condition",
        ),
    ],
)
def test_a_plan_for_another_question_is_always_denied(answer: dict[str, object], expected: str) -> None:
    """A plan is a filter applied to the caller's query: one about viewing, or another kind, applied to a
    delete of invoices would delete what it never allowed; a conditional plan without its condition
    filters nothing."""
    with ScriptedPDP((200, answer)) as pdp, Client(pdp.url, retry=QUICK) as client:
        plan = client.plan(ALICE, "invoice", "delete")
    assert plan.always_denied, plan
    assert any(expected in note for note in plan.notes), plan.notes


def test_an_allow_the_decision_log_could_not_record_is_a_deny() -> None:
    """The PDP denies every check its decision log cannot record; an answer saying ALLOW beside that error
    (a broken or forged answer) was read as an ALLOW, while ``reason`` said the log had failed."""
    answer = {
        "results": [{"resource": {"id": "inv-1", "kind": "invoice"}, "actions": {"pay": "EFFECT_ALLOW"}}],
        "chamberlain": {"decisionLog": "decision log unavailable: disk full"},
    }
    with ScriptedPDP((200, answer)) as pdp, Client(pdp.url, retry=QUICK) as client:
        result = client.check(ALICE, INVOICE, ["pay"])
    assert not result.is_allowed("pay") and result.reason == "decision log unavailable: disk full"


def test_an_answer_dripped_past_the_timeout_is_a_deny() -> None:
    """httpx's read timeout starts again with every chunk: an ALLOW sent a byte at a time was waited for
    without end and then obeyed, however long after ``timeout`` it came."""
    import json
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = json.dumps(allow_all(REQUEST)).encode()

    class Drip(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            try:
                for i in range(len(body)):
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass  # the client gave up

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        started = time.monotonic()
        with Client(url, timeout=0.5, retry=Retry(attempts=1)) as client:
            result = client.check(ALICE, INVOICE, ["pay"])
        assert not result.is_allowed("pay") and "timed out" in result.reason, result.reason
        assert time.monotonic() - started < 1.5 * len(body) * 0.05

        async def check_async() -> object:
            async with AsyncClient(url, timeout=0.5, retry=Retry(attempts=1)) as client:
                return await client.check(ALICE, INVOICE, ["pay"])

        result = asyncio.run(check_async())
        assert not result.is_allowed("pay") and "timed out" in result.reason, result.reason
    finally:
        server.shutdown()
        server.server_close()
