"""Benchmark query plans: chamberlain's planner beside the real Cerbos 0.55, and filtered queries
beside checking rows one by one.

Run: ``python bench/plan_bench.py [--rows N] [--requests N]`` (``make bench``).

1. Plan latency for the same PlanResources requests (the example policies: a conditional plan for
   a finance clerk paying invoices, several actions, an always-allowed and an always-denied plan):
   chamberlain in process (``PDP.plan_resources``), chamberlain's server (``chamberlain serve``, one
   HTTP connection, without and with its decision log, which is on by default and waits for each
   entry to be durable) and Cerbos's server (one HTTP connection, no audit log). Plans must be equal (as the differential test normalises them) before timing.
2. "Which invoices may this clerk pay?" over a SQLite table of ``--rows`` invoices (1,000,000 by
   default) with an index on ``status``: the filtered query (``pdp.filter``) against reading every
   row and checking it (``PDP.is_allowed``, the engine's fast path), with the same answer.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support: the Cerbos harness

from tests.engine.test_planner_differential import normalise  # noqa: E402
from tests.server.support import serve_process  # noqa: E402
from tests.support.cerbos_server import CerbosServer, CerbosUnavailable, ensure_cerbos  # noqa: E402

from chamberlain import PDP, Principal, Resource  # noqa: E402

POLICIES = ROOT / "examples" / "policies"
CLERK = {"id": "carol", "roles": ["finance_clerk"]}
REQUESTS = {
    "conditional (pay)": {"action": "pay", "principal": CLERK, "resource": {"kind": "invoice"}},
    "two actions": {"actions": ["pay", "create"], "principal": CLERK, "resource": {"kind": "invoice"}},
    "always allowed": {"action": "view", "principal": CLERK, "resource": {"kind": "invoice"}},
    "derived roles (agent)": {
        "action": "pay",
        "principal": {
            "id": "agent-7",
            "roles": ["agent"],
            "attr": {"delegator": {"id": "carol", "roles": ["finance_clerk"]}},
        },
        "resource": {"kind": "invoice"},
    },
}
STATUSES = ["DRAFT", "SUBMITTED", "APPROVED", "PAID", "REJECTED"]


def _time(fn: Any, n: int) -> tuple[float, float]:
    """(p50, p99) in microseconds of ``n`` calls after a warm-up."""
    for _ in range(min(50, n)):
        fn()
    samples = []
    for _ in range(n):
        started = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - started) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def plan_latency(requests: int) -> list[tuple[str, str, float, float]]:
    pdp = PDP.from_directory(POLICIES)
    rows = []
    try:
        cerbos: CerbosServer | None = CerbosServer(ensure_cerbos(), POLICIES).start()
    except CerbosUnavailable as exc:
        print(f"Cerbos unavailable ({exc}): chamberlain only", file=sys.stderr)
        cerbos = None
    try:
        with (
            serve_process("--policies", str(POLICIES), "--set", "chamberlain.audit.enabled=false") as (
                _p,
                url,
            ),
            serve_process("--policies", str(POLICIES)) as (_q, logged),
            httpx.Client() as client,
        ):
            for name, request in REQUESTS.items():
                ours = pdp.plan_resources(request)
                for server in (url, logged):
                    served = client.post(server + "/api/plan/resources", json=request).json()
                    assert normalise(served) == normalise(ours), (name, served, ours)
                rows.append(
                    (
                        name,
                        "chamberlain in process",
                        *_time(lambda r=request: pdp.plan_resources(r), requests * 5),
                    )
                )
                rows.append(
                    (
                        name,
                        "chamberlain server",
                        *_time(lambda r=request: client.post(url + "/api/plan/resources", json=r), requests),
                    )
                )
                rows.append(
                    (
                        name,
                        "chamberlain server + log",
                        *_time(
                            lambda r=request: client.post(logged + "/api/plan/resources", json=r), requests
                        ),
                    )
                )
                if cerbos is not None:
                    theirs = client.post(cerbos.url + "/api/plan/resources", json=request).json()
                    assert normalise(theirs) == normalise(ours), (name, theirs, ours)
                    rows.append(
                        (
                            name,
                            "Cerbos server",
                            *_time(
                                lambda r=request: client.post(cerbos.url + "/api/plan/resources", json=r),
                                requests,
                            ),
                        )
                    )
    finally:
        if cerbos is not None:
            cerbos.stop()
    return rows


def filtered_query(n_rows: int) -> dict[str, Any]:
    pdp = PDP.from_directory(POLICIES)
    md = sa.MetaData()
    invoice = sa.Table(
        "invoice",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("status", sa.String, nullable=False, index=True),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.Column("currency", sa.String, nullable=False),
        sa.Column("submittedBy", sa.String, nullable=False),
    )
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        engine = sa.create_engine(f"sqlite:///{tmp}/invoices.db")
        md.create_all(engine)
        with engine.begin() as conn:
            batch = []
            for i in range(n_rows):
                batch.append(
                    {
                        "id": i,
                        "status": rng.choice(STATUSES),
                        "amount": rng.randint(1, 5000),
                        "currency": rng.choice(["EUR", "USD", "GBP", "JPY"]),
                        "submittedBy": f"user{i % 97}",
                    }
                )
                if len(batch) == 50_000:
                    conn.execute(invoice.insert(), batch)
                    batch = []
            if batch:
                conn.execute(invoice.insert(), batch)
        clerk = Principal("carol", ["finance_clerk"])
        started = time.perf_counter()
        query = pdp.filter(sa.select(invoice.c.id), clerk, "pay")
        planned = time.perf_counter() - started
        with engine.connect() as conn:
            started = time.perf_counter()
            filtered = {r.id for r in conn.execute(query)}
            query_s = time.perf_counter() - started
            started = time.perf_counter()
            checked = set()
            for row in conn.execute(sa.select(invoice)).mappings():
                attr = {
                    "status": row["status"],
                    "amount": row["amount"],
                    "currency": row["currency"],
                    "submittedBy": row["submittedBy"],
                }
                if pdp.is_allowed(clerk, Resource("invoice", str(row["id"]), attr), "pay"):
                    checked.add(row["id"])
            one_by_one_s = time.perf_counter() - started
            plan = str(
                conn.execute(
                    sa.text(
                        "EXPLAIN QUERY PLAN "
                        + str(query.compile(engine, compile_kwargs={"literal_binds": True}))
                    )
                ).all()
            )
        engine.dispose()
    assert filtered == checked, "the filter and the checks disagree"
    return {
        "rows": n_rows,
        "allowed": len(filtered),
        "plan_ms": planned * 1000,
        "query_s": query_s,
        "one_by_one_s": one_by_one_s,
        "uses_index": "USING INDEX" in plan.upper() or "USING COVERING INDEX" in plan.upper(),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args(argv)
    rows = plan_latency(args.requests)
    print("\nPlan latency (µs, one connection, sequential requests)")
    print(f"{'request':24} {'where':24} {'p50':>9} {'p99':>9} {'p50 vs Cerbos':>14}")
    cerbos_p50 = {name: p50 for name, where, p50, _ in rows if where == "Cerbos server"}
    for name, where, p50, p99 in rows:
        ratio = (
            f"{cerbos_p50[name] / p50:.2f}x faster" if name in cerbos_p50 and where != "Cerbos server" else ""
        )
        print(f"{name:24} {where:24} {p50:9.1f} {p99:9.1f} {ratio:>14}")
    result = filtered_query(args.rows)
    print(
        f"\nWhich invoices may a clerk pay? ({result['rows']:,} rows in SQLite, {result['allowed']:,} allowed, "
        f"index on status used: {result['uses_index']})"
    )
    print(f"  plan + translate:             {result['plan_ms']:8.2f} ms")
    print(f"  filtered query:               {result['query_s']:8.3f} s")
    print(
        f"  read every row and check it:  {result['one_by_one_s']:8.3f} s  "
        f"({result['one_by_one_s'] / result['query_s']:.0f}x the filtered query)"
    )
    print(json.dumps({"plan_latency": rows, "filtered_query": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
