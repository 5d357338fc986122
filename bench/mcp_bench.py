"""Benchmark the MCP gateway: tool calls/s and the latency it adds per call, against a direct connection.

Run: ``python bench/mcp_bench.py`` (``make bench``). In one run, the official ``mcp`` client calls
``get_current_time`` on mcp-server-time (from PyPI, spawned over stdio):

- directly (the client spawns the server), and
- through ``chamberlain mcp-proxy`` over stdio (the client spawns the gateway, the gateway spawns the
  same server), each call decided against the example policies and recorded in the decision log in
  ``sync`` durability (the entry is durable before the call is forwarded) — the log on the disk the
  benchmark runs on, once more on tmpfs (``/dev/shm``) to show what the fsync costs, and once with
  ``audit.forwardWhileRecording`` (opt-in: the call is forwarded while its entry becomes durable, its
  result withheld until it is).

Rounds alternate between the connections so that noise from other work on the machine falls on
both. Per call: p50, p90, p99 of sequential calls; throughput: sequential, and 8 concurrent callers
on one session. Goal: the gateway adds <= 1 ms per call at p50.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.gateways.support

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from tests.gateways.support import GATEWAY, PYTHON, TIME_SERVER, policy_folder, write_config

GOAL_ADDED_P50_MS = 1.0
#: audit.forwardWhileRecording (opt-in): the call is forwarded while its entry becomes durable, the result
#: withheld until it is (the default waits for the entry before forwarding the call).
OVERLAP = "gateway, log on disk, forwardWhileRecording"
ARGS = {"timezone": "Europe/Paris"}
ERIN = {"id": "erin", "roles": ["developer"]}


@asynccontextmanager
async def connect(command: list[str], log: Path) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=command[0], args=command[1:])
    with log.open("a") as errlog:
        async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=60) as client:
            yield client


async def latencies(call: Callable[[], Awaitable[Any]], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        out.append(time.perf_counter() - start)
    return out


async def concurrent_rate(call: Callable[[], Awaitable[Any]], callers: int, per_caller: int) -> float:
    async def worker() -> None:
        for _ in range(per_caller):
            await call()

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(callers):
            tg.start_soon(worker)
    return callers * per_caller / (time.perf_counter() - start)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run(tmp: Path, rounds: int, per_round: int) -> int:
    policy_folder(tmp)
    configs = {}
    for label, db, overlap in (
        ("disk", tmp / "decisions.db", False),
        ("tmpfs", Path("/dev/shm") / f"mcp-bench-{os.getpid()}.db", False),
        ("overlap", tmp / "overlap.db", True),
    ):
        folder = tmp / label
        folder.mkdir()
        configs[label] = write_config(
            folder,
            [{"name": "time", "command": TIME_SERVER}],
            principal=ERIN,
            policies=str(tmp / "policies"),
            audit={"db": f"sqlite:///{db}", "forwardWhileRecording": overlap},
        )
    log = tmp / "bench.log"
    samples: dict[str, list[float]] = {
        "direct": [],
        "gateway, log on disk": [],
        "gateway, log on tmpfs": [],
        OVERLAP: [],
    }
    rates: dict[str, float] = {}
    try:
        async with (
            connect(TIME_SERVER, log) as direct,
            connect([*GATEWAY, "--config", str(configs["disk"]), "--log-level", "warning"], log) as disk,
            connect([*GATEWAY, "--config", str(configs["tmpfs"]), "--log-level", "warning"], log) as tmpfs,
            connect(
                [*GATEWAY, "--config", str(configs["overlap"]), "--log-level", "warning"], log
            ) as overlap,
        ):
            clients = {
                "direct": direct,
                "gateway, log on disk": disk,
                "gateway, log on tmpfs": tmpfs,
                OVERLAP: overlap,
            }
            for client in clients.values():  # warm up: imports, caches, the first log transaction
                for _ in range(50):
                    result = await client.call_tool("get_current_time", ARGS)
                    assert not result.is_error, result
            for _ in range(rounds):
                for name, client in clients.items():
                    samples[name] += await latencies(
                        lambda c=client: c.call_tool("get_current_time", ARGS), per_round
                    )
            for name, client in clients.items():
                rates[name] = await concurrent_rate(
                    lambda c=client: c.call_tool("get_current_time", ARGS), 8, 100
                )
    finally:
        for path in Path("/dev/shm").glob(f"mcp-bench-{os.getpid()}.db*"):
            path.unlink()
    direct_p50 = pct(samples["direct"], 0.5)
    print(
        f"\nMCP gateway: {rounds} rounds x {per_round} sequential calls per connection, alternating "
        f"(get_current_time on mcp-server-time over stdio)"
    )
    print(
        "\n| connection | p50 ms | p90 ms | p99 ms | added at p50 | calls/s (1 caller) | calls/s (8 callers) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, values in samples.items():
        p50 = pct(values, 0.5)
        added = "" if name == "direct" else f"{p50 - direct_p50:+.2f} ms"
        print(
            f"| {name} | {p50:.2f} | {pct(values, 0.9):.2f} | {pct(values, 0.99):.2f} | {added} | "
            f"{1 / statistics.fmean(values):,.0f} | {rates[name]:,.0f} |"
        )
    added = pct(samples["gateway, log on disk"], 0.5) - direct_p50
    verdict = "met" if added <= GOAL_ADDED_P50_MS else "NOT met"
    print(
        f"\nGoal: the gateway adds <= {GOAL_ADDED_P50_MS:g} ms per call at p50 (sync log on disk): {verdict} "
        f"({added:.2f} ms)"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=100)
    args = parser.parse_args()
    if not Path(PYTHON).exists():
        print("mcp_bench: no Python interpreter to spawn the servers with", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mcp-bench-") as name:
        return anyio.run(run, Path(name), args.rounds, args.per_round, backend_options={"use_uvloop": True})


if __name__ == "__main__":
    sys.exit(main())
