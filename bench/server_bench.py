"""Benchmark chamberlain's server against the real Cerbos 0.55 server, both driven by wrk.

Run: ``python bench/server_bench.py [--duration SECONDS] [--only 1x3|5x5]`` (``make bench``). Both
servers run on loopback with the same policy directory (Cerbos's conformance store: a resource
policy with derived roles, variables and conditions) and get the same CheckResources requests: one
resource with 3 actions, and 5 resources with 5 actions each; their answers must match before
anything is timed. wrk (Debian package ``wrk``) runs at 1, 16 and 64 connections against each server
and the tables show requests/s, p50 and p99 latency, and chamberlain's ratios (throughput ÷ Cerbos's,
p99 ÷ Cerbos's), all measured in the same run.

Servers: Cerbos with its default configuration (no audit log) and with its own audit log on (the
``local`` backend); chamberlain with its default configuration (the synchronous, tamper-evident
decision log on SQLite, written by a writer process of its own: each answer waits until its entries
are committed and fsynced), and without the log under uvicorn and granian (when installed), like for
like with Cerbos's default; the sync log written by the server's writer thread
(``chamberlain.audit.writer: thread``); and two serving processes on the port
(``chamberlain.processes: 2``), with a writer thread each or one writer process.
Goals (issue 22): chamberlain's default ≥ 1.5x Cerbos's default throughput with a lower p99 at 16
connections, and ≥ 1.0x Cerbos with its audit log at 1 and 16 connections.
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
    "principal": {
        "id": "john",
        "roles": ["employee"],
        "policyVersion": "20210210",
        "attr": {"department": "marketing", "geography": "GB", "team": "design", "ip_address": "10.20.1.2"},
    },
    "resources": [
        {
            "actions": ["view:public", "approve", "create"],
            "resource": {
                "kind": "leave_request",
                "id": "XX125",
                "policyVersion": "20210210",
                "attr": {
                    "department": "marketing",
                    "geography": "GB",
                    "id": "XX125",
                    "owner": "john",
                    "team": "design",
                    "status": "PENDING_APPROVAL",
                },
            },
        }
    ],
}
#: 5 resources x 5 actions: owners and statuses vary, so rules and conditions differ between them.
REQUEST_5X5 = {
    "requestId": "bench-5x5",
    "principal": REQUEST["principal"],
    "resources": [
        {
            "actions": ["view:public", "approve", "create", "view", "delete"],
            "resource": {
                "kind": "leave_request",
                "id": f"XX12{i}",
                "policyVersion": "20210210",
                "attr": {
                    "department": "marketing",
                    "geography": "GB",
                    "id": f"XX12{i}",
                    "owner": "john" if i % 2 else "sally",
                    "team": "design",
                    "status": ("PENDING_APPROVAL", "DRAFT", "APPROVED")[i % 3],
                },
            },
        }
        for i in range(5)
    ],
}
REQUESTS = {"1x3": ("1 resource, 3 actions", REQUEST), "5x5": ("5 resources, 5 actions each", REQUEST_5X5)}
CONNECTIONS = (1, 16, 64)
CERBOS, CERBOS_AUDIT = "cerbos 0.55", "cerbos 0.55 (audit log, local backend)"
DEFAULT = "chamberlain (default: uvicorn, sync decision log, writer process)"
WRITER_THREAD = "chamberlain (uvicorn, sync decision log, writer thread)"
TWO_PROCESSES = "chamberlain (2 processes, sync decision log, a writer thread each)"
TWO_PROCESSES_WRITER = "chamberlain (2 processes, sync decision log, one writer process)"
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
    cmd = [
        str(exe),
        "serve",
        "--policies",
        str(STORE),
        "--http",
        f"127.0.0.1:{port}",
        "--state-dir",
        str(state_dir),
        "--set",
        f"chamberlain.httpServer={http_server}",
        "--set",
        "storage.disk.watchForChanges=false",
        "--set",
        "chamberlain.logLevel=warning",
        "--set",
        f"chamberlain.audit.enabled={str(decision_log).lower()}",
        *extra,
    ]
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
                if httpx.get(f"{url}/_cerbos/health", timeout=1).status_code == 200 and _all_serving(
                    url, extra
                ):
                    break
            time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _all_serving(url: str, extra: tuple[str, ...]) -> bool:
    """With ``chamberlain.processes=N`` in ``extra``: whether all N serving processes answer (their metrics)."""
    wanted = next((a.split("=", 1)[1] for a in extra if a.startswith("chamberlain.processes=")), None)
    if wanted is None:
        return True
    text = httpx.get(f"{url}/metrics", timeout=1).text
    return f"chamberlain_serving_processes {float(wanted)}" in text


def _answers(url: str, request: dict) -> list:
    body = httpx.post(f"{url}/api/check/resources", json=request, timeout=10).json()
    return [r["actions"] for r in body["results"]]


def _script(folder: Path, name: str, request: dict) -> Path:
    script = folder / f"{name}.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [[{json.dumps(request)}]]\n"
    )
    return script


Results = dict[str, dict[int, Result]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_SECONDS", 5)))
    parser.add_argument("--only", choices=sorted(REQUESTS), help="one request shape only")
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
    shapes = [args.only] if args.only else list(REQUESTS)
    with tempfile.TemporaryDirectory() as tmp:
        scripts = {shape: _script(Path(tmp), shape, REQUESTS[shape][1]) for shape in shapes}
        results: dict[str, Results] = {shape: {} for shape in shapes}
        expected: dict[str, list] = {}
        for label, audit in ((CERBOS, False), (CERBOS_AUDIT, True)):
            with CerbosServer(binary, STORE, decision_log=audit) as cerbos:
                for shape in shapes:
                    expected[shape] = _answers(cerbos.url, REQUESTS[shape][1])
                    results[shape][label] = _measure(cerbos.url, scripts[shape], args.duration)
        # chamberlain's default first (every decision durable in the log before its answer), then
        # like for like with Cerbos's default: no decision log, under each HTTP server.
        variants: list[tuple[str, str, bool, tuple[str, ...]]] = [
            (DEFAULT, "uvicorn", True, ()),
            (WRITER_THREAD, "uvicorn", True, ("--set", "chamberlain.audit.writer=thread")),
            (TWO_PROCESSES, "uvicorn", True, ("--set", "chamberlain.processes=2")),
            (
                TWO_PROCESSES_WRITER,
                "uvicorn",
                True,
                ("--set", "chamberlain.processes=2", "--set", "chamberlain.audit.writer=process"),
            ),
        ] + [(f"chamberlain ({name}, no decision log)", name, False, ()) for name in servers]
        for k, (label, name, decision_log, extra) in enumerate(variants):
            try:
                with chamberlain(name, decision_log, Path(tmp) / f"state-{k}", *extra) as url:
                    for shape in shapes:
                        got = _answers(url, REQUESTS[shape][1])
                        if got != expected[shape]:
                            print(
                                f"MISMATCH ({shape}): {label} answers {got}, Cerbos {expected[shape]}",
                                file=sys.stderr,
                            )
                            return 1
                        results[shape][label] = _measure(url, scripts[shape], args.duration)
            except RuntimeError as exc:
                print(f"server_bench: {label} did not start: {exc}", file=sys.stderr)
    for shape in shapes:
        _print(REQUESTS[shape][0], results[shape])
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
            print(
                f"| {name}{errors} | {c} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
                f"{r.rps / b.rps:.2f}x | {r.p99_ms / b.p99_ms:.2f}x |"
            )


def _print(shape: str, results: Results) -> None:
    base = results[CERBOS]
    print(
        f"\nServer benchmark: POST /api/check/resources ({shape}), wrk on the same {os.cpu_count()}-core machine\n"
    )
    print("| server | conns | req/s | p50 ms | p99 ms | req/s ÷ Cerbos | p99 ÷ Cerbos |")
    print_rows(results, lambda name: base)
    default, audit = results.get(DEFAULT), results.get(CERBOS_AUDIT)
    if default is None or audit is None:
        return
    r, b = default[16], base[16]
    ok = r.rps >= GOAL_THROUGHPUT * b.rps and r.p99_ms < b.p99_ms
    print(
        f"\nGoal, chamberlain's default at 16 connections (≥ {GOAL_THROUGHPUT}x Cerbos's req/s and a lower p99): "
        f"{'met' if ok else 'NOT met'}: {r.rps / b.rps:.2f}x req/s, p99 {r.p99_ms:.2f} vs {b.p99_ms:.2f} ms"
    )
    for c in (1, 16):
        r, b = default[c], audit[c]
        print(
            f"Goal, chamberlain's default ≥ 1.0x Cerbos with its audit log at {c} connection(s): "
            f"{'met' if r.rps >= b.rps else 'NOT met'}: {r.rps / b.rps:.2f}x req/s"
        )


if __name__ == "__main__":
    sys.exit(main())
