"""Soak: a real ``chamberlain serve`` (decision log on) under many connections sending a mix of valid and hostile
requests. Asserted: no answer is a 5xx, every hostile request gets its 4xx, and the server's resident memory
stops growing (the growth after warm-up is bounded), not how fast it answers.

``make test`` runs a short soak; ``make test-slow`` a five-minute one with more connections.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.engine.test_evaluation_budget import POLICY
from tests.server.support import REPO, serve_process

EXAMPLES = REPO / "examples" / "policies"
#: Resident memory the server may gain between the end of warm-up and the end of the soak.
GROWTH_LIMIT = 96 << 20
CHECK = {
    "requestId": "soak",
    "principal": {"id": "alice", "roles": ["finance_clerk"]},
    "resources": [
        {
            "actions": ["view", "pay", "approve"],
            "resource": {
                "kind": "invoice",
                "id": "inv-1",
                "attr": {"amount": 1200, "status": "APPROVED", "submittedBy": "bob"},
            },
        }
    ],
}
AUTHZEN = {
    "subject": {"type": "user", "id": "alice", "properties": {"cerbos.roles": ["finance_clerk"]}},
    "resource": {"type": "invoice", "id": "inv-2", "properties": {"amount": 10, "status": "APPROVED"}},
    "action": {"name": "view"},
}


def _slow_check(n: int) -> dict:
    return {
        "principal": {"id": "mallory", "roles": ["user"], "attr": {"tags": [f"p{i}" for i in range(n)]}},
        "resources": [
            {
                "actions": ["edit"],
                "resource": {"kind": "doc", "id": "d", "attr": {"tags": [f"r{i}" for i in range(n)]}},
            }
        ],
    }


def _large_check() -> dict:
    attr = {f"k{i}": [f"value-{i}-{j}" for j in range(10)] for i in range(1500)}
    return {**CHECK, "principal": {**CHECK["principal"], "attr": attr}}


def requests() -> list[tuple[str, str, bytes, dict, set[int]]]:
    """(name, path, body, headers, the statuses it may get), each sent in turn by every connection."""
    deep = (
        '{"principal": {"id": "a", "roles": ["x"], "attr": {"d": ' + '{"a":' * 3000 + "1" + "}" * 3000 + "}}}"
    ).encode()
    return [
        ("check", "/api/check/resources", json.dumps(CHECK).encode(), {}, {200}),
        ("authzen", "/access/v1/evaluation", json.dumps(AUTHZEN).encode(), {}, {200}),
        ("deep", "/api/check/resources", deep, {}, {400}),
        (
            "duplicate",
            "/api/check/resources",
            b'{"principal": {"id": "a", "roles": ["x"]}, "principal": {}}',
            {},
            {400},
        ),
        ("garbage", "/api/check/resources", bytes(random.Random(7).randbytes(300)), {}, {400}),
        ("slow", "/api/check/resources", json.dumps(_slow_check(6000)).encode(), {}, {200}),
        ("large", "/api/check/resources", json.dumps(_large_check()).encode(), {}, {200}),
        (
            "token-garbage",
            "/oauth2/token",
            b"grant_type=x&subject_token=%ff%fe",
            {"Content-Type": "application/x-www-form-urlencoded"},
            {400},
        ),
        ("big-header", "/_cerbos/health", b"", {"X-Pad": "p" * 100_000}, {431}),
        ("health", "/_cerbos/health", b"", {}, {200}),
        ("metrics", "/metrics", b"", {}, {200}),
    ]


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def _client(url: str, stop_at: float, seed: int, statuses: dict, problems: list) -> None:
    mix = requests()
    rnd = random.Random(seed)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        while time.monotonic() < stop_at:
            name, path, body, headers, allowed = rnd.choice(mix)
            method = "POST" if body or path == "/oauth2/token" else "GET"
            try:
                reply = await client.request(method, path, content=body or None, headers=headers)
            except httpx.TransportError as exc:
                if name == "big-header":  # the server may close before the client has sent it all
                    statuses[name][431] += 1
                    continue
                problems.append(f"{name}: {exc!r}")
                continue
            statuses[name][reply.status_code] += 1
            if reply.status_code not in allowed:
                problems.append(f"{name}: {reply.status_code} {reply.text[:200]}")
            elif name == "slow":
                assert reply.json()["results"][0]["actions"] == {"edit": "EFFECT_DENY"}


def soak(tmp_path: Path, seconds: float, connections: int) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(EXAMPLES, policies)
    (policies / "resource_policies" / "doc.yaml").write_text(POLICY)
    args = (
        "--policies",
        str(policies),
        "--set",
        "chamberlain.limits.evaluationTimeout=200ms",
        "--set",
        "chamberlain.logLevel=error",
    )
    with serve_process(*args) as (proc, url):
        statuses: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)
        problems: list[str] = []

        async def phase(duration: float, seed: int) -> None:
            stop_at = time.monotonic() + duration
            await asyncio.gather(
                *(_client(url, stop_at, seed + i, statuses, problems) for i in range(connections))
            )

        asyncio.run(phase(seconds / 3, 0))  # warm-up: caches, pools and the log's buffers fill
        warm = rss(proc.pid)
        asyncio.run(phase(seconds * 2 / 3, 1000))
        end = rss(proc.pid)
        assert proc.poll() is None, "the server died"
    total = sum(sum(c.values()) for c in statuses.values())
    print(
        f"soak: {total} requests on {connections} connections in {seconds:g} s; RSS {warm >> 20} MiB after warm-up, "
        f"{end >> 20} MiB at the end; {dict((k, dict(v)) for k, v in statuses.items())}"
    )
    server_errors = {name: {s: n for s, n in counts.items() if s >= 500} for name, counts in statuses.items()}
    assert not any(server_errors.values()), server_errors
    assert not problems, problems[:10]
    assert all(statuses[name] for name, *_ in requests()), dict(statuses)  # every kind was sent
    assert end - warm < GROWTH_LIMIT, (
        f"resident memory grew {(end - warm) >> 20} MiB after warm-up ({warm >> 20} -> {end >> 20} MiB)"
    )


def test_soak_short(tmp_path):
    soak(tmp_path, seconds=15, connections=12)


@pytest.mark.slow
def test_soak_long(tmp_path):
    soak(tmp_path, seconds=300, connections=64)
