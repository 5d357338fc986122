"""Benchmark chamberlain's gRPC API against the real Cerbos 0.55 server's gRPC API, in the same run.

Run: ``python bench/grpc_bench.py [--duration SECONDS]``. Both servers run on loopback with Cerbos's
conformance store and get the same CheckResources message (1 resource, 3 actions); their answers must
match before anything is timed. The load comes from one grpcio asyncio client in this process (the
message serialized once, ``concurrency`` calls in flight on one HTTP/2 channel), at 1 and 16 calls in
flight; the table shows calls/s, p50 and p99 latency and chamberlain's ratios to Cerbos. The client
shares the machine's cores with the server it drives: at 16 in flight it is part of what is measured,
the same for both servers. chamberlain runs without its decision log (as Cerbos runs without its audit
log), then with it (its default).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import grpc
from google.protobuf import json_format

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support: the Cerbos harness

from bench.server_bench import REQUEST, STORE, Result, chamberlain, print_rows  # noqa: E402
from tests.support.cerbos_server import CerbosServer, CerbosUnavailable, ensure_cerbos, free_port  # noqa: E402

METHOD = "/cerbos.svc.v1.CerbosService/CheckResources"
INFO = "/cerbos.svc.v1.CerbosService/ServerInfo"  # no decision: the gRPC transport's own ceiling
INFO_LABEL = " ServerInfo"
CONCURRENCY = (1, 16)


def _message() -> bytes:
    from cerbos.request.v1 import request_pb2

    return json_format.ParseDict(REQUEST, request_pb2.CheckResourcesRequest()).SerializeToString()


async def _drive(
    address: str, data: bytes, concurrency: int, duration: float, method: str = METHOD
) -> Result:
    latencies: list[float] = []
    errors = 0
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(method)
        await call(data, timeout=10)  # connected
        deadline = time.monotonic() + duration

        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    await call(data, timeout=10)
                except grpc.RpcError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - began
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0  # noqa: E731
    return Result(len(latencies) / elapsed, pick(0.5), pick(0.99), errors)


def _actions(address: str, data: bytes) -> dict[str, int]:
    from cerbos.response.v1 import response_pb2

    with grpc.insecure_channel(address) as channel:
        reply = response_pb2.CheckResourcesResponse.FromString(channel.unary_unary(METHOD)(data, timeout=10))
    return dict(reply.results[0].actions)


def _children_cpu() -> float:
    """CPU seconds (user + system) used so far by this process's children: the one server running."""
    total = 0
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[1] == me:  # ppid
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


#: label -> server CPU microseconds per check at 16 in flight (robust to other load on the machine).
CPU_PER_CALL: dict[str, float] = {}


def _measure(
    results: dict[str, dict[int, Result]], label: str, address: str, data: bytes, duration: float
) -> None:
    asyncio.run(_drive(address, data, 16, 1.0))  # warm-up
    results[label] = {}
    for c in CONCURRENCY:
        cpu, began = _children_cpu(), time.monotonic()
        results[label][c] = result = asyncio.run(_drive(address, data, c, duration))
        if c == 16:
            CPU_PER_CALL[label] = (_children_cpu() - cpu) / (result.rps * (time.monotonic() - began)) * 1e6
    results[label + INFO_LABEL] = {16: asyncio.run(_drive(address, b"", 16, duration, INFO))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_SECONDS", 8)))
    args = parser.parse_args()
    try:
        binary = ensure_cerbos()
    except CerbosUnavailable as exc:
        print(f"grpc_bench: real Cerbos unavailable ({exc}); skipped", file=sys.stderr)
        return 0
    data = _message()
    results: dict[str, dict[int, Result]] = {}
    with CerbosServer(binary, STORE) as cerbos:
        address = f"127.0.0.1:{cerbos.grpc_port}"
        expected = _actions(address, data)
        _measure(results, "cerbos 0.55", address, data, args.duration)
    with tempfile.TemporaryDirectory() as tmp:
        for decision_log in (False, True):
            label = f"chamberlain{' (decision log)' if decision_log else ''}"
            grpc_port = free_port()
            with chamberlain(
                "uvicorn",
                decision_log,
                Path(tmp) / label,
                "--set",
                f"server.grpcListenAddr=127.0.0.1:{grpc_port}",
            ):
                address = f"127.0.0.1:{grpc_port}"
                if _actions(address, data) != expected:
                    print(
                        f"MISMATCH: {label} answers {_actions(address, data)}, Cerbos {expected}",
                        file=sys.stderr,
                    )
                    return 1
                _measure(results, label, address, data, args.duration)
    _print(results)
    return 0


def _print(results: dict[str, dict[int, Result]]) -> None:
    print(
        f"\ngRPC benchmark: CheckResources (1 resource, 3 actions), one grpcio asyncio client, {os.cpu_count()} cores\n"
    )
    print("| server | in flight | calls/s | p50 ms | p99 ms | calls/s ÷ Cerbos | p99 ÷ Cerbos |")
    print_rows(results, lambda name: results[f"cerbos 0.55{INFO_LABEL if name.endswith(INFO_LABEL) else ''}"])
    print("\n| server | server CPU µs per check (16 in flight) | ÷ Cerbos |\n|---|---:|---:|")
    for label, micros in CPU_PER_CALL.items():
        print(f"| {label} | {micros:,.0f} | {micros / CPU_PER_CALL['cerbos 0.55']:.2f}x |")


if __name__ == "__main__":
    sys.exit(main())
