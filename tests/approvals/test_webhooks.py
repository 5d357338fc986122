"""Webhooks on new approval requests, delivered to a real HTTP receiver on loopback by a real server:
signed with HMAC (verified here independently), once per request, in JSON or Slack's shape, retried,
and never in the way of the check that opened the request."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from chamberlain.approvals.errors import InvalidApproval
from chamberlain.approvals.settings import parse_settings
from chamberlain.approvals.webhooks import Notifier, Webhook
from chamberlain.sessions.store import Transition
from tests.server.support import ThreadServer

SECRET = "a-webhook-secret-of-32-characters"


class Receiver:
    """An HTTP server that records every POST; ``fail`` answers that many 500s first."""

    def __init__(self, fail: int = 0):
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail = fail
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.fail:
                    outer.fail -= 1
                    self.send_response(500)
                else:
                    outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait(self, count: int, timeout: float = 20.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def _verified(headers: dict[str, str], body: bytes) -> dict:
    """The body, after checking its signature as a receiver would (t=..., v1=HMAC of "t.body")."""
    parts = dict(item.split("=", 1) for item in headers["x-chamberlain-signature"].split(","))
    expected = hmac.new(SECRET.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    assert abs(int(parts["t"]) - time.time()) < 60
    return json.loads(body)


def _pay(server: ThreadServer, amount: int) -> dict:
    body = {
        "principal": {"id": "agent-7", "roles": ["agent"], "attr": {"team": "ops"}},
        "resources": [
            {
                "actions": ["pay"],
                "resource": {"kind": "payment", "id": "p1", "attr": {"amount": amount, "payee": "acme"}},
            }
        ],
    }
    answer = httpx.post(server.url + "/api/check/resources", json=body, timeout=30)
    assert answer.status_code == 200
    return answer.json()["results"][0]


def test_a_new_request_is_announced_once_signed_in_json_and_for_slack(policies, receiver):
    hooks = [
        {"url": receiver.url, "secret": SECRET},
        {"url": receiver.url + "/slack", "secret": SECRET, "format": "slack"},
    ]
    with ThreadServer(policies, {"chamberlain": {"approvals": {"webhooks": hooks}}}) as server:
        first = _pay(server, 5000)
        assert first["actions"]["pay"] == "EFFECT_DENY"
        _pay(server, 5000)  # the same action: the same request, no second event
        delivered = receiver.wait(2)
        time.sleep(0.5)
        assert len(receiver.received) == 2
    (json_headers, json_body), (slack_headers, slack_body) = sorted(
        delivered, key=lambda d: len(d[1]), reverse=True
    )
    event = _verified(json_headers, json_body)
    approval_id = next(o["val"]["approval"]["id"] for o in first["outputs"] if "approval" in o["val"])
    assert event["type"] == "approval.requested" and event["id"] == approval_id
    assert event["approvers"] == ["finance_manager"] and event["quorum"] == 1
    assert event["reason"] == "payment over 5000" and event["requestedBy"] == "agent-7"
    assert event["rule"].endswith("#big-payments-need-approval") and len(event["digest"]) == 64
    slack = _verified(slack_headers, slack_body)
    assert slack == {
        "text": f"Approval {approval_id} requested by agent-7: payment over 5000. "
        "Approvers: finance_manager (quorum 1)."
    }


def test_a_failing_receiver_is_retried_and_an_unreachable_one_never_blocks():
    flaky = Receiver(fail=2)
    try:
        notifier = Notifier(
            [
                Webhook("http://127.0.0.1:9/none", SECRET.encode(), timeout=1.0),
                Webhook(flaky.url, SECRET.encode()),
            ]
        )
        started = time.monotonic()
        notifier.on_transition(Transition("approval:request", "apr_X", "agent-7", "why", {"approvers": "a"}))
        assert time.monotonic() - started < 0.5  # queued, not sent inline
        ((headers, body),) = flaky.wait(1)
        notifier.close()
        assert _verified(headers, body)["id"] == "apr_X"
        assert (notifier.delivered, notifier.failed) == (1, 1)
    finally:
        flaky.close()


def test_other_transitions_send_nothing(receiver):
    notifier = Notifier([Webhook(receiver.url, SECRET.encode())])
    notifier.on_transition(Transition("approval:approve", "apr_X", "bob", ""))
    notifier.close()
    assert receiver.received == []


@pytest.mark.parametrize(
    ("hooks", "message"),
    [
        ([{"url": "ftp://x", "secret": SECRET}], r"webhooks\[0\]\.url: expected an http\(s\) URL"),
        (
            [{"url": "https://x.example", "secret": "short"}],
            r"webhooks\[0\]\.secret: expected a secret of at least 16",
        ),
        ([{"url": "https://x.example", "secret": SECRET, "format": "xml"}], r"webhooks\[0\]\.format"),
        (
            [{"url": "https://x.example", "secret": SECRET, "retries": 3}],
            r"webhooks\[0\]\.retries: unknown key",
        ),
        ({"url": "https://x.example"}, r"webhooks: expected a list"),
    ],
)
def test_malformed_webhooks_are_refused_naming_the_key(hooks, message):
    with pytest.raises(InvalidApproval, match=message):
        parse_settings({"webhooks": hooks})


PAYEE_POLICY = """apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: payment
  version: default
  rules:
    - actions: ["pay"]
      effect: EFFECT_ALLOW
      roles: ["agent"]
    - name: new-payees-need-approval
      actions: ["pay"]
      effect: EFFECT_DENY
      roles: ["agent"]
      output:
        when:
          ruleActivated: |-
            {"approval": {"approvers": ["finance_manager"], "reason": "payment to " + R.attr.payee}}
"""


def test_slack_text_does_not_carry_markup_an_agent_chose(tmp_path, receiver):
    """An approval's reason (a policy output that may quote the agent's arguments) and its requester (the
    agent) reach approvers' channel: Slack reads <url|text> as a link, <!channel> as a mention and a line
    break as a new line, so an agent could post a fake request or a link to approve elsewhere. They are
    escaped as Slack's docs say (&, <, >) and control characters shown as escapes."""
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "payment.yaml").write_text(PAYEE_POLICY)
    hooks = [{"url": receiver.url, "secret": SECRET, "format": "slack"}]
    payee = (
        "acme <https://evil.example/approve|Approve it here> <!channel>\nApproval apr_X requested by cfo: ok"
    )
    body = {
        "principal": {"id": "agent-7 <!here>", "roles": ["agent"]},
        "resources": [
            {"actions": ["pay"], "resource": {"kind": "payment", "id": "p1", "attr": {"payee": payee}}}
        ],
    }
    with ThreadServer(folder, {"chamberlain": {"approvals": {"webhooks": hooks}}}) as server:
        answer = httpx.post(server.url + "/api/check/resources", json=body, timeout=30)
        assert answer.json()["results"][0]["actions"]["pay"] == "EFFECT_DENY"
        ((headers, raw),) = receiver.wait(1)
    text = _verified(headers, raw)["text"]
    assert "<" not in text and ">" not in text and "\n" not in text
    assert "&lt;https://evil.example/approve|Approve it here&gt; &lt;!channel&gt;\\nApproval apr_X" in text
    assert "requested by agent-7 &lt;!here&gt;" in text
