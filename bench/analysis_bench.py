"""Benchmark the analyses on a real-world-sized policy set and log.

Run: ``python bench/analysis_bench.py [--policies N] [--entries N]`` (``make bench``).

1. The vault map of ``--policies`` resource policies (1,000 by default: the example invoice policy
   copied under as many kinds, with its derived roles, variables and constants), every role and
   derived role, every action: its time, beside checking each cell once with the engine (the peer:
   what sampling one request per cell would cost, which proves nothing).
2. Usage and impact over a decision log of ``--entries`` decisions (100,000 by default): the
   grouped usage query; verifying the log, and replaying it deciding every call afresh (the replay
   before outputs were shared); then ``analyze impact``'s path: outputs of repeated requests shared,
   the log verified on the other core meanwhile (the two answers are compared).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from chamberlain import PDP, Principal, Resource
from chamberlain.analysis import build_map, policy_subjects, policy_targets
from chamberlain.analysis.impact import replay, verified_replay, verify_log
from chamberlain.analysis.usage import observed_uses
from chamberlain.audit.storage.reader import AuditReader
from chamberlain.store.db import open_database

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "policies"


def policy_set(folder: Path, count: int) -> Path:
    for part in ("derived_roles", "export_constants", "export_variables"):
        shutil.copytree(EXAMPLES / part, folder / part)
    text = (EXAMPLES / "resource_policies" / "invoice.yaml").read_text()
    (folder / "resource_policies").mkdir()
    for i in range(count):
        (folder / "resource_policies" / f"invoice_{i}.yaml").write_text(
            text.replace("resource: invoice", f"resource: invoice_{i}")
        )
    return folder


def bench_map(folder: Path) -> None:
    pdp = PDP.from_directory(folder)
    subjects, targets = policy_subjects(pdp.policies), policy_targets(pdp.policies)
    start = time.perf_counter()
    vault = build_map(pdp.engine, subjects, targets)
    mapped = time.perf_counter() - start
    start = time.perf_counter()
    for s in subjects:
        for t in targets:
            for action in t.actions:
                pdp.engine.decide(Principal("p", s.roles[:1] or ("x",)), Resource(t.kind, "r"), action)
    sampled = time.perf_counter() - start
    print(
        f"vault map: {len(pdp.policies)} policies, {len(vault.cells)} cells in {mapped:.2f} s "
        f"({mapped / len(vault.cells) * 1e6:.0f} µs a cell); one check per cell {sampled:.2f} s; ratio {mapped / sampled:.1f}x"
    )


def bench_log(folder: Path, entries: int) -> None:
    db = folder / "log.db"
    with PDP.from_directory(EXAMPLES, audit=db, audit_options=None) as pdp:
        clerk = Principal("carol", ("finance_clerk",))
        batch = [
            Resource(
                "invoice",
                f"i{i}",
                {"status": "APPROVED", "amount": i % 2000, "currency": "EUR", "submittedBy": "bob"},
            )
            for i in range(50)
        ]
        for _ in range(max(entries // 100, 1)):
            pdp.check(clerk, batch, ["view", "pay"])
    database = open_database(f"sqlite:///{db}", create=False, readonly=True)
    reader = AuditReader(database)
    size = reader.tree_size()
    start = time.perf_counter()
    observed_uses(database)
    used = time.perf_counter() - start
    start = time.perf_counter()
    verify_log(reader)
    verified = time.perf_counter() - start
    engine = PDP.from_directory(EXAMPLES).engine
    start = time.perf_counter()
    fresh = replay(reader, engine, share=False)
    afresh = time.perf_counter() - start
    start = time.perf_counter()
    impact = verified_replay(reader, engine)
    total = time.perf_counter() - start
    assert impact.to_json() == fresh.to_json()
    print(
        f"log of {size} entries: usage query {used:.2f} s; verify {verified:.2f} s; replay deciding every call "
        f"{afresh:.2f} s (verify + replay {verified + afresh:.2f} s); analyze impact (shared outputs, verified "
        f"on the other core) {total:.2f} s for {impact.replayed} decisions ({size / total:.0f} entries/s)"
    )
    database.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policies", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = policy_set(Path(tmp) / "policies", args.policies)
        bench_map(folder)
        bench_log(Path(tmp), args.entries)


if __name__ == "__main__":
    main()
