"""Webhooks on new approval requests: approvers hear of a request where they already are.

Each configured URL receives a POST for every new request (``approval.requested``), signed with HMAC
SHA-256 so the receiver can trust it and refuse a replay::

    X-Chamberlain-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

``format: json`` sends the event as JSON; ``format: slack`` sends ``{"text": ...}``, what a Slack (or
Mattermost, Teams workflow) incoming webhook posts. Delivery never delays a check: events go through a
bounded queue to one background thread, which tries each URL three times (after 0.5 s and 2 s) and
logs what it could not deliver; when the queue is full the event is dropped and logged. The request
itself, and the decision log's entry of it, never depend on a webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from chamberlain.approvals.errors import InvalidApproval
from chamberlain.durations import parse_duration
from chamberlain.extras import needs
from chamberlain.sessions.store import Transition
from chamberlain.text import printable

if TYPE_CHECKING:
    pass

LOGGER = logging.getLogger("chamberlain.approvals")
FORMATS = ("json", "slack")
MIN_SECRET = 16
MAX_WEBHOOKS = 8
QUEUE_SIZE = 1000
RETRY_DELAYS = (0.5, 2.0)
SIGNATURE_HEADER = "X-Chamberlain-Signature"


@dataclass(frozen=True, slots=True)
class Webhook:
    """Where to send events, the HMAC secret that signs them, their format and the time to answer."""

    url: str
    secret: bytes
    format: str = "json"
    timeout: float = 5.0


def parse_webhooks(value: Any, path: str = "chamberlain.approvals.webhooks") -> tuple[Webhook, ...]:
    """``[{url, secret, format, timeout}]``; raises InvalidApproval naming the key. Write the secret as
    ``${ENV_VAR}`` in the configuration file rather than in clear."""
    if not isinstance(value, list) or len(value) > MAX_WEBHOOKS:
        raise InvalidApproval(f"{path}: expected a list of at most {MAX_WEBHOOKS} webhooks")
    return tuple(_webhook(v, f"{path}[{i}]") for i, v in enumerate(value))


def _webhook(value: Any, path: str) -> Webhook:
    if not isinstance(value, Mapping):
        raise InvalidApproval(f"{path}: expected a map {{url, secret, format, timeout}}")
    unknown = sorted(set(value) - {"url", "secret", "format", "timeout"})
    if unknown:
        raise InvalidApproval(f"{path}.{unknown[0]}: unknown key (allowed: url, secret, format, timeout)")
    url = value.get("url")
    parsed = urlparse(url) if isinstance(url, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidApproval(f"{path}.url: expected an http(s) URL, got {url!r}"[:200])
    secret = value.get("secret")
    if not isinstance(secret, str) or len(secret) < MIN_SECRET:
        raise InvalidApproval(f"{path}.secret: expected a secret of at least {MIN_SECRET} characters")
    form = value.get("format", "json")
    if form not in FORMATS:
        raise InvalidApproval(f"{path}.format: expected one of {', '.join(FORMATS)}, got {form!r}"[:200])
    try:
        timeout = parse_duration(value.get("timeout", "5s"), positive=True)
    except ValueError as exc:
        raise InvalidApproval(f"{path}.timeout: {exc}") from None
    return Webhook(str(url), secret.encode(), form, min(timeout, 60.0))


def sign(secret: bytes, body: bytes, at: int) -> str:
    """The signature header's value for ``body`` sent at ``at`` (Unix seconds)."""
    mac = hmac.new(secret, f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def event(t: Transition) -> dict[str, Any]:
    """The ``approval.requested`` event of a new request's transition."""
    approvers = [a for a in str(t.attr.get("approvers", "")).split(",") if a]
    return {
        "type": "approval.requested",
        "id": t.target,
        "reason": t.reason,
        "rule": t.attr.get("rule"),
        "approvers": approvers,
        "quorum": t.attr.get("quorum"),
        "digest": t.attr.get("digest"),
        "requestedBy": t.by,
    }


def slack_text(e: Mapping[str, Any]) -> str:
    """The one line Slack (or Mattermost) shows approvers. Its values may be the agent's words (the requester,
    a reason quoting the call's arguments), so none is read as markup: ``<url|text>`` (a link),
    ``<!channel>`` (a mention) and a line break (a forged second request) are escaped."""
    who = " or ".join(_slack(a) for a in e["approvers"]) or "an approver"
    why = f": {_slack(e['reason'])}" if e.get("reason") else ""
    return (
        f"Approval {_slack(e['id'])} requested by {_slack(e['requestedBy'])}{why}. "
        f"Approvers: {who} (quorum {_slack(e['quorum'])})."
    )


def _slack(value: Any) -> str:
    """``value`` as literal text in a Slack message: &, < and > as Slack's docs escape them, control and
    bidirectional characters as escapes (:func:`chamberlain.text.printable`)."""
    text = printable(str(value))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Notifier:
    """Sends events to ``hooks`` from a background thread; :meth:`on_transition` is a store listener."""

    def __init__(self, hooks: Sequence[Webhook], *, clock: Callable[[], float] = time.time):
        self.hooks = tuple(hooks)
        self.clock = clock
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue(QUEUE_SIZE)
        self.delivered = 0
        self.failed = 0
        with needs("client", "approval webhooks"):  # httpx: only where webhooks are configured
            import httpx
        self._client = httpx.Client(follow_redirects=False)
        self._http_error = httpx.HTTPError
        self._thread = threading.Thread(target=self._run, name="chamberlain-webhooks", daemon=True)
        self._thread.start()

    def on_transition(self, t: Transition) -> None:
        if t.action != "approval:request":
            return
        try:
            self.queue.put_nowait(event(t))
        except queue.Full:
            LOGGER.error("approval webhook queue full: event dropped", extra={"approval": t.target})

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (within ``timeout``), then stop."""
        self.queue.put(None)
        self._thread.join(timeout)
        self._client.close()

    def _run(self) -> None:
        while True:
            e = self.queue.get()
            if e is None:
                return
            for hook in self.hooks:
                self._deliver(hook, e)

    def _deliver(self, hook: Webhook, e: Mapping[str, Any]) -> None:
        payload = {"text": slack_text(e)} if hook.format == "slack" else e
        body = json.dumps(payload, sort_keys=True).encode()
        problem = ""
        for delay in (0.0, *RETRY_DELAYS):
            time.sleep(delay)
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(hook.secret, body, int(self.clock())),
            }
            try:
                answer = self._client.post(hook.url, content=body, headers=headers, timeout=hook.timeout)
            except self._http_error as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if answer.is_success:
                self.delivered += 1
                return
            problem = f"HTTP {answer.status_code}"
        self.failed += 1
        LOGGER.error(
            "approval webhook not delivered", extra={"approval": e["id"], "url": hook.url, "error": problem}
        )


def also(
    first: Callable[[Transition], None] | None, second: Callable[[Transition], None]
) -> Callable[[Transition], None]:
    """A store listener calling ``first`` (the decision log's recorder, when there is one), then ``second``."""
    if first is None:
        return second

    def both(t: Transition) -> None:
        first(t)
        second(t)

    return both
