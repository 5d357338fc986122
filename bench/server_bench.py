"""Benchmark chamberlain's server against the real Cerbos 0.55 server, both driven by wrk.

Run: ``python bench/server_bench.py [--duration SECONDS]`` (``make bench``). Both servers run on
loopback with the same policy directory (Cerbos's conformance store: a resource policy with derived
roles, variables and a condition) and get the same CheckResources request; their answers must
match before anything is timed. wrk (Debian package ``wrk``) runs at 1 and 16 connections against
each server and the table shows requests/s, p50 and p99 latency, and chamberlain's ratios (throughput
÷ Cerbos's, p99 ÷ Cerbos's). Goal: ≥ 1.5x Cerbos's throughput and a lower p99 at 16 connections.
chamberlain is measured under uvicorn and under granian (when installed), without its decision log
(as Cerbos runs without its audit log), and under uvicorn with the decision log on (its default;
compare it with Cerbos's own decision log, the ``local`` backend, also measured).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support: the Cerbos harness

from tests.support.cerbos_server import CerbosServer, CerbosUnavailable, ensure_cerbos, free_port  # noqa: E402

STORE = ROOT.parent / "shared" / "conformance" / "cerbos" / "store"
if not STORE.is_dir():
    STORE = Path("/work/shared/conformance/cerbos/store")
REQUEST = {
    "requestId": "bench",
    "principal": {"id": "john", "roles": ["employee"], "policyVersion": "20210210",
                  "attr": {"department": "marketing", "geography": "GB", "team": "design", "ip_address": "10.20.1.2"}},
    "resources": [{"actions": ["view:public", "approve", "create"],
                   "resource": {"kind": "leave_request", "id": "XX125", "policyVersion": "20210210",
                                "attr": {"department": "marketing", "geography": "GB", "id": "XX125", "owner": "john",
                                         "team": "design", "status": "PENDING_APPROVAL"}}}],
}  # fmt: skip
CONNECTIONS = (1, 16)
GOAL_THROUGHPUT = 1.5


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, connections: int, duration: float, script: Path) -> Result:
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "-s",
        str(script),
        f"{url}/api/check/resources",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Result(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        # Anchored: "+/- Stdev" columns such as "66.50%" also contain "50%".
        p50_ms=_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        p99_ms=_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        errors=int(errors.group(1)) if errors else 0,
    )


@contextlib.contextmanager
def chamberlain(http_server: str, decision_log: bool, state_dir: Path, *extra: str) -> Iterator[str]:
    """``chamberlain serve`` on a free port (``extra``: more arguments), until its health answers; yields its URL."""
    port = free_port()
    exe = Path(sys.executable).parent / "chamberlain"
    cmd = [str(exe), "serve", "--policies", str(STORE), "--http", f"127.0.0.1:{port}",
           "--state-dir", str(state_dir), "--set", f"chamberlain.httpServer={http_server}",
           "--set", "storage.disk.watchForChanges=false", "--set", "chamberlain.logLevel=warning",
           "--set", f"chamberlain.audit.enabled={str(decision_log).lower()}", *extra]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"chamberlain ({http_server}) exited: {proc.stderr.read().decode()[-2000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/_cerbos/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _answers(url: str) -> dict:
    body = httpx.post(f"{url}/api/check/resources", json=REQUEST, timeout=10).json()
    return body["results"][0]["actions"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_SECONDS", 8)))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("server_bench: wrk is not installed (Debian: apt-get install -y wrk); skipped", file=sys.stderr)
        return 0
    try:
        binary = ensure_cerbos()
    except CerbosUnavailable as exc:
        print(f"server_bench: real Cerbos unavailable ({exc}); skipped", file=sys.stderr)
        return 0
    servers = ["uvicorn"]
    with contextlib.suppress(ImportError):
        import granian  # noqa: F401

        servers.append("granian")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "check.lua"
        script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                          f"wrk.body = [[{json.dumps(REQUEST)}]]\n")  # fmt: skip
        results: dict[str, dict[int, Result]] = {}
        with CerbosServer(binary, STORE) as cerbos:
            expected = _answers(cerbos.url)
            results["cerbos 0.55"] = _measure(cerbos.url, script, args.duration)
        with CerbosServer(binary, STORE, decision_log=True) as cerbos:
            results["cerbos 0.55 (audit log, local backend)"] = _measure(cerbos.url, script, args.duration)
        # Like for like first: Cerbos runs without its audit log, so chamberlain runs without its
        # decision log; then chamberlain's default, every decision durable in the log (sync).
        variants = [(name, False) for name in servers] + [("uvicorn", True)]
        for name, decision_log in variants:
            label = f"chamberlain ({name}{', decision log' if decision_log else ''})"
            try:
                with chamberlain(name, decision_log, Path(tmp) / label) as url:
                    if _answers(url) != expected:
                        print(
                            f"MISMATCH: {label} answers {_answers(url)}, Cerbos {expected}", file=sys.stderr
                        )
                        return 1
                    results[label] = _measure(url, script, args.duration)
            except RuntimeError as exc:
                print(f"server_bench: {label} did not start: {exc}", file=sys.stderr)
    _print(results)
    return 0


def _measure(url: str, script: Path, duration: float) -> dict[int, Result]:
    run_wrk(url, 16, 1.0, script)  # warm-up
    return {c: run_wrk(url, c, duration, script) for c in CONNECTIONS}


def print_rows(results: dict[str, dict[int, Result]], base_of: Callable[[str], dict[int, Result]]) -> None:
    """The table's separator and rows: each result with its ratios to ``base_of(name)`` at the same concurrency."""
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, by_conn in results.items():
        base = base_of(name)
        for c, r in by_conn.items():
            b = base[c]
            errors = f" ({r.errors} errors)" if r.errors else ""
            print(f"| {name}{errors} | {c} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
                  f"{r.rps / b.rps:.2f}x | {r.p99_ms / b.p99_ms:.2f}x |")  # fmt: skip


def _print(results: dict[str, dict[int, Result]]) -> None:
    base = results["cerbos 0.55"]
    print(
        f"\nServer benchmark: POST /api/check/resources (1 resource, 3 actions), wrk on the same {os.cpu_count()}-core machine\n"
    )
    print("| server | conns | req/s | p50 ms | p99 ms | req/s ÷ Cerbos | p99 ÷ Cerbos |")
    print_rows(results, lambda name: base)
    best = max(
        (n for n in results if n.startswith("chamberlain") and "decision log" not in n),
        key=lambda n: results[n][16].rps,
        default=None,
    )
    if best:
        r, b = results[best][16], base[16]
        ok = r.rps >= GOAL_THROUGHPUT * b.rps and r.p99_ms < b.p99_ms
        print(f"\nGoal at 16 connections (≥ {GOAL_THROUGHPUT}x Cerbos's req/s and a lower p99): "
              f"{'met' if ok else 'NOT met'} by {best}: {r.rps / b.rps:.2f}x req/s, p99 {r.p99_ms:.2f} vs {b.p99_ms:.2f} ms")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
