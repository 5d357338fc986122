"""Debian's nginx (auth_request) and caddy (forward_auth), configured exactly as docs/guides/proxies.md shows,
in front of a real upstream and a real `chamberlain serve`: what is allowed reaches the upstream with
chamberlain's headers, what is denied never does; a delegated chain is attenuated; a revoked session
denies; a chamberlain that is down makes the proxy deny; bad tokens and headers are 401/403, never 5xx."""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chamberlain.audit.tlog import merkle
from chamberlain.sessions.store import SessionStore
from chamberlain.store import parse_url
from tests.delegation.support import IdentityProvider, settings
from tests.gateways.proxy.real_proxies import Upstream, caddy, chamberlain_config, nginx
from tests.gateways.proxy.support import chain_tokens, claims, policies
from tests.server.support import serve_process

PROXIES = {"nginx": nginx, "caddy": caddy}
CHAMBERLAIN = str(Path(sys.executable).parent / "chamberlain")


class Stack:
    def __init__(
        self,
        url: str,
        upstream: Upstream,
        process: subprocess.Popen[bytes],
        state: Path,
        tokens: tuple[str, str],
    ):
        self.url, self.upstream, self.process, self.state = url, upstream, process, state
        self.first, self.second = tokens

    def call(self, method: str, path: str, token: str | None = None, **headers: str) -> httpx.Response:
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=10)


@contextlib.contextmanager
def stack(kind: str) -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="chamberlain-proxy-") as name:
        tmp = Path(name)
        idp = IdentityProvider()
        scopes = {"payment": {"pay": "payments:write", "*": "payments:read"}}
        config = chamberlain_config(tmp, settings(tmp, idp, scopeMapping=scopes))
        state = tmp / "state"
        with (
            Upstream() as upstream,
            serve_process(
                "--config", str(config), "--policies", str(policies(tmp)), "--state-dir", str(state)
            ) as (process, chamberlain),
            PROXIES[kind](tmp, chamberlain.removeprefix("http://"), upstream.address) as url,
        ):
            yield Stack(url, upstream, process, state, chain_tokens(chamberlain, idp))


@pytest.fixture(scope="module", params=sorted(PROXIES))
def env(request):
    with stack(request.param) as found:
        yield found


def test_an_allowed_route_reaches_the_upstream_with_chamberlains_headers(env):
    reply = env.call("POST", "/payments/p1/pay?amount=50", env.second, **{"x-chamberlain-subject": "mallory"})
    assert reply.status_code == 200 and reply.json() == {"upstream": True}
    seen = env.upstream.seen[-1]
    assert (seen["method"], seen["path"]) == ("POST", "/payments/p1/pay?amount=50")
    assert seen["headers"]["x-chamberlain-subject"] == "alice"  # never what the client sent
    assert seen["headers"]["x-chamberlain-actors"] == "tool-agent,planner-agent"
    assert len(seen["headers"]["x-chamberlain-decision"]) == 26


def test_the_decision_id_the_upstream_sees_is_an_entry_of_the_log_with_an_inclusion_proof(env):
    """The id in X-Chamberlain-Decision names entries of the decision log (sync: durable before the answer);
    `chamberlain audit search` finds them; X-Chamberlain-Log-Index is the first one's index, whose leaf
    (`audit export`) names the decision, and whose inclusion proof (`audit prove`) leads that leaf to the
    tree's root. (Before the session is revoked below.)"""
    reply = env.call("POST", "/payments/p7/pay?amount=40", env.second)
    assert reply.status_code == 200
    seen = env.upstream.seen[-1]["headers"]
    decision, index = seen["x-chamberlain-decision"], int(seen["x-chamberlain-log-index"])
    db = f"sqlite:///{env.state / 'decisions.db'}"
    found = run("search", "--db", db, "--resource", "payment:p7", "--action", "pay", "--json")
    entries = [e for e in map(json.loads, found.splitlines()) if e["call_id"] == decision]
    assert entries and all(e["effect"] == "EFFECT_ALLOW" for e in entries)
    assert index == min(e["seq"] for e in entries)
    leaf = run("export", "--db", db, "--from", str(index), "--to", str(index + 1), "--format", "leaf").rstrip(
        b"\n"
    )
    assert json.loads(leaf)["call_id"] == decision  # the leaf itself names the decision the upstream saw
    proof = json.loads(run("prove", "--db", db, "--index", str(index), "--json"))
    assert (proof["leaf_index"], proof["leaf_hash"]) == (index, hashlib.sha256(b"\x00" + leaf).hexdigest())
    merkle.verify_inclusion(
        index,
        proof["tree_size"],
        bytes.fromhex(proof["leaf_hash"]),
        [bytes.fromhex(h) for h in proof["audit_path"]],
        bytes.fromhex(proof["root_hash"]),
    )


