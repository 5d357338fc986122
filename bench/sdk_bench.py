"""Benchmark the SDK: the overhead of a guarded tool call, embedded and through ``chamberlain.Client``.

Run: ``python bench/sdk_bench.py`` (``make bench``). The tool is a plain function (``refund``) from
examples/agents/; the policy is examples/agents/policies/. Measured in the same run, µs per call
(best of several repeats of a calibrated loop):

* the unguarded call (the baseline every ratio is against);
* the call guarded by ``ToolGuard`` with an embedded PDP (no decision log; then with a SQLite log
  in ``sync`` durability, which waits for each entry to be durable);
* ``PDP.is_allowed`` and ``Client.is_allowed`` (``chamberlain serve`` on loopback, connection reused),
  and the official Cerbos SDK's ``is_allowed`` against the same server (the peer an application
  would otherwise use);
* the call guarded through ``Client``.

Before timing, every configuration must give the same answers on an allowed and a denied call.
"""

from __future__ import annotations

import sys
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "agents"))

import support_tools as tools  # noqa: E402
from tests.server.support import serve_process  # noqa: E402

from chamberlain import PDP, Client, Principal, Resource  # noqa: E402
from chamberlain.integrations.tools import ToolGuard  # noqa: E402

REPEATS = 5
TARGET_LOOP_SECONDS = 0.2


def per_call_us(fn: Callable[[], object]) -> float:
    """µs per call: a loop calibrated to about TARGET_LOOP_SECONDS, best of REPEATS."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    number = max(1, int(number * TARGET_LOOP_SECONDS / 0.2))
    return min(timer.repeat(REPEATS, number)) / number * 1e6


def main() -> int:
    rows: list[tuple[str, float]] = []
    tools.RAN.clear()
    plain = tools.refund
    rows.append(("unguarded call", per_call_us(lambda: plain("A-1", 40))))

    pdp = PDP.from_directory(tools.POLICIES)
    embedded = ToolGuard(pdp, tools.AGENT, server="billing").wrap(tools.refund)
    assert embedded("A-1", 40).startswith("refunded") and embedded("A-1", 400).startswith(
        "chamberlain denied"
    )
    rows.append(("guarded, embedded PDP", per_call_us(lambda: embedded("A-1", 40))))

    with tempfile.TemporaryDirectory() as state, tools.open_pdp(state) as logged_pdp:
        logged = ToolGuard(logged_pdp, tools.AGENT, server="billing").wrap(tools.refund)
        assert logged("A-1", 40).startswith("refunded")
        rows.append(
            ("guarded, embedded PDP + SQLite decision log (sync)", per_call_us(lambda: logged("A-1", 40)))
        )

    principal = tools.AGENT
    resource = ToolGuard(pdp, principal, server="billing").resource(
        "refund", {"order_id": "A-1", "amount": 40}
    )
    rows.append(
        ("PDP.is_allowed", per_call_us(lambda: pdp.is_allowed(principal, resource, "tools/call::refund")))
    )

    with serve_process("--policies", str(tools.POLICIES), "--set", "chamberlain.logLevel=warning") as (
        _,
        url,
    ):
        with Client(url) as client:
            assert client.is_allowed(principal, resource, "tools/call::refund")
            rows.append(
                (
                    "Client.is_allowed (loopback HTTP)",
                    per_call_us(lambda: client.is_allowed(principal, resource, "tools/call::refund")),
                )
            )
            remote = ToolGuard(client, principal, server="billing").wrap(tools.refund)
            assert remote("A-1", 400).startswith("chamberlain denied")
            rows.append(("guarded, through Client", per_call_us(lambda: remote("A-1", 40))))
        rows.append(("cerbos SDK is_allowed (same server)", _cerbos_sdk(url, principal, resource)))

    base = rows[0][1]
    print(f"{'configuration':<55} {'µs/call':>10} {'x unguarded':>12}")
    for name, us in rows:
        print(f"{name:<55} {us:>10.2f} {us / base:>12.1f}")
    client_us = dict(rows)["Client.is_allowed (loopback HTTP)"]
    print(f"\nClient.is_allowed / PDP.is_allowed: {client_us / dict(rows)['PDP.is_allowed']:.0f}x")
    sdk = dict(rows)["cerbos SDK is_allowed (same server)"]
    if sdk == sdk:  # not NaN
        print(f"cerbos SDK / Client (same server): {sdk / client_us:.2f}x")
    return 0


def _cerbos_sdk(url: str, principal: Principal, resource: Resource) -> float:
    try:
        from cerbos.sdk.client import CerbosClient
        from cerbos.sdk.model import Principal as CP
        from cerbos.sdk.model import Resource as CR
    except ImportError:
        return float("nan")
    p = CP(principal.id, roles=set(principal.roles))
    r = CR(resource.id, resource.kind, attr=dict(resource.attr))
    with CerbosClient(url) as sdk:
        assert sdk.is_allowed("tools/call::refund", p, r)
        return per_call_us(lambda: sdk.is_allowed("tools/call::refund", p, r))


if __name__ == "__main__":
    sys.exit(main())