def test_the_chain_is_attenuated_and_a_denial_never_reaches_the_upstream(env):
    before = len(env.upstream.seen)
    assert env.call("POST", "/payments/p1/pay?amount=5000", env.second).status_code == 403  # agents: <= 1000
    assert env.call("GET", "/payments/p1", env.second).status_code == 403  # the token's scope: write only
    assert env.call("DELETE", "/payments/p1", env.second).status_code == 403  # no route
    assert len(env.upstream.seen) == before


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer nope"},
        {"authorization": "Basic YTpi"},
        {"authorization": "Bearer " + "a" * 6000},
        {"authorization": "Bearer a.b.c"},
    ],
)
def test_missing_malformed_and_oversized_tokens_are_401_never_5xx(env, headers):
    before = len(env.upstream.seen)
    reply = env.call("POST", "/payments/p1/pay?amount=5", **headers)
    assert reply.status_code == 401, reply.text
    assert reply.headers["www-authenticate"].startswith('Bearer realm="chamberlain"')
    assert len(env.upstream.seen) == before


@pytest.mark.parametrize(
    "path",
    [
        "/payments/p1/../p2/pay?amount=1",
        "/payments/%ff/pay?amount=1",
        "/payments/p1/pay?amount=x",
        "/" + "a" * 9000,
    ],
)
def test_odd_uris_are_denied_never_5xx(env, path):
    before = len(env.upstream.seen)
    with httpx.Client(timeout=10) as client:
        request = client.build_request("POST", env.url, headers={"authorization": f"Bearer {env.second}"})
        request.url = request.url.copy_with(raw_path=path.encode())
        reply = client.send(request)
    if reply.status_code == 200:  # Caddy cleans the path first: decided and forwarded as /payments/p2/pay
        assert len(env.upstream.seen) == before + 1
        assert ".." not in env.upstream.seen[-1]["path"] and env.upstream.seen[-1]["path"].startswith(
            "/payments/p2/"
        )
        return
    assert reply.status_code in (400, 403, 414), reply.text  # 400/414: the proxy itself refused it
    assert len(env.upstream.seen) == before


def test_a_client_cannot_name_another_request_in_the_other_proxys_headers(env):
    before = len(env.upstream.seen)
    lies = {
        "x-original-uri": "/payments/p1/pay?amount=1",
        "x-original-method": "POST",
        "x-forwarded-uri": "/payments/p1/pay?amount=1",
        "x-forwarded-method": "POST",
    }
    assert env.call("POST", "/payments/p1/pay?amount=9000", env.second, **lies).status_code == 403
    assert env.call("DELETE", "/payments/p1", env.second, **lies).status_code == 403
    assert len(env.upstream.seen) == before


def test_a_revoked_session_is_denied(env):
    assert env.call("POST", "/payments/p2/pay?amount=7", env.second).status_code == 200
    store = SessionStore.open(parse_url(f"sqlite:///{env.state / 'decisions.db'}"))
    try:
        store.revoke(claims(env.second)["sid"], by="admin:carol", reason="kill switch")
    finally:
        store.close()
    before = len(env.upstream.seen)
    assert env.call("POST", "/payments/p2/pay?amount=7", env.second).status_code == 403
    assert len(env.upstream.seen) == before


@pytest.mark.parametrize("kind", sorted(PROXIES))
def test_a_chamberlain_that_is_down_makes_the_proxy_deny(kind):
    with stack(kind) as s:
        assert s.call("POST", "/payments/p1/pay?amount=5", s.second).status_code == 200
        before = len(s.upstream.seen)
        s.process.terminate()  # the proxy keeps running; its check can no longer be answered
        s.process.wait(timeout=15)
        reply = s.call("POST", "/payments/p1/pay?amount=5", s.second)
        assert reply.status_code >= 400  # nginx: 500, caddy: 502; either way the request stops at the proxy
        assert len(s.upstream.seen) == before


def run(*args: str) -> bytes:
    """``chamberlain audit ARGS``' standard output."""
    return subprocess.run([CHAMBERLAIN, "audit", *args], capture_output=True, timeout=60, check=True).stdout
